// What every command needs, set up once: options, log, configuration, the backend, the
// run's one deadline, the metadata source, the rtnetlink socket; and the small steps
// commands share (reading the host, resolving IFACE arguments). The metadata source and
// the way to IMDS: imds_path.h; the run lock: run_lock.h.
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
}  // namespace ec2nc
