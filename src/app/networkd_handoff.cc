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

void hand_to_networkd(Context& ctx, const std::set<std::string>& changed, const std::string& what) {
  if (changed.empty()) return;
  const std::string names = join(changed);
  const std::string later = "the kernel is configured; systemd-networkd reads " + what + " for " + names +
                            " when it next starts (ec2-netcfg never starts or restarts it)";
  NetworkdState st = settled_state(ctx);
  if (st.active.empty()) {
    ctx.log.warn("cannot tell whether systemd-networkd runs (" + st.detail + "): " + later);
    return;
  }
  if (st.active != "active" && st.active != "reloading") {
    // Inactive on purpose (another network manager, or stopped), or failed: either way not
    // ec2-netcfg's to start, and a start now could spend its start limit.
    ctx.log.warn("systemd-networkd is " + st.active + ": " + later);
    return;
  }
  NetworkdConf conf = networkd_conf();
  if (!conf.keeps_foreign_rules) {
    ctx.log.warn("not reloading systemd-networkd: " + conf.detail +
                 ", so reconfiguring a link would delete routing rules it did not create; " + later);
    return;
  }
  if (!st.age_s || conf.newest_age_s < *st.age_s) {
    ctx.log.warn("not reloading systemd-networkd: " +
                 (st.age_s ? conf.newest + " changed after systemd-networkd started"
                           : std::string("cannot tell when systemd-networkd started")) +
                 ", so it may not be in effect, and without it reconfiguring a link would delete routing rules "
                 "networkd did not create; " + later);
    return;
  }
  const auto t0 = Clock::now();
  UnitResult r = networkd_reload(ctx.deadline);
  if (!r.ok) {
    ctx.log.warn(r.detail + ": " + later);
    return;
  }
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count();
  ctx.log.info("networkctl reload (" + std::to_string(ms) + " ms): systemd-networkd takes " + what + " for " + names +
               "; links whose file did not change are left as they are");
}

}  // namespace ec2nc
