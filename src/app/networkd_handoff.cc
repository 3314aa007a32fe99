#include "app/networkd_handoff.h"

#include <thread>

#include "edge/networkd_ctl.h"

namespace ec2nc {

namespace {

std::string join(const std::set<std::string>& names) {
  std::string out;
  for (auto& n : names) out += (out.empty() ? "" : " ") + n;
  return out;
}

/// The state of networkd, waiting (within the run's deadline, at most 5 s) while systemd
/// is still starting it or it is reloading: it reads its files when it has started.
NetworkdState settled_state(Context& ctx) {
  const auto until = std::min(ctx.deadline, Clock::now() + std::chrono::seconds(5));
  for (;;) {
    NetworkdState st = networkd_state(ctx.deadline);
    if ((st.active != "activating" && st.active != "reloading") || Clock::now() >= until) return st;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

}  // namespace

bool hand_to_networkd(Context& ctx, const std::set<std::string>& changed, const std::string& what) {
  if (changed.empty()) return false;
  const std::string names = join(changed);
  const std::string later = "the kernel is configured; systemd-networkd reads " + what + " for " + names +
                            " when it next starts (ec2-netcfg never starts or restarts it)";
  NetworkdState st = settled_state(ctx);
  if (st.active.empty()) {
    ctx.log.warn("cannot tell whether systemd-networkd runs (" + st.detail + "): " + later);
    return false;
  }
  if (st.active != "active" && st.active != "reloading") {
    // Inactive on purpose (another network manager, or stopped), or failed: either way not
    // ec2-netcfg's to start, and a start now could spend its start limit.
    ctx.log.warn("systemd-networkd is " + st.active + ": " + later);
    return false;
  }
  NetworkdConf conf = networkd_conf();
  if (!conf.keeps_foreign_rules) {
    ctx.log.warn("not reloading systemd-networkd: " + conf.detail +
                 ", so reconfiguring a link would delete routing rules it did not create; " + later);
    return false;
  }
  if (!st.age_s || conf.newest_age_s < *st.age_s) {
    ctx.log.warn("not reloading systemd-networkd: " +
                 (st.age_s ? conf.newest + " changed after systemd-networkd started"
                           : std::string("cannot tell when systemd-networkd started")) +
                 ", so it may not be in effect, and without it reconfiguring a link would delete routing rules "
                 "networkd did not create; " + later);
    return false;
  }
  const auto t0 = Clock::now();
  UnitResult r = networkd_reload(ctx.deadline);
  if (!r.ok) {
    ctx.log.warn(r.detail + ": " + later);
    return false;
  }
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count();
  ctx.log.info("networkctl reload (" + std::to_string(ms) + " ms): systemd-networkd takes " + what + " for " + names +
               "; links whose file did not change are left as they are");
  return true;
}

std::set<int> wait_networkd_configured(Context& ctx, const std::set<int>& ifindexes, Clock::time_point reloaded_at) {
  const auto until = std::min(ctx.deadline, Clock::now() + std::chrono::seconds(10));
  std::set<int> pending = ifindexes;
  while (!pending.empty()) {
    const double since = std::chrono::duration<double>(Clock::now() - reloaded_at).count();
    for (auto it = pending.begin(); it != pending.end();) {
      auto l = networkd_link(*it);
      const bool done = l && l->age_s < since && (l->admin_state == "configured" || l->admin_state == "failed" ||
                                                  l->admin_state == "unmanaged");
      it = done ? pending.erase(it) : std::next(it);
    }
    if (pending.empty() || Clock::now() >= until) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return pending;
}

}  // namespace ec2nc
