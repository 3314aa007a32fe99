#include "core/netplan_config.h"

#include <fnmatch.h>

#include <algorithm>

namespace ec2nc {

namespace {

// Device kinds other than ethernets whose ids share netplan's one namespace of ids.
const char* const kOtherKinds[] = {"bonds", "bridges", "vlans", "wifis", "modems", "tunnels", "vrfs",
                                   "nm-devices", "dummy-devices", "virtual-ethernets"};

// The override keys netplan's networkd writer compares between dhcp4- and dhcp6-overrides.
const char* const kBoolOverrides[] = {"use-dns", "use-ntp", "send-hostname", "use-hostname", "use-mtu", "use-routes"};

bool has_glob(const std::string& s) { return s.find_first_of("*?[") != std::string::npos; }

std::string where(const std::string& file, const YamlNode* n) {
  return file + ": line " + std::to_string(n ? n->line : 0) + ": ";
}

void read_overrides(const std::string& file, const YamlNode& node, const std::string& key,
                    std::map<std::string, std::string>& out, std::vector<std::string>& problems) {
  if (!node.is_map()) {
    problems.push_back(where(file, &node) + key + " is not a mapping");
    return;
  }
  for (auto& [k, v] : node.map) {
    bool b;
    if (std::find(std::begin(kBoolOverrides), std::end(kBoolOverrides), k) != std::end(kBoolOverrides)) {
      if (yaml_bool(*v, &b)) out[k] = b ? "true" : "false";
      else problems.push_back(where(file, v.get()) + key + "." + k + " is not a boolean");
    } else if (k == "route-metric") {
      const std::string& s = v->scalar;
      if (v->is_scalar() && !s.empty() && s.size() <= 10 &&
          std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; }))
        out[k] = std::to_string(std::stoull(s));
      else problems.push_back(where(file, v.get()) + key + ".route-metric is not a number");
    } else if (k == "use-domains") {
      if (yaml_bool(*v, &b)) out[k] = b ? "true" : "false";
      else if (v->is_scalar()) out[k] = v->scalar;
    } else if (k == "hostname") {
      if (v->is_scalar()) out[k] = v->scalar;
    }
  }
}

void read_bool(const std::string& file, const YamlNode& v, const std::string& key, std::optional<bool>& out,
               std::vector<std::string>& problems) {
  bool b;
  if (yaml_bool(v, &b)) out = b;
  else problems.push_back(where(file, &v) + key + " is not a boolean");
}

void merge_def(const std::string& file, const YamlNode& node, NetplanDef& d, std::vector<std::string>& problems) {
  if (!node.is_map()) {
    if (node.kind != YamlNode::Kind::Null) problems.push_back(where(file, &node) + d.id + " is not a mapping");
    return;
  }
  for (auto& [key, vp] : node.map) {
    const YamlNode& v = *vp;
    if (key == "match") {
      if (!v.is_map()) {
        problems.push_back(where(file, &v) + "match is not a mapping");
        continue;
      }
      d.has_match = true;
      for (auto& [mk, mv] : v.map) {
        if (mk == "macaddress") {
          auto mac = mv->is_scalar() ? MacAddr::parse(mv->scalar) : std::nullopt;
          if (mac) d.match_mac = mac;
          else {
            d.match_other = true;
            problems.push_back(where(file, mv.get()) + "match.macaddress is not a MAC address");
          }
        } else if (mk == "name") {
          d.match_name = mv->scalar;
        } else {
          d.match_other = true;
        }
      }
    } else if (key == "set-name") {
      d.set_name = v.scalar;
    } else if (key == "renderer") {
      d.renderer = v.scalar;
    } else if (key == "dhcp4") {
      read_bool(file, v, key, d.dhcp4, problems);
    } else if (key == "dhcp6") {
      read_bool(file, v, key, d.dhcp6, problems);
    } else if (key == "critical") {
      read_bool(file, v, key, d.critical, problems);
    } else if (key == "accept-ra") {
      read_bool(file, v, key, d.accept_ra, problems);
    } else if (key == "dhcp4-overrides") {
      read_overrides(file, v, key, d.dhcp4_overrides, problems);
    } else if (key == "dhcp6-overrides") {
      read_overrides(file, v, key, d.dhcp6_overrides, problems);
    } else if (key == "addresses") {
      if (!v.is_seq()) {
        problems.push_back(where(file, &v) + "addresses is not a sequence");
        continue;
      }
      for (auto& item : v.seq) {
        std::string text = item->is_scalar() ? item->scalar
                           : (item->is_map() && item->map.size() == 1) ? item->map[0].first
                                                                       : std::string();
        auto p = IpPrefix::parse(text);
        if (p) d.addresses.push_back(p->addr);
        else problems.push_back(where(file, item.get()) + "addresses: \"" + text + "\" is not ADDRESS/LENGTH");
      }
    }
  }
}

}  // namespace

std::string NetplanConfig::renderer_of(const NetplanDef& def) const {
  if (!def.renderer.empty()) return def.renderer;
  if (!ethernets_renderer.empty()) return ethernets_renderer;
  if (!renderer.empty()) return renderer;
  return "networkd";
}

const NetplanDef* NetplanConfig::find(const std::string& id) const {
  for (auto& d : ethernets)
    if (d.id == id) return &d;
  return nullptr;
}

bool NetplanConfig::id_taken(const std::string& id) const {
  return find(id) || std::find(other_ids.begin(), other_ids.end(), id) != other_ids.end();
}

NetplanConfig merge_netplan(const std::vector<NetplanFile>& files) {
  NetplanConfig cfg;
  for (auto& f : files) {
    if (!f.root || f.root->kind == YamlNode::Kind::Null) continue;
    const YamlNode* network = f.root->get("network");
    if (!f.root->is_map() || !network || !network->is_map()) {
      if (!f.root->is_map() || (network && network->kind != YamlNode::Kind::Null))
        cfg.problems.push_back(where(f.name, f.root) + "no network: mapping");
      continue;
    }
    cfg.files.push_back(f.name);
    for (auto& [key, vp] : network->map) {
      const YamlNode& v = *vp;
      if (key == "renderer") {
        cfg.renderer = v.scalar;
      } else if (key == "ethernets") {
        if (!v.is_map()) continue;
        for (auto& [id, dn] : v.map) {
          if (id == "renderer") {
            cfg.ethernets_renderer = dn->scalar;
            continue;
          }
          // A structured binding cannot be captured before C++20 (clang rejects it).
          const std::string& name = id;
          auto it =
              std::find_if(cfg.ethernets.begin(), cfg.ethernets.end(), [&](const NetplanDef& d) { return d.id == name; });
          if (it == cfg.ethernets.end()) {
            NetplanDef d;
            d.id = id;
            d.file = f.name;
            cfg.ethernets.push_back(d);
            it = cfg.ethernets.end() - 1;
          }
          merge_def(f.name, *dn, *it, cfg.problems);
        }
      } else if (std::find(std::begin(kOtherKinds), std::end(kOtherKinds), key) != std::end(kOtherKinds)) {
        if (!v.is_map()) continue;
        for (auto& [id, dn] : v.map) {
          (void)dn;
          if (id != "renderer" && std::find(cfg.other_ids.begin(), cfg.other_ids.end(), id) == cfg.other_ids.end())
            cfg.other_ids.push_back(id);
        }
      }
    }
  }
  return cfg;
}

const NetplanDef* netplan_def_for(const NetplanConfig& cfg, const MacAddr& mac, const std::string& ifname,
                                  std::vector<std::string>* wider) {
  const NetplanDef* own = nullptr;
  if (wider) wider->clear();
  for (auto& d : cfg.ethernets) {
    bool is_own = false, covers = false;
    if (!d.has_match) {
      is_own = d.id == ifname;
    } else if (d.match_mac) {
      // A MAC names one interface; a name or driver beside it can only narrow that.
      is_own = *d.match_mac == mac && (d.match_name.empty() || ::fnmatch(d.match_name.c_str(), ifname.c_str(), 0) == 0);
    } else if (!d.match_name.empty() && !has_glob(d.match_name) && !d.match_other) {
      is_own = d.match_name == ifname;
    } else {
      covers = d.match_other || d.match_name.empty() || ::fnmatch(d.match_name.c_str(), ifname.c_str(), 0) == 0;
    }
    if (is_own && (!own || d.id < own->id)) own = &d;
    if (covers && wider) wider->push_back(d.id);
  }
  return own;
}

}  // namespace ec2nc
