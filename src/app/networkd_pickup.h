// What the file backends (networkd, netplan) share about systemd-networkd: the
// networkd.conf.d drop-in that keeps it off others' rules and routes, and making a running
// networkd take an ENI's new file once, by a restart that keeps DHCP addresses, followed
// by the removal of its own default routes from before the restart that it no longer knows.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "app/context.h"
#include "core/netlink.h"
#include "core/plan.h"
#include "edge/files.h"

namespace ec2nc {

/// Brings run/systemd/networkd.conf.d/ec2-netcfg.conf to present (`wanted`) or absent.
/// Exit status.
int sync_networkd_conf(Context& ctx, bool wanted, bool dry_run, std::vector<FileChange>* changes);

/// Makes a running systemd-networkd configure the interfaces in `created` (their file or
/// drop-in is new) from its files: `systemctl try-restart systemd-networkd.service` (a
/// reload would drop the DHCP address of a link whose file changed; systemd stops networkd
/// with SIGUSR2, on which it keeps leases and addresses), only where systemd runs, networkd
/// is active and its configuration keeps foreign routing rules. Then the DHCPv4 and RA
/// default routes in main that networkd set before the restart at a metric other than
/// `metrics[IFACE]` (the one its files now give) are deleted, each once networkd has put the
/// new one in place. `before` is the host as observed before this pass; `what` names the
/// files in messages ("ec2-netcfg's files", "netplan's files and ec2-netcfg's drop-ins").
void restart_networkd_for(Context& ctx, const std::set<std::string>& created, const Plan& plan,
                          const HostState& before, const std::map<std::string, uint32_t>& metrics,
                          const std::string& what);

}  // namespace ec2nc
