// The command line: options, the usage text, and parsing argv into Options.
#pragma once

#include <string>
#include <vector>

namespace ec2nc {

/// Exit statuses (the contract: 0 success, 1 worth retrying, 2 bad usage or configuration).
enum ExitStatus { kExitOk = 0, kExitRetry = 1, kExitUsage = 2 };

/// Parsed command line.
struct Options {
  std::string command;              ///< apply, remove, show, diff, dump-metadata.
  std::vector<std::string> ifaces;  ///< Interface names after the command.
  std::string backend;              ///< --backend; "" = config file, else detected.
  std::string config_path;          ///< --config; "" = ROOT/etc/ec2-netcfg/ec2-netcfg.conf.
  std::string root;                 ///< --root; "" = the real system.
  std::string imds_endpoint;        ///< --imds-endpoint.
  std::string metadata_file;        ///< --metadata-file.
  bool dry_run = false;
  bool json = false;
  int verbosity = 1;                ///< 0 quiet, 1 normal, 2 verbose.
};

/// Parses argv. On a usage error returns false and sets `error`; --help and
/// --version set `command` to "help" / "version".
bool parse_args(int argc, char** argv, Options* out, std::string* error);

/// The --help text.
std::string usage_text();

}  // namespace ec2nc
