#include "edge/networkd_ctl.h"

#include <dirent.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <regex>
#include <sstream>
#include <vector>

#include "edge/files.h"

extern char** environ;

namespace ec2nc {

namespace {

std::string link_of(const std::string& path) {
  char buf[256];
  ssize_t n = ::readlink(path.c_str(), buf, sizeof buf - 1);
  if (n < 0) return "";
  buf[n] = '\0';
  return buf;
}

/// Start time of a process in seconds since the epoch, or -1.
double process_start_epoch(const std::string& pid) {
  std::string stat, error, all;
  if (!read_file("/proc/" + pid + "/stat", &stat, &error)) return -1;
  auto close = stat.rfind(')');
  if (close == std::string::npos) return -1;
  std::istringstream in(stat.substr(close + 2));
  std::string field;
  // Fields after "(comm)": state is field 3; starttime is field 22.
  for (int i = 3; i <= 22 && in >> field; ++i) {
    if (i == 22) {
      if (!read_file("/proc/stat", &all, &error)) return -1;
      auto pos = all.find("\nbtime ");
      if (pos == std::string::npos) return -1;
      double btime = std::atof(all.c_str() + pos + 7);
      return btime + std::atof(field.c_str()) / double(sysconf(_SC_CLK_TCK));
    }
  }
  return -1;
}

/// Files networkd reads for its [Network] settings, in its own order.
std::vector<std::string> networkd_conf_files() {
  std::vector<std::string> out = {"/etc/systemd/networkd.conf"};
  for (const char* dir : {"/usr/lib/systemd/networkd.conf.d", "/lib/systemd/networkd.conf.d",
                          "/usr/local/lib/systemd/networkd.conf.d", "/run/systemd/networkd.conf.d",
                          "/etc/systemd/networkd.conf.d"}) {
    DIR* d = ::opendir(dir);
    if (!d) continue;
    while (dirent* e = ::readdir(d)) {
      std::string n = e->d_name;
      if (n.size() > 5 && n.compare(n.size() - 5, 5, ".conf") == 0) out.push_back(std::string(dir) + "/" + n);
    }
    ::closedir(d);
  }
  return out;
}

}  // namespace

NetworkdStatus networkd_status() {
  NetworkdStatus st;
  std::string my_net = link_of("/proc/self/ns/net"), my_mnt = link_of("/proc/self/ns/mnt");
  DIR* proc = ::opendir("/proc");
  if (!proc) return st;
  std::string pid;
  while (dirent* e = ::readdir(proc)) {
    if (e->d_name[0] < '1' || e->d_name[0] > '9') continue;
    std::string comm, error;
    std::string p = e->d_name;
    if (!read_file("/proc/" + p + "/comm", &comm, &error) || comm != "systemd-network\n") continue;
    if (link_of("/proc/" + p + "/ns/net") != my_net || link_of("/proc/" + p + "/ns/mnt") != my_mnt) continue;
    pid = p;
    break;
  }
  ::closedir(proc);
  if (pid.empty()) {
    st.detail = "systemd-networkd is not running here";
    return st;
  }
  st.running = true;
  double started = process_start_epoch(pid);
  // The last file that sets the key wins; the key must say "no" and predate the start.
  static const std::regex key(R"(^\s*ManageForeignRoutingPolicyRules\s*=\s*(\S+)\s*$)");
  std::string setting, setting_file;
  double setting_mtime = 0;
  for (auto& f : networkd_conf_files()) {
    std::ifstream in(f);
    std::string line;
    while (std::getline(in, line)) {
      std::smatch m;
      if (std::regex_match(line, m, key)) {
        struct stat sb;
        if (::stat(f.c_str(), &sb) != 0) continue;
        setting = m[1];
        setting_file = f;
        setting_mtime = double(sb.st_mtim.tv_sec) + sb.st_mtim.tv_nsec / 1e9;
      }
    }
  }
  bool off = setting == "no" || setting == "false" || setting == "0" || setting == "off";
  st.keeps_foreign_rules = off && started > 0 && setting_mtime < started;
  st.detail = "systemd-networkd pid " + pid +
              (setting_file.empty() ? ": no ManageForeignRoutingPolicyRules setting"
                                    : ": ManageForeignRoutingPolicyRules=" + setting + " in " + setting_file +
                                          (setting_mtime < started ? " (read at its start)"
                                                                   : " (written after its start: not in effect)"));
  return st;
}

bool networkd_reload(std::string* error) {
  const char* argv[] = {"networkctl", "reload", nullptr};
  pid_t pid;
  int rc = posix_spawnp(&pid, "networkctl", nullptr, nullptr, const_cast<char**>(argv), environ);
  if (rc != 0) {
    *error = std::string("networkctl reload: ") + std::strerror(rc);
    return false;
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    *error = "networkctl reload failed (status " + std::to_string(WIFEXITED(status) ? WEXITSTATUS(status) : -1) + ")";
    return false;
  }
  return true;
}

}  // namespace ec2nc
