#include "app/app.h"

#include <fcntl.h>
#include <getopt.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "app/output.h"
#include "app/state.h"
#include "core/config.h"
#include "core/metadata.h"
#include "core/metadata_capture.h"
#include "core/plan.h"
#include "core/reconcile.h"
#include "core/render_networkd.h"
#include "core/transaction.h"
#include "edge/files.h"
#include "edge/imds_client.h"
#include "edge/networkd_ctl.h"
#include "edge/rtnl.h"

namespace ec2nc {

namespace {

using Clock = std::chrono::steady_clock;

const char kDefaultConfig[] = "etc/ec2-netcfg/ec2-netcfg.conf";
const char kNetworkdDir[] = "run/systemd/network";
const char kNetworkdConfDir[] = "run/systemd/networkd.conf.d";
const char kNetworkdConfName[] = "ec2-netcfg.conf";
const char kStateDir[] = "run/ec2-netcfg";

/// Log lines on stderr; with journald priority prefixes when stderr is the journal.
class Log {
 public:
  Log(std::ostream& err, int verbosity) : err_(err), verbosity_(verbosity) {
    journal_ = std::getenv("JOURNAL_STREAM") != nullptr;
  }
  void error(const std::string& m) { line(3, "error: ", m); }
  void warn(const std::string& m) {
    if (verbosity_ >= 1) line(4, "warning: ", m);
  }
  void info(const std::string& m) {
    if (verbosity_ >= 1) line(6, "", m);
  }
  void debug(const std::string& m) {
    if (verbosity_ >= 2) line(7, "", m);
  }

 private:
  void line(int prio, const char* tag, const std::string& m) {
    if (journal_) err_ << "<" << prio << ">" << m << "\n";
    else err_ << "ec2-netcfg: " << tag << m << "\n";
    err_.flush();
  }
  std::ostream& err_;
  int verbosity_;
  bool journal_ = false;
};

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

/// Everything a command needs, set up once.
struct Context {
  const Options& opts;
  Log& log;
  std::ostream& out;
  Config cfg;
  std::string backend;
  Clock::time_point deadline;
  std::unique_ptr<MetadataSource> source;
  Rtnl rtnl;
  bool rtnl_open = false;

  Context(const Options& o, Log& l, std::ostream& os) : opts(o), log(l), out(os) {}
  bool offline() const { return !opts.root.empty(); }
  std::string path(const std::string& rel) const { return join_root(opts.root, rel); }
};

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

/// On EKS nodes the AWS VPC CNI owns the ENIs, their secondary addresses (handed to
/// pods, routed to veths) and its own rules: ec2-netcfg must not fight it, so it leaves
/// every ENI alone there.
void apply_vpc_cni_policy(Context& ctx) {
  bool cni = ctx.cfg.aws_vpc_cni == "yes" ||
             (ctx.cfg.aws_vpc_cni == "auto" && file_exists(ctx.path("etc/cni/net.d/10-aws.conflist")));
  if (!cni) return;
  ctx.log.info("AWS VPC CNI present (aws-vpc-cni = " + ctx.cfg.aws_vpc_cni +
               "): it owns the ENIs here; ec2-netcfg leaves every ENI alone");
  ctx.cfg.ignore.push_back("*");
}

std::string detect_backend() {
  if (file_exists("/lib/systemd/systemd-networkd") || file_exists("/usr/lib/systemd/systemd-networkd"))
    return "networkd";
  return "netlink";
}

int choose_backend(Context& ctx) {
  ctx.backend = !ctx.opts.backend.empty() ? ctx.opts.backend : ctx.cfg.backend;
  if (ctx.backend.empty()) ctx.backend = detect_backend();
  if (ctx.backend == "netplan") {
    ctx.log.error(
        "the netplan backend is not part of this release: use --backend networkd (netplan's "
        "generated files and ec2-netcfg's coexist: ec2-netcfg's .network sorts first)");
    return kExitUsage;
  }
  if (ctx.backend != "networkd" && ctx.backend != "netlink") {
    ctx.log.error("unknown backend \"" + ctx.backend + "\" (expected networkd, netplan or netlink)");
    return kExitUsage;
  }
  return kExitOk;
}

int open_source(Context& ctx) {
  if (!ctx.opts.metadata_file.empty()) {
    std::string text, error;
    if (!read_file(ctx.opts.metadata_file, &text, &error)) {
      ctx.log.error("--metadata-file " + error);
      return kExitUsage;
    }
    auto cap = CaptureSource::from_json(text, &error);
    if (!cap) {
      ctx.log.error(ctx.opts.metadata_file + ": " + error);
      return kExitUsage;
    }
    ctx.source = std::move(cap);
    return kExitOk;
  }
  ImdsOptions io;
  std::string error;
  if (!resolve_imds_endpoint(ctx.opts.imds_endpoint, &io.endpoint, &error)) {
    ctx.log.error(error);
    return kExitUsage;
  }
  io.connect_timeout_ms = ctx.cfg.imds_connect_timeout_ms;
  io.request_timeout_ms = ctx.cfg.imds_request_timeout_ms;
  io.attempts = ctx.cfg.imds_attempts;
  io.deadline = ctx.deadline;
  ctx.log.debug("IMDS endpoint " + io.endpoint);
  ctx.source = std::make_unique<ImdsClient>(io);
  return kExitOk;
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

/// Holds ROOT/run/ec2-netcfg/lock for the life of the object (serializes runs).
/// Waiting for it counts against the run's one deadline.
class RunLock {
 public:
  bool acquire(const std::string& dir, Clock::time_point deadline, std::string* error) {
    std::string partial;
    std::stringstream ss(dir);
    std::string part;
    while (std::getline(ss, part, '/')) {  // parents may be missing under --root
      partial += part + "/";
      if (!part.empty()) ::mkdir(partial.c_str(), 0755);
    }
    std::string path = dir + "/lock";
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0) {
      *error = path + ": " + std::strerror(errno);
      return false;
    }
    while (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
      if (errno != EWOULDBLOCK && errno != EINTR) {
        *error = path + ": flock: " + std::strerror(errno);
        return false;
      }
      if (Clock::now() >= deadline) {
        *error = path + ": another ec2-netcfg run held the lock until the wait bound ran out";
        return false;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return true;
  }
  ~RunLock() {
    if (fd_ >= 0) ::close(fd_);
  }

 private:
  int fd_ = -1;
};

/// Reads the metadata; for apply, waits (within the deadline) for the ENIs it must
/// act on to become complete. `wanted` are host MACs that must be listed (apply IFACE).
int read_with_wait(Context& ctx, const std::vector<HostLink>& links, const std::vector<MacAddr>& wanted,
                   bool wait, InstanceMetadata* out) {
  MetadataRead rd = read_metadata(*ctx.source);
  std::set<MacAddr> host_macs;
  for (auto& l : links) host_macs.insert(l.mac);

  auto pending = [&](const InstanceMetadata& md) {
    std::vector<MacAddr> p;
    for (auto& m : wanted)
      if (!md.enis.count(m)) p.push_back(m);
    for (auto& [mac, eni] : md.enis) {
      bool relevant = wanted.empty() ? host_macs.count(mac) != 0
                                     : std::find(wanted.begin(), wanted.end(), mac) != wanted.end();
      if (!relevant) continue;
      if (eni.state == EniMetadata::State::Incomplete || eni.state == EniMetadata::State::FetchFailed)
        p.push_back(mac);
    }
    return p;
  };

  std::mt19937 rng(std::random_device{}());
  unsigned delay_ms = 250;
  while (true) {
    bool retry_fatal = !rd.fatal.empty() && ctx.opts.metadata_file.empty();
    auto waiting = rd.fatal.empty() ? pending(rd.instance) : std::vector<MacAddr>{};
    if ((!retry_fatal && waiting.empty()) || !wait) break;
    auto now = Clock::now();
    if (now + std::chrono::milliseconds(delay_ms) >= ctx.deadline) break;
    if (!rd.fatal.empty()) ctx.log.debug("retrying: " + rd.fatal);
    for (auto& m : waiting) {
      auto it = rd.instance.enis.find(m);
      ctx.log.debug(m.str() + ": waiting for IMDS: " +
                    (it == rd.instance.enis.end() ? std::string("not listed under macs/ yet") : it->second.problem));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms / 2 + rng() % (delay_ms / 2 + 1)));
    delay_ms = std::min(delay_ms * 2, 1000u);  // propagation takes seconds: poll at 1 s at most
    if (!rd.fatal.empty()) {
      rd = read_metadata(*ctx.source);
      continue;
    }
    // Re-read the listing only when a MAC is missing; otherwise only the pending ENIs.
    bool missing = std::any_of(waiting.begin(), waiting.end(),
                               [&](const MacAddr& m) { return !rd.instance.enis.count(m); });
    if (missing) {
      rd = read_metadata(*ctx.source);
    } else {
      for (auto& m : waiting) rd.instance.enis[m] = read_eni(*ctx.source, m, rd.instance.primary_mac);
      mark_numbering_conflicts(rd.instance);
    }
  }
  if (!rd.fatal.empty()) {
    ctx.log.error(rd.fatal);
    return kExitRetry;
  }
  *out = std::move(rd.instance);
  for (auto& m : wanted) {
    if (!out->enis.count(m)) {
      ctx.log.error(m.str() + ": not listed under meta-data/network/interfaces/macs/ (waited " +
                    std::to_string(ctx.cfg.wait_timeout_s) + " s)");
    }
  }
  return kExitOk;
}

/// True when udev's database marks the link EC2_NETCFG_IGNORE=1 (an image's opt-out).
bool udev_opt_out(int ifindex) {
  std::string text, error;
  if (!read_file("/run/udev/data/n" + std::to_string(ifindex), &text, &error)) return false;
  return text.find("\nE:EC2_NETCFG_IGNORE=1\n") != std::string::npos || text.rfind("E:EC2_NETCFG_IGNORE=1\n", 0) == 0;
}

/// True when IPv6 is off on the link: its disable_ipv6 sysctl is 1, or the kernel runs
/// without IPv6 (ipv6.disable=1: no /proc/sys/net/ipv6 at all).
bool ipv6_off(const std::string& ifname) {
  if (!file_exists("/proc/sys/net/ipv6/conf")) return file_exists("/proc/sys/net");
  std::string text, error;
  return read_file("/proc/sys/net/ipv6/conf/" + ifname + "/disable_ipv6", &text, &error) && text.rfind("1", 0) == 0;
}

/// What the host says about each link beyond netlink: the udev opt-out, IPv6 off.
void annotate_links(std::vector<HostLink>& links) {
  for (auto& l : links) {
    l.opt_out = udev_opt_out(l.ifindex);
    l.ipv6_off = ipv6_off(l.name);
  }
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

/// Everything on the host in one set of dumps (links annotated like read_links).
int read_host(Context& ctx, HostState* host) {
  int rc = open_rtnl(ctx);
  if (rc) return rc;
  std::string error;
  if (!ctx.rtnl.dump_all(host, &error)) {
    ctx.log.error("netlink: reading host state: " + error);
    return kExitRetry;
  }
  annotate_links(host->links);
  return kExitOk;
}

/// Resolves IFACE arguments to host links. Unknown names are a usage error.
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

/// Files the networkd backend wants, and which existing own files must be kept as
/// they are (ENIs present but not actionable, or outside the IFACE scope).
struct FilePlan {
  std::map<std::string, std::string> files;
  std::set<std::string> keep;
};

FilePlan plan_files(const Plan& plan, const std::vector<std::string>& scope, const std::set<std::string>& failed) {
  FilePlan fp;
  auto rendered = render_networkd(plan);
  for (auto& ip : plan.interfaces) {
    if (!ip.present()) continue;
    std::string name = networkd_file_name(ip.name);
    bool in_scope = scope.empty() || std::find(scope.begin(), scope.end(), ip.name) != scope.end();
    if (!in_scope || (!ip.actionable() && !ip.ignored) || failed.count(ip.name)) {
      fp.keep.insert(name);
      continue;
    }
    auto it = rendered.find(name);
    if (it != rendered.end()) fp.files.insert(*it);
  }
  return fp;
}

/// Brings ec2-netcfg's networkd files to the plan; the files of `failed` interfaces
/// (their kernel changes were undone) stay as they were.
int sync_networkd(Context& ctx, const Plan& plan, bool dry_run, const std::set<std::string>& failed,
                  std::vector<FileChange>* changes) {
  FilePlan fp = plan_files(plan, ctx.opts.ifaces, failed);
  std::string error;
  auto owned = [&](const std::string& n) { return is_own_networkd_file(n) && !fp.keep.count(n); };
  if (!sync_files(ctx.path(kNetworkdDir), fp.files, owned, 0644, dry_run, changes, &error)) {
    ctx.log.error(error);
    return kExitRetry;
  }
  // The networkd.conf.d drop-in goes with managing at least one ENI.
  std::map<std::string, std::string> conf;
  if (!fp.files.empty() || !fp.keep.empty()) conf[kNetworkdConfName] = render_networkd_conf();
  auto conf_owned = [](const std::string& n) { return n == kNetworkdConfName; };
  if (!sync_files(ctx.path(kNetworkdConfDir), conf, conf_owned, 0644, dry_run, changes, &error)) {
    ctx.log.error(error);
    return kExitRetry;
  }
  return kExitOk;
}

const char* kind_word(FileChange::Kind k) {
  switch (k) {
    case FileChange::Kind::Created: return "create";
    case FileChange::Kind::Updated: return "update";
    case FileChange::Kind::Removed: return "remove";
  }
  return "?";
}

/// Sends the change set to the kernel one interface at a time, all or nothing for each
/// (core/transaction.h), and logs what happened. Returns the interfaces ("" = the
/// host-wide rules) that were left as they were because a change failed.
std::set<std::string> execute_changes(Context& ctx, const std::vector<Change>& changes) {
  if (changes.empty()) return {};
  auto rep = run_transactions(changes, [&](const Change& c, std::string* e) { return ctx.rtnl.send(c, e); });
  for (auto& c : rep.done) ctx.log.info(c.describe());
  for (auto& e : rep.errors) ctx.log.error("netlink: " + e);
  for (auto& u : rep.undone) ctx.log.info("undone: " + u.describe());
  for (auto& e : rep.undo_errors) ctx.log.error("netlink: undoing: " + e);
  for (auto& f : rep.failed)
    ctx.log.error((f.empty() ? std::string("host-wide rules") : f) + ": left as it was (a change failed; the next run tries again)");
  return rep.failed;
}

/// Kernel changes for apply: removal of ENIs that left the host, then reconcile.
std::vector<Change> kernel_changes(Context& ctx, const Plan& plan, const HostState& host, const RunState& state,
                                   bool complete_read) {
  std::vector<Change> changes;
  std::set<int> live;
  for (auto& l : host.links) live.insert(l.ifindex);
  if (ctx.opts.ifaces.empty()) {
    for (auto& rec : state.interfaces) {
      // An ENI recorded earlier that is gone (detached, or no longer listed by IMDS):
      // clean its table and rules, unless the same table now belongs to a present ENI.
      bool link_there = std::any_of(host.links.begin(), host.links.end(),
                                    [&](const HostLink& l) { return l.ifindex == rec.ifindex && l.mac == rec.mac; });
      bool planned = std::any_of(plan.interfaces.begin(), plan.interfaces.end(),
                                 [&](const InterfacePlan& ip) { return ip.present() && ip.mac == rec.mac; });
      // Still an ENI here, or IMDS could not be read in full: leave it as it is.
      if (planned || (link_there && !complete_read)) continue;
      bool reused = std::any_of(plan.interfaces.begin(), plan.interfaces.end(), [&](const InterfacePlan& ip) {
        return ip.present() && ip.table == rec.table;
      });
      if (reused) continue;
      auto rm = removal(rec.name, link_there ? rec.ifindex : 0, rec.table, ctx.cfg.link_group, host,
                        ctx.backend == "networkd");
      changes.insert(changes.end(), rm.begin(), rm.end());
    }
  }
  ReconcileScope scope;
  scope.only = ctx.opts.ifaces;
  scope.networkd_files = ctx.backend == "networkd";
  bool manages_any = std::any_of(plan.interfaces.begin(), plan.interfaces.end(),
                                 [](const InterfacePlan& ip) { return ip.present() && !ip.ignored; });
  scope.may_remove_global_rules = complete_read && !manages_any && ctx.opts.ifaces.empty();
  auto rc = reconcile(plan, host, scope);
  changes.insert(changes.end(), rc.begin(), rc.end());
  return changes;
}

/// networkd reads a new .network only on reload. The kernel is already right (netlink);
/// the reload makes networkd manage a newly configured ENI with ec2-netcfg's file
/// rather than a distribution file that matched it first. It happens only when a file
/// was created (boot, hotplug), never for a changed one (refresh: a reload would drop
/// and re-add that link's addresses), and only when networkd started with
/// ManageForeignRoutingPolicyRules=no: otherwise the reload would delete every
/// routing rule on the host that networkd did not create.
void maybe_reload_networkd(Context& ctx, const std::vector<FileChange>& file_changes) {
  bool created = std::any_of(file_changes.begin(), file_changes.end(), [](const FileChange& f) {
    return f.kind == FileChange::Kind::Created && f.path.size() > 8 &&
           f.path.compare(f.path.size() - 8, 8, ".network") == 0;
  });
  if (!created) return;
  NetworkdStatus st = networkd_status();
  if (!st.running) {
    ctx.log.debug(st.detail + ": it reads the files at its start");
    return;
  }
  if (!st.keeps_foreign_rules) {
    ctx.log.warn("not reloading systemd-networkd: " + st.detail +
                 "; a reload would delete routing rules it did not create. The kernel is configured; "
                 "networkd uses the new files from its next start");
    return;
  }
  std::string error;
  if (networkd_reload(&error)) ctx.log.info("reloaded systemd-networkd (new .network files)");
  else ctx.log.warn(error);
}

int cmd_apply_or_diff(Context& ctx, bool change_things) {
  std::vector<HostLink> links;
  int rc = read_links(ctx, &links);
  if (rc) return rc;
  std::vector<MacAddr> wanted;
  if ((rc = resolve_ifaces(ctx, links, &wanted))) return rc;

  RunLock lock;
  std::string error;
  if (change_things && !lock.acquire(ctx.path(kStateDir), ctx.deadline, &error)) {
    ctx.log.error(error);
    return kExitRetry;
  }
  auto t0 = Clock::now();
  InstanceMetadata md;
  if ((rc = read_with_wait(ctx, links, wanted, change_things, &md))) return rc;

  // The host as it is now (links may have changed while we waited): one set of dumps
  // serves the plan and the reconcile. Offline (--root) only the links are read.
  HostState host;
  if (ctx.offline()) {
    links.clear();
    if ((rc = read_links(ctx, &links))) return rc;
    host.links = links;
  } else if ((rc = read_host(ctx, &host))) {
    return rc;
  }
  Plan plan = make_plan(ctx.cfg, md, host.links);

  int status = kExitOk;
  for (auto& m : wanted)
    if (!md.enis.count(m)) status = kExitRetry;
  bool complete_read = true;
  for (auto& ip : plan.interfaces) {
    bool in_scope = ctx.opts.ifaces.empty() ? ip.present()
                                            : std::find(ctx.opts.ifaces.begin(), ctx.opts.ifaces.end(), ip.name) !=
                                                  ctx.opts.ifaces.end();
    if (ip.state != EniMetadata::State::Complete) complete_read = false;
    if (!in_scope || ip.ignored) continue;
    if (ip.ipv6_off)
      ctx.log.warn(ip.name + ": IPv6 is off on this link (net.ipv6.conf." + ip.name +
                   ".disable_ipv6): the IPv6 addresses, routes and rules IMDS gives it are left out");
    if (ip.state != EniMetadata::State::Complete) {
      ctx.log.error(ip.name + " (" + ip.mac.str() + "): left as it was: " + state_name(ip.state) + ": " +
                    ip.problem);
      status = kExitRetry;
    }
  }

  bool dry = !change_things || ctx.opts.dry_run;
  std::vector<Change> changes;
  RunState state;
  if (!ctx.offline()) {
    std::string serr;
    load_state(ctx.path(kStateDir), &state, &serr);
    changes = kernel_changes(ctx, plan, host, state, complete_read);
  }
  std::vector<FileChange> file_changes;
  if (dry) {
    if (ctx.backend == "networkd" && (rc = sync_networkd(ctx, plan, true, {}, &file_changes))) return rc;
    print_changes(ctx.out, file_changes, changes, ctx.opts.json, ctx.opts.root);
    return status;
  }

  // The kernel first, each interface all or nothing; then the files, where an
  // interface whose kernel changes were undone keeps its file as it was.
  std::set<std::string> failed = execute_changes(ctx, changes);
  if (!failed.empty()) status = kExitRetry;
  if (ctx.backend == "networkd") {
    if ((rc = sync_networkd(ctx, plan, false, failed, &file_changes))) status = rc;
    for (auto& fc : file_changes) ctx.log.info(std::string(kind_word(fc.kind)) + " " + fc.path);
    if (!ctx.offline()) maybe_reload_networkd(ctx, file_changes);
  }
  if (!ctx.offline()) {
    update_state(&state, plan, ctx.opts.ifaces, failed);
    if (!save_state(ctx.path(kStateDir), state, &error)) ctx.log.warn(error);
  }
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count();
  ctx.log.debug("done in " + std::to_string(ms) + " ms: " + std::to_string(file_changes.size()) +
                " file(s) changed, " + std::to_string(changes.size()) + " kernel change(s), " +
                std::to_string(ctx.source->requests()) + " IMDS request(s), " +
                std::to_string(ctx.rtnl_open ? ctx.rtnl.messages() : 0) + " netlink message(s)");
  return status;
}

int cmd_remove(Context& ctx) {
  if (ctx.opts.ifaces.empty()) {
    ctx.log.error("remove needs at least one interface name");
    return kExitUsage;
  }
  RunLock lock;
  std::string error;
  if (!lock.acquire(ctx.path(kStateDir), ctx.deadline, &error)) {
    ctx.log.error(error);
    return kExitRetry;
  }
  RunState state;
  load_state(ctx.path(kStateDir), &state, &error);
  HostState host;
  int rc = read_host(ctx, &host);
  if (rc) return rc;
  int status = kExitOk;
  std::vector<Change> changes;
  std::vector<FileChange> file_changes;
  for (auto& name : ctx.opts.ifaces) {
    if (ctx.offline()) continue;
    const bool had_file = file_exists(ctx.path(kNetworkdDir) + "/" + networkd_file_name(name));
    auto rec = std::find_if(state.interfaces.begin(), state.interfaces.end(),
                            [&](const InterfaceRecord& r) { return r.name == name; });
    auto link = std::find_if(host.links.begin(), host.links.end(), [&](const HostLink& l) { return l.name == name; });
    int ifindex = link != host.links.end() ? link->ifindex : 0;
    if (rec == state.interfaces.end()) {
      ctx.log.info(name + ": nothing recorded as configured by ec2-netcfg");
      continue;
    }
    auto rm = removal(name, ifindex, rec->table, ctx.cfg.link_group, host, had_file);
    changes.insert(changes.end(), rm.begin(), rm.end());
  }
  // The last recorded ENI going: the host-wide rules go too, so nothing of ours is left.
  bool last = !ctx.offline() && std::all_of(state.interfaces.begin(), state.interfaces.end(), [&](const InterfaceRecord& r) {
    return std::find(ctx.opts.ifaces.begin(), ctx.opts.ifaces.end(), r.name) != ctx.opts.ifaces.end();
  });
  if (last) {
    auto rm = global_removal(host, ctx.cfg.table_base, ctx.cfg.link_group);
    changes.insert(changes.end(), rm.begin(), rm.end());
  }
  // The kernel first, each interface all or nothing; an interface whose removal was
  // undone keeps its file and its state record, so the next remove or apply finishes it.
  std::set<std::string> failed;
  if (!ctx.opts.dry_run) failed = execute_changes(ctx, changes);
  if (!failed.empty()) status = kExitRetry;
  for (auto& name : ctx.opts.ifaces) {
    if (failed.count(name)) continue;
    const std::string fname = networkd_file_name(name);
    if (!sync_files(ctx.path(kNetworkdDir), {}, [&](const std::string& n) { return n == fname; }, 0644,
                    ctx.opts.dry_run, &file_changes, &error)) {
      ctx.log.error(error);
      status = kExitRetry;
    }
  }
  if (ctx.opts.dry_run) {
    print_changes(ctx.out, file_changes, changes, ctx.opts.json, ctx.opts.root);
    return status;
  }
  for (auto& fc : file_changes) ctx.log.info(std::string(kind_word(fc.kind)) + " " + fc.path);
  if (!ctx.offline()) {
    state.interfaces.erase(std::remove_if(state.interfaces.begin(), state.interfaces.end(),
                                          [&](const InterfaceRecord& r) {
                                            return !failed.count(r.name) &&
                                                   std::find(ctx.opts.ifaces.begin(), ctx.opts.ifaces.end(),
                                                             r.name) != ctx.opts.ifaces.end();
                                          }),
                           state.interfaces.end());
    if (!save_state(ctx.path(kStateDir), state, &error)) ctx.log.warn(error);
  }
  return status;
}

int cmd_show(Context& ctx) {
  std::vector<HostLink> links;
  int rc = read_links(ctx, &links);
  if (rc) return rc;
  std::vector<MacAddr> wanted;
  if ((rc = resolve_ifaces(ctx, links, &wanted))) return rc;
  MetadataRead rd = read_metadata(*ctx.source);
  if (!rd.fatal.empty()) {
    ctx.log.error(rd.fatal);
    return kExitRetry;
  }
  Plan plan = make_plan(ctx.cfg, rd.instance, links);
  if (!ctx.opts.ifaces.empty()) {
    plan.interfaces.erase(std::remove_if(plan.interfaces.begin(), plan.interfaces.end(),
                                         [&](const InterfacePlan& ip) {
                                           return std::find(wanted.begin(), wanted.end(), ip.mac) == wanted.end();
                                         }),
                          plan.interfaces.end());
  }
  if (ctx.opts.json) print_plan_json(ctx.out, plan);
  else print_plan_text(ctx.out, plan);
  int status = kExitOk;
  for (auto& ip : plan.interfaces)
    if (ip.present() && !ip.ignored && ip.state != EniMetadata::State::Complete) status = kExitRetry;
  return status;
}

int cmd_dump(Context& ctx) {
  MetadataCapture cap = capture_metadata(*ctx.source);
  if (cap.has_root()) ctx.out << cap.json();
  for (auto& e : cap.errors) ctx.log.error(e.error);
  return cap.errors.empty() ? kExitOk : kExitRetry;
}

}  // namespace

int run(const Options& opts, std::ostream& out, std::ostream& err) {
  Log log(err, opts.verbosity);
  if (opts.command == "help") {
    out << usage_text();
    return kExitOk;
  }
  if (opts.command == "version") {
    out << "ec2-netcfg " << EC2NC_VERSION << "\n";
    return kExitOk;
  }
  Context ctx(opts, log, out);
  int rc = load_config(ctx);
  if (rc) return rc;
  if (opts.command == "apply" || opts.command == "diff") apply_vpc_cni_policy(ctx);
  ctx.deadline = Clock::now() + std::chrono::seconds(ctx.cfg.wait_timeout_s);
  if (opts.command != "dump-metadata" && (rc = choose_backend(ctx))) return rc;
  if (opts.command != "remove" && (rc = open_source(ctx))) return rc;
  if (opts.command == "apply") return cmd_apply_or_diff(ctx, true);
  if (opts.command == "diff") return cmd_apply_or_diff(ctx, false);
  if (opts.command == "show") return cmd_show(ctx);
  if (opts.command == "remove") return cmd_remove(ctx);
  if (opts.command == "dump-metadata") return cmd_dump(ctx);
  log.error("unknown command \"" + opts.command + "\"");
  return kExitUsage;
}

std::string usage_text() {
  std::ostringstream o;
  o << "Usage: ec2-netcfg [OPTIONS] COMMAND [IFACE...]\n"
       "\n"
       "Makes this EC2 instance's network match what the instance metadata service says:\n"
       "every private IPv4 and IPv6 address and delegated prefix of every ENI, with a\n"
       "routing table and source rules per ENI so traffic from each address leaves\n"
       "through the ENI that owns it.\n"
       "\n"
       "Commands:\n"
       "  apply [IFACE...]     configure the ENIs present on this host (default: all); idempotent\n"
       "  remove IFACE...      take away what ec2-netcfg configured for IFACE\n"
       "  show [IFACE...]      print the desired state (every ENI in the metadata); changes nothing\n"
       "  diff [IFACE...]      print what apply would change; changes nothing\n"
       "  dump-metadata        print what ec2-netcfg reads from IMDS, as JSON (for bug reports)\n"
       "\n"
       "Options:\n"
       "  --backend networkd|netplan|netlink\n"
       "                       default: config file, else networkd when systemd-networkd is\n"
       "                       installed, else netlink (netplan: not in this release)\n"
       "  --config FILE        default ROOT/etc/ec2-netcfg/ec2-netcfg.conf (absent = defaults)\n"
       "  --root DIR           default paths resolve under DIR; the kernel and networkd are left\n"
       "                       alone (links are still read over netlink)\n"
       "  --imds-endpoint URL  default $AWS_EC2_METADATA_SERVICE_ENDPOINT, else\n"
       "                       http://169.254.169.254 (http://[fd00:ec2::254] with\n"
       "                       AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE=IPv6)\n"
       "  --metadata-file FILE read a dump-metadata capture instead of IMDS\n"
       "  --dry-run            apply/remove: print what would change, change nothing\n"
       "  --json               show, diff, --dry-run: JSON output\n"
       "  -v, --verbose        more detail (waits, summary)\n"
       "  -q, --quiet          errors only\n"
       "  --version, --help\n"
       "\n"
       "Exit status: 0 success; 1 failure worth retrying (IMDS unreachable or incomplete,\n"
       "an invalid value from IMDS, a netlink error); 2 bad usage or configuration.\n"
       "\n"
       "Configuration keys (INI):\n";
  for (auto& k : config_keys())
    o << "  [" << k.section << "] " << k.key << " (default " << k.default_value << ")\n      " << k.help << "\n";
  return o.str();
}

bool parse_args(int argc, char** argv, Options* out, std::string* error) {
  enum { kBackend = 256, kConfig, kRoot, kEndpoint, kMetadataFile, kDryRun, kJson, kVersion, kHelp };
  static const struct option longopts[] = {
      {"backend", required_argument, nullptr, kBackend},
      {"config", required_argument, nullptr, kConfig},
      {"root", required_argument, nullptr, kRoot},
      {"imds-endpoint", required_argument, nullptr, kEndpoint},
      {"metadata-file", required_argument, nullptr, kMetadataFile},
      {"dry-run", no_argument, nullptr, kDryRun},
      {"json", no_argument, nullptr, kJson},
      {"verbose", no_argument, nullptr, 'v'},
      {"quiet", no_argument, nullptr, 'q'},
      {"version", no_argument, nullptr, kVersion},
      {"help", no_argument, nullptr, kHelp},
      {nullptr, 0, nullptr, 0},
  };
  Options o;
  optind = 1;
  opterr = 0;
  int c;
  // "+" stops at the first non-option (the command); options after it are parsed below.
  std::vector<char*> rest;
  while (true) {
    c = getopt_long(argc, argv, "+vqh", longopts, nullptr);
    if (c == -1) {
      if (optind >= argc) break;
      rest.push_back(argv[optind++]);
      continue;
    }
    switch (c) {
      case kBackend:
        if (std::strcmp(optarg, "networkd") && std::strcmp(optarg, "netplan") && std::strcmp(optarg, "netlink")) {
          *error = std::string("--backend: unknown backend \"") + optarg + "\" (expected networkd, netplan or netlink)";
          return false;
        }
        o.backend = optarg;
        break;
      case kConfig: o.config_path = optarg; break;
      case kRoot: o.root = optarg; break;
      case kEndpoint: o.imds_endpoint = optarg; break;
      case kMetadataFile: o.metadata_file = optarg; break;
      case kDryRun: o.dry_run = true; break;
      case kJson: o.json = true; break;
      case 'v': o.verbosity = 2; break;
      case 'q': o.verbosity = 0; break;
      case kVersion: o.command = "version"; *out = o; return true;
      case 'h':
      case kHelp: o.command = "help"; *out = o; return true;
      case ':':
        *error = std::string("option ") + argv[optind - 1] + " needs a value";
        return false;
      default:
        *error = std::string("unknown option ") + argv[optind - 1];
        return false;
    }
  }
  if (rest.empty()) {
    *error = "no command given (apply, remove, show, diff, dump-metadata)";
    return false;
  }
  o.command = rest[0];
  static const std::set<std::string> commands = {"apply", "remove", "show", "diff", "dump-metadata"};
  if (!commands.count(o.command)) {
    *error = "unknown command \"" + o.command + "\"";
    return false;
  }
  for (size_t i = 1; i < rest.size(); ++i) {
    std::string name = rest[i];
    bool ok = !name.empty() && name.size() < 16 && name != "." && name != ".." &&
              std::all_of(name.begin(), name.end(), [](char ch) {
                return std::isalnum(static_cast<unsigned char>(ch)) || ch == '-' || ch == '_' || ch == '.' ||
                       ch == '@' || ch == ':';
              });
    if (!ok) {
      *error = "\"" + name + "\" is not a valid interface name";
      return false;
    }
    o.ifaces.push_back(name);
  }
  if (o.command == "dump-metadata" && !o.ifaces.empty()) {
    *error = "dump-metadata takes no interface names";
    return false;
  }
  if (o.command == "remove" && o.ifaces.empty()) {
    *error = "remove needs at least one interface name";
    return false;
  }
  if (o.dry_run && o.command != "apply" && o.command != "remove") {
    *error = "--dry-run goes with apply or remove";
    return false;
  }
  *out = o;
  return true;
}

}  // namespace ec2nc
