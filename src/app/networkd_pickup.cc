#include "app/networkd_pickup.h"

#include <algorithm>
#include <thread>

#include "core/reconcile.h"
#include "core/render_networkd.h"
#include "edge/networkd_ctl.h"

namespace ec2nc {

namespace {

constexpr char kNetworkdConfName[] = "ec2-netcfg.conf";
constexpr uint8_t kProtoDhcp = 16;  // RTPROT_DHCP
constexpr uint8_t kProtoRa = 9;     // RTPROT_RA
constexpr uint32_t kMainTable = 254;

/// One default route of networkd's (DHCPv4 or RA) in main through an ENI, at a metric
/// other than the one the ENI's files now give: once networkd restarts on those files it
/// no longer knows this route and never removes it.
struct StaleDefault {
  Change del;
  int ifindex;
  Family family;
  uint32_t want_metric;
};

std::vector<StaleDefault> stale_defaults(const HostState& before, const InterfacePlan& ip, uint32_t want) {
  std::vector<StaleDefault> out;
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
    return std::any_of(r.nexthops.begin(), r.nexthops.end(),
                       [&](const ObservedNexthop& n) { return n.oif == ifindex; });
  });
}

/// Deletes the defaults networkd forgot across the restart, each only once networkd has
/// put the ENI's default at the files' metric in place (never leaving an ENI without one),
/// waiting for that at most a few seconds within the run's deadline.
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

}  // namespace

int sync_networkd_conf(Context& ctx, bool wanted, bool dry_run, std::vector<FileChange>* changes) {
  std::map<std::string, std::string> conf;
  if (wanted) conf[kNetworkdConfName] = render_networkd_conf();
  auto owned = [](const std::string& n) { return n == kNetworkdConfName; };
  std::string error;
  if (!sync_files(ctx.path(kNetworkdConfDir), conf, owned, 0644, dry_run, changes, &error)) {
    ctx.log.error(error);
    return kExitRetry;
  }
  return kExitOk;
}

void restart_networkd_for(Context& ctx, const std::set<std::string>& created, const Plan& plan,
                          const HostState& before, const std::map<std::string, uint32_t>& metrics,
                          const std::string& what) {
  if (created.empty()) return;
  if (!systemd_booted()) {
    ctx.log.info("no systemd here to restart systemd-networkd: it takes " + what + " at its next start");
    return;
  }
  NetworkdConf conf = networkd_conf();
  if (!conf.keeps_foreign_rules) {
    ctx.log.warn("not restarting systemd-networkd: " + conf.detail +
                 ", so a restart would delete routing rules it did not create. The kernel is configured; "
                 "networkd uses " + what + " from its next start");
    return;
  }
  UnitResult active = networkd_active(ctx.deadline);
  if (!active.ok) {
    ctx.log.debug("systemd-networkd is not active: it reads " + what + " when it starts");
    return;
  }
  std::vector<StaleDefault> stale;
  for (auto& ip : plan.interfaces) {
    if (!ip.actionable() || !created.count(ip.name)) continue;
    auto m = metrics.find(ip.name);
    if (m == metrics.end()) continue;
    for (auto& s : stale_defaults(before, ip, m->second)) stale.push_back(s);
  }
  auto t0 = Clock::now();
  UnitResult r = networkd_restart(ctx.deadline);
  if (!r.ok) {
    ctx.log.warn(r.detail + ": networkd keeps its current files until its next start");
    return;
  }
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count();
  std::string names;
  for (auto& n : created) names += (names.empty() ? "" : " ") + n;
  ctx.log.info("restarted systemd-networkd (" + std::to_string(ms) + " ms) so it manages " + names + " with " + what +
               "; DHCPv4 leases and addresses are kept across the restart");
  restore_dhcp6_addresses(ctx, plan, created);
  drop_stale_defaults(ctx, stale);
}

}  // namespace ec2nc
