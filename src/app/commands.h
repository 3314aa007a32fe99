// The commands, each a short sequence of named steps over context, core and edges.
#pragma once

#include <set>
#include <string>
#include <vector>

#include "app/context.h"
#include "core/reconcile.h"
#include "edge/files.h"

namespace ec2nc {

/// apply (`change_things`) and diff: bring the ENIs to the plan, or print what would change.
int cmd_apply(Context& ctx, bool change_things);
/// remove IFACE...: take away what ec2-netcfg configured for each.
int cmd_remove(Context& ctx);
/// show: the desired state of every ENI in the metadata.
int cmd_show(Context& ctx);
/// check: where the kernel sends traffic from each address and prefix, and why when wrong.
int cmd_check(Context& ctx);
/// dump-metadata: what ec2-netcfg reads from IMDS, as a capture.
int cmd_dump(Context& ctx);

/// Sends a change set in batches, each interface all or nothing, logging what
/// happened; returns the interfaces ("" = host-wide rules) left as they were.
/// `changes` is consumed (what was done moves into *done).
std::set<std::string> execute_changes(Context& ctx, std::vector<Change> changes, std::vector<Change>* done = nullptr);
/// Logs file changes ("create PATH", ...).
void log_file_changes(Context& ctx, const std::vector<FileChange>& changes);

}  // namespace ec2nc
