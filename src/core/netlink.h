// What the kernel holds (observed state) and how ec2-netcfg's rtnetlink messages
// are encoded and dump replies decoded. Pure: no socket here (see edge/rtnl.h),
// so encoding is tested byte for byte and decoding is fuzzed.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/ip.h"
#include "core/plan.h"

namespace ec2nc {

/// An address as the kernel reports it (RTM_NEWADDR).
struct ObservedAddress {
  int ifindex = 0;
  IpPrefix prefix;          ///< IFA_LOCAL (IFA_ADDRESS for IPv6) and prefix length.
  uint8_t proto = 0;        ///< IFA_PROTO (0 when the kernel does not report it).
  uint32_t flags = 0;       ///< IFA_FLAGS.
  uint32_t preferred = 0xffffffff;  ///< IFA_CACHEINFO preferred lifetime.
  uint32_t valid = 0xffffffff;      ///< IFA_CACHEINFO valid lifetime.
  uint8_t scope = 0;
};

/// One next hop of a multipath route (RTA_MULTIPATH).
struct ObservedNexthop {
  int oif = 0;
  std::optional<IpAddr> gateway;
  uint32_t flags = 0;  ///< rtnh_flags (RTNH_F_ONLINK = 4).
  bool operator==(const ObservedNexthop& o) const { return oif == o.oif && gateway == o.gateway && flags == o.flags; }
};

/// A route as the kernel reports it (RTM_NEWROUTE), unicast single-path only
/// matters to ec2-netcfg; others are kept with their fields so they are never touched.
/// The kernel merges IPv6 default routes learned from router advertisements on several
/// links with the same metric into one multipath route: its next hops are decoded so the
/// router of each link can still be found.
struct ObservedRoute {
  uint32_t table = 0;
  IpPrefix dst;
  int oif = 0;
  std::optional<IpAddr> gateway;
  uint8_t protocol = 0;
  uint8_t scope = 0;
  uint8_t type = 0;        ///< RTN_UNICAST = 1.
  uint32_t metric = 0;     ///< RTA_PRIORITY.
  uint32_t flags = 0;      ///< rtm_flags / nexthop flags (RTNH_F_ONLINK = 4).
  bool multipath = false;
  std::vector<ObservedNexthop> nexthops;  ///< Of a multipath route.
};

/// A routing policy rule as the kernel reports it (RTM_NEWRULE).
struct ObservedRule {
  Family family = Family::V4;
  uint32_t priority = 0;
  std::optional<IpPrefix> from;
  std::optional<IpPrefix> to;
  uint32_t table = 0;
  uint8_t protocol = 0;     ///< FRA_PROTOCOL.
  uint8_t action = 1;       ///< FR_ACT_TO_TBL = 1.
  std::string iifname, oifname;
  uint32_t fwmark = 0, fwmask = 0;
  uint8_t tos = 0;
  bool invert = false;
  std::optional<uint8_t> suppress_prefixlen;   ///< absent when the kernel says -1.
  std::optional<uint32_t> suppress_ifgroup;    ///< absent when the kernel says -1.
  bool has_other_selectors = false;  ///< uid range, ports, ip_proto, l3mdev...: never ours.
};

/// Everything observed on the host in one set of dumps.
struct HostState {
  std::vector<HostLink> links;
  std::vector<ObservedAddress> addresses;
  std::vector<ObservedRoute> routes;   ///< All tables, both families.
  std::vector<ObservedRule> rules;     ///< Both families.
  /// Sysctls ec2-netcfg may set, by path under /proc/sys (e.g.
  /// "net/ipv6/conf/ens6/ra_defrtr_metric"), value without the trailing newline.
  std::map<std::string, std::string> sysctls;
};

}  // namespace ec2nc
