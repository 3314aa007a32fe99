// apply and diff: read the metadata (retrying a read that failed as a whole), then in
// passes: plan, decide cleanup on evidence, reconcile, carry out (the kernel first, each
// interface all or nothing), write files, record; at the end hand the files to the
// backend's service once; complete ENIs are configured in the first pass, late ones as their data completes.
#include <algorithm>
#include <iterator>
#include <map>
#include <set>

#include "app/backend.h"
#include "app/networkd_handoff.h"
#include "app/commands.h"
#include "app/imds_path.h"
#include "app/metadata_wait.h"
#include "app/output.h"
#include "app/run_lock.h"
#include "app/state.h"
#include "core/cleanup.h"
#include "core/plan.h"
#include "core/reconcile.h"
#include "core/records.h"

namespace ec2nc {

namespace {

bool in_scope(const Context& ctx, const std::string& name) {
  return ctx.opts.ifaces.empty() || std::find(ctx.opts.ifaces.begin(), ctx.opts.ifaces.end(), name) != ctx.opts.ifaces.end();
}

/// Kernel changes the cleanup decisions call for (links gone, tables moved).
std::vector<Change> cleanup_changes(Context& ctx, const std::vector<CleanupDecision>& decisions, const HostState& host) {
  std::vector<Change> out;
  for (auto& d : decisions) {
    const std::string what = d.record.name + " (" + d.record.mac.str() + ", table " + std::to_string(d.record.table) + ")";
    switch (d.action) {
      case CleanupDecision::Action::Keep:
        if (d.reason.rfind("not listed", 0) == 0) ctx.log.warn(what + ": " + d.reason);
        else ctx.log.debug(what + ": " + d.reason);
        break;
      case CleanupDecision::Action::Forget:
        ctx.log.info(what + ": " + d.reason);
        break;
      case CleanupDecision::Action::Remove:
      case CleanupDecision::Action::RemoveTable: {
        ctx.log.info(what + ": " + d.reason + ": taking away its rules and routes");
        // The link is gone (or keeps its addresses): only the table's rules and routes.
        auto rm = removal(d.record.name, 0, d.record.table, 0, host, &d.record);
        out.insert(out.end(), rm.begin(), rm.end());
        break;
      }
    }
  }
  return out;
}

/// The run's file changes, handed to the backend's service once when the run ends, however
/// many passes it made and wherever it returns: networkd is reloaded at most once a run, and
/// a file written is never left unannounced.
struct HandOff {
  Context& ctx;
  bool armed;
  std::vector<FileChange> changes;
  /// Hands the files over now; the interfaces the service reconfigured.
  std::set<std::string> run() {
    if (!armed) return {};
    armed = false;
    return ctx.backend->hand_off(ctx, changes);
  }
  ~HandOff() { run(); }
};

/// After networkd reconfigured `reloaded` (a reload onto their new file): once it has
/// finished, puts back what that removed of the plan (a DHCP address going takes every
/// route through an ENI with no other IPv4 address along, in every table). Exit status.
int restore_after_reconfigure(Context& ctx, const InstanceMetadata& md, RunState* state,
                              const std::set<std::string>& reloaded, Clock::time_point reloaded_at) {
  HostState host;
  const std::set<uint32_t> tables = tables_to_read(ctx.cfg, md, *state);
  int rc = read_host(ctx, &host, &tables);
  if (rc) return rc;
  std::map<int, std::string> by_index;
  for (auto& l : host.links)
    if (reloaded.count(l.name)) by_index[l.ifindex] = l.name;
  std::set<int> ifindexes;
  for (auto& [i, n] : by_index) ifindexes.insert(i);
  for (int i : wait_networkd_configured(ctx, ifindexes, reloaded_at))
    ctx.log.warn(by_index[i] + ": systemd-networkd has not finished reconfiguring it; ec2-netcfg's configuration is "
                 "checked now and again at the next run");
  host = HostState{};
  if ((rc = read_host(ctx, &host, &tables))) return rc;
  Plan plan = make_plan(ctx.cfg, md, host.links);
  ReconcileScope scope;
  scope.only.assign(reloaded.begin(), reloaded.end());
  scope.records = state;
  std::vector<Change> changes = reconcile(plan, host, scope);
  if (changes.empty()) return kExitOk;
  ctx.log.info("putting back what systemd-networkd's reconfigure removed (" + std::to_string(changes.size()) +
               " change(s))");
  std::vector<Change> done;
  std::set<std::string> failed = execute_changes(ctx, std::move(changes), &done);
  PassOutcome pass;
  pass.plan = &plan;
  pass.host = &host;
  pass.scope = scope.only;
  pass.done = std::move(done);
  pass.failed = failed;
  pass.writes_files = ctx.backend->writes_files();
  update_records(state, pass);
  std::string error;
  if (!save_state(ctx.path(kStateDir), *state, &error)) ctx.log.warn(error);
  return failed.empty() ? kExitOk : kExitRetry;
}

struct Totals {
  size_t kernel_changes = 0;
  size_t file_changes = 0;
  int status = kExitOk;
};

}  // namespace

int cmd_apply(Context& ctx, bool change_things) {
  std::vector<HostLink> links;
  int rc = read_links(ctx, &links);
  if (rc) return rc;
  std::vector<MacAddr> wanted;
  if ((rc = resolve_ifaces(ctx, links, &wanted))) return rc;
  const bool dry = !change_things || ctx.opts.dry_run;
  RunLock lock;  // a run that changes nothing needs no lock (and no root)
  if (!dry && (rc = take_lock(ctx, lock))) return rc;
  const auto t0 = Clock::now();

  RunState state;
  bool state_ok = true;
  if (!ctx.offline()) {
    StateLoad sl = load_state(ctx.path(kStateDir), &state, !dry);
    if (!sl.ok) {
      state_ok = false;
      ctx.log.error(sl.error + (sl.kept_as.empty() ? "" : " (kept as " + sl.kept_as + ")") +
                    ": nothing is taken away on its strength this run; the record is rebuilt");
    }
  }

  prepare_imds_path(ctx, links, /*may_change=*/!dry);
  InstanceMetadata md;
  if ((rc = read_metadata_retrying(ctx, ctx.opts.metadata_file.empty(), &md, false,
                                   early_listing_macs(links, wanted, state))))
    return rc;
  // A capture whose ENIs are not on this host leaves nothing to do: said, not a silent 0.
  if ((rc = capture_fits_host(ctx, md, links, wanted))) return rc;

  Totals tot;
  HandOff hand_off{ctx, !dry && !ctx.offline(), {}};
  PropagationWait wait(ctx);
  Plan plan;
  HostState host;
  for (bool first = true;; first = false) {
    // The host as it is now (links may change while we wait): one set of dumps serves
    // the plan and the reconcile. Offline (--root) only the links are read.
    host = HostState{};
    if (ctx.offline()) {
      if ((rc = read_links(ctx, &host.links))) return rc;
    } else {
      const std::set<uint32_t> tables = tables_to_read(ctx.cfg, md, state);
      if ((rc = read_host(ctx, &host, &tables))) return rc;
    }
    if (!ctx.offline()) mark_lost_ipv4(md, host, state);
    plan = make_plan(ctx.cfg, md, host.links);
    if (first)
      for (auto& ip : plan.interfaces)
        if (ip.present() && !ip.ignored && ip.ipv6_off && in_scope(ctx, ip.name))
          ctx.log.warn(ip.name + ": IPv6 is off on this link (net.ipv6.conf." + ip.name +
                       ".disable_ipv6): the IPv6 addresses, routes and rules IMDS gives it are left out");

    std::vector<Change> changes;
    std::vector<CleanupDecision> decisions;
    if (!ctx.offline()) {
      if (first && ctx.opts.ifaces.empty()) {
        decisions = decide_cleanup(plan, host.links, state);
        changes = cleanup_changes(ctx, decisions, host);
      }
      ReconcileScope scope;
      scope.only = ctx.opts.ifaces;
      scope.records = &state;
      const bool manages_any = std::any_of(plan.interfaces.begin(), plan.interfaces.end(),
                                           [](const InterfacePlan& ip) { return ip.present() && !ip.ignored; });
      const bool keeps_any = std::any_of(decisions.begin(), decisions.end(), [](const CleanupDecision& d) {
        return d.action == CleanupDecision::Action::Keep || d.action == CleanupDecision::Action::RemoveTable;
      });
      scope.may_remove_global_rules = first && state_ok && ctx.opts.ifaces.empty() && !manages_any && !keeps_any;
      auto rc_changes = reconcile(plan, host, scope);
      if (changes.empty()) {
        changes = std::move(rc_changes);
      } else {
        changes.insert(changes.end(), std::make_move_iterator(rc_changes.begin()),
                       std::make_move_iterator(rc_changes.end()));
      }
    }

    std::set<std::string> present;
    for (auto& l : host.links) present.insert(l.name);
    std::vector<FileChange> file_changes;
    if (dry) {
      std::set<std::string> configure;
      for (auto& ip : plan.interfaces)
        if (ip.actionable() && in_scope(ctx, ip.name)) configure.insert(ip.name);
      if ((rc = ctx.backend->sync(ctx, plan, configure, present, true, &file_changes))) return rc;
      // diff covers every ENI of the metadata: one with no host interface (a capture from
      // another instance, or an ENI whose device has not appeared yet) is named, on stderr.
      std::vector<MacAddr> absent;
      if (ctx.opts.ifaces.empty())
        for (auto& ip : plan.interfaces)
          if (!ip.present()) {
            absent.push_back(ip.mac);
            ctx.log.info(eni_title(ip) + ": nothing to change for it");
          }
      print_changes(ctx.out, file_changes, changes, ctx.opts.json, ctx.opts.root, absent);
      tot.kernel_changes = changes.size();
      break;
    }

    // The kernel first, each interface all or nothing; then the files, where an
    // interface whose kernel changes were undone keeps its file as it was.
    std::vector<Change> done;
    const size_t change_count = changes.size();
    std::set<std::string> failed = execute_changes(ctx, std::move(changes), &done);
    if (!failed.empty()) tot.status = kExitRetry;
    std::set<std::string> configure;
    for (auto& ip : plan.interfaces)
      if (ip.actionable() && in_scope(ctx, ip.name) && !failed.count(ip.name)) configure.insert(ip.name);
    for (auto& d : decisions)  // a gone link whose cleanup failed keeps its file for the next run
      if (failed.count(d.record.name) && !present.count(d.record.name)) present.insert(d.record.name);
    const int files_rc = ctx.backend->sync(ctx, plan, configure, present, false, &file_changes);
    if (files_rc) tot.status = files_rc;
    log_file_changes(ctx, file_changes);
    if (!ctx.offline()) {
      PassOutcome pass;
      pass.plan = &plan;
      pass.host = &host;
      pass.scope = ctx.opts.ifaces;
      pass.done = std::move(done);  // not used after this: no copy of every change
      pass.failed = failed;
      pass.cleanup = decisions;
      pass.writes_files = ctx.backend->writes_files();
      pass.files_failed = files_rc != 0;
      update_records(&state, pass);
      std::string error;
      if (!save_state(ctx.path(kStateDir), state, &error)) ctx.log.warn(error);
    }
    hand_off.changes.insert(hand_off.changes.end(), file_changes.begin(), file_changes.end());
    tot.kernel_changes += change_count;
    tot.file_changes += file_changes.size();

    // A capture says what it says: nothing in it propagates, so nothing is waited for.
    auto pending = pending_macs(md, host.links, wanted);
    if (pending.empty() || !ctx.opts.metadata_file.empty() || !wait.step(pending, &md)) break;
  }

  // The files to the backend's service, once; then what its reconfigure removed goes back.
  const auto reloaded_at = Clock::now();
  const std::set<std::string> reloaded = hand_off.run();
  if (!reloaded.empty()) {
    int r = restore_after_reconfigure(ctx, md, &state, reloaded, reloaded_at);
    if (r && tot.status == kExitOk) tot.status = r;
  }

  // What is left as it was, and why.
  for (auto& m : wanted) {
    if (md.enis.count(m)) continue;
    ctx.log.error(m.str() + ": not listed under meta-data/network/interfaces/macs/ (waited " +
                  std::to_string(ctx.cfg.wait_timeout_s) + " s)");
    tot.status = kExitRetry;
  }
  for (auto& ip : plan.interfaces) {
    const bool relevant = ctx.opts.ifaces.empty() ? ip.present() : in_scope(ctx, ip.name) && ip.present();
    if (!relevant || ip.ignored || ip.state == EniMetadata::State::Complete) continue;
    ctx.log.error(ip.name + " (" + ip.mac.str() + "): left as it was: " + state_name(ip.state) + ": " + ip.problem);
    tot.status = kExitRetry;
  }
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count();
  ctx.log.debug("done in " + std::to_string(ms) + " ms: " + std::to_string(tot.file_changes) + " file(s) changed, " +
                std::to_string(tot.kernel_changes) + " kernel change(s), " + std::to_string(ctx.source->requests()) +
                " IMDS request(s) in " + std::to_string(ctx.source->rounds()) + " round(s) over " +
                std::to_string(ctx.source->connections()) + " connection(s), " +
                std::to_string(ctx.rtnl_open ? ctx.rtnl.messages() : 0) + " netlink message(s)");
  return tot.status;
}

std::set<std::string> execute_changes(Context& ctx, std::vector<Change> changes, std::vector<Change>* done) {
  if (changes.empty()) return {};
  auto rep = run_transactions(std::move(changes), [&](const std::vector<const Change*>& offered,
                                                      std::vector<SendResult>* results, std::vector<std::string>* errors) {
    return ctx.rtnl.send_batch(offered, results, errors);
  });
  ctx.log.info_lines(rep.done.begin(), rep.done.end(), [](const Change& c) { return c.describe(); });
  for (auto& e : rep.errors) ctx.log.error("netlink: " + e);
  for (auto& u : rep.undone) ctx.log.info("undone: " + u.describe());
  for (auto& e : rep.undo_errors) ctx.log.error("netlink: undoing: " + e);
  for (auto& f : rep.failed)
    ctx.log.error((f.empty() ? std::string("host-wide rules") : f) + ": left as it was (a change failed; the next run tries again)");
  if (done) *done = std::move(rep.done);
  return rep.failed;
}

void log_file_changes(Context& ctx, const std::vector<FileChange>& changes) {
  for (auto& fc : changes) {
    const char* word = fc.kind == FileChange::Kind::Created ? "create"
                       : fc.kind == FileChange::Kind::Updated ? "update"
                                                               : "remove";
    ctx.log.info(std::string(word) + " " + fc.path);
  }
}

}  // namespace ec2nc
