// What every command needs, set up once: options, log, configuration, the backend, the
// run's one deadline, the metadata source, the rtnetlink socket; and the small steps
// commands share (reading the host, resolving IFACE arguments, the run lock).
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "app/cli.h"
#include "app/log.h"
#include "core/config.h"
#include "core/metadata.h"
#include "core/netlink.h"
#include "core/run_state.h"
#include "edge/out.h"
#include "edge/rtnl.h"

namespace ec2nc {

class Backend;
using Clock = std::chrono::steady_clock;

/// Paths relative to --root (or /).
extern const char kNetworkdDir[];      ///< run/systemd/network
extern const char kStateDir[];         ///< run/ec2-netcfg

struct Context {
  const Options& opts;
  Log& log;
  Out& out;
  Config cfg;
  std::unique_ptr<Backend> backend;
  std::string backend_reason;  ///< Why choose_backend() chose it (show, check, -v).
  Clock::time_point deadline;
  std::unique_ptr<MetadataSource> source;
  Rtnl rtnl;
  bool rtnl_open = false;
  /// The host route to IMDS that prepare_imds_path() added (op AddRoute), if any.
  std::optional<Change> imds_route;
  /// The IMDS endpoint in use (open_source()), and whether nothing chose it (then the
  /// IPv6 one is taken where only it has a route: an IPv6-only instance).
  std::string imds_endpoint;
  bool imds_default = false;
  /// Set when prepare_imds_path() waited out the bound without a route to IMDS: what it
  /// waited for and what the host had, for the run's final error.
  std::string imds_no_route;

  Context(const Options& o, Log& l, Out& os);
  ~Context();
  /// --root given: files only; the kernel and networkd are left alone.
  bool offline() const { return !opts.root.empty(); }
  /// A default path under --root (or /).
  std::string path(const std::string& rel) const;
};

/// The configuration file (absent = defaults; unreadable or invalid: exit 2).
int load_config(Context& ctx);
/// On EKS nodes the AWS VPC CNI owns the ENIs: leave every ENI alone there.
void apply_vpc_cni_policy(Context& ctx);
/// The metadata source: the --metadata-file capture, or IMDS (endpoint resolved).
int open_source(Context& ctx);
int open_rtnl(Context& ctx);
/// The host's links over netlink, annotated (udev opt-out, IPv6 off).
int read_links(Context& ctx, std::vector<HostLink>* links);
/// Everything on the host in one set of dumps (links annotated); with `tables`, the
/// routes of those tables only (tables_to_read).
int read_host(Context& ctx, HostState* host, const std::set<uint32_t>* tables = nullptr);
/// The routing tables a run reads routes of: main, every ENI's table IMDS gives (by its
/// card and device number), and every recorded interface's. No other table is ever
/// ec2-netcfg's, so none other is dumped (a BGP or Kubernetes host's may be large).
std::set<uint32_t> tables_to_read(const Config& cfg, const InstanceMetadata& md, const RunState& state);
/// Resolves IFACE arguments to host links' MACs. Unknown names: exit 2.
int resolve_ifaces(Context& ctx, const std::vector<HostLink>& links, std::vector<MacAddr>* macs);
/// Waits (within the deadline) until the kernel has a route to the IMDS endpoint: at
/// boot that is the primary ENI's DHCP address and route. Returns at once when there
/// is one, when the endpoint is not an IP literal, or with --metadata-file.
///
/// Then, when several ENIs have an equally good default route in main (at boot every
/// ENI is still on the distribution's DHCP file, often with one metric for all), the
/// kernel may send IMDS requests, which carry no source address yet, out of an ENI that
/// is not the primary. If the kernel's choice gets no answer, each other ENI is tried
/// through a host route of ec2-netcfg's own for the IMDS address (protocol 236), and the
/// one that answers is kept for the run; restore_imds_path() takes it away again.
/// `links`: the host's links as the run read them (only the main table's routes of the
/// endpoint's family are read besides, and only when IMDS is reached through an ENI).
/// With `may_change` false (a run that only reads, and holds no lock), only the wait.
void prepare_imds_path(Context& ctx, const std::vector<HostLink>& links, bool may_change);
/// Removes the host route prepare_imds_path() added, if any.
void restore_imds_path(Context& ctx);

/// Holds ROOT/run/ec2-netcfg/lock for the life of the object (serializes runs). Waiting
/// for it counts against the run's one deadline.
class RunLock {
 public:
  bool acquire(const std::string& dir, Clock::time_point deadline, std::string* error);
  ~RunLock();

 private:
  int fd_ = -1;
};

/// Takes the lock or logs why not (exit status to return, 0 when held).
int take_lock(Context& ctx, RunLock& lock);

}  // namespace ec2nc
