// Talking to systemd-networkd: does the configuration it started with leave others'
// routing rules alone, is it running, and `networkctl reload` so it takes new .network
// files. ec2-netcfg never starts, stops or restarts networkd: a reload reconfigures only
// the links whose file changed (systemd 252 to 257), while a restart would restart what
// is bound to it, count against systemd's start limit (5 in 10 s: a burst of hot-plugged
// ENIs left networkd dead) and drop every link's DHCPv6 addresses.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

namespace ec2nc {

/// What networkd's configuration files say about foreign routing policy rules now:
/// the last [Network] ManageForeignRoutingPolicyRules= among networkd.conf and its
/// drop-ins (by name; /etc hides /run, which hides /usr/local/lib and /usr/lib).
struct NetworkdConf {
  bool keeps_foreign_rules = false;  ///< The setting is "no": a reconfigure deletes no foreign rule.
  std::string detail;                ///< Which file set it, or that none did.
  std::string newest;                ///< The most recently modified of those files ("" = none).
  double newest_age_s = 0;           ///< Seconds since `newest` was modified.
};
NetworkdConf networkd_conf();

/// The value of the last ManageForeignRoutingPolicyRules= in section [Network] of one
/// networkd.conf text, nullopt when it sets none. A section header is `[NAME]` alone on
/// its line (NAME: up to the first ']'), the setting `ManageForeignRoutingPolicyRules =
/// VALUE` with VALUE one word; whitespace may surround each part; other lines are skipped.
std::optional<std::string> foreign_rules_setting(const std::string& text);

/// True when systemd runs as PID 1 here (/run/systemd/system exists): units can be restarted.
bool systemd_booted();

/// Outcome of asking systemd about or for systemd-networkd.service.
struct UnitResult {
  bool ok = false;
  std::string detail;  ///< The command and its failure, for logs.
};

/// What is known about the running systemd-networkd.
struct NetworkdState {
  /// systemd's ActiveState of systemd-networkd.service ("active", "failed", "inactive",
  /// "activating", ...); without systemd as PID 1, "active" when a systemd-networkd
  /// process runs here, else "inactive"; "" when it could not be asked.
  std::string active;
  std::optional<double> age_s;  ///< Seconds since its running process started (unknown: nullopt).
  std::string detail;           ///< Why `active` is empty, for logs.
};

/// Asks systemd (`systemctl show`) where systemd is PID 1, else looks for the process in
/// /proc; bounded by `deadline`.
NetworkdState networkd_state(std::chrono::steady_clock::time_point deadline);

/// `networkctl reload`, bounded by `deadline` (the child is killed when it runs out).
UnitResult networkd_reload(std::chrono::steady_clock::time_point deadline);

/// networkd's own record of one link (/run/systemd/netif/links/IFINDEX).
struct NetworkdLink {
  std::string admin_state;  ///< ADMIN_STATE= ("configuring", "configured", "failed", ...).
  double age_s = 0;         ///< Seconds since networkd last wrote the record.
};
/// nullopt when networkd keeps no record of the link (unmanaged, or not running).
std::optional<NetworkdLink> networkd_link(int ifindex);

/// Which network manager manages the links: the state of systemd-networkd.service and
/// NetworkManager.service.
struct Managers {
  std::string networkd;  ///< systemd-networkd's ActiveState ("active", "inactive", ...; "" unknown).
  std::string nm;        ///< NetworkManager's ActiveState.
  std::string nm_file;   ///< NetworkManager's UnitFileState ("enabled", "disabled", ...).
};

/// `systemctl show` of both units where systemd is PID 1; else a systemd-networkd or
/// NetworkManager process in /proc counts as active. Where NetworkManager is not
/// installed, nothing is asked (NetworkManager "" : the common case costs no process).
/// Bounded by `deadline`.
Managers network_managers(std::chrono::steady_clock::time_point deadline);

/// Parses `systemctl show -p Id -p ActiveState -p UnitFileState UNIT...` (blank-line separated).
Managers parse_managers(const std::string& text);

/// Parses `systemctl show` output (KEY=VALUE lines): ActiveState, and the age of the main
/// process from ExecMainStartTimestampMonotonic (microseconds of CLOCK_MONOTONIC; 0 or
/// absent = unknown) against `now_monotonic_us`.
NetworkdState parse_unit_show(const std::string& text, uint64_t now_monotonic_us);

}  // namespace ec2nc
