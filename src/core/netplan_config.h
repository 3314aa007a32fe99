// What netplan's own YAML says about the ENIs, as far as ec2-netcfg needs it: the
// definitions under `ethernets:` merged across files as netplan merges them, and which
// renderer they go to. Pure: parsed files in, definitions out.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/ip.h"
#include "core/yaml.h"

namespace ec2nc {

/// One netplan definition under network.ethernets, merged over every file that names its id.
struct NetplanDef {
  std::string id;
  std::string file;  ///< The first file that defines it (for messages).
  bool has_match = false;
  std::optional<MacAddr> match_mac;  ///< match.macaddress.
  std::string match_name;            ///< match.name (may be a glob).
  bool match_other = false;          ///< match.driver or anything else beyond MAC and name.
  std::string set_name;
  std::string renderer;              ///< The definition's own `renderer:` ("" = inherited).
  std::optional<bool> dhcp4, dhcp6, critical, accept_ra;
  /// dhcp4-overrides / dhcp6-overrides: the keys netplan compares (use-dns, use-ntp,
  /// send-hostname, use-hostname, use-mtu, use-routes, use-domains, hostname,
  /// route-metric), values canonical ("true"/"false", numbers as digits).
  std::map<std::string, std::string> dhcp4_overrides, dhcp6_overrides;
  std::vector<IpAddr> addresses;     ///< Static addresses (any prefix length).
};

/// netplan's configuration as ec2-netcfg sees it.
struct NetplanConfig {
  std::string renderer;            ///< network.renderer ("" = networkd, netplan's default).
  std::string ethernets_renderer;  ///< network.ethernets.renderer.
  std::vector<NetplanDef> ethernets;  ///< In the order netplan first meets them.
  std::vector<std::string> other_ids; ///< Ids of other kinds (bonds, bridges, vlans...): names taken.
  std::vector<std::string> files;     ///< Files that define anything (for messages).
  std::vector<std::string> problems;  ///< Values not understood ("FILE: line N: ...").

  /// The renderer `def` goes to: its own, else ethernets:, else network:, else "networkd".
  std::string renderer_of(const NetplanDef& def) const;
  const NetplanDef* find(const std::string& id) const;
  /// True when some definition of any kind has this id.
  bool id_taken(const std::string& id) const;
};

/// One parsed YAML file (name for messages, its root node).
struct NetplanFile {
  std::string name;
  const YamlNode* root = nullptr;
};

/// Merges `files` in the order given (netplan's: by file name, shadowing already
/// resolved): mappings merge key by key, a later scalar replaces an earlier one, a later
/// sequence of addresses adds to the earlier one.
NetplanConfig merge_netplan(const std::vector<NetplanFile>& files);

/// The definition that is the ENI's own (`mac`, host name `ifname`): one whose match
/// says exactly this interface (its MAC; or its name, without glob characters, and
/// nothing else), or one without a match whose id is the name. When several are, the
/// one whose generated file networkd reads first (10-netplan-ID.network, by id). nullptr
/// when there is none. `wider` (may be null) gets the ids of definitions that match more
/// than this interface (a name glob, a driver) and may cover it too.
const NetplanDef* netplan_def_for(const NetplanConfig& cfg, const MacAddr& mac, const std::string& ifname,
                                  std::vector<std::string>* wider);

}  // namespace ec2nc
