#include "edge/networkd_ctl.h"

#include <dirent.h>
#include <sys/stat.h>

#include <fstream>
#include <map>
#include <regex>
#include <vector>

#include "edge/spawn.h"

namespace ec2nc {

namespace {

using Clock = std::chrono::steady_clock;

bool exists(const std::string& p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0;
}

/// networkd.conf, then the drop-ins by name as networkd orders them.
std::vector<std::string> networkd_conf_files() {
  std::vector<std::string> out;
  for (const char* f : {"/etc/systemd/networkd.conf", "/usr/lib/systemd/networkd.conf", "/lib/systemd/networkd.conf"}) {
    if (exists(f)) {
      out.push_back(f);
      break;
    }
  }
  std::map<std::string, std::string> by_name;
  for (const char* dir : {"/etc/systemd/networkd.conf.d", "/run/systemd/networkd.conf.d",
                          "/usr/local/lib/systemd/networkd.conf.d", "/usr/lib/systemd/networkd.conf.d",
                          "/lib/systemd/networkd.conf.d"}) {
    DIR* d = ::opendir(dir);
    if (!d) continue;
    while (dirent* e = ::readdir(d)) {
      std::string n = e->d_name;
      if (n.size() <= 5 || n.compare(n.size() - 5, 5, ".conf") != 0 || by_name.count(n)) continue;
      by_name[n] = std::string(dir) + "/" + n;
    }
    ::closedir(d);
  }
  for (auto& [name, path] : by_name) out.push_back(path);
  return out;
}

/// Runs `systemctl ARGS...` with stdout and stderr discarded; kills it at `deadline`.
UnitResult systemctl(const std::vector<std::string>& args, Clock::time_point deadline) {
  std::vector<std::string> argv = {"systemctl"};
  argv.insert(argv.end(), args.begin(), args.end());
  ProgramResult p = run_program(argv, deadline, false);
  UnitResult r;
  r.ok = p.ok;
  r.detail = p.detail;
  return r;
}

}  // namespace

NetworkdConf networkd_conf() {
  static const std::regex key(R"(^\s*ManageForeignRoutingPolicyRules\s*=\s*(\S+)\s*$)");
  static const std::regex section(R"(^\s*\[([^\]]*)\]\s*$)");
  std::string setting, setting_file;
  for (auto& f : networkd_conf_files()) {
    std::ifstream in(f);
    std::string line, current;
    while (std::getline(in, line)) {
      std::smatch m;
      if (std::regex_match(line, m, section)) current = m[1];
      else if (current == "Network" && std::regex_match(line, m, key)) setting = m[1], setting_file = f;
    }
  }
  NetworkdConf c;
  c.keeps_foreign_rules = setting == "no" || setting == "false" || setting == "0" || setting == "off";
  c.detail = setting_file.empty() ? "no networkd.conf(.d) file sets ManageForeignRoutingPolicyRules=no"
                                  : setting_file + " sets ManageForeignRoutingPolicyRules=" + setting;
  return c;
}

bool systemd_booted() { return exists("/run/systemd/system"); }

UnitResult networkd_active(Clock::time_point deadline) {
  return systemctl({"is-active", "--quiet", "systemd-networkd.service"}, deadline);
}

UnitResult networkd_restart(Clock::time_point deadline) {
  return systemctl({"try-restart", "systemd-networkd.service"}, deadline);
}

}  // namespace ec2nc
