#include "edge/host_probe.h"

#include <sys/stat.h>

#include "edge/files.h"

namespace ec2nc {

namespace {

bool exists(const std::string& p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0;
}

}  // namespace

bool udev_opt_out(int ifindex) {
  std::string text, error;
  if (!read_file("/run/udev/data/n" + std::to_string(ifindex), &text, &error)) return false;
  return text.find("\nE:EC2_NETCFG_IGNORE=1\n") != std::string::npos || text.rfind("E:EC2_NETCFG_IGNORE=1\n", 0) == 0;
}

bool ipv6_off(const std::string& ifname) {
  if (!exists("/proc/sys/net/ipv6/conf")) return exists("/proc/sys/net");
  std::string text, error;
  return read_file("/proc/sys/net/ipv6/conf/" + ifname + "/disable_ipv6", &text, &error) && text.rfind("1", 0) == 0;
}

bool random_veth(const HostLink& l) {
  if (l.kind != "veth") return false;
  // sysfs shows the links of the network namespace it was mounted in: only an entry with
  // this link's ifindex is this link's.
  const std::string dir = "/sys/class/net/" + l.name + "/";
  std::string index, type, error;
  if (!read_file(dir + "ifindex", &index, &error) || index != std::to_string(l.ifindex) + "\n") return false;
  return read_file(dir + "addr_assign_type", &type, &error) && type == "1\n";  // NET_ADDR_RANDOM
}

void annotate_links(std::vector<HostLink>& links) {
  for (auto& l : links) {
    l.opt_out = udev_opt_out(l.ifindex);
    l.ipv6_off = ipv6_off(l.name);
    l.random_veth = random_veth(l);
  }
}

}  // namespace ec2nc
