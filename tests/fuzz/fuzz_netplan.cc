// Fuzz target: the YAML reader (parse_yaml over libyaml) and netplan's merge of
// /etc/netplan files (merge_netplan, netplan_def_for), which the netplan backend reads
// whatever cloud-init, an image or an administrator wrote there. Text either fails naming
// its line or gives a tree whose merge and lookups hold; and any UTF-8 text quoted with
// yaml_quote (how ec2-netcfg writes values into its own netplan file) reads back as
// exactly that text (other bytes no YAML can hold: they fail naming their line).
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/ip.h"
#include "core/netplan_config.h"
#include "core/yaml.h"
#include "fuzz.h"

using namespace ec2nc;

namespace {

// Whether `s` is UTF-8 as libyaml's reader takes it: shortest forms, no surrogates, at most
// U+10FFFF (written apart from yaml.cc's decoder, as the oracle it is checked against).
bool is_utf8(const std::string& s) {
  for (size_t i = 0; i < s.size();) {
    const unsigned char c = s[i];
    const int more = c < 0x80 ? 0 : c >= 0xC2 && c <= 0xDF ? 1 : c >= 0xE0 && c <= 0xEF ? 2 : c >= 0xF0 && c <= 0xF4 ? 3 : -1;
    if (more < 0 || s.size() - i <= size_t(more)) return false;
    if (more > 0) {
      // The second byte's range excludes overlong forms, surrogates and beyond U+10FFFF.
      const unsigned char c1 = s[i + 1];
      const unsigned char lo = c == 0xE0 ? 0xA0 : c == 0xF0 ? 0x90 : 0x80;
      const unsigned char hi = c == 0xED ? 0x9F : c == 0xF4 ? 0x8F : 0xBF;
      if (c1 < lo || c1 > hi) return false;
    }
    for (int k = 2; k <= more; ++k)
      if ((static_cast<unsigned char>(s[i + size_t(k)]) & 0xC0) != 0x80) return false;
    i += size_t(more) + 1;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);

  YamlParse p = parse_yaml(text);
  if (!p.root) {
    FUZZ_CHECK(p.error.rfind("line ", 0) == 0);
  } else {
    NetplanConfig cfg = merge_netplan({NetplanFile{"50-fuzz.yaml", p.root.get()}, NetplanFile{"60-fuzz.yaml", p.root.get()}});
    for (auto& def : cfg.ethernets) {
      FUZZ_CHECK(!cfg.renderer_of(def).empty());
      FUZZ_CHECK(cfg.find(def.id) != nullptr && cfg.id_taken(def.id));
      if (def.match_mac) {
        std::vector<std::string> wider;
        (void)netplan_def_for(cfg, *def.match_mac, def.id, &wider);
      }
    }
    std::vector<std::string> wider;
    (void)netplan_def_for(cfg, *MacAddr::parse("02:86:10:7b:e4:f5"), "ens5", &wider);
  }

  // The quoting ec2-netcfg writes with reads back unchanged.
  YamlParse q = parse_yaml("key: " + yaml_quote(text) + "\n");
  if (!is_utf8(text)) {
    FUZZ_CHECK(!q.root && q.error.rfind("line 1, column ", 0) == 0);
    return 0;
  }
  FUZZ_CHECK(q.root && q.root->is_map());
  const YamlNode* v = q.root->get("key");
  FUZZ_CHECK(v && v->is_scalar() && v->quoted && v->scalar == text);
  return 0;
}
