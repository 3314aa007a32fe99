// Talking to a running systemd-networkd: is it running (in our network and mount
// namespaces), did it start with foreign-rule management off, and reload it.
#pragma once

#include <string>

namespace ec2nc {

/// What is known about the systemd-networkd serving this namespace.
struct NetworkdStatus {
  bool running = false;
  /// A networkd.conf(.d) setting ManageForeignRoutingPolicyRules=no existed when it
  /// started: a reload or link reconfigure will not delete others' routing rules.
  bool keeps_foreign_rules = false;
  std::string detail;  ///< For logs: which pid, which file, or why not.
};

/// Finds systemd-networkd in this process's network and mount namespaces and checks
/// which networkd.conf files it read at start (their mtime before its start time).
NetworkdStatus networkd_status();

/// Runs `networkctl reload`. False + error (its exit status or output).
bool networkd_reload(std::string* error);

}  // namespace ec2nc
