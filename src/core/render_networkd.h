// The networkd renderer: Plan -> .network files (text), pure. Written by edge/files.
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "core/plan.h"

namespace ec2nc {

/// File name (relative to run/systemd/network/) -> content, one .network per
/// present, complete, not-ignored ENI: "05-ec2-netcfg-IFNAME.network". The 05-
/// prefix sorts before cloud-init/netplan (10-), ec2-net-utils (70-) and Amazon
/// Linux (80-ec2.network), so ec2-netcfg's file is the one networkd matches.
std::map<std::string, std::string> render_networkd(const Plan& plan);

/// The networkd.conf.d drop-in (run/systemd/networkd.conf.d/ec2-netcfg.conf) that
/// keeps networkd from deleting routing policy rules and routes it did not create.
std::string render_networkd_conf();

/// The name of ec2-netcfg's .network file for interface `ifname`.
std::string networkd_file_name(const std::string& ifname);

/// True for file names that ec2-netcfg's networkd renderer owns (for stale-file removal).
bool is_own_networkd_file(const std::string& name);

/// The interface name of one of ec2-netcfg's file names ("" for any other name).
std::string networkd_file_iface(const std::string& name);

/// One [RoutingPolicyRule] section (with its leading blank line), as ec2-netcfg's files say it.
std::string networkd_rule_section(const RuleSpec& r);
/// One [Route] section (with its leading blank line); an RA-learned gateway is Gateway=_ipv6ra.
std::string networkd_route_section(const RouteSpec& r);
/// Whether `s` can name an interface in a file name, a unit-file line or YAML without
/// quoting trouble: 1-15 of [A-Za-z0-9_.:@-].
bool is_safe_ifname(std::string_view s);
/// `s` with every character is_safe_ifname would refuse replaced by '?' (for comments).
std::string comment_safe(std::string_view s);
/// Whether the ENI has anything IPv6 (DHCPv6, RA metric, addresses, routes, prefixes).
bool interface_has_ipv6(const InterfacePlan& ip);

}  // namespace ec2nc
