// check: is traffic from each address and delegated prefix leaving through the ENI that
// owns it, and if not, why? The probes come from the plan (one per source rule, to the
// internet, the ENI's own subnet and every other ENI's subnet); the kernel answers each
// as `ip route get DST from SRC [iif lo]` would; judge() names the cause of a wrong
// answer from what the host holds. Pure: the questions and the verdicts; edge/rtnl asks.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/ip.h"
#include "core/netlink.h"
#include "core/plan.h"

namespace ec2nc {

/// One question for the kernel.
struct Probe {
  std::string ifname;  ///< The ENI the traffic must leave through.
  int ifindex = 0;
  uint32_t table = 0;  ///< The ENI's table.
  IpPrefix source;     ///< The address (host prefix) or delegated prefix.
  IpAddr src;          ///< The source asked with: the address, or a host in the prefix.
  IpAddr dst;
  bool forwarded = false;  ///< A delegated prefix: asked as traffic arriving on lo (forwarded).
  std::string toward;      ///< "the internet", "its own subnet", "ens7's subnet".
};

/// The kernel's answer.
struct RouteAnswer {
  int error = 0;  ///< Positive errno (ENETUNREACH...), 0 when a route was found.
  int oif = 0;
  uint32_t table = 0;
  std::optional<IpAddr> gateway;
  uint8_t type = 1;  ///< RTN_UNICAST = 1.
};

/// The probes for the actionable ENIs of `plan` (only `only` when non-empty).
std::vector<Probe> make_probes(const Plan& plan, const std::vector<std::string>& only);

/// The verdict on one answer.
struct Verdict {
  Probe probe;
  RouteAnswer answer;
  bool right = false;
  std::string leaves;  ///< The interface the kernel chose ("" on an error).
  std::string cause;   ///< Why it is wrong (empty when right).
};

/// Judges an answer against the probe, naming the cause from `host`: the address missing
/// from the link, the ENI's rule missing, someone else's rule at a higher priority that
/// captures the source, the table lacking the route, the IPv6 default not learned yet,
/// forwarding off for a delegated prefix, or a specific main-table route that wins.
Verdict judge(const Probe& p, const RouteAnswer& a, const Plan& plan, const HostState& host);

}  // namespace ec2nc
