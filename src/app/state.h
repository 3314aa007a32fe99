// The run-time record under ROOT/run/ec2-netcfg/: which interfaces ec2-netcfg
// configured and with which table, so `remove` works after the link is gone and a
// detached ENI's rules and routes are cleaned on the next apply.
#pragma once

#include <set>
#include <string>
#include <vector>

#include "core/ip.h"
#include "core/plan.h"

namespace ec2nc {

struct InterfaceRecord {
  std::string name;
  MacAddr mac;
  int ifindex = 0;
  uint32_t table = 0;
};

struct RunState {
  std::vector<InterfaceRecord> interfaces;
};

/// Loads DIR/state.json. A missing file is an empty state (true); a corrupt one is
/// reported and treated as empty (false).
bool load_state(const std::string& dir, RunState* out, std::string* error);
/// Writes DIR/state.json atomically (untouched when unchanged).
bool save_state(const std::string& dir, const RunState& st, std::string* error);
/// Records the actionable interfaces of `plan` (within `scope` when non-empty). The
/// interfaces in `failed` (left as they were) keep what was recorded for them.
void update_state(RunState* st, const Plan& plan, const std::vector<std::string>& scope,
                  const std::set<std::string>& failed = {});

}  // namespace ec2nc
