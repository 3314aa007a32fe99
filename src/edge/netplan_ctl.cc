#include "edge/netplan_ctl.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <map>

namespace ec2nc {

namespace {

bool executable(const std::string& p) { return ::access(p.c_str(), X_OK) == 0; }

std::string join(const std::string& root, const std::string& rel) {
  if (root.empty() || root == "/") return "/" + rel;
  return (root.back() == '/' ? root : root + "/") + rel;
}

}  // namespace

std::string netplan_generator() {
  for (const char* p : {"/lib/netplan/generate", "/usr/lib/netplan/generate", "/usr/libexec/netplan/generate"})
    if (executable(p)) return p;
  return "";
}

std::vector<NetplanYamlFile> netplan_yaml_files(
    const std::string& root, const std::function<bool(const std::string&, const std::string&)>& skip) {
  std::map<std::string, std::pair<std::string, std::string>> by_name;
  // Later directories shadow earlier ones.
  for (const char* dir : {"lib", "etc", "run"}) {
    const std::string d = join(root, std::string(dir) + "/netplan");
    DIR* h = ::opendir(d.c_str());
    if (!h) continue;
    while (dirent* e = ::readdir(h)) {
      std::string n = e->d_name;
      if (n.size() <= 5 || n.compare(n.size() - 5, 5, ".yaml") != 0 || n[0] == '.') continue;
      struct stat st;
      const std::string p = d + "/" + n;
      if (::stat(p.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
      if (skip && skip(dir, n)) {
        by_name.erase(n);
        continue;
      }
      by_name[n] = {p, "/" + std::string(dir) + "/netplan/" + n};
    }
    ::closedir(h);
  }
  std::vector<NetplanYamlFile> out;
  for (auto& [n, p] : by_name) out.push_back(NetplanYamlFile{n, p.first, p.second});
  return out;
}

ProgramResult netplan_generate(const std::string& root_dir, std::chrono::steady_clock::time_point deadline) {
  std::string gen = netplan_generator();
  if (gen.empty()) {
    ProgramResult r;
    r.detail = "netplan generate: netplan's generator is not installed";
    return r;
  }
  std::vector<std::string> argv = {gen};
  if (!root_dir.empty() && root_dir != "/") argv.insert(argv.end(), {"--root-dir", root_dir});
  return run_program(argv, deadline, true);
}

}  // namespace ec2nc
