#include "app/state.h"

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "edge/files.h"

namespace ec2nc {

StateLoad load_state(const std::string& dir, RunState* out, bool move_aside) {
  StateLoad r;
  out->interfaces.clear();
  const std::string path = dir + "/state.json";
  std::string text, error;
  if (!read_file(path, &text, &error)) {
    if (errno == ENOENT) return r;
    r.ok = false;
    r.error = error;
    return r;
  }
  if (parse_state(text, out, &error)) return r;
  r.ok = false;
  r.error = path + ": " + error;
  out->interfaces.clear();
  const std::string aside = path + ".damaged";
  if (move_aside && std::rename(path.c_str(), aside.c_str()) == 0) r.kept_as = aside;
  return r;
}

bool save_state(const std::string& dir, const RunState& st, std::string* error) {
  bool changed = false;
  return write_file_atomic(dir + "/state.json", format_state(st), 0644, &changed, error);
}

}  // namespace ec2nc
