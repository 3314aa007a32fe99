// Talking to systemd-networkd through systemd: is it running, does its configuration
// let it leave others' routing rules alone, and restart it so it takes new .network files.
//
// Why a restart and not `networkctl reload`: a reload makes networkd reconfigure every
// link whose matching .network file changed, and a link that moves to a file with
// KeepConfiguration=yes first loses everything networkd had configured on it, its DHCP
// address included (systemd 252, link_reconfigure_impl). `systemctl restart` stops
// networkd with its RestartKillSignal (SIGUSR2), on which it keeps its DHCP leases and
// addresses; the new process finds every address and route already there, takes them
// as foreign and, with KeepConfiguration=yes, keeps them; and it re-reads
// networkd.conf.d, so ec2-netcfg's drop-in is in effect from then on.
#pragma once

#include <chrono>
#include <optional>
#include <string>

namespace ec2nc {

/// What networkd's configuration files say about foreign routing policy rules now:
/// the last [Network] ManageForeignRoutingPolicyRules= among networkd.conf and its
/// drop-ins (by name; /etc hides /run, which hides /usr/local/lib and /usr/lib).
struct NetworkdConf {
  bool keeps_foreign_rules = false;  ///< The setting is "no": a (re)start deletes no foreign rule.
  std::string detail;                ///< Which file set it, or that none did.
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

/// `systemctl is-active --quiet systemd-networkd.service`, bounded by `deadline`.
UnitResult networkd_active(std::chrono::steady_clock::time_point deadline);

/// `systemctl try-restart systemd-networkd.service`, bounded by `deadline` (the child is
/// killed when it runs out).
UnitResult networkd_restart(std::chrono::steady_clock::time_point deadline);

}  // namespace ec2nc
