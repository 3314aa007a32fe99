// The cleanup policy: what ec2-netcfg may take away for an interface it configured
// before, and on what evidence. Pure, so every case is a unit test: this is where a
// wrong or partial IMDS answer would otherwise turn into lost configuration.
//
// The rule (docs/imds.md, "Positive evidence"): configuration goes away only on positive evidence. Either the
// ENI's link left the host, or a complete, valid read lists the ENI without an address
// (reconcile handles that one, for actionable ENIs only). An ENI that IMDS does not list,
// lists incompletely or with invalid data, or that the configuration now ignores, is
// left exactly as it was: a listing can be partial, an ENI can be mid-propagation.
#pragma once

#include <string>
#include <vector>

#include "core/metadata.h"
#include "core/netlink.h"
#include "core/plan.h"
#include "core/run_state.h"

namespace ec2nc {

/// What happens to one recorded interface.
struct CleanupDecision {
  enum class Action {
    Keep,         ///< Nothing taken away; the record stays (reconcile may still act on it).
    Remove,       ///< The link left the host: its table's rules and routes and its file go.
    Forget,       ///< The link left, but its table now belongs to a present ENI: only the
                  ///< record (and the file, unless a present ENI has the name) goes.
    RemoveTable,  ///< Same link, new table (device number propagated): the old table's
                  ///< rules and routes go, the record is updated by the apply.
  };
  Action action = Action::Keep;
  InterfaceRecord record;
  /// The interface's networkd file may be removed (no present ENI has its name).
  bool remove_file = false;
  std::string reason;  ///< For the log: what evidence, or why it is left as it was.
};

/// Decides for every record of `st`. `links` are the host's links now, `plan` the plan
/// made from this run's (valid) metadata read.
std::vector<CleanupDecision> decide_cleanup(const Plan& plan, const std::vector<HostLink>& links,
                                            const RunState& st);

/// EC2 cannot turn an ENI with IPv4 into an IPv6-only one: a complete read that lists
/// neither IPv4 key for an ENI on which ec2-netcfg configured IPv4 (its IPv4 rules or
/// table routes, protocol 236, in the ENI's recorded table) caught IMDS mid-update. Such
/// an ENI is marked Incomplete (left as it was and waited for) instead of being read as
/// IPv6-only, which would take all its IPv4 configuration away.
void mark_lost_ipv4(InstanceMetadata& md, const HostState& host, const RunState& st);

}  // namespace ec2nc
