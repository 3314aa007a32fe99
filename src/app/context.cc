// What every command needs: paths under --root, the configuration, the rtnetlink socket
// and the host read through it, IFACE arguments. The metadata source and the way to IMDS
// are in imds_path.cc, the run lock in run_lock.cc.
#include "app/context.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>

#include "app/backend.h"
#include "edge/files.h"
#include "edge/host_probe.h"

namespace ec2nc {

const char kNetworkdDir[] = "run/systemd/network";
const char kStateDir[] = "run/ec2-netcfg";

namespace {

const char kDefaultConfig[] = "etc/ec2-netcfg/ec2-netcfg.conf";

std::string join_root(const std::string& root, const std::string& rel) {
  if (root.empty()) return "/" + rel;
  std::string r = root;
  while (r.size() > 1 && r.back() == '/') r.pop_back();
  return r + "/" + rel;
}

bool file_exists(const std::string& p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0;
}

}  // namespace

Context::Context(const Options& o, Log& l, Out& os) : opts(o), log(l), out(os) {}
Context::~Context() = default;

std::string Context::path(const std::string& rel) const { return join_root(opts.root, rel); }

int load_config(Context& ctx) {
  std::string path = ctx.opts.config_path.empty() ? ctx.path(kDefaultConfig) : ctx.opts.config_path;
  std::string text, error;
  if (!read_file(path, &text, &error)) {
    if (ctx.opts.config_path.empty() && errno == ENOENT) return kExitOk;  // absent = defaults
    ctx.log.error("config " + error);
    return kExitUsage;
  }
  if (!parse_config(text, path, &ctx.cfg, &error)) {
    ctx.log.error(error);
    return kExitUsage;
  }
  return kExitOk;
}

void apply_vpc_cni_policy(Context& ctx) {
  bool cni = ctx.cfg.aws_vpc_cni == "yes" ||
             (ctx.cfg.aws_vpc_cni == "auto" && file_exists(ctx.path("etc/cni/net.d/10-aws.conflist")));
  if (!cni) return;
  ctx.log.info("AWS VPC CNI present (aws-vpc-cni = " + ctx.cfg.aws_vpc_cni +
               "): it owns the ENIs here; ec2-netcfg leaves every ENI alone");
  ctx.cfg.ignore.push_back("*");
}
int open_rtnl(Context& ctx) {
  if (ctx.rtnl_open) return kExitOk;
  std::string error;
  if (!ctx.rtnl.open(&error)) {
    ctx.log.error("netlink: " + error);
    return kExitRetry;
  }
  ctx.rtnl.set_deadline(ctx.deadline);
  ctx.rtnl_open = true;
  return kExitOk;
}

int read_links(Context& ctx, std::vector<HostLink>* links) {
  int rc = open_rtnl(ctx);
  if (rc) return rc;
  std::string error;
  if (!ctx.rtnl.dump_links(links, &error)) {
    ctx.log.error("netlink: reading links: " + error);
    return kExitRetry;
  }
  annotate_links(*links);
  return kExitOk;
}

std::set<uint32_t> tables_to_read(const Config& cfg, const InstanceMetadata& md, const RunState& state) {
  std::set<uint32_t> t{254};
  for (auto& [mac, eni] : md.enis)
    if (eni.device_number >= 0) t.insert(table_for(cfg.table_base, eni.network_card, eni.device_number));
  for (auto& rec : state.interfaces)
    if (rec.table != 0) t.insert(rec.table);
  return t;
}

int read_host(Context& ctx, HostState* host, const std::set<uint32_t>* tables) {
  int rc = open_rtnl(ctx);
  if (rc) return rc;
  std::string error;
  HostState h;
  if (!ctx.rtnl.dump_all(&h, &error, tables)) {
    ctx.log.error("netlink: reading host state: " + error);
    return kExitRetry;
  }
  annotate_links(h.links);
  ctx.log.debug("host: " + std::to_string(h.links.size()) + " link(s), " + std::to_string(h.addresses.size()) +
                " address(es), " + std::to_string(h.routes.size()) + " route(s) " +
                (tables ? "of " + std::to_string(tables->size()) + " table(s)" : "of every table") + ", " +
                std::to_string(h.rules.size()) + " rule(s)");
  *host = std::move(h);
  return kExitOk;
}

int resolve_ifaces(Context& ctx, const std::vector<HostLink>& links, std::vector<MacAddr>* macs) {
  for (auto& name : ctx.opts.ifaces) {
    auto it = std::find_if(links.begin(), links.end(), [&](const HostLink& l) { return l.name == name; });
    if (it == links.end()) {
      ctx.log.error(name + ": no such interface on this host");
      return kExitUsage;
    }
    macs->push_back(it->mac);
  }
  return kExitOk;
}

}  // namespace ec2nc
