#include "edge/networkd_ctl.h"

#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <map>
#include <vector>

#include "edge/files.h"
#include "edge/spawn.h"

namespace ec2nc {

namespace {

using Clock = std::chrono::steady_clock;

// isspace() in the C locale: what \s meant in the std::regex this parser replaced.
bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'; }

/// `line` from `pos` on is whitespace only.
bool only_space_from(const std::string& line, size_t pos) {
  for (; pos < line.size(); ++pos)
    if (!is_space(line[pos])) return false;
  return true;
}

size_t skip_space(const std::string& line, size_t pos) {
  while (pos < line.size() && is_space(line[pos])) ++pos;
  return pos;
}

/// `\s*[NAME]\s*`: the section's name (anything up to the first ']'), else nullopt.
std::optional<std::string> section_header(const std::string& line) {
  size_t open = skip_space(line, 0);
  if (open == line.size() || line[open] != '[') return std::nullopt;
  size_t close = line.find(']', open + 1);
  if (close == std::string::npos || !only_space_from(line, close + 1)) return std::nullopt;
  return line.substr(open + 1, close - open - 1);
}

/// `\s*KEY\s*=\s*VALUE\s*` with VALUE one non-empty word: the value, else nullopt.
std::optional<std::string> key_value(const std::string& line, const std::string& key) {
  size_t pos = skip_space(line, 0);
  if (line.compare(pos, key.size(), key) != 0) return std::nullopt;
  pos = skip_space(line, pos + key.size());
  if (pos == line.size() || line[pos] != '=') return std::nullopt;
  const size_t begin = skip_space(line, pos + 1);
  size_t end = begin;
  while (end < line.size() && !is_space(line[end])) ++end;
  if (end == begin || !only_space_from(line, end)) return std::nullopt;
  return line.substr(begin, end - begin);
}

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

std::optional<std::string> foreign_rules_setting(const std::string& text) {
  std::optional<std::string> setting;
  std::string current;
  for (size_t begin = 0; begin < text.size();) {
    const size_t end = std::min(text.find('\n', begin), text.size());
    const std::string line = text.substr(begin, end - begin);
    begin = end + 1;
    if (auto name = section_header(line)) {
      current = *name;
    } else if (current == "Network") {
      if (auto value = key_value(line, "ManageForeignRoutingPolicyRules")) setting = value;
    }
  }
  return setting;
}

NetworkdConf networkd_conf() {
  std::string setting, setting_file;
  for (auto& f : networkd_conf_files()) {
    std::string text, unread;  // a file that cannot be read sets nothing
    if (!read_file(f, &text, &unread)) continue;
    if (auto value = foreign_rules_setting(text)) setting = *value, setting_file = f;
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
