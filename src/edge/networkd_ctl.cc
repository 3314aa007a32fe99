#include "edge/networkd_ctl.h"

#include <dirent.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
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

/// Calls `fn(key, value)` for each `KEY=VALUE` line of `text`, and `fn("", "")` for each
/// empty line (systemctl show separates units with one).
template <class Fn>
void for_each_key_value(const std::string& text, Fn fn) {
  for (size_t begin = 0; begin < text.size();) {
    const size_t end = std::min(text.find('\n', begin), text.size());
    const std::string line = text.substr(begin, end - begin);
    begin = end + 1;
    const size_t eq = line.find('=');
    if (line.empty()) fn(std::string(), std::string());
    else if (eq != std::string::npos) fn(line.substr(0, eq), line.substr(eq + 1));
  }
}

/// Microseconds on `clock` now.
uint64_t now_us(clockid_t clock) {
  timespec ts{};
  ::clock_gettime(clock, &ts);
  return uint64_t(ts.tv_sec) * 1000000u + uint64_t(ts.tv_nsec) / 1000u;
}

/// Without systemd: a process whose comm is `comm` (not a zombie), the youngest if
/// several; its age from its start time in /proc/PID/stat (clock ticks after boot,
/// CLOCK_BOOTTIME).
NetworkdState process_named(const std::string& comm) {
  NetworkdState st;
  st.active = "inactive";
  DIR* d = ::opendir("/proc");
  if (!d) return st;
  const double tick = double(::sysconf(_SC_CLK_TCK));
  const double now = double(now_us(CLOCK_BOOTTIME)) / 1e6;
  while (dirent* e = ::readdir(d)) {
    const std::string pid = e->d_name;
    if (pid.empty() || pid.find_first_not_of("0123456789") != std::string::npos) continue;
    std::string text, stat, unread;
    if (!read_file("/proc/" + pid + "/comm", &text, &unread) || text != comm + "\n") continue;
    if (!read_file("/proc/" + pid + "/stat", &stat, &unread)) continue;
    // After "(comm) ": field 3 is the state, field 22 the start time.
    size_t p = stat.rfind(')');
    if (p == std::string::npos) continue;
    std::vector<std::string> f;
    for (size_t i = p + 2; i < stat.size();) {
      size_t j = stat.find(' ', i);
      if (j == std::string::npos) j = stat.size();
      f.push_back(stat.substr(i, j - i));
      i = j + 1;
    }
    if (f.size() < 20 || f[0] == "Z") continue;
    const double age = now - std::strtod(f[19].c_str(), nullptr) / tick;
    if (st.active != "active" || age < *st.age_s) st.age_s = age;
    st.active = "active";
  }
  ::closedir(d);
  return st;
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
  NetworkdConf c;
  const double now = double(now_us(CLOCK_REALTIME)) / 1e6;
  for (auto& f : networkd_conf_files()) {
    std::string text, unread;  // a file that cannot be read sets nothing
    if (!read_file(f, &text, &unread)) continue;
    if (auto value = foreign_rules_setting(text)) setting = *value, setting_file = f;
    struct stat st;
    if (::stat(f.c_str(), &st) != 0) continue;
    const double age = now - (double(st.st_mtim.tv_sec) + double(st.st_mtim.tv_nsec) / 1e9);
    if (c.newest.empty() || age < c.newest_age_s) c.newest = f, c.newest_age_s = age;
  }
  c.keeps_foreign_rules = setting == "no" || setting == "false" || setting == "0" || setting == "off";
  c.detail = setting_file.empty() ? "no networkd.conf(.d) file sets ManageForeignRoutingPolicyRules=no"
                                  : setting_file + " sets ManageForeignRoutingPolicyRules=" + setting;
  return c;
}

bool systemd_booted() { return exists("/run/systemd/system"); }

NetworkdState parse_unit_show(const std::string& text, uint64_t now_monotonic_us) {
  NetworkdState st;
  for_each_key_value(text, [&](const std::string& key, const std::string& value) {
    if (key == "ActiveState") {
      st.active = value;
    } else if (key == "ExecMainStartTimestampMonotonic") {
      char* stop = nullptr;
      const unsigned long long us = std::strtoull(value.c_str(), &stop, 10);
      if (stop && *stop == '\0' && us > 0 && us <= now_monotonic_us) st.age_s = double(now_monotonic_us - us) / 1e6;
    }
  });
  if (st.active.empty()) st.detail = "systemctl show systemd-networkd.service: no ActiveState";
  return st;
}

NetworkdState networkd_state(Clock::time_point deadline) {
  if (!systemd_booted()) return process_named("systemd-network");
  ProgramResult p = run_program({"systemctl", "show", "-p", "ActiveState", "-p", "ExecMainStartTimestampMonotonic",
                                 "systemd-networkd.service"},
                                deadline, true);
  if (!p.ok) {
    NetworkdState st;
    st.detail = p.detail;
    return st;
  }
  return parse_unit_show(p.output, now_us(CLOCK_MONOTONIC));
}

std::optional<NetworkdLink> networkd_link(int ifindex) {
  const std::string path = "/run/systemd/netif/links/" + std::to_string(ifindex);
  std::string text, unread;
  struct stat st;
  if (::stat(path.c_str(), &st) != 0 || !read_file(path, &text, &unread)) return std::nullopt;
  NetworkdLink l;
  const double mtime = double(st.st_mtim.tv_sec) + double(st.st_mtim.tv_nsec) / 1e9;
  l.age_s = double(now_us(CLOCK_REALTIME)) / 1e6 - mtime;
  for_each_key_value(text, [&](const std::string& key, const std::string& value) {
    if (key == "ADMIN_STATE") l.admin_state = value;
  });
  return l;
}

Managers parse_managers(const std::string& text) {
  Managers m;
  std::string id, active, file;
  auto flush = [&] {
    if (id == "systemd-networkd.service") m.networkd = active;
    else if (id == "NetworkManager.service") m.nm = active, m.nm_file = file;
    id.clear(), active.clear(), file.clear();
  };
  for_each_key_value(text, [&](const std::string& key, const std::string& value) {
    if (key.empty()) flush();
    else if (key == "Id") id = value;
    else if (key == "ActiveState") active = value;
    else if (key == "UnitFileState") file = value;
  });
  flush();
  return m;
}

Managers network_managers(Clock::time_point deadline) {
  Managers m;
  if (!exists("/usr/sbin/NetworkManager") && !exists("/sbin/NetworkManager")) return m;
  if (systemd_booted()) {
    ProgramResult p = run_program({"systemctl", "show", "-p", "Id", "-p", "ActiveState", "-p", "UnitFileState",
                                   "systemd-networkd.service", "NetworkManager.service"},
                                  deadline, true);
    if (p.ok) return parse_managers(p.output);
  }
  m.networkd = process_named("systemd-network").active;
  m.nm = process_named("NetworkManager").active;
  return m;
}

UnitResult networkd_reload(Clock::time_point deadline) {
  ProgramResult p = run_program({"networkctl", "reload"}, deadline, true);
  UnitResult r;
  r.ok = p.ok;
  r.detail = p.ok ? "" : p.detail + (p.output.empty() ? "" : ": " + p.output);
  while (!r.detail.empty() && (r.detail.back() == '\n' || r.detail.back() == ' ')) r.detail.pop_back();
  return r;
}

}  // namespace ec2nc
