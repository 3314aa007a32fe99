// Loading and saving the record (core/run_state.h) under ROOT/run/ec2-netcfg/.
#pragma once

#include <string>

#include "core/run_state.h"

namespace ec2nc {

/// Outcome of loading DIR/state.json.
struct StateLoad {
  bool ok = true;       ///< False: the file exists but is damaged (or unreadable).
  std::string error;    ///< Why, naming the file.
  std::string kept_as;  ///< Where the damaged file was moved (so it is not lost).
};

/// Loads DIR/state.json. A missing file is an empty state. A damaged one is reported
/// (the caller then knows nothing it may remove) and, with `move_aside` (apply, which
/// rebuilds the record), moved to DIR/state.json.damaged so it is not lost.
StateLoad load_state(const std::string& dir, RunState* out, bool move_aside);

/// Writes DIR/state.json atomically (untouched when unchanged).
bool save_state(const std::string& dir, const RunState& st, std::string* error);

}  // namespace ec2nc
