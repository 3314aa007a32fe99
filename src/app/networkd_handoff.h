// Handing ec2-netcfg's files to a running systemd-networkd without disturbing it.
//
// What networkd reads from ec2-netcfg is stable: an ENI's file changes only when something
// networkd itself does for the ENI changes (its match, DHCP, route metrics,
// KeepConfiguration=, link group), never because an address, rule or route came or went in
// IMDS; those are in the kernel, put there over netlink and kept by networkd's
// KeepConfiguration=yes and ManageForeignRoutingPolicyRules=no. So only a run that created
// or changed an ENI's file has anything to hand over, and it does so with one
// `networkctl reload`: networkd re-reads its files and reconfigures exactly the links whose
// file changed; every other link is left as it is (systemd 252 and 257 alike). networkd is
// never started, stopped or restarted by ec2-netcfg.
#pragma once

#include <set>
#include <string>

#include "app/context.h"

namespace ec2nc {

/// Makes a running systemd-networkd take the files of the interfaces in `changed` (new or
/// rewritten this run): one `networkctl reload`, only where networkd is running and the
/// configuration it started with keeps others' routing rules (a reload reconfigures those
/// links, and networkd would otherwise delete every rule it did not create). Otherwise it
/// says why at warning level and leaves networkd alone: the kernel is configured already,
/// and networkd reads the files when it next starts. `what` names the files in messages.
/// True when networkd was reloaded.
bool hand_to_networkd(Context& ctx, const std::set<std::string>& changed, const std::string& what);

/// After a reload: waits (within the run's deadline, at most 10 s) until networkd has
/// reconfigured each of `ifindexes` since the reload (its record of the link rewritten
/// after `reloaded_at` and configured, or failed). Reconfiguring a link that moves to
/// another file drops what networkd had configured there, its DHCP addresses included; an
/// ENI that had no other address loses every route through it in every table with them
/// (the kernel's doing when a link's last IPv4 address goes), so the caller then puts
/// back what is missing. Returns the interfaces that did not get there in time.
std::set<int> wait_networkd_configured(Context& ctx, const std::set<int>& ifindexes, Clock::time_point reloaded_at);

}  // namespace ec2nc
