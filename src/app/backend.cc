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
  const bool chosen = !ctx.opts.backend.empty() || !ctx.cfg.backend.empty();
  std::string name = !ctx.opts.backend.empty() ? ctx.opts.backend : ctx.cfg.backend;
  NetplanProbe p;
  if (name.empty() || name == "netplan") {
    p = probe_netplan(ctx);
    if (name == "netplan" && !p.installed) {
      ctx.log.error("--backend netplan: netplan is not installed (the netplan.io package)");
      return kExitUsage;
    }
    if (p.installed && (p.has_config || chosen) && p.renderer != "networkd") {
      // Desktop images: netplan hands the interfaces to NetworkManager, which neither reads
      // networkd drop-ins nor the rules ec2-netcfg needs; the kernel is configured directly.
      const std::string msg = "netplan renders for " + p.renderer +
                              " here: ec2-netcfg uses the netlink backend (the kernel only, no netplan or networkd "
                              "files); the refresh timer puts back what " + p.renderer + " may take away";
      if (chosen) ctx.log.warn(msg);
      else ctx.log.info(msg);
      name = "netlink";
    } else if (name.empty() && p.installed && p.has_config) {
      name = "netplan";
    }
  }
  if (name.empty())
    name = file_exists("/lib/systemd/systemd-networkd") || file_exists("/usr/lib/systemd/systemd-networkd")
               ? "networkd"
               : "netlink";
  if (name == "networkd") {
    ctx.backend = make_networkd_backend();
  } else if (name == "netlink") {
    ctx.backend = std::make_unique<NetlinkBackend>();
  } else if (name == "netplan") {
    ctx.backend = make_netplan_backend(p.read);
  } else {
    ctx.log.error("unknown backend \"" + name + "\" (expected networkd, netplan or netlink)");
    return kExitUsage;
  }
  return kExitOk;
}

}  // namespace ec2nc
