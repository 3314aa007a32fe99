// The netplan renderer: Plan + netplan's own definitions -> YAML that netplan merges into
// each ENI's definition, and networkd drop-ins for what netplan 0.106 cannot say. Pure.
//
// Into YAML (run/netplan/90-ec2-netcfg-IFACE.yaml, merged after cloud-init's 50-): what
// netplan can express, so `netplan get` shows it and `netplan apply` reproduces it: the
// secondary addresses (preferred lifetime 0), the ENI's table routes (default via the
// subnet router on-link, the subnets on-link), its source rules with their priorities,
// DHCP and RA acceptance, the secondaries' DHCP route metric and `use-hostname: false`,
// `critical: true` (networkd's KeepConfiguration=yes: a reconfigure keeps what others
// put on the link). For an ENI netplan does not know (attached after first boot), a
// definition of its own: `match: macaddress`, `set-name`, DHCP.
// Into a drop-in beside netplan's generated file
// (run/systemd/network/10-netplan-ID.network.d/ec2-netcfg-IFACE.conf): the link Group,
// the host-wide rule (suppress_prefixlength, suppress_ifgroup), the IPv6 default via the
// router from RAs (Gateway=_ipv6ra) and the RA route metric.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/netplan_config.h"
#include "core/plan.h"

namespace ec2nc {

/// What render_netplan produces.
struct NetplanRender {
  /// File name under run/netplan/ -> content: "90-ec2-netcfg-IFACE.yaml".
  std::map<std::string, std::string> yaml;
  /// Path under run/systemd/network/ -> content: "10-netplan-ID.network.d/ec2-netcfg-IFACE.conf".
  std::map<std::string, std::string> drop_ins;
  /// IFACE -> the netplan id its configuration is merged into.
  std::map<std::string, std::string> ids;
  /// IFACE -> the metric networkd gives its DHCPv4 and RA default routes in main once it
  /// reads these files (route-metric after the merge, else netplan's 100 with DHCP on).
  std::map<std::string, uint32_t> main_metric;
  /// "IFACE: why" for ENIs that get no netplan files, or whose files networkd may not use.
  std::vector<std::string> notes;
};

/// Renders every present, complete, not-ignored ENI of `plan` against `existing`
/// (netplan's definitions without ec2-netcfg's own files). Byte-stable.
NetplanRender render_netplan(const Plan& plan, const NetplanConfig& existing);

/// "90-ec2-netcfg-IFACE.yaml".
std::string netplan_yaml_name(const std::string& ifname);
/// The interface of one of ec2-netcfg's YAML file names ("" for any other name).
std::string netplan_yaml_iface(const std::string& name);
/// "10-netplan-ID.network.d": the drop-in directory of netplan's generated file for `id`.
std::string netplan_drop_in_dir(const std::string& id);
/// True for a directory name of that form.
bool is_netplan_drop_in_dir(const std::string& name);
/// "ec2-netcfg-IFACE.conf".
std::string netplan_drop_in_name(const std::string& ifname);
/// The interface of one of ec2-netcfg's drop-in names ("" for any other name).
std::string netplan_drop_in_iface(const std::string& name);
/// Whether a netplan id can name ec2-netcfg's drop-in directory and YAML key: 1-64 of
/// [A-Za-z0-9_.:@-].
bool is_safe_netplan_id(const std::string& id);

}  // namespace ec2nc
