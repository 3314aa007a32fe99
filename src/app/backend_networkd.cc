// The networkd backend: one .network file per ENI under run/systemd/network, the
// networkd.conf.d drop-in, and a restart of networkd when an ENI's file is new.
#include <dirent.h>

#include <algorithm>
#include <map>
#include <thread>

#include "app/backend.h"
#include "core/render_networkd.h"
#include "edge/networkd_ctl.h"

namespace ec2nc {

namespace {

constexpr char kNetworkdConfName[] = "ec2-netcfg.conf";
constexpr uint8_t kProtoDhcp = 16;   // RTPROT_DHCP
constexpr uint8_t kProtoRa = 9;      // RTPROT_RA
constexpr uint32_t kMainTable = 254;
constexpr uint32_t kNetworkdDefaultMetric = 1024;  // networkd's DHCPv4 and RA route metric when a file sets none

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

/// One default route of networkd's (DHCPv4 or RA) in main through an ENI, at a metric
/// other than the one the ENI's new file gives: once networkd restarts on ec2-netcfg's
/// file it no longer knows this route and never removes it.
struct StaleDefault {
  Change del;
  int ifindex;
  Family family;
  uint32_t want_metric;
};

std::vector<StaleDefault> stale_defaults(const HostState& before, const InterfacePlan& ip) {
  std::vector<StaleDefault> out;
  const uint32_t want = ip.main_route_metric ? ip.main_route_metric : kNetworkdDefaultMetric;
  for (auto& r : before.routes) {
    if (r.table != kMainTable || r.dst.len != 0 || (r.protocol != kProtoDhcp && r.protocol != kProtoRa)) continue;
    if (r.metric == want) continue;
    auto add = [&](int oif, const std::optional<IpAddr>& gw) {
      if (oif != ip.ifindex) return;
      StaleDefault s;
      s.del.op = Change::Op::DelRoute;
      s.del.ifindex = oif;
      s.del.ifname = ip.name;
      s.del.route.table = kMainTable;
      s.del.route.dst = r.dst;
      s.del.route.gateway = gw;
      s.del.route.metric = r.metric;
      s.del.protocol = r.protocol;
      s.ifindex = oif;
      s.family = r.dst.family();
      s.want_metric = want;
      out.push_back(s);
    };
    if (!r.multipath) add(r.oif, r.gateway);
    for (auto& nh : r.nexthops) add(nh.oif, nh.gateway);
  }
  return out;
}

bool has_default(const HostState& h, int ifindex, Family f, uint32_t metric) {
  return std::any_of(h.routes.begin(), h.routes.end(), [&](const ObservedRoute& r) {
    if (r.table != kMainTable || r.dst.len != 0 || r.dst.family() != f || r.metric != metric) return false;
    if (!r.multipath) return r.oif == ifindex;
    return std::any_of(r.nexthops.begin(), r.nexthops.end(), [&](const ObservedNexthop& n) { return n.oif == ifindex; });
  });
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
    if (created.empty()) return;
    if (!systemd_booted()) {
      ctx.log.info("no systemd here to restart systemd-networkd: it takes ec2-netcfg's new files at its next start");
      return;
    }
    NetworkdConf conf = networkd_conf();
    if (!conf.keeps_foreign_rules) {
      ctx.log.warn("not restarting systemd-networkd: " + conf.detail +
                   ", so a restart would delete routing rules it did not create. The kernel is configured; "
                   "networkd uses ec2-netcfg's files from its next start");
      return;
    }
    UnitResult active = networkd_active(ctx.deadline);
    if (!active.ok) {
      ctx.log.debug("systemd-networkd is not active: it reads ec2-netcfg's files when it starts");
      return;
    }
    std::vector<StaleDefault> stale;
    for (auto& ip : plan.interfaces)
      if (ip.actionable() && created.count(ip.name))
        for (auto& s : stale_defaults(before, ip)) stale.push_back(s);
    auto t0 = Clock::now();
    UnitResult r = networkd_restart(ctx.deadline);
    if (!r.ok) {
      ctx.log.warn(r.detail + ": networkd keeps its current files until its next start");
      return;
    }
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count();
    std::string names;
    for (auto& n : created) names += (names.empty() ? "" : " ") + n;
    ctx.log.info("restarted systemd-networkd (" + std::to_string(ms) + " ms) so it manages " + names +
                 " with ec2-netcfg's files; DHCPv4 leases and addresses are kept across the restart");
    restore_dhcp6_addresses(ctx, plan, created);
    drop_stale_defaults(ctx, stale);
  }

 private:
  /// The networkd.conf.d drop-in goes with managing at least one ENI with an own file.
  int sync_drop_in(Context& ctx, const std::map<std::string, std::string>& files,
                   const std::function<bool(const std::string&)>& owned, bool dry_run, std::vector<FileChange>* changes) {
    bool any = !files.empty();
    for (auto& n : own_files(ctx.path(kNetworkdDir)))
      if (!owned(n)) any = true;  // kept as it is
    std::map<std::string, std::string> conf;
    if (any) conf[kNetworkdConfName] = render_networkd_conf();
    auto conf_owned = [](const std::string& n) { return n == kNetworkdConfName; };
    std::string error;
    if (!sync_files(ctx.path(kNetworkdConfDir), conf, conf_owned, 0644, dry_run, changes, &error)) {
      ctx.log.error(error);
      return kExitRetry;
    }
    return kExitOk;
  }

  /// networkd 252 drops its DHCPv6 addresses whenever it stops, a restart included
  /// (dhcp6_lease_lost on the client's STOP event), and gets them back only after a new
  /// DHCPv6 exchange and DAD, most of a second later. IMDS names each of them (the ENI's
  /// first IPv6 address): ec2-netcfg puts back at once what the restart took, so the
  /// address is away for milliseconds only; networkd's new lease then takes it over.
  void restore_dhcp6_addresses(Context& ctx, const Plan& plan, const std::set<std::string>& created) {
    HostState now;
    std::string error;
    if (!ctx.rtnl.dump_all(&now, &error)) {
      ctx.log.warn("netlink: " + error);
      return;
    }
    for (auto& ip : plan.interfaces) {
      if (!ip.actionable() || !created.count(ip.name)) continue;
      for (auto& a : ip.addresses) {
        if (!a.from_dhcp || a.prefix.addr.is_v4()) continue;
        bool there = std::any_of(now.addresses.begin(), now.addresses.end(), [&](const ObservedAddress& o) {
          return o.ifindex == ip.ifindex && o.prefix.addr == a.prefix.addr;
        });
        if (there) continue;
        Change c;
        c.op = Change::Op::AddAddress;
        c.ifindex = ip.ifindex;
        c.ifname = ip.name;
        c.address = a;
        if (ctx.rtnl.send(c, &error) == SendResult::Failed) ctx.log.warn("netlink: " + c.describe() + ": " + error);
        else ctx.log.info(c.describe() + " (networkd's restart dropped its DHCPv6 address; put back until its new lease)");
      }
    }
  }

  /// Deletes the defaults networkd forgot across the restart, each only once networkd
  /// has put the ENI's default at the file's metric in place (never leaving an ENI
  /// without one), waiting for that at most a few seconds within the run's deadline.
  void drop_stale_defaults(Context& ctx, std::vector<StaleDefault>& stale) {
    if (stale.empty()) return;
    auto until = std::min(ctx.deadline, Clock::now() + std::chrono::seconds(5));
    while (!stale.empty()) {
      HostState now;
      std::string error;
      if (!ctx.rtnl.dump_all(&now, &error)) {
        ctx.log.warn("netlink: " + error);
        return;
      }
      for (auto it = stale.begin(); it != stale.end();) {
        if (!has_default(now, it->ifindex, it->family, it->want_metric)) {
          ++it;
          continue;
        }
        std::string e;
        SendResult sr = ctx.rtnl.send(it->del, &e);
        if (sr == SendResult::Failed) ctx.log.warn("netlink: " + it->del.describe() + ": " + e);
        else ctx.log.info(it->del.describe() + " metric " + std::to_string(it->del.route.metric) +
                          " (networkd's route from before the restart; its own is now at metric " +
                          std::to_string(it->want_metric) + ")");
        it = stale.erase(it);
      }
      if (stale.empty() || Clock::now() >= until) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    for (auto& s : stale)
      ctx.log.warn(s.del.describe() + " metric " + std::to_string(s.del.route.metric) +
                   ": left in place, networkd has not put its default at metric " + std::to_string(s.want_metric) +
                   " on " + s.del.ifname + " yet");
  }
};

}  // namespace

std::unique_ptr<Backend> make_networkd_backend() { return std::make_unique<NetworkdBackend>(); }

}  // namespace ec2nc
