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
/// File changes (paths shown relative to `root` when given) then kernel changes.
void print_changes(Out& out, const std::vector<FileChange>& files, const std::vector<Change>& changes,
                   bool json, const std::string& root);

}  // namespace ec2nc
