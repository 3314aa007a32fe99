// What the host says about a link beyond rtnetlink: udev's opt-out property, whether
// IPv6 is off on it (/run/udev/data and /proc/sys), and a veth's random MAC (sysfs).
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

/// True for a veth whose MAC the kernel chose at random (sysfs addr_assign_type 1), as
/// container runtimes leave their host end: never an ENI. False when sysfs is not this
/// network namespace's (its entry for the name has another ifindex) or cannot be read.
bool random_veth(const HostLink& l);

/// Sets HostLink::opt_out, ipv6_off and random_veth of every link.
void annotate_links(std::vector<HostLink>& links);

}  // namespace ec2nc
