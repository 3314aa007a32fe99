// Fuzz target: the YAML reader (parse_yaml) and netplan's merge of /etc/netplan files
// (merge_netplan, netplan_def_for), which the netplan backend reads whatever cloud-init,
// an image or an administrator wrote there. Text either fails naming its line or gives
// a tree whose merge and lookups hold; and any text quoted with yaml_quote (how
// ec2-netcfg writes values into its own netplan file) reads back as exactly that text.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/ip.h"
#include "core/netplan_config.h"
#include "core/yaml.h"
#include "fuzz.h"

using namespace ec2nc;

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
  FUZZ_CHECK(q.root && q.root->is_map());
  const YamlNode* v = q.root->get("key");
  FUZZ_CHECK(v && v->is_scalar() && v->quoted && v->scalar == text);
  return 0;
}
