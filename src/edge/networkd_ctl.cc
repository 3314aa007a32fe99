#include "edge/networkd_ctl.h"

#include <dirent.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <map>
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

/// Start time of a process in seconds since the epoch, or -1. /proc/PID/stat gives it in
/// clock ticks since boot (CLOCK_BOOTTIME); the boot instant comes from the two clocks
/// (/proc/stat's btime is whole seconds: too coarse beside a file written just before).
double process_start_epoch(const std::string& pid) {
  std::string stat, error;
  if (!read_file("/proc/" + pid + "/stat", &stat, &error)) return -1;
  auto close = stat.rfind(')');
  if (close == std::string::npos || close + 2 > stat.size()) return -1;
  std::istringstream in(stat.substr(close + 2));
  std::string field;
  for (int i = 3; i <= 22 && in >> field; ++i) {  // state is field 3, starttime field 22
    if (i != 22) continue;
    timespec real{}, boot{};
    clock_gettime(CLOCK_REALTIME, &real);
    clock_gettime(CLOCK_BOOTTIME, &boot);
    double boot_epoch = (double(real.tv_sec) + real.tv_nsec / 1e9) - (double(boot.tv_sec) + boot.tv_nsec / 1e9);
    return boot_epoch + std::atof(field.c_str()) / double(sysconf(_SC_CLK_TCK));
  }
  return -1;
}

double mtime_of(const std::string& path) {
  struct stat sb;
  if (::stat(path.c_str(), &sb) != 0) return -1;
  return double(sb.st_mtim.tv_sec) + double(sb.st_mtim.tv_nsec) / 1e9;
}

/// The configuration files networkd read when it started at `started`, in the order it
/// applied them: networkd.conf, then the networkd.conf.d drop-ins by name, where a name
/// in /etc hides the same name in /run, which hides /usr/local/lib and /usr/lib. Files
/// written after its start were not read, and hide nothing it did read.
std::vector<std::string> networkd_conf_files_read(double started) {
  std::vector<std::string> out;
  if (mtime_of("/etc/systemd/networkd.conf") >= 0 && mtime_of("/etc/systemd/networkd.conf") < started)
    out.push_back("/etc/systemd/networkd.conf");
  std::map<std::string, std::string> by_name;
  for (const char* dir : {"/etc/systemd/networkd.conf.d", "/run/systemd/networkd.conf.d",
                          "/usr/local/lib/systemd/networkd.conf.d", "/usr/lib/systemd/networkd.conf.d",
                          "/lib/systemd/networkd.conf.d"}) {
    DIR* d = ::opendir(dir);
    if (!d) continue;
    while (dirent* e = ::readdir(d)) {
      std::string n = e->d_name;
      if (n.size() <= 5 || n.compare(n.size() - 5, 5, ".conf") != 0 || by_name.count(n)) continue;
      std::string path = std::string(dir) + "/" + n;
      double m = mtime_of(path);
      if (m >= 0 && m < started) by_name[n] = path;
    }
    ::closedir(d);
  }
  for (auto& [name, path] : by_name) out.push_back(path);
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
  if (started <= 0) {
    st.detail = "systemd-networkd pid " + pid + ": start time unknown";
    return st;
  }
  // The last [Network] ManageForeignRoutingPolicyRules= among the files it read wins.
  static const std::regex key(R"(^\s*ManageForeignRoutingPolicyRules\s*=\s*(\S+)\s*$)");
  static const std::regex section(R"(^\s*\[([^\]]*)\]\s*$)");
  std::string setting, setting_file;
  for (auto& f : networkd_conf_files_read(started)) {
    std::ifstream in(f);
    std::string line, current;
    while (std::getline(in, line)) {
      std::smatch m;
      if (std::regex_match(line, m, section)) current = m[1];
      else if (current == "Network" && std::regex_match(line, m, key)) setting = m[1], setting_file = f;
    }
  }
  st.keeps_foreign_rules = setting == "no" || setting == "false" || setting == "0" || setting == "off";
  st.detail = "systemd-networkd pid " + pid +
              (setting_file.empty() ? ": started without ManageForeignRoutingPolicyRules=no"
                                    : ": started with ManageForeignRoutingPolicyRules=" + setting + " (" +
                                          setting_file + ")");
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
