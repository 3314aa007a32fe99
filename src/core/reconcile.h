// Reconcile: observed kernel state + Plan -> an ordered change set. Pure.
// Only objects carrying ec2-netcfg's mark (kOwnProto on routes, rules and
// addresses' IFA_PROTO) are ever deleted; what matches the plan is left alone
// whoever created it; adding what exists is not a change.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/netlink.h"
#include "core/plan.h"
#include "core/run_state.h"

namespace ec2nc {

/// One change to the kernel.
struct Change {
  enum class Op {
    SetLinkUp,    ///< IFF_UP on `ifindex`.
    SetLinkDown,  ///< IFF_UP cleared (only to undo SetLinkUp).
    SetLinkGroup, ///< IFLA_GROUP = `group` on `ifindex`.
    AddAddress,   ///< `address` on `ifindex`, IFA_PROTO kOwnProto.
    DelAddress,
    AddRoute,     ///< `route` via `ifindex` (gateway resolved), protocol kOwnProto.
    DelRoute,
    AddRule,      ///< `rule`, protocol kOwnProto.
    DelRule,
    SetSysctl,    ///< Write `value` to /proc/sys/`sysctl`.
  };
  Op op = Op::AddAddress;
  int ifindex = 0;
  std::string ifname;  ///< For messages; "" for host-wide changes (global rules).
  AddressSpec address;
  RouteSpec route;     ///< gateway is concrete here (RA router already resolved).
  RuleSpec rule;
  uint32_t group = 0;
  uint32_t prev_group = 0;  ///< SetLinkGroup: the link's group before (to undo it).
  std::string sysctl, value;
  std::string prev_value;   ///< SetSysctl: the value before (to undo it).
  /// Protocol of the route or rule: kOwnProto on adds; on deletes, the deleted object's.
  uint8_t protocol = kOwnProto;

  /// One line a person can read: "ens6: add address 10.0.0.227/32".
  std::string describe() const;
};

/// The change that undoes `c` once it has been carried out: an add becomes the delete
/// of the same object, a delete the add of the deleted object (with its protocol),
/// link up becomes link down, a group or sysctl returns to its value before.
Change inverse(const Change& c);

/// RTPROT_STATIC: what systemd-networkd marks the routes and rules of its .network files with.
constexpr uint8_t kNetworkdProto = 4;

/// Whether ec2-netcfg may delete an observed rule in the table `table` of an ENI whose
/// record is `rec` (nullptr: none): it carries ec2-netcfg's mark, or it is networkd's
/// protocol-static copy of a rule ec2-netcfg wrote into that ENI's networkd file (the
/// record says which). A rule of anyone else's, whatever its protocol, is never ours.
bool owns_rule(const ObservedRule& o, uint32_t table, const InterfaceRecord* rec);
/// The same for a route in the ENI's table through the ENI (`ifindex`; 0 = the link is gone).
bool owns_route(const ObservedRoute& o, uint32_t table, int ifindex, const InterfaceRecord* rec);
/// The same for an address on the ENI's link: IFA_PROTO says ec2-netcfg's, or the record
/// says ec2-netcfg added it (kernels before 5.18 keep no IFA_PROTO).
bool owns_address(const ObservedAddress& o, const InterfaceRecord* rec);

/// Which part of the host a run may change.
struct ReconcileScope {
  /// Interfaces to reconcile (names). Empty = every actionable interface of the plan.
  std::vector<std::string> only;
  /// Whether ec2-netcfg's global rules not in the plan may be deleted (only when the
  /// plan was computed from a complete metadata read and manages no ENI at all).
  bool may_remove_global_rules = false;
  /// What ec2-netcfg recorded (ownership evidence beyond the kernel's marks); may be null.
  const RunState* records = nullptr;
};

/// Changes that bring the actionable interfaces of `plan` (within `scope`) to their
/// desired state: adds first (link, routes, rules, then addresses, so no packet from a
/// new address leaves before its rule exists), then deletions of ec2-netcfg's own
/// objects that are no longer desired (addresses, then rules, then routes).
/// An IPv6 default route whose RA router is not known yet is left out (and an
/// existing one of ours in that table is kept).
std::vector<Change> reconcile(const Plan& plan, const HostState& host, const ReconcileScope& scope);

/// Changes that take away everything of ec2-netcfg's for one interface: its addresses
/// (only when the link still exists), its rules (by table), its table's routes, its group.
/// `ifindex` is 0 when the interface is already gone; `rec` is its record (may be null).
std::vector<Change> removal(const std::string& ifname, int ifindex, uint32_t table, uint32_t link_group,
                            const HostState& host, const InterfaceRecord* rec);

/// Changes that take away ec2-netcfg's host-wide rules (priority `table_base` - 1, lookup
/// main): its own, and networkd's copies of them (protocol static, suppress_ifgroup
/// `link_group`). For the last ENI going.
std::vector<Change> global_removal(const HostState& host, uint32_t table_base, uint32_t link_group);

}  // namespace ec2nc
