// Backends: what ec2-netcfg writes beside its netlink changes, and how the service that
// reads it is handed what changed. Every backend changes the running kernel the same way (one
// reconcile engine over rtnetlink); they differ only in files and pick-up.
#pragma once

#include <memory>
#include <set>
#include <string>
#include <vector>

#include "app/context.h"
#include "core/netlink.h"
#include "core/plan.h"
#include "edge/files.h"

namespace ec2nc {

class Backend {
 public:
  virtual ~Backend() = default;
  virtual const char* name() const = 0;
  /// Whether it writes each ENI's configuration (rules, routes) into a file a service
  /// applies (so that service may hold copies of them: the record notes which).
  virtual bool writes_files() const { return false; }
  /// Brings its files to `plan` for the interfaces in `configure`. An own file of an
  /// interface whose link is present (`present`) but not in `configure` stays as it is;
  /// one whose link is gone is removed. Exit status; `changes` lists what it did.
  virtual int sync(Context& ctx, const Plan& plan, const std::set<std::string>& configure,
                   const std::set<std::string>& present, bool dry_run, std::vector<FileChange>* changes) {
    (void)ctx, (void)plan, (void)configure, (void)present, (void)dry_run, (void)changes;
    return kExitOk;
  }
  /// Removes interface `ifname`'s files (remove). Exit status.
  virtual int remove_files(Context& ctx, const std::string& ifname, bool dry_run, std::vector<FileChange>* changes) {
    (void)ctx, (void)ifname, (void)dry_run, (void)changes;
    return kExitOk;
  }
  /// Once a run, after its last pass: make the service that reads the files take those
  /// `changes` (every file change of the run) made new or different. Never restarts it.
  /// Returns the interfaces the service was made to reconfigure (what it drops there is
  /// then put back: see wait_networkd_configured).
  virtual std::set<std::string> hand_off(Context& ctx, const std::vector<FileChange>& changes) {
    (void)ctx, (void)changes;
    return {};
  }
};

/// The networkd backend (backend_networkd.cc).
std::unique_ptr<Backend> make_networkd_backend();
/// netplan's YAML as read once a run (backend_netplan.cc).
struct NetplanRead;

/// The netplan backend (backend_netplan.cc); `read` is the probe's reading (null: it reads).
std::unique_ptr<Backend> make_netplan_backend(std::shared_ptr<const NetplanRead> read);

/// What netplan says on this host (under --root): for choosing the backend.
struct NetplanProbe {
  bool installed = false;   ///< netplan (its command or generator) is installed.
  bool has_config = false;  ///< Some netplan YAML other than ec2-netcfg's own defines a network.
  std::string renderer;     ///< The renderer its ethernets go to ("networkd", "NetworkManager").
  std::shared_ptr<const NetplanRead> read;  ///< What was read, for the backend.
};
NetplanProbe probe_netplan(Context& ctx);

/// --backend, else the config file, else detected: netplan where netplan is installed and
/// its YAML renders for networkd (Ubuntu), networkd where systemd-networkd is installed,
/// else netlink. netplan rendering for NetworkManager gets the netlink backend, with a
/// message. Exit status 2 for an unknown or unavailable backend.
int choose_backend(Context& ctx);

}  // namespace ec2nc
