// remove IFACE...: what ec2-netcfg configured for each interface goes away, on the
// evidence of its record; a damaged record removes nothing.
#include <algorithm>

#include "app/backend.h"
#include "app/commands.h"
#include "app/output.h"
#include "app/run_lock.h"
#include "app/state.h"
#include "core/reconcile.h"

namespace ec2nc {

int cmd_remove(Context& ctx) {
  if (ctx.opts.ifaces.empty()) {
    ctx.log.error("remove needs at least one interface name");
    return kExitUsage;
  }
  RunLock lock;
  int rc = take_lock(ctx, lock);
  if (rc) return rc;
  RunState state;
  StateLoad sl = load_state(ctx.path(kStateDir), &state, false);
  if (!sl.ok) {
    ctx.log.error(sl.error + ": cannot tell what ec2-netcfg configured, so nothing is removed (the next apply "
                  "rebuilds the record)");
    return kExitRetry;
  }
  HostState host;
  if (!ctx.offline() && (rc = read_host(ctx, &host))) return rc;
  auto link_of = [&](const InterfaceRecord& r) -> const HostLink* {
    for (auto& l : host.links)
      if (l.ifindex == r.ifindex && l.mac == r.mac) return &l;
    return nullptr;
  };

  int status = kExitOk;
  std::vector<Change> changes;
  std::vector<std::string> removing;  // names whose record goes
  for (auto& name : ctx.opts.ifaces) {
    if (ctx.offline()) continue;
    const InterfaceRecord* rec = state.find(name);
    if (!rec) {
      ctx.log.info(name + ": nothing recorded as configured by ec2-netcfg");
      continue;
    }
    removing.push_back(name);
    const HostLink* link = link_of(*rec);
    // The same table may belong to another ENI by now (this one detached, another attached
    // at the same device number and applied first): then its rules and routes are that
    // ENI's, and only this record goes.
    const bool table_taken = std::any_of(state.interfaces.begin(), state.interfaces.end(), [&](const InterfaceRecord& o) {
      return o.name != name && o.table == rec->table && link_of(o) != nullptr;
    });
    if (!link && table_taken) {
      ctx.log.info(name + ": link gone and table " + std::to_string(rec->table) +
                   " now belongs to another ENI: only the record goes");
      continue;
    }
    auto rm = removal(name, link ? link->ifindex : 0, rec->table, link ? ctx.cfg.link_group : 0, host, rec);
    changes.insert(changes.end(), rm.begin(), rm.end());
  }
  // The last recorded ENI going: the host-wide rules go too, so nothing of ours is left.
  const bool last = !ctx.offline() && !state.interfaces.empty() &&
                    std::all_of(state.interfaces.begin(), state.interfaces.end(), [&](const InterfaceRecord& r) {
                      return std::find(removing.begin(), removing.end(), r.name) != removing.end();
                    });
  if (last) {
    auto rm = global_removal(host, ctx.cfg.table_base, ctx.cfg.link_group);
    changes.insert(changes.end(), rm.begin(), rm.end());
  }
  // The kernel first, each interface all or nothing; an interface whose removal was
  // undone keeps its file and its record, so the next remove or apply finishes it.
  std::set<std::string> failed;
  if (!ctx.opts.dry_run) failed = execute_changes(ctx, std::move(changes));  // (read again only on a dry run)
  if (!failed.empty()) status = kExitRetry;
  std::vector<FileChange> file_changes;
  for (auto& name : ctx.opts.ifaces) {
    if (failed.count(name)) continue;
    if ((rc = ctx.backend->remove_files(ctx, name, ctx.opts.dry_run, &file_changes))) status = rc;
  }
  if (ctx.opts.dry_run) {
    print_changes(ctx.out, file_changes, changes, ctx.opts.json, ctx.opts.root);
    return status;
  }
  log_file_changes(ctx, file_changes);
  if (!ctx.offline()) {
    auto& v = state.interfaces;
    v.erase(std::remove_if(v.begin(), v.end(),
                           [&](const InterfaceRecord& r) {
                             return !failed.count(r.name) &&
                                    std::find(removing.begin(), removing.end(), r.name) != removing.end();
                           }),
            v.end());
    std::string error;
    if (!save_state(ctx.path(kStateDir), state, &error)) ctx.log.warn(error);
  }
  return status;
}

}  // namespace ec2nc
