#include "core/metadata_capture.h"

#include <cstdio>
#include <optional>
#include <set>

namespace ec2nc {

namespace {

const char kMacPath[] = "meta-data/mac";
const char kMacsPath[] = "meta-data/network/interfaces/macs/";

/// A value for a message: control bytes escaped, cut at 80 characters.
std::string printable(const std::string& v) {
  std::string out;
  for (unsigned char c : v.substr(0, 80)) {
    if (c < 0x20 || c >= 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out += char(c);
    }
  }
  if (v.size() > 80) out += "...";
  return out;
}

/// A listing entry (its trailing '/' removed) that can be appended to a path: one
/// component, printable, nothing a URL or a path would read specially.
bool safe_name(const std::string& n) {
  if (n.empty() || n == "." || n == ".." || n.size() > 255) return false;
  for (unsigned char c : n) {
    if (c <= 0x20 || c >= 0x7f || c == '/' || c == '?' || c == '#' || c == '%' || c == '\\') return false;
  }
  return true;
}

std::vector<std::string> lines_of(const std::string& body) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= body.size()) {
    size_t nl = body.find('\n', start);
    if (nl == std::string::npos) nl = body.size();
    if (nl > start) out.push_back(body.substr(start, nl - start));
    start = nl + 1;
  }
  return out;
}

class Walker {
 public:
  Walker(MetadataSource& src, const CaptureLimits& limits, MetadataCapture& cap)
      : src_(src), limits_(limits), cap_(cap) {}

  /// Fetches one path and records it. The body when it answered and was kept.
  std::optional<std::string> fetch(const std::string& path, bool listed) {
    if (cap_.unreachable) return std::nullopt;  // the walk stopped: the service cannot be reached
    if (!seen_.insert(path).second) return std::nullopt;  // listed twice: fetched once
    if (!left_out_.empty() || fetched_ >= limits_.max_paths) {
      leave_out(path, "the capture stops at " + std::to_string(limits_.max_paths) + " paths");
      return std::nullopt;
    }
    ++fetched_;
    FetchResult r = src_.get(path);
    if (r.status == FetchResult::Status::NotFound) {
      error(path, path + (listed ? ": listed but answers 404" : ": 404 not found"));
      return std::nullopt;
    }
    if (r.status == FetchResult::Status::Error) {
      // A source's error names the path already; say it when one does not.
      error(path, r.error.rfind(path, 0) == 0 ? r.error : path + ": " + r.error);
      // No connection could be made: every other path would fail the same way, each after
      // its own retries. Said once, and the walk stops.
      cap_.unreachable = r.unreachable;
      return std::nullopt;
    }
    if (bytes_ + r.body.size() > limits_.max_bytes) {
      leave_out(path, "the capture keeps at most " + std::to_string(limits_.max_bytes) + " bytes of bodies");
      return std::nullopt;
    }
    bytes_ += r.body.size();
    cap_.paths[path] = r.body;
    return std::move(r.body);
  }

  /// Lists directory `dir` (ending in '/', `depth` levels below macs/) and walks it.
  /// In macs/ itself (depth 0) every entry is a MAC's directory, '/' or not, as the
  /// reader takes them.
  void walk(const std::string& dir, size_t depth, bool listed) {
    auto body = fetch(dir, listed);
    if (!body) return;
    for (auto& line : lines_of(*body)) {
      bool is_dir = depth == 0 || line.back() == '/';
      std::string name = line.back() == '/' ? line.substr(0, line.size() - 1) : line;
      if (!safe_name(name)) {
        error(dir, dir + ": listing entry \"" + printable(line) + "\" is not a metadata name (not fetched)");
        continue;
      }
      std::string child = dir + name + (is_dir ? "/" : "");
      if (!is_dir) {
        fetch(child, true);
      } else if (depth + 1 > limits_.max_depth) {
        if (seen_.insert(child).second)
          error(child, child + ": not walked: deeper than " + std::to_string(limits_.max_depth) +
                           " levels below " + kMacsPath);
      } else {
        walk(child, depth + 1, true);
      }
    }
  }

  /// Records, once the walk is over, what a bound left out.
  void finish() {
    if (left_out_.empty()) return;
    std::string more = skipped_ == 1   ? ""
                       : skipped_ == 2 ? " (nor 1 other listed path)"
                                       : " (nor " + std::to_string(skipped_ - 1) + " other listed paths)";
    error(left_out_, left_out_ + ": not captured" + more + ": " + left_out_why_);
  }

 private:
  void error(const std::string& path, const std::string& what) { cap_.errors.push_back({path, what}); }

  void leave_out(const std::string& path, const std::string& why) {
    if (left_out_.empty()) {
      left_out_ = path;
      left_out_why_ = why;
    }
    ++skipped_;
  }

  MetadataSource& src_;
  const CaptureLimits& limits_;
  MetadataCapture& cap_;
  std::set<std::string> seen_;
  size_t fetched_ = 0;
  size_t bytes_ = 0;
  std::string left_out_;  ///< The first path a bound left out ("" = none yet).
  std::string left_out_why_;
  size_t skipped_ = 0;
};

}  // namespace

bool MetadataCapture::has_root() const { return paths.count(kMacPath) && paths.count(kMacsPath); }

std::string MetadataCapture::json() const {
  // RecordingSource is the one writer of the capture format: replay the paths through it.
  CaptureSource replay(paths);
  RecordingSource rec(replay);
  for (auto& entry : paths) rec.get(entry.first);
  return rec.capture_json();
}

MetadataCapture capture_metadata(MetadataSource& src, const CaptureLimits& limits) {
  MetadataCapture cap;
  Walker w(src, limits, cap);
  w.fetch(kMacPath, false);
  w.walk(kMacsPath, 0, false);
  w.finish();
  return cap;
}

}  // namespace ec2nc
