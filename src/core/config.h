// The configuration file: keys declared once in a table (config.cc), parsed
// from text so tests need no disk.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace ec2nc {

/// Every setting, with its default.
struct Config {
  std::string backend;                 ///< "networkd", "netplan", "netlink", or "" (detect).
  uint32_t table_base = 10000;         ///< Table/priority = base + 100*card + device.
  bool primary_rules = true;           ///< Source rules for the primary ENI's addresses too.
  uint32_t link_group = 10000;         ///< Link group the ENIs are put in (suppress_ifgroup).
  std::vector<std::string> ignore;     ///< Interface names or MACs (shell globs) left alone.
  unsigned imds_connect_timeout_ms = 1000;  ///< TCP connect bound per IMDS request.
  unsigned imds_request_timeout_ms = 3000;  ///< Whole-request bound per IMDS request.
  unsigned imds_attempts = 6;          ///< Tries per IMDS request (exponential backoff).
  /// IMDS requests in flight together at most: 16 carries a two-ENI dual-stack
  /// instance's keys (14) in one round; a run stays far below the 1024 packets a second
  /// an ENI may send to link-local services.
  unsigned imds_connections = 16;
  unsigned wait_timeout_s = 60;        ///< One bound on a run's retries and propagation waits.
  /// "auto": leave every ENI alone when the AWS VPC CNI is installed (EKS), "yes": it
  /// is (same), "no": configure ENIs regardless.
  std::string aws_vpc_cni = "auto";
};

/// Parses INI text. `origin` names the file in messages. On error returns false and
/// sets `error` to "FILE:LINE: what". Unknown keys and sections are errors.
bool parse_config(const std::string& text, const std::string& origin, Config* out, std::string* error);

/// One documented key, for --help and the README check.
struct ConfigKeyDoc {
  const char* section;
  const char* key;
  const char* default_value;
  const char* help;
};
/// The table of every key (the one place keys are declared).
const std::vector<ConfigKeyDoc>& config_keys();

/// True when `name` or `mac` matches one of the ignore patterns.
bool config_ignores(const Config& c, const std::string& name, const std::string& mac);

}  // namespace ec2nc
