// The networkd backend: one .network file per ENI under run/systemd/network, the
// networkd.conf.d drop-in, and a restart of networkd when an ENI's file is new.
#include <dirent.h>

#include <map>

#include "app/backend.h"
#include "app/networkd_pickup.h"
#include "core/render_networkd.h"

namespace ec2nc {

namespace {

constexpr uint32_t kNetworkdDefaultMetric = 1024;  // networkd's DHCPv4 and RA route metric

/// ec2-netcfg's .network files now in `dir` (names).
std::vector<std::string> own_files(const std::string& dir) {
  std::vector<std::string> out;
  DIR* d = ::opendir(dir.c_str());
  if (!d) return out;
  while (dirent* e = ::readdir(d))
    if (is_own_networkd_file(e->d_name)) out.push_back(e->d_name);
  ::closedir(d);
  return out;
}

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
    return sync_drop_in(ctx, files, owned, dry_run, changes);
  }

  int remove_files(Context& ctx, const std::string& ifname, bool dry_run, std::vector<FileChange>* changes) override {
    const std::string fname = networkd_file_name(ifname);
    auto owned = [&](const std::string& n) { return n == fname; };
    std::string error;
    if (!sync_files(ctx.path(kNetworkdDir), {}, owned, 0644, dry_run, changes, &error)) {
      ctx.log.error(error);
      return kExitRetry;
    }
    return sync_drop_in(ctx, {}, owned, dry_run, changes);
  }

  void pick_up(Context& ctx, const std::vector<FileChange>& changes, const Plan& plan, const HostState& before) override {
    std::set<std::string> created;
    for (auto& f : changes) {
      auto slash = f.path.rfind('/');
      std::string iface = networkd_file_iface(f.path.substr(slash == std::string::npos ? 0 : slash + 1));
      if (f.kind == FileChange::Kind::Created && !iface.empty()) created.insert(iface);
    }
    // A changed file needs nothing: the kernel is already right, and networkd reads the
    // file at its next start. Only a new file makes networkd manage an ENI differently.
    std::map<std::string, uint32_t> metrics;
    for (auto& ip : plan.interfaces)
      metrics[ip.name] = ip.main_route_metric ? ip.main_route_metric : kNetworkdDefaultMetric;
    restart_networkd_for(ctx, created, plan, before, metrics, "ec2-netcfg's files");
  }

 private:
  /// The networkd.conf.d drop-in goes with managing at least one ENI with an own file.
  int sync_drop_in(Context& ctx, const std::map<std::string, std::string>& files,
                   const std::function<bool(const std::string&)>& owned, bool dry_run, std::vector<FileChange>* changes) {
    bool any = !files.empty();
    for (auto& n : own_files(ctx.path(kNetworkdDir)))
      if (!owned(n)) any = true;  // kept as it is
    return sync_networkd_conf(ctx, any, dry_run, changes);
  }
};

}  // namespace

std::unique_ptr<Backend> make_networkd_backend() { return std::make_unique<NetworkdBackend>(); }

}  // namespace ec2nc
