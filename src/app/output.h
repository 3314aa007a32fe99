// Output for a person (text) or a program (--json): the plan (show) and change sets
// (diff, --dry-run).
#pragma once

#include <string>
#include <vector>

#include "core/plan.h"
#include "core/reconcile.h"
#include "edge/files.h"
#include "edge/out.h"

namespace ec2nc {

void print_plan_text(Out& out, const Plan& plan);
void print_plan_json(Out& out, const Plan& plan);
/// One line naming an ENI: host name (or "-"), MAC, ENI id, then card, device, table and
/// what sets it apart ("not present on this host", "ignored by configuration", ...).
std::string eni_title(const InterfacePlan& ip);
/// File changes (paths shown relative to `root` when given) then kernel changes. With
/// --json, `not_present` too: the MACs of the metadata's ENIs that have no host interface
/// (diff covers every ENI; in text that is said on stderr, and stdout stays the changes).
void print_changes(Out& out, const std::vector<FileChange>& files, const std::vector<Change>& changes,
                   bool json, const std::string& root, const std::vector<MacAddr>& not_present = {});

}  // namespace ec2nc
