#include "core/config.h"

#include <fnmatch.h>
#include <ini.h>

#include <cstring>
#include <functional>

namespace ec2nc {

namespace {

bool parse_uint(const std::string& v, uint64_t lo, uint64_t hi, uint64_t* out) {
  if (v.empty() || v.size() > 10) return false;
  uint64_t n = 0;
  for (char c : v) {
    if (c < '0' || c > '9') return false;
    n = n * 10 + uint64_t(c - '0');
  }
  if (n < lo || n > hi) return false;
  *out = n;
  return true;
}

bool parse_bool(const std::string& v, bool* out) {
  if (v == "yes" || v == "true" || v == "1" || v == "on") return *out = true, true;
  if (v == "no" || v == "false" || v == "0" || v == "off") return *out = false, true;
  return false;
}

using Setter = std::function<std::string(Config&, const std::string&)>;  // "" or error

struct KeyRow {
  ConfigKeyDoc doc;
  Setter set;
};

Setter uint_setter(uint32_t Config::*field, uint64_t lo, uint64_t hi) {
  return [=](Config& c, const std::string& v) -> std::string {
    uint64_t n;
    if (!parse_uint(v, lo, hi, &n))
      return "expected an integer from " + std::to_string(lo) + " to " + std::to_string(hi);
    c.*field = uint32_t(n);
    return "";
  };
}
Setter unsigned_setter(unsigned Config::*field, uint64_t lo, uint64_t hi) {
  return [=](Config& c, const std::string& v) -> std::string {
    uint64_t n;
    if (!parse_uint(v, lo, hi, &n))
      return "expected an integer from " + std::to_string(lo) + " to " + std::to_string(hi);
    c.*field = unsigned(n);
    return "";
  };
}
Setter bool_setter(bool Config::*field) {
  return [=](Config& c, const std::string& v) -> std::string {
    return parse_bool(v, &(c.*field)) ? "" : "expected yes or no";
  };
}

// The one table of keys. Table numbers must stay clear of 253-255 (default, main,
// local). The table number is also the priority of the ENI's source rules, and a rule
// at 32766 or later sits behind `from all lookup main`: it would never be reached for
// traffic main can route, so the highest slot (card 99, device 99) must stay below it.
constexpr uint64_t kMaxTableBase = 32765 - (100 * 99 + 99);
const std::vector<KeyRow>& rows() {
  static const std::vector<KeyRow> table = {
      {{"main", "backend", "(detected)",
        "networkd, netplan or netlink; unset: netplan where netplan's YAML renders for networkd "
        "(Ubuntu), else networkd if systemd-networkd is installed, else netlink"},
       [](Config& c, const std::string& v) -> std::string {
         if (v != "networkd" && v != "netplan" && v != "netlink") return "expected networkd, netplan or netlink";
         c.backend = v;
         return "";
       }},
      {{"main", "table-base", "10000",
        "routing table and rule priority of an ENI = table-base + 100*network-card + device-number; "
        "ec2-netcfg's own rule that lets specific main-table routes win sits at table-base - 1. "
        "At most 22766, so that every ENI's rule (up to card 99, device 99) sits before the main "
        "table's rule at priority 32766"},
       [](Config& c, const std::string& v) -> std::string {
         std::string e = uint_setter(&Config::table_base, 1000, kMaxTableBase)(c, v);
         if (!e.empty())
           e += " (an ENI's rule priority is table-base + 100*network-card + device-number, up to "
                "table-base + 9999, and must stay below 32766, the main table's rule)";
         return e;
       }},
      {{"main", "primary-rules", "yes",
        "source rules for the primary ENI's addresses too (no = the predecessor's behaviour)"},
       bool_setter(&Config::primary_rules)},
      {{"main", "link-group", "10000",
        "link group (ip link set dev X group N) the managed ENIs are put in, for suppress_ifgroup"},
       uint_setter(&Config::link_group, 1, 2147483647)},
      {{"main", "ignore", "(none)",
        "space-separated interface names or MACs (shell globs) that ec2-netcfg leaves alone"},
       [](Config& c, const std::string& v) -> std::string {
         const char* space = " \t\n\v\f\r";  // isspace() in the C locale
         for (size_t b = v.find_first_not_of(space); b != std::string::npos; b = v.find_first_not_of(space, b)) {
           size_t e = v.find_first_of(space, b);
           c.ignore.push_back(v.substr(b, e - b));
           b = e;
         }
         return "";
       }},
      {{"main", "aws-vpc-cni", "auto",
        "auto: leave every ENI alone when the AWS VPC CNI's config (etc/cni/net.d/10-aws.conflist) "
        "exists, as on EKS nodes, where the CNI owns the ENIs and gives their secondary IPs to pods; "
        "yes: the same without looking; no: configure ENIs regardless"},
       [](Config& c, const std::string& v) -> std::string {
         if (v != "auto" && v != "yes" && v != "no") return "expected auto, yes or no";
         c.aws_vpc_cni = v;
         return "";
       }},
      {{"main", "wait-timeout", "60",
        "seconds one run may spend on IMDS retries and waiting for an ENI's data to propagate (at most 80: "
        "the units stop a run after 90 s)"},
       unsigned_setter(&Config::wait_timeout_s, 1, 80)},
      {{"imds", "connect-timeout-ms", "1000", "TCP connect bound of one IMDS request"},
       unsigned_setter(&Config::imds_connect_timeout_ms, 10, 60000)},
      {{"imds", "request-timeout-ms", "3000", "whole-request bound of one IMDS request"},
       unsigned_setter(&Config::imds_request_timeout_ms, 10, 120000)},
      {{"imds", "attempts", "6",
        "tries per IMDS request on timeouts, dropped connections, 429 and 5xx (exponential backoff "
        "with jitter), always within wait-timeout"},
       unsigned_setter(&Config::imds_attempts, 1, 100)},
      {{"imds", "connections", "16",
        "IMDS requests in flight together at most, each on a kept-alive connection of its own "
        "(requests that do not depend on each other: the ENIs' listings, their keys)"},
       unsigned_setter(&Config::imds_connections, 1, 32)},
  };
  return table;
}

struct ParseCtx {
  Config* cfg;
  std::string origin;
  std::string error;
};

// Debian's inih is built without INI_HANDLER_LINENO: the handler does not get the
// line, but ini_parse_string returns the line of the first handler failure.
int on_entry(void* user, const char* section, const char* name, const char* value) {
  auto* ctx = static_cast<ParseCtx*>(user);
  if (!ctx->error.empty()) return 0;  // report the first error only
  std::string where;
  if (!name) return 1;  // a section header on its own
  for (auto& row : rows()) {
    if (std::strcmp(row.doc.section, section) == 0 && std::strcmp(row.doc.key, name) == 0) {
      std::string err = row.set(*ctx->cfg, value ? value : "");
      if (!err.empty()) {
        ctx->error = where + "[" + section + "] " + name + " = " + (value ? value : "") + ": " + err;
        return 0;
      }
      return 1;
    }
  }
  ctx->error = where + "unknown key \"" + name + "\" in section [" + section + "]";
  return 0;
}

}  // namespace

const std::vector<ConfigKeyDoc>& config_keys() {
  static const std::vector<ConfigKeyDoc> docs = [] {
    std::vector<ConfigKeyDoc> d;
    for (auto& r : rows()) d.push_back(r.doc);
    return d;
  }();
  return docs;
}

bool parse_config(const std::string& text, const std::string& origin, Config* out, std::string* error) {
  Config cfg;
  ParseCtx ctx{&cfg, origin, {}};
  int rc = ini_parse_string(text.c_str(), on_entry, &ctx);
  if (rc != 0) {
    std::string where = origin + ":" + std::to_string(rc) + ": ";
    *error = where + (!ctx.error.empty() ? ctx.error : "syntax error (expected [section] or key = value)");
    return false;
  }
  *out = cfg;
  return true;
}

bool config_ignores(const Config& c, const std::string& name, const std::string& mac) {
  for (auto& pat : c.ignore) {
    if (!name.empty() && fnmatch(pat.c_str(), name.c_str(), 0) == 0) return true;
    if (!mac.empty() && fnmatch(pat.c_str(), mac.c_str(), FNM_CASEFOLD) == 0) return true;
  }
  return false;
}

}  // namespace ec2nc
