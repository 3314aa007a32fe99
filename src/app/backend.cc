#include "app/backend.h"

#include <sys/stat.h>

#include "edge/networkd_ctl.h"

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
  ctx.backend_reason = !ctx.opts.backend.empty() ? "--backend" : chosen ? "the configuration file's backend" : "";
  // Who manages the links decides, not what is installed: RHEL-family images carry
  // systemd-networkd's binary beside NetworkManager, which is the one in charge there.
  // (Under --root the host's managers say nothing about the tree being rendered.)
  if (name.empty() && !ctx.offline()) {
    Managers m = network_managers(ctx.deadline);
    // NetworkManager running, or enabled with networkd not running (at boot ec2-netcfg
    // starts after both, so running is what counts; enabled only breaks a tie).
    if (m.networkd != "active" && (m.nm == "active" || m.nm_file == "enabled")) {
      name = "netlink";
      ctx.backend_reason = std::string("NetworkManager manages the links (NetworkManager.service ") +
                           (m.nm.empty() ? "running" : m.nm) + (m.nm_file.empty() ? "" : ", " + m.nm_file) +
                           "): the kernel only, and NetworkManager's dispatcher hook puts back what it takes away";
    } else if (m.networkd == "active") {
      ctx.backend_reason = "systemd-networkd manages the links (systemd-networkd.service active)";
    }  // NetworkManager not installed: nothing asked, the installed software decides below
  }
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
      ctx.backend_reason = "netplan renders for " + p.renderer;
    } else if (name.empty() && p.installed && p.has_config) {
      name = "netplan";
      ctx.backend_reason += std::string(ctx.backend_reason.empty() ? "" : "; ") + "netplan's YAML renders for networkd";
    }
  }
  if (name.empty()) {
    const bool networkd = file_exists("/lib/systemd/systemd-networkd") || file_exists("/usr/lib/systemd/systemd-networkd");
    name = networkd ? "networkd" : "netlink";
    if (ctx.backend_reason.empty())
      ctx.backend_reason = networkd ? "systemd-networkd is installed" : "neither networkd nor netplan is installed";
  }
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
  ctx.log.debug("backend " + name + ": " + ctx.backend_reason);
  return kExitOk;
}

}  // namespace ec2nc
