#include "app/backend.h"

#include <sys/stat.h>

namespace ec2nc {

namespace {

/// The netlink backend: the kernel only, no files.
class NetlinkBackend : public Backend {
 public:
  const char* name() const override { return "netlink"; }
};

bool file_exists(const char* p) {
  struct stat st;
  return ::stat(p, &st) == 0;
}

}  // namespace

int choose_backend(Context& ctx) {
  std::string name = !ctx.opts.backend.empty() ? ctx.opts.backend : ctx.cfg.backend;
  if (name.empty())
    name = file_exists("/lib/systemd/systemd-networkd") || file_exists("/usr/lib/systemd/systemd-networkd")
               ? "networkd"
               : "netlink";
  if (name == "networkd") {
    ctx.backend = make_networkd_backend();
  } else if (name == "netlink") {
    ctx.backend = std::make_unique<NetlinkBackend>();
  } else if (name == "netplan") {
    ctx.log.error(
        "the netplan backend is not part of this release: use --backend networkd (netplan's "
        "generated files and ec2-netcfg's coexist: ec2-netcfg's .network sorts first)");
    return kExitUsage;
  } else {
    ctx.log.error("unknown backend \"" + name + "\" (expected networkd, netplan or netlink)");
    return kExitUsage;
  }
  return kExitOk;
}

}  // namespace ec2nc
