// Running a helper program (systemctl, netplan's generator) with a time bound.
#pragma once

#include <chrono>
#include <string>
#include <vector>

namespace ec2nc {

/// Outcome of run_program.
struct ProgramResult {
  bool ok = false;       ///< Started, exited, status 0.
  std::string output;    ///< stdout and stderr together (the first 64 KiB), when asked for.
  std::string detail;    ///< "ARGV...: what went wrong" when not ok, for logs.
};

/// Runs argv[0] with stdin from /dev/null; its stdout and stderr are captured when
/// `capture`, else discarded. The child is killed when `deadline` passes. A name without
/// a '/' is looked up in /usr/sbin:/usr/bin:/sbin:/bin, never on $PATH, and the child's
/// PATH is that too (ec2-netcfg runs as root: its environment must not choose programs).
ProgramResult run_program(const std::vector<std::string>& argv, std::chrono::steady_clock::time_point deadline,
                          bool capture);

}  // namespace ec2nc
