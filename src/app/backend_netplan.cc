// The netplan backend: netplan stays the owner of each ENI's networkd configuration.
// ec2-netcfg's YAML (run/netplan/90-ec2-netcfg-IFACE.yaml) merges into netplan's own
// definition of the ENI and a networkd drop-in beside netplan's generated file carries what
// netplan cannot say; like the networkd backend's files, both say only what networkd does
// for the ENI, so they do not change when addresses, rules or routes do.
// When ec2-netcfg's YAML changes, netplan generates networkd's files from it on a copy of
// netplan's configuration (`netplan generate --root-dir`), never on the host: a YAML netplan
// refuses is never installed, and of what netplan generated only the .network files of the
// definitions whose YAML changed are copied to /run/systemd/network. Every other generated
// file stays as it is (a regenerated file is a changed file to networkd: its next reload
// would reconfigure that link), and an administrator's unapplied edits of other definitions
// stay unapplied. networkd is then handed the changed files with one reload.
#include <dirent.h>
#include <sys/stat.h>

#include <map>
#include <set>

#include "app/backend.h"
#include "app/networkd_handoff.h"
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

class NetplanBackend : public Backend {
 public:
  explicit NetplanBackend(std::shared_ptr<const NetplanRead> read) : read_(std::move(read)) {}
  const char* name() const override { return "netplan"; }
  bool writes_files() const override { return true; }

  int sync(Context& ctx, const Plan& plan, const std::set<std::string>& configure, const std::set<std::string>& present,
           bool dry_run, std::vector<FileChange>* changes) override {
    int rc = complete_read(ctx);
    if (rc) return rc;
    const NetplanRead& ex = *read_;
    NetplanRender r = render_netplan(plan, ex.cfg);
    for (auto& n : r.notes)
      if (configure.count(n.substr(0, n.find(':')))) ctx.log.warn("netplan: " + n);

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
    Stage st;
    const bool yaml_changes = would_change(yaml_dir, yaml, yaml_owned);
    if (!dry_run && yaml_changes && (rc = check_with_netplan(ctx, ex, yaml_dir, yaml, yaml_owned, ids, &st)))
      return rc;

    std::string error;
    std::vector<FileChange> yaml_changed;
    if (!sync_files(yaml_dir, yaml, yaml_owned, 0600, dry_run, &yaml_changed, &error)) {
      ctx.log.error(error);
      return kExitRetry;
    }
    changes->insert(changes->end(), yaml_changed.begin(), yaml_changed.end());
    if (!dry_run && (rc = publish(ctx, st, yaml_changed, r.ids, changes))) return rc;
    if ((rc = sync_drop_ins(ctx, drop_ins, mine, dry_run, changes))) return rc;
    // The networkd backend's own files of these interfaces would shadow netplan's.
    auto networkd_owned = [&](const std::string& n) { return is_own_networkd_file(n) && mine(networkd_file_iface(n)); };
    if (!sync_files(ctx.path(kNetworkdDir), {}, networkd_owned, 0644, dry_run, changes, &error)) {
      ctx.log.error(error);
      return kExitRetry;
    }
    return kExitOk;
  }

  int remove_files(Context& ctx, const std::string& ifname, bool dry_run, std::vector<FileChange>* changes) override {
    auto mine = [&](const std::string& iface) { return iface == ifname; };
    const std::string yaml_dir = ctx.path(kNetplanRunDir);
    std::string error;
    // The definition the YAML merged into, from the YAML itself (netplan's reading of the
    // host may not know an interface that is gone).
    std::map<std::string, std::string> ids;
    std::string text, unread;
    if (read_file(yaml_dir + "/" + netplan_yaml_name(ifname), &text, &unread)) {
      YamlParse y = parse_yaml(text);
      const YamlNode* eth = y.root ? y.root->get("network") : nullptr;
      eth = eth ? eth->get("ethernets") : nullptr;
      if (eth && eth->is_map() && eth->map.size() == 1) ids[ifname] = eth->map.front().first;
    }
    std::vector<FileChange> yaml_changed;
    if (!sync_files(yaml_dir, {}, [&](const std::string& n) { return mine(netplan_yaml_iface(n)); }, 0600, dry_run,
                    &yaml_changed, &error)) {
      ctx.log.error(error);
      return kExitRetry;
    }
    changes->insert(changes->end(), yaml_changed.begin(), yaml_changed.end());
    int rc = kExitOk;
    if (!dry_run && !yaml_changed.empty()) {
      Stage st;
      if ((rc = complete_read(ctx))) return rc;
      if (!st.fill(read_->files, own_yaml(yaml_dir, [](const std::string&) { return false; }), &error)) {
        ctx.log.error("netplan: " + error);
        return kExitRetry;
      }
      ProgramResult g = netplan_generate(st.dir(), ctx.deadline);
      if (!g.ok) {
        ctx.log.error("netplan generate: " + trim(g.output) + " (" + g.detail + ")");
        return kExitRetry;
      }
      if ((rc = publish(ctx, st, yaml_changed, ids, changes))) return rc;
    }
    return sync_drop_ins(ctx, {}, mine, dry_run, changes);
  }

  std::set<std::string> hand_off(Context& ctx, const std::vector<FileChange>& changes) override {
    // The ENIs whose networkd file (netplan's generated one, or ec2-netcfg's drop-in beside
    // it) is new or different; a removed drop-in's ENI is either gone or had its generated
    // file rewritten too.
    std::set<std::string> changed;
    for (auto& f : changes) {
      auto slash = f.path.rfind('/');
      const std::string base = f.path.substr(slash == std::string::npos ? 0 : slash + 1);
      auto gen = published_.find(f.path);
      if (gen != published_.end()) changed.insert(gen->second);
      else if (f.kind != FileChange::Kind::Removed && !netplan_drop_in_iface(base).empty())
        changed.insert(netplan_drop_in_iface(base));
    }
    return hand_to_networkd(ctx, changed, "netplan's files and ec2-netcfg's drop-ins") ? changed : std::set<std::string>{};
  }

 private:
  std::shared_ptr<const NetplanRead> read_;  // the probe's, else read at the first pass
  std::map<std::string, std::string> published_;  // path of a generated file copied -> its interface

  /// netplan's configuration, read once a run. A file the reader refuses netplan refuses
  /// too (the same parser, libyaml; ec2-netcfg's bounds on nesting and aliases are far
  /// beyond any netplan configuration): then nothing is written.
  int complete_read(Context& ctx) {
    if (!read_) read_ = std::make_shared<NetplanRead>(read_netplan(ctx.opts.root));
    if (!read_->error.empty()) {
      ctx.log.error("netplan: " + read_->error);
      read_ = nullptr;  // the next pass tries again
      return kExitRetry;
    }
    if (!read_->unreadable.empty()) {
      ctx.log.error("netplan: cannot read " + read_->unreadable +
                    " (netplan reads it with the same parser and refuses it too): no netplan file is written");
      return kExitRetry;
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
                         const std::function<bool(const std::string&)>& owned, const std::set<std::string>& ids,
                         Stage* stage) {
    if (netplan_generator().empty()) {
      ctx.log.error("netplan: netplan's generator is not installed (the netplan.io package)");
      return kExitUsage;
    }
    std::map<std::string, std::string> after = own_yaml(yaml_dir, owned);  // kept as they are
    for (auto& [n, text] : yaml) after[n] = text;
    Stage& st = *stage;
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

  /// ec2-netcfg's YAML files in `yaml_dir` but those `owned` says it rewrites (name -> text).
  static std::map<std::string, std::string> own_yaml(const std::string& yaml_dir,
                                                     const std::function<bool(const std::string&)>& owned) {
    std::map<std::string, std::string> out;
    for (auto& n : list(yaml_dir, false)) {
      if (netplan_yaml_iface(n).empty() || owned(n)) continue;
      std::string text, e;
      if (read_file(yaml_dir + "/" + n, &text, &e)) out[n] = text;
    }
    return out;
  }

  /// Copies from `st` (netplan generate on the YAML as installed now) to the host the
  /// .network file of each definition whose YAML `yaml_changed` lists (`ids`: interface ->
  /// definition), and only those; one netplan no longer generates is removed (its
  /// definition was ec2-netcfg's alone).
  int publish(Context& ctx, const Stage& st, const std::vector<FileChange>& yaml_changed,
              const std::map<std::string, std::string>& ids, std::vector<FileChange>* changes) {
    std::map<std::string, std::string> files, iface_of;
    for (auto& c : yaml_changed) {
      auto slash = c.path.rfind('/');
      const std::string iface = netplan_yaml_iface(c.path.substr(slash == std::string::npos ? 0 : slash + 1));
      auto id = ids.find(iface);
      if (iface.empty() || id == ids.end()) continue;
      const std::string name = "10-netplan-" + id->second + ".network";
      iface_of[name] = iface;
      std::string text, unread;
      if (read_file(st.dir() + "/run/systemd/network/" + name, &text, &unread)) files[name] = text;
    }
    if (iface_of.empty()) return kExitOk;
    std::vector<FileChange> here;
    std::string error;
    const std::string dir = ctx.path(kNetworkdDir);
    if (!sync_files(dir, files, [&](const std::string& n) { return iface_of.count(n) > 0; }, 0644, false, &here,
                    &error)) {
      ctx.log.error("netplan: " + error);
      return kExitRetry;
    }
    for (auto& c : here) {
      auto slash = c.path.rfind('/');
      published_[c.path] = iface_of[c.path.substr(slash + 1)];
    }
    changes->insert(changes->end(), here.begin(), here.end());
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
  // A file the reader cannot read is the backend's to report (netplan cannot read it either).
  p.has_config = !r->cfg.files.empty() || !r->unreadable.empty();
  p.renderer = !r->cfg.ethernets_renderer.empty() ? r->cfg.ethernets_renderer
               : !r->cfg.renderer.empty()         ? r->cfg.renderer
                                                  : "networkd";
  p.read = r;
  return p;
}

}  // namespace ec2nc
