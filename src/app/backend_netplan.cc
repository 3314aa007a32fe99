// The netplan backend: netplan stays the owner of each ENI's networkd configuration.
// ec2-netcfg's YAML (run/netplan/90-ec2-netcfg-IFACE.yaml) merges into netplan's own
// definition of the ENI, a networkd drop-in beside netplan's generated file carries what
// netplan cannot say, `netplan generate` turns them into networkd's files, and networkd
// is restarted once when an ENI's YAML or drop-in is new (as the networkd backend does).
// Every YAML change is first tried on a copy of netplan's configuration (`netplan generate
// --root-dir`): a file netplan refuses would leave the host without networkd files at the
// next boot, so it is never installed.
#include <dirent.h>
#include <sys/stat.h>

#include <map>
#include <set>

#include "app/backend.h"
#include "app/networkd_pickup.h"
#include "core/netplan_config.h"
#include "core/render_netplan.h"
#include "core/render_networkd.h"
#include "core/yaml.h"
#include "edge/netplan_ctl.h"

namespace ec2nc {

namespace {

const char kNetplanRunDir[] = "run/netplan";
const char kStagePrefix[] = "ec2-netcfg-netplan";  // a private directory under $TMPDIR

/// ec2-netcfg's own YAML: its name pattern in run/netplan (elsewhere a file of that name is
/// someone's copy, and netplan reads it).
bool is_own_yaml(const std::string& dir, const std::string& name) {
  return dir == "run" && !netplan_yaml_iface(name).empty();
}

/// The names in `dir` of its directories (`dirs`) or of everything else.
std::vector<std::string> list(const std::string& dir, bool dirs) {
  std::vector<std::string> out;
  DIR* d = ::opendir(dir.c_str());
  if (!d) return out;
  while (dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n == "." || n == "..") continue;
    struct stat st;
    if (::lstat((dir + "/" + n).c_str(), &st) != 0) continue;
    if (S_ISDIR(st.st_mode) == dirs) out.push_back(n);
  }
  ::closedir(d);
  return out;
}

}  // namespace

/// netplan's YAML as read from the files, without ec2-netcfg's own: once a run.
struct NetplanRead {
  std::vector<NetplanYamlFile> files;
  std::vector<std::shared_ptr<const YamlNode>> roots;  // keeps cfg's nodes alive
  NetplanConfig cfg;
  std::string unreadable;  ///< "FILE: line N: ..." the YAML reader refused ("" = none).
  std::string error;       ///< A file that could not be read at all.
  bool via_netplan_get = false;
};

namespace {

/// Reads and parses every file netplan reads under `root` (none of netplan's own tools run).
NetplanRead read_netplan(const std::string& root) {
  NetplanRead r;
  r.files = netplan_yaml_files(root, is_own_yaml);
  std::vector<NetplanFile> parsed;
  for (auto& f : r.files) {
    std::string text;
    if (!read_file(f.path, &text, &r.error)) return r;
    YamlParse y = parse_yaml(text);
    if (!y.root) {
      if (r.unreadable.empty()) r.unreadable = f.shown + ": " + y.error;
      continue;
    }
    r.roots.push_back(y.root);
    parsed.push_back(NetplanFile{f.shown, y.root.get()});
  }
  r.cfg = merge_netplan(parsed);
  return r;
}

/// A copy of netplan's configuration to try netplan on: a private temporary root, gone
/// with the object.
class Stage {
 public:
  ~Stage() {
    std::string e;
    if (!dir_.empty()) remove_tree(dir_, &e);
  }
  /// A fresh root holding `files` in etc/netplan and `own` (name -> text) in run/netplan.
  bool fill(const std::vector<NetplanYamlFile>& files, const std::map<std::string, std::string>& own,
            std::string* error);
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
};

bool Stage::fill(const std::vector<NetplanYamlFile>& files, const std::map<std::string, std::string>& own,
                 std::string* error) {
  if (!dir_.empty() && !remove_tree(dir_, error)) return false;
  if (!make_temp_dir(kStagePrefix, &dir_, error)) return false;
  const std::string& stage_dir = dir_;
  std::map<std::string, std::string> copies;
  for (auto& f : files) {
    std::string text;
    if (!read_file(f.path, &text, error)) return false;
    copies[f.name] = text;
  }
  auto all = [](const std::string&) { return true; };
  if (!sync_files(stage_dir + "/etc/netplan", copies, all, 0600, false, nullptr, error)) return false;
  return sync_files(stage_dir + "/run/netplan", own, all, 0600, false, nullptr, error);
}

/// What the small reader does not read, netplan's own parser does: `netplan get` on a copy
/// of the configuration without ec2-netcfg's files.
int read_via_netplan_get(Context& ctx, NetplanRead* r) {
  ctx.log.debug("netplan: " + r->unreadable + ": asking `netplan get` instead");
  Stage st;
  std::string error;
  if (!st.fill(r->files, {}, &error)) {
    ctx.log.error("netplan: " + error);
    return kExitRetry;
  }
  ProgramResult got = netplan_get(st.dir(), ctx.deadline);
  YamlParse y = got.ok ? parse_yaml(got.output) : YamlParse{};
  if (!got.ok || !y.root) {
    ctx.log.error("netplan: cannot read netplan's configuration (" + r->unreadable + "; " +
                  (got.ok ? "netplan get: " + y.error : got.detail + ": " + got.output) + ")");
    return kExitRetry;
  }
  r->roots = {y.root};
  r->cfg = merge_netplan({NetplanFile{"netplan get", y.root.get()}});
  r->via_netplan_get = true;
  return kExitOk;
}

class NetplanBackend : public Backend {
 public:
  explicit NetplanBackend(std::shared_ptr<const NetplanRead> read) : read_(std::move(read)) {}
  const char* name() const override { return "netplan"; }
  bool writes_files() const override { return true; }

  int sync(Context& ctx, const Plan& plan, const std::set<std::string>& configure, const std::set<std::string>& present,
           bool dry_run, std::vector<FileChange>* changes) override {
    generated_ = true;
    int rc = complete_read(ctx);
    if (rc) return rc;
    const NetplanRead& ex = *read_;
    NetplanRender r = render_netplan(plan, ex.cfg);
    for (auto& n : r.notes)
      if (configure.count(n.substr(0, n.find(':')))) ctx.log.warn("netplan: " + n);
    metrics_ = r.main_metric;

    // Only own files of an interface configured now, or whose link is gone, are ours to
    // rewrite or remove; every other stays as it is.
    auto mine = [&](const std::string& iface) {
      return !iface.empty() && (configure.count(iface) || !present.count(iface));
    };
    std::map<std::string, std::string> yaml;
    std::map<std::string, std::map<std::string, std::string>> drop_ins;  // dir -> name -> text
    std::set<std::string> ids;
    for (auto& iface : configure) {
      auto y = r.yaml.find(netplan_yaml_name(iface));
      if (y == r.yaml.end()) continue;
      yaml.insert(*y);
      const std::string& id = r.ids.at(iface);
      ids.insert(id);
      const std::string rel = netplan_drop_in_dir(id) + "/" + netplan_drop_in_name(iface);
      drop_ins[netplan_drop_in_dir(id)][netplan_drop_in_name(iface)] = r.drop_ins.at(rel);
    }
    const std::string yaml_dir = ctx.path(kNetplanRunDir);
    auto yaml_owned = [&](const std::string& n) { return mine(netplan_yaml_iface(n)); };
    if (!dry_run && would_change(yaml_dir, yaml, yaml_owned) &&
        (rc = check_with_netplan(ctx, ex, yaml_dir, yaml, yaml_owned, ids)))
      return rc;

    std::string error;
    if (!sync_files(yaml_dir, yaml, yaml_owned, 0600, dry_run, changes, &error)) {
      ctx.log.error(error);
      return kExitRetry;
    }
    if ((rc = sync_drop_ins(ctx, drop_ins, mine, dry_run, changes))) return rc;
    // The networkd backend's own files of these interfaces would shadow netplan's.
    auto networkd_owned = [&](const std::string& n) { return is_own_networkd_file(n) && mine(networkd_file_iface(n)); };
    if (!sync_files(ctx.path(kNetworkdDir), {}, networkd_owned, 0644, dry_run, changes, &error)) {
      ctx.log.error(error);
      return kExitRetry;
    }
    return finish(ctx, yaml_dir, dry_run, changes);
  }

  int remove_files(Context& ctx, const std::string& ifname, bool dry_run, std::vector<FileChange>* changes) override {
    auto mine = [&](const std::string& iface) { return iface == ifname; };
    const std::string yaml_dir = ctx.path(kNetplanRunDir);
    std::string error;
    if (!sync_files(yaml_dir, {}, [&](const std::string& n) { return mine(netplan_yaml_iface(n)); }, 0600, dry_run,
                    changes, &error)) {
      ctx.log.error(error);
      return kExitRetry;
    }
    int rc = sync_drop_ins(ctx, {}, mine, dry_run, changes);
    return rc ? rc : finish(ctx, yaml_dir, dry_run, changes);
  }

  void pick_up(Context& ctx, const std::vector<FileChange>& changes, const Plan& plan,
               const HostState& before) override {
    std::set<std::string> created;
    for (auto& f : changes) {
      if (f.kind != FileChange::Kind::Created) continue;
      auto slash = f.path.rfind('/');
      const std::string base = f.path.substr(slash == std::string::npos ? 0 : slash + 1);
      std::string iface = netplan_yaml_iface(base);
      if (iface.empty()) iface = netplan_drop_in_iface(base);
      if (!iface.empty()) created.insert(iface);
    }
    if (created.empty()) return;
    if (!generated_) {
      ctx.log.warn("not restarting systemd-networkd: netplan generate did not succeed, networkd keeps its files");
      return;
    }
    restart_networkd_for(ctx, created, plan, before, metrics_, "netplan's files and ec2-netcfg's drop-ins");
  }

 private:
  std::shared_ptr<const NetplanRead> read_;  // the probe's, else read at the first pass
  std::map<std::string, uint32_t> metrics_;
  bool generated_ = true;

  /// netplan's configuration, read once a run; through netplan get where the reader could not.
  int complete_read(Context& ctx) {
    if (!read_) read_ = std::make_shared<NetplanRead>(read_netplan(ctx.opts.root));
    if (!read_->error.empty()) {
      ctx.log.error("netplan: " + read_->error);
      read_ = nullptr;  // the next pass tries again
      return kExitRetry;
    }
    if (!read_->unreadable.empty() && !read_->via_netplan_get) {
      auto r = std::make_shared<NetplanRead>(*read_);
      if (int rc = read_via_netplan_get(ctx, r.get())) return rc;
      read_ = r;
    }
    for (auto& p : read_->cfg.problems) ctx.log.debug("netplan: " + p);
    return kExitOk;
  }

  static bool would_change(const std::string& dir, const std::map<std::string, std::string>& files,
                           const std::function<bool(const std::string&)>& owned) {
    for (auto& [n, text] : files) {
      std::string cur, e;
      if (!read_file(dir + "/" + n, &cur, &e) || cur != text) return true;
    }
    for (auto& n : list(dir, false))
      if (owned(n) && !files.count(n)) return true;
    return false;
  }

  /// netplan must accept the YAML as it will be (every own file kept or written) together
  /// with its own configuration, and generate a file for every ENI, before it is installed.
  int check_with_netplan(Context& ctx, const NetplanRead& ex, const std::string& yaml_dir,
                         const std::map<std::string, std::string>& yaml,
                         const std::function<bool(const std::string&)>& owned, const std::set<std::string>& ids) {
    if (netplan_generator().empty()) {
      ctx.log.error("netplan: netplan's generator is not installed (the netplan.io package)");
      return kExitUsage;
    }
    std::map<std::string, std::string> after = yaml;
    for (auto& n : list(yaml_dir, false)) {
      if (netplan_yaml_iface(n).empty() || owned(n)) continue;
      std::string text, e;
      if (read_file(yaml_dir + "/" + n, &text, &e)) after[n] = text;  // kept as it is
    }
    Stage st;
    std::string error;
    if (!st.fill(ex.files, after, &error)) {
      ctx.log.error("netplan: " + error);
      return kExitRetry;
    }
    ProgramResult g = netplan_generate(st.dir(), ctx.deadline);
    int rc = kExitOk;
    if (!g.ok) {
      // Whose configuration netplan refuses: the host's own, or only with ec2-netcfg's YAML.
      Stage alone;
      std::string e2;
      const bool alone_ok = alone.fill(ex.files, {}, &e2) && netplan_generate(alone.dir(), ctx.deadline).ok;
      ctx.log.error(std::string("netplan: netplan generate refuses ") +
                    (alone_ok ? "this host's configuration with ec2-netcfg's YAML (please report it)"
                              : "this host's own configuration, without ec2-netcfg's files too") +
                    ", so ec2-netcfg's YAML is not installed (the kernel is configured): " + trim(g.output) + " (" +
                    g.detail + ")");
      rc = kExitRetry;
    } else {
      // Each ENI's definition must give a networkd file: the one its drop-in goes beside.
      for (auto& id : ids) {
        struct stat st_buf;
        const std::string f = st.dir() + "/run/systemd/network/10-netplan-" + id + ".network";
        if (::stat(f.c_str(), &st_buf) == 0) continue;
        ctx.log.error("netplan: netplan generate writes no networkd file for definition \"" + id +
                      "\", so ec2-netcfg's YAML is not installed (the kernel is configured)");
        rc = kExitRetry;
      }
    }
    return rc;
  }

  static std::string trim(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
    for (auto& c : s)
      if (c == '\n') c = ' ';
    return s;
  }

  /// Drop-ins in the 10-netplan-ID.network.d directories: `want` (dir -> name -> text) for
  /// the interfaces `mine` says are ours to write; ours of other interfaces stay. A
  /// directory left empty by it goes too.
  int sync_drop_ins(Context& ctx, const std::map<std::string, std::map<std::string, std::string>>& want,
                    const std::function<bool(const std::string&)>& mine, bool dry_run,
                    std::vector<FileChange>* changes) {
    const std::string base = ctx.path(kNetworkdDir);
    std::set<std::string> dirs;
    for (auto& [d, files] : want) dirs.insert(d);
    for (auto& d : list(base, true))
      if (is_netplan_drop_in_dir(d)) dirs.insert(d);
    auto owned = [&](const std::string& n) { return mine(netplan_drop_in_iface(n)); };
    for (auto& d : dirs) {
      auto w = want.find(d);
      const std::map<std::string, std::string> none;
      const auto& files = w == want.end() ? none : w->second;
      if (files.empty()) {
        // Nothing to write here: only look if there is anything of ours to remove.
        bool any = false;
        for (auto& n : list(base + "/" + d, false)) any = any || owned(n);
        if (!any) continue;
      }
      std::vector<FileChange> here;
      std::string error;
      if (!sync_files(base + "/" + d, files, owned, 0644, dry_run, &here, &error)) {
        ctx.log.error(error);
        return kExitRetry;
      }
      if (!dry_run && files.empty() && !here.empty()) remove_dir_if_empty(base + "/" + d);
      changes->insert(changes->end(), here.begin(), here.end());
    }
    return kExitOk;
  }

  /// The networkd.conf.d drop-in while any own YAML is in place; then `netplan generate`
  /// when the YAML changed, so networkd's files under /run say what the YAML says (the
  /// drop-ins are networkd's own files: netplan has nothing to do with them).
  int finish(Context& ctx, const std::string& yaml_dir, bool dry_run, std::vector<FileChange>* changes) {
    const std::string prefix = yaml_dir + "/";
    bool any = false, yaml_changed = false;
    for (auto& n : list(yaml_dir, false)) any = any || !netplan_yaml_iface(n).empty();
    for (auto& c : *changes) {
      if (c.path.rfind(prefix, 0) != 0) continue;
      yaml_changed = true;
      if (dry_run && c.kind != FileChange::Kind::Removed) any = true;  // would be written
    }
    int rc = sync_networkd_conf(ctx, any, dry_run, changes);
    if (rc || dry_run || !yaml_changed) return rc;
    ProgramResult g = netplan_generate(ctx.opts.root, ctx.deadline);
    generated_ = g.ok;
    if (!g.ok) {
      ctx.log.error("netplan generate: " + trim(g.output) + " (" + g.detail + ")");
      return kExitRetry;
    }
    ctx.log.info("netplan generate: networkd's files under " + ctx.path(kNetworkdDir) + " regenerated");
    return kExitOk;
  }
};

}  // namespace

std::unique_ptr<Backend> make_netplan_backend(std::shared_ptr<const NetplanRead> read) {
  return std::make_unique<NetplanBackend>(std::move(read));
}

NetplanProbe probe_netplan(Context& ctx) {
  NetplanProbe p;
  struct stat st;
  p.installed = ::stat("/usr/sbin/netplan", &st) == 0 || ::stat("/sbin/netplan", &st) == 0 ||
                !netplan_generator().empty();
  if (!p.installed) return p;
  auto r = std::make_shared<NetplanRead>(read_netplan(ctx.opts.root));
  // A file the reader cannot read is the backend's to report (or to read through netplan get).
  p.has_config = !r->cfg.files.empty() || !r->unreadable.empty();
  p.renderer = !r->cfg.ethernets_renderer.empty() ? r->cfg.ethernets_renderer
               : !r->cfg.renderer.empty()         ? r->cfg.renderer
                                                  : "networkd";
  p.read = r;
  return p;
}

}  // namespace ec2nc
