// The networkd backend: one .network file per ENI under run/systemd/network, saying only
// what networkd itself does for the ENI, handed to networkd with a reload when it is new
// or changed (app/networkd_handoff.h).
#include <map>

#include "app/backend.h"
#include "app/networkd_handoff.h"
#include "core/render_networkd.h"

namespace ec2nc {

namespace {

class NetworkdBackend : public Backend {
 public:
  const char* name() const override { return "networkd"; }
  bool writes_files() const override { return true; }

  int sync(Context& ctx, const Plan& plan, const std::set<std::string>& configure, const std::set<std::string>& present,
           bool dry_run, std::vector<FileChange>* changes) override {
    const std::string dir = ctx.path(kNetworkdDir);
    auto rendered = render_networkd(plan);
    std::map<std::string, std::string> files;
    for (auto& name : configure) {
      auto it = rendered.find(networkd_file_name(name));
      if (it != rendered.end()) files.insert(*it);
    }
    // Only an own file whose interface is configured now, or whose link is gone, is ours
    // to rewrite or remove; every other stays as it is.
    auto owned = [&](const std::string& n) {
      if (!is_own_networkd_file(n)) return false;
      const std::string iface = networkd_file_iface(n);
      return configure.count(iface) || !present.count(iface);
    };
    std::string error;
    if (!sync_files(dir, files, owned, 0644, dry_run, changes, &error)) {
      ctx.log.error(error);
      return kExitRetry;
    }
    return kExitOk;
  }

  int remove_files(Context& ctx, const std::string& ifname, bool dry_run, std::vector<FileChange>* changes) override {
    const std::string fname = networkd_file_name(ifname);
    auto owned = [&](const std::string& n) { return n == fname; };
    std::string error;
    if (!sync_files(ctx.path(kNetworkdDir), {}, owned, 0644, dry_run, changes, &error)) {
      ctx.log.error(error);
      return kExitRetry;
    }
    return kExitOk;
  }

  std::set<std::string> hand_off(Context& ctx, const std::vector<FileChange>& changes) override {
    // A removed file needs nothing: its link is gone, or `remove` took the ENI out of
    // ec2-netcfg's hands and networkd keeps it as it is until its next start.
    std::set<std::string> changed;
    for (auto& f : changes) {
      auto slash = f.path.rfind('/');
      std::string iface = networkd_file_iface(f.path.substr(slash == std::string::npos ? 0 : slash + 1));
      if (f.kind != FileChange::Kind::Removed && !iface.empty()) changed.insert(iface);
    }
    return hand_to_networkd(ctx, changed, "ec2-netcfg's files") ? changed : std::set<std::string>{};
  }
};

}  // namespace

std::unique_ptr<Backend> make_networkd_backend() { return std::make_unique<NetworkdBackend>(); }

}  // namespace ec2nc
