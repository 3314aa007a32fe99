// What the host says about a link beyond rtnetlink: udev's opt-out property and whether
// IPv6 is off on it (sysfs-free: /run/udev/data and /proc/sys).
#pragma once

#include <string>
#include <vector>

#include "core/plan.h"

namespace ec2nc {

/// True when udev's database marks the link EC2_NETCFG_IGNORE=1 (an image's opt-out).
bool udev_opt_out(int ifindex);

/// True when IPv6 is off on the link: its disable_ipv6 sysctl is 1, or the kernel runs
/// without IPv6 (ipv6.disable=1: no /proc/sys/net/ipv6 at all).
bool ipv6_off(const std::string& ifname);

/// Sets HostLink::opt_out and HostLink::ipv6_off of every link.
void annotate_links(std::vector<HostLink>& links);

}  // namespace ec2nc
