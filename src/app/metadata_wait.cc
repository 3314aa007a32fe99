#include "app/metadata_wait.h"

#include <algorithm>
#include <cerrno>
#include <set>
#include <thread>

namespace ec2nc {

namespace {

long seconds_left(const Context& ctx) {
  return long(std::chrono::duration_cast<std::chrono::seconds>(ctx.deadline - Clock::now()).count());
}

}  // namespace

std::string imds_unreachable(const Context& ctx, const std::string& why) {
  return "IMDS (" + ctx.imds_endpoint + ") could not be reached: " + why;
}

namespace {

/// Connections refused this long in a row end the wait: something at the endpoint's
/// address answers, and it is not IMDS (which listens on every instance from before it
/// boots). A few of the client's attempts and reads, not one unlucky moment.
constexpr auto kRefusedFor = std::chrono::seconds(5);

/// Off EC2, the commands that only read can read a capture instead.
void hint_capture(Context& ctx) {
  const bool reads_only = ctx.opts.command == "show" || ctx.opts.command == "check" ||
                          ctx.opts.command == "diff" || ctx.opts.dry_run;
  if (!reads_only) return;
  ctx.log.error("not on EC2? show, diff and check read a dump-metadata capture instead of IMDS: --metadata-file "
                "FILE (examples/dual-stack-two-enis.json in ec2-netcfg's source tree is one; `ec2-netcfg "
                "dump-metadata` on an instance writes one)");
}

long seconds_since(Clock::time_point t) {
  return long(std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - t).count());
}

}  // namespace

int read_metadata_retrying(Context& ctx, bool retry, InstanceMetadata* out, bool elastic_ips,
                           const std::vector<MacAddr>& likely) {
  std::mt19937 rng(std::random_device{}());
  unsigned delay_ms = 250;
  const auto t0 = Clock::now();
  auto last_progress = t0;
  Clock::time_point refused_since{};  // the start of the first of the reads in a row refused
  unsigned reads = 0;
  while (true) {
    const auto read_start = Clock::now();
    MetadataRead rd = read_metadata(*ctx.source, {}, elastic_ips, likely);
    ++reads;
    if (rd.fatal.empty()) {
      *out = std::move(rd.instance);
      return kExitOk;
    }
    if (!ctx.opts.metadata_file.empty()) {
      // A capture says what it says: reading it again cannot help.
      ctx.log.error(ctx.opts.metadata_file + ": " + rd.fatal);
      return kExitUsage;
    }
    if (rd.unreachable != ECONNREFUSED) refused_since = {};
    else if (refused_since == Clock::time_point{}) refused_since = read_start;
    const bool refused = refused_since != Clock::time_point{} && Clock::now() - refused_since >= kRefusedFor;
    const std::string what = rd.unreachable ? imds_unreachable(ctx, rd.fatal) : rd.fatal;
    if (!retry || refused || Clock::now() + std::chrono::milliseconds(delay_ms) >= ctx.deadline) {
      const std::string tried = std::to_string(reads) + (reads == 1 ? " read" : " reads") + " in " +
                                std::to_string(seconds_since(t0)) + " s";
      if (!ctx.imds_no_route.empty())
        ctx.log.error(imds_unreachable(ctx, ctx.imds_no_route));
      else if (refused)
        ctx.log.error(what + "; every connection refused for " + std::to_string(seconds_since(refused_since)) +
                      " s (" + tried + "): nothing listens at that address and port, and IMDS always does on an "
                      "instance: not waiting out the " + std::to_string(ctx.cfg.wait_timeout_s) + " s wait bound");
      else
        ctx.log.error(what + (retry ? " (gave up after " + tried + ": the wait bound ran out)" : ""));
      if (rd.unreachable || !ctx.imds_no_route.empty()) hint_capture(ctx);
      if (ctx.opts.command == "apply" && !ctx.opts.dry_run)
        ctx.log.error("nothing changed: a read that failed as a whole is never acted on");
      return kExitRetry;
    }
    // What is awaited, with how long is left: at first and every 10 s; every read with -v.
    const long left = seconds_left(ctx);
    if (reads == 1) {
      ctx.log.info((rd.unreachable ? what : "IMDS (" + ctx.imds_endpoint + ") not usable yet: " + rd.fatal) +
                   "; retrying for up to " + std::to_string(left) + " s");
      last_progress = Clock::now();
    } else if (Clock::now() - last_progress >= std::chrono::seconds(10)) {
      ctx.log.info("IMDS (" + ctx.imds_endpoint + ") still not usable, " + std::to_string(left) + " s left: " +
                   rd.fatal);
      last_progress = Clock::now();
    } else {
      ctx.log.debug("retrying: " + rd.fatal);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms / 2 + rng() % (delay_ms / 2 + 1)));
    delay_ms = std::min(delay_ms * 2, 2000u);
  }
}

int capture_fits_host(Context& ctx, const InstanceMetadata& md, const std::vector<HostLink>& links,
                      const std::vector<MacAddr>& wanted) {
  if (ctx.opts.metadata_file.empty()) return kExitOk;
  const std::string& file = ctx.opts.metadata_file;
  std::string enis;
  size_t n = 0;
  for (auto& [mac, eni] : md.enis) {
    if (++n > 8) {
      enis += " and " + std::to_string(md.enis.size() - 8) + " more";
      break;
    }
    enis += (enis.empty() ? "" : ", ") + mac.str();
    std::string about = eni.interface_id;
    if (eni.is_primary) about += about.empty() ? "primary" : ", primary";
    if (!about.empty()) enis += " (" + about + ")";
  }
  const std::string show = "`ec2-netcfg --metadata-file " + file + " show` prints the desired state of every ENI "
                           "in a capture, on any host; `sudo scripts/try-in-netns.sh " + file + "` (in ec2-netcfg's "
                           "source tree) applies it in a network namespace of its own, with interfaces of its MACs";
  for (size_t i = 0; i < wanted.size() && i < ctx.opts.ifaces.size(); ++i) {
    if (md.enis.count(wanted[i])) continue;
    ctx.log.error(ctx.opts.ifaces[i] + " (" + wanted[i].str() + "): no ENI with that MAC in " + file + " (its ENIs: " +
                  enis + ")");
    return kExitUsage;
  }
  if (!wanted.empty()) return kExitOk;
  const bool any = std::any_of(links.begin(), links.end(), [&](const HostLink& l) {
    return l.can_be_eni() && md.enis.count(l.mac);
  });
  if (any) return kExitOk;
  const std::string cmd = ctx.opts.command + (ctx.opts.dry_run ? " --dry-run" : "");
  ctx.log.error(file + ": none of its ENIs is on this host (ENIs are matched to interfaces by MAC): " + enis);
  ctx.log.error(cmd + " works on this host's interfaces, so a capture from another instance gives it nothing to " +
                (ctx.opts.command == "check"                       ? "check"
                 : ctx.opts.command == "apply" && !ctx.opts.dry_run ? "configure"
                                                                    : "compare") +
                ": " + show);
  return kExitUsage;
}

std::vector<MacAddr> early_listing_macs(const std::vector<HostLink>& links, const std::vector<MacAddr>& wanted,
                                        const RunState& state) {
  if (!wanted.empty()) return wanted;
  std::vector<MacAddr> out;
  for (auto& l : links) {
    if (!l.can_be_eni()) continue;
    const bool recorded = std::any_of(state.interfaces.begin(), state.interfaces.end(),
                                      [&](const InterfaceRecord& r) { return r.mac == l.mac; });
    if (recorded || state.interfaces.empty()) out.push_back(l.mac);
  }
  if (state.interfaces.empty() && out.size() > kMaxEarlyListings) out.clear();
  return out;
}

std::vector<MacAddr> pending_macs(const InstanceMetadata& md, const std::vector<HostLink>& links,
                                  const std::vector<MacAddr>& wanted) {
  std::set<MacAddr> host_macs;
  for (auto& l : links)
    if (l.can_be_eni()) host_macs.insert(l.mac);
  std::vector<MacAddr> p;
  for (auto& m : wanted)
    if (!md.enis.count(m)) p.push_back(m);
  for (auto& [mac, eni] : md.enis) {
    bool relevant = wanted.empty() ? host_macs.count(mac) != 0
                                   : std::find(wanted.begin(), wanted.end(), mac) != wanted.end();
    if (!relevant) continue;
    if (eni.state == EniMetadata::State::Incomplete || eni.state == EniMetadata::State::FetchFailed) p.push_back(mac);
  }
  return p;
}

bool PropagationWait::step(const std::vector<MacAddr>& pending, InstanceMetadata* md) {
  if (Clock::now() + std::chrono::milliseconds(delay_ms_) >= ctx_.deadline) return false;
  // Progress: what is awaited and how long is left, at the first step and every 10 s.
  // Every step with -v.
  auto now = Clock::now();
  const bool progress = last_progress_ == Clock::time_point{} || now - last_progress_ >= std::chrono::seconds(10);
  if (progress) last_progress_ = now;
  for (auto& m : pending) {
    auto it = md->enis.find(m);
    std::string line = m.str() + ": waiting for IMDS (" +
                       (it == md->enis.end() ? std::string("not listed under macs/ yet") : it->second.problem) + "), " +
                       std::to_string(seconds_left(ctx_)) + " s left";
    if (progress) ctx_.log.info(line);
    else ctx_.log.debug(line);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms_ / 2 + rng_() % (delay_ms_ / 2 + 1)));
  delay_ms_ = std::min(delay_ms_ * 2, 1000u);  // propagation takes seconds: poll at 1 s at most
  bool missing = std::any_of(pending.begin(), pending.end(), [&](const MacAddr& m) { return !md->enis.count(m); });
  if (missing) {
    // The listing again; a failed re-read leaves what was read before.
    MetadataRead rd = read_metadata(*ctx_.source, {}, /*elastic_ips=*/false);
    if (rd.fatal.empty()) *md = std::move(rd.instance);
    else ctx_.log.debug("re-reading the listing: " + rd.fatal);
    return true;
  }
  for (auto& [mac, eni] : read_enis(*ctx_.source, pending, md->primary_mac, /*elastic_ips=*/false)) md->enis[mac] = std::move(eni);
  mark_conflicts(*md);
  return true;
}

}  // namespace ec2nc
