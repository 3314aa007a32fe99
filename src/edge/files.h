// Writing generated files: atomically (temp file + fsync + rename), an identical
// target left untouched, ec2-netcfg's own stale files removed and nobody else's.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

namespace ec2nc {

/// What a sync did, for logs and "nothing changed" checks.
struct FileChange {
  enum class Kind { Created, Updated, Removed };
  Kind kind;
  std::string path;
};

/// Makes directory `dir` hold exactly `files` (name -> content) among the names for
/// which `owned(name)` is true: writes new/changed ones with `mode`, removes owned
/// names not in `files`, never touches other names. Creates `dir` (0755) if needed.
/// Also removes (and reports as Removed) the stale temporaries of owned names that a
/// run killed mid-write left (".NAME.tmp-PID-N" whose writer is gone or that is older
/// than a few seconds); the caller holds the run lock, so no live run is writing one.
/// With `dry_run` it only reports, and leaves temporaries alone. False + error
/// (naming the path) on failure.
bool sync_files(const std::string& dir, const std::map<std::string, std::string>& files,
                const std::function<bool(const std::string&)>& owned, unsigned mode, bool dry_run,
                std::vector<FileChange>* changes, std::string* error);

/// Writes one file atomically (unless identical). Sets *changed. False + error.
bool write_file_atomic(const std::string& path, const std::string& content, unsigned mode, bool* changed,
                       std::string* error);

/// Reads a whole file. False + error when it cannot be read.
bool read_file(const std::string& path, std::string* out, std::string* error);

/// Removes `path` and everything below it (symbolic links are removed, never followed).
/// A missing `path` is success. False + error naming what could not be removed.
bool remove_tree(const std::string& path, std::string* error);

/// Removes directory `dir` if it is empty; true when it is gone (or was never there).
bool remove_dir_if_empty(const std::string& dir);

/// Creates a new, empty, private (0700) directory under $TMPDIR (else /tmp) whose name
/// starts with `prefix`. False + error.
bool make_temp_dir(const std::string& prefix, std::string* path, std::string* error);
}  // namespace ec2nc
