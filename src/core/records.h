// Keeping the record (core/run_state.h) in step with what a run did. Pure.
#pragma once

#include <set>
#include <string>
#include <vector>

#include "core/cleanup.h"
#include "core/netlink.h"
#include "core/plan.h"
#include "core/reconcile.h"
#include "core/run_state.h"

namespace ec2nc {

/// What one pass of apply did, as the record needs it.
struct PassOutcome {
  const Plan* plan = nullptr;
  const HostState* host = nullptr;           ///< The host as observed before the pass.
  std::vector<std::string> scope;            ///< IFACE arguments (empty: every ENI).
  std::vector<Change> done;                  ///< Changes the kernel made and that were kept.
  std::set<std::string> failed;              ///< Interfaces left as they were.
  std::vector<CleanupDecision> cleanup;      ///< Decisions carried out in this pass.
  bool writes_files = false;                 ///< The backend wrote each ENI's file from the plan.
  /// The backend's file write failed: a file may still be what it was, so only what the
  /// record said the file held before stays recorded (never the plan's routes unwritten).
  bool files_failed = false;
};

/// Updates `st` after a pass: actionable interfaces in scope that did not fail get a
/// record of their link, table, the addresses ec2-netcfg added (and still holds), and the
/// rules and routes written to their file; removed and forgotten interfaces lose their
/// record (unless their removal failed); everything else keeps what was recorded.
void update_records(RunState* st, const PassOutcome& pass);

}  // namespace ec2nc
