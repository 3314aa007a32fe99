// The networkd renderer: Plan -> .network files (text), pure. Written by edge/files.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/plan.h"

namespace ec2nc {

/// File name (relative to run/systemd/network/) -> content, one .network per
/// present, complete, not-ignored ENI: "05-ec2-netcfg-IFNAME.network". The 05-
/// prefix sorts before cloud-init/netplan (10-), ec2-net-utils (70-) and Amazon
/// Linux (80-ec2.network), so ec2-netcfg's file is the one networkd matches.
/// A file says only what networkd itself does for the ENI (match, DHCP, route metrics,
/// KeepConfiguration=, link group) and its table's routes, which follow from the subnet:
/// it does not change when IMDS assigns or unassigns addresses or prefixes.
std::map<std::string, std::string> render_networkd(const Plan& plan);

/// The name of ec2-netcfg's .network file for interface `ifname`.
std::string networkd_file_name(const std::string& ifname);

/// True for file names that ec2-netcfg's networkd renderer owns (for stale-file removal).
bool is_own_networkd_file(const std::string& name);

/// The interface name of one of ec2-netcfg's file names ("" for any other name).
std::string networkd_file_iface(const std::string& name);

/// One [Route] section (with its leading blank line); an RA-learned gateway is Gateway=_ipv6ra.
std::string networkd_route_section(const RouteSpec& r);
/// Whether `s` can name an interface in a file name, a unit-file line or YAML without
/// quoting trouble: 1-15 of [A-Za-z0-9_.:@-].
bool is_safe_ifname(std::string_view s);
/// `s` with every character is_safe_ifname would refuse replaced by '?' (for comments).
std::string comment_safe(std::string_view s);
/// The routes of `ip` its networkd file gives networkd to add: the table's, which follow
/// from the ENI's subnets alone. Rules and addresses are ec2-netcfg's alone.
std::vector<RouteSpec> networkd_file_routes(const InterfacePlan& ip);
/// Whether the ENI has anything IPv6 (DHCPv6, RA metric, addresses, routes, prefixes).
bool interface_has_ipv6(const InterfacePlan& ip);

}  // namespace ec2nc
