// Golden tests of the netplan renderer: every bundled scenario capture -> Plan, against
// the 50-cloud-init.yaml cloud-init writes for it (tests/data/netplan/SCENARIO/, made by
// tests/tools/cloud_init_netplan.py; with three or more ENIs the last one is left out, as
// one attached after first boot) -> YAML and drop-ins, compared byte for byte with
// tests/data/golden/netplan/SCENARIO/run/... EC2NC_UPDATE_GOLDEN=1 rewrites the goldens.
// Also: the netplan merge of cloud-init's file and the choices made against it.
#include <dirent.h>
#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>
#include <tuple>

#include "core/config.h"
#include "core/metadata.h"
#include "core/netplan_config.h"
#include "core/plan.h"
#include "core/render_netplan.h"
#include "core/yaml.h"

using namespace ec2nc;

namespace {

const std::string kData = EC2NC_TEST_DATA;

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<std::string> list_dir(const std::string& dir, const std::string& suffix, bool dirs = false) {
  std::vector<std::string> names;
  if (DIR* d = opendir(dir.c_str())) {
    while (auto* e = readdir(d)) {
      std::string n = e->d_name;
      if (n == "." || n == "..") continue;
      struct stat st;
      if (::stat((dir + "/" + n).c_str(), &st) != 0 || S_ISDIR(st.st_mode) != dirs) continue;
      if (n.size() > suffix.size() && n.compare(n.size() - suffix.size(), suffix.size(), suffix) == 0)
        names.push_back(n);
    }
    closedir(d);
  }
  std::sort(names.begin(), names.end());
  return names;
}

InstanceMetadata load_capture(const std::string& path) {
  std::string err;
  auto src = CaptureSource::from_json(slurp(path), &err);
  REQUIRE_MESSAGE(src, path << ": " << err);
  MetadataRead md = read_metadata(*src);
  REQUIRE_MESSAGE(md.fatal.empty(), path << ": " << md.fatal);
  return md.instance;
}

// ens5, ens6, ... in (network card, device number) order, as render_networkd_test names them.
std::vector<HostLink> fake_links(const InstanceMetadata& md) {
  std::vector<std::tuple<int, int, MacAddr>> order;
  for (auto& [mac, eni] : md.enis) order.emplace_back(eni.network_card, eni.device_number, mac);
  std::sort(order.begin(), order.end());
  std::vector<HostLink> links;
  for (size_t i = 0; i < order.size(); ++i) {
    HostLink l;
    l.ifindex = int(i) + 2;
    l.name = "ens" + std::to_string(5 + i);
    l.mac = std::get<2>(order[i]);
    l.up = true;
    links.push_back(l);
  }
  return links;
}

Plan scenario_plan(const std::string& scenario) {
  InstanceMetadata md = load_capture(kData + "/scenarios/" + scenario + ".json");
  return make_plan(Config{}, md, fake_links(md));
}

// Keeps the parsed trees alive for the NetplanFile pointers.
struct Parsed {
  std::vector<std::shared_ptr<const YamlNode>> roots;
  NetplanConfig cfg;
};

Parsed parse_files(const std::vector<std::pair<std::string, std::string>>& files) {
  Parsed p;
  std::vector<NetplanFile> in;
  for (auto& [name, text] : files) {
    YamlParse y = parse_yaml(text);
    REQUIRE_MESSAGE(static_cast<bool>(y.root), name << ": " << y.error);
    p.roots.push_back(y.root);
    in.push_back(NetplanFile{name, y.root.get()});
  }
  p.cfg = merge_netplan(in);
  return p;
}

Parsed cloud_init_of(const std::string& scenario) {
  return parse_files(
      {{"/etc/netplan/50-cloud-init.yaml", slurp(kData + "/netplan/" + scenario + "/50-cloud-init.yaml")}});
}

bool update_goldens() {
  const char* v = std::getenv("EC2NC_UPDATE_GOLDEN");
  return v && std::string(v) == "1";
}

void mkdirs(const std::string& path) {
  for (size_t i = 1; i <= path.size(); ++i)
    if (i == path.size() || path[i] == '/') ::mkdir(path.substr(0, i).c_str(), 0755);
}

void rmtree(const std::string& path) {
  if (DIR* d = opendir(path.c_str())) {
    while (auto* e = readdir(d)) {
      std::string n = e->d_name;
      if (n == "." || n == "..") continue;
      std::string p = path + "/" + n;
      struct stat st;
      if (::lstat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) rmtree(p);
      else ::unlink(p.c_str());
    }
    closedir(d);
    ::rmdir(path.c_str());
  }
}

// Golden tree of a scenario: RELATIVE PATH -> content.
std::map<std::string, std::string> tree_of(const NetplanRender& r) {
  std::map<std::string, std::string> t;
  for (auto& [n, c] : r.yaml) t["run/netplan/" + n] = c;
  for (auto& [n, c] : r.drop_ins) t["run/systemd/network/" + n] = c;
  return t;
}

std::map<std::string, std::string> read_golden(const std::string& dir) {
  std::map<std::string, std::string> t;
  for (auto& n : list_dir(dir + "/run/netplan", ".yaml")) t["run/netplan/" + n] = slurp(dir + "/run/netplan/" + n);
  const std::string nd = dir + "/run/systemd/network";
  for (auto& d : list_dir(nd, ".network.d", true))
    for (auto& n : list_dir(nd + "/" + d, ".conf"))
      t["run/systemd/network/" + d + "/" + n] = slurp(nd + "/" + d + "/" + n);
  return t;
}

}  // namespace

TEST_CASE("render_netplan matches the golden files of every scenario") {
  auto scenarios = list_dir(kData + "/scenarios", ".json");
  REQUIRE(!scenarios.empty());
  for (auto& file : scenarios) {
    std::string scenario = file.substr(0, file.size() - 5);
    CAPTURE(scenario);
    Parsed ci = cloud_init_of(scenario);
    CHECK(ci.cfg.problems.empty());
    Plan plan = scenario_plan(scenario);
    NetplanRender r = render_netplan(plan, ci.cfg);
    CHECK(r.notes.empty());
    auto tree = tree_of(r);
    CHECK(!tree.empty());
    const std::string dir = kData + "/golden/netplan/" + scenario;
    if (update_goldens()) {
      rmtree(dir);
      for (auto& [rel, content] : tree) {
        mkdirs(dir + "/" + rel.substr(0, rel.rfind('/')));
        std::ofstream out(dir + "/" + rel, std::ios::binary | std::ios::trunc);
        out << content;
        REQUIRE_MESSAGE(out.good(), "cannot write golden " << dir << "/" << rel);
      }
    }
    auto golden = read_golden(dir);
    std::set<std::string> gn, rn;
    for (auto& [n, c] : golden) gn.insert(n);
    for (auto& [n, c] : tree) rn.insert(n);
    CHECK_MESSAGE(gn == rn, "file set differs from " << dir << " (EC2NC_UPDATE_GOLDEN=1 regenerates)");
    for (auto& [name, content] : tree) {
      CAPTURE(name);
      CHECK_MESSAGE(content == golden[name], "differs from golden (EC2NC_UPDATE_GOLDEN=1 regenerates)");
      // Every YAML file reads back as netplan YAML for the ENI it names.
      if (name.rfind("run/netplan/", 0) == 0) {
        YamlParse y = parse_yaml(content);
        REQUIRE_MESSAGE(static_cast<bool>(y.root), y.error);
        CHECK(y.root->get("network")->get("version")->scalar == "2");
      }
    }
    // Byte-stable.
    CHECK(tree_of(render_netplan(scenario_plan(scenario), cloud_init_of(scenario).cfg)) == tree);
  }
}

TEST_CASE("merge_netplan reads cloud-init's definitions") {
  Parsed ci = cloud_init_of("dual-stack-prefixes");
  REQUIRE(ci.cfg.ethernets.size() == 2);
  const NetplanDef* ens6 = ci.cfg.find("ens6");
  REQUIRE(ens6);
  CHECK(ens6->match_mac == MacAddr::parse("02:86:10:7b:e4:f6"));
  CHECK(ens6->set_name == "ens6");
  CHECK(ens6->dhcp4 == true);
  CHECK(ens6->dhcp6 == true);
  CHECK(ens6->dhcp4_overrides == std::map<std::string, std::string>{{"route-metric", "200"}, {"use-routes", "true"}});
  CHECK(ens6->dhcp6_overrides == ens6->dhcp4_overrides);  // the anchor
  REQUIRE(ens6->addresses.size() == 1);
  CHECK(ens6->addresses[0] == *IpAddr::parse("10.0.1.21"));
  CHECK(ci.cfg.renderer_of(*ens6) == "networkd");
  std::vector<std::string> wider;
  CHECK(netplan_def_for(ci.cfg, *MacAddr::parse("02:86:10:7b:e4:f6"), "ens6", &wider) == ens6);
  CHECK(wider.empty());
  CHECK(netplan_def_for(ci.cfg, *MacAddr::parse("02:86:10:7b:e4:99"), "ens9", &wider) == nullptr);
}

TEST_CASE("merge_netplan: later files amend and override, as netplan merges") {
  Parsed p = parse_files({
      {"50-cloud-init.yaml",
       "network:\n  version: 2\n  ethernets:\n    primary:\n      match: {macaddress: '02:00:00:00:00:01'}\n"
       "      set-name: ens5\n      dhcp4: true\n      addresses: [10.0.0.5/24]\n"},
      {"60-admin.yaml",
       "network:\n  ethernets:\n    primary:\n      mtu: 9000\n      dhcp4-overrides: {use-dns: no}\n"
       "      addresses:\n        - \"10.0.0.6/24\":\n            label: x\n"
       "    glob:\n      match: {name: \"en*\"}\n      dhcp4: true\n"
       "  bonds:\n    bond0: {interfaces: [ens7]}\n"},
  });
  CHECK(p.cfg.problems.empty());
  const NetplanDef* d = p.cfg.find("primary");
  REQUIRE(d);
  CHECK(d->file == "50-cloud-init.yaml");
  CHECK(d->addresses.size() == 2);
  CHECK(d->dhcp4_overrides.at("use-dns") == "false");
  CHECK(p.cfg.id_taken("bond0"));
  std::vector<std::string> wider;
  CHECK(netplan_def_for(p.cfg, *MacAddr::parse("02:00:00:00:00:01"), "ens5", &wider) == d);
  CHECK(wider == std::vector<std::string>{"glob"});
  CHECK(netplan_def_for(p.cfg, *MacAddr::parse("02:00:00:00:00:02"), "ens6", &wider) == nullptr);
  CHECK(wider == std::vector<std::string>{"glob"});
  CHECK(netplan_def_for(p.cfg, *MacAddr::parse("02:00:00:00:00:02"), "eth0", &wider) == nullptr);
  CHECK(wider.empty());
}

TEST_CASE("render_netplan: cloud-init's multi-NIC definitions get ec2-netcfg's additions merged in") {
  Plan plan = scenario_plan("dual-stack-prefixes");
  Parsed ci = cloud_init_of("dual-stack-prefixes");
  NetplanRender r = render_netplan(plan, ci.cfg);
  REQUIRE(r.yaml.count("90-ec2-netcfg-ens6.yaml"));
  const std::string& y = r.yaml["90-ec2-netcfg-ens6.yaml"];
  CHECK(r.ids["ens6"] == "ens6");
  // Merged into cloud-init's id: no match, no set-name of its own.
  CHECK(y.find("    \"ens6\":\n      critical: true\n") != std::string::npos);
  CHECK(y.find("match:") == std::string::npos);
  // Both DHCPs on: both override mappings say the same after the merge.
  CHECK(y.find("      dhcp4-overrides:\n        route-metric: 10001\n        use-hostname: false\n"
               "      dhcp6-overrides:\n        route-metric: 10001\n        use-hostname: false\n") !=
        std::string::npos);
  CHECK(r.main_metric["ens6"] == 10001);
  // Addresses and rules are the kernel's, over netlink: never in the YAML; the table's
  // routes follow from the subnet and are.
  CHECK(y.find("addresses:") == std::string::npos);
  CHECK(y.find("routing-policy:") == std::string::npos);
  CHECK(y.find("- to: \"0.0.0.0/0\"\n          via: \"10.0.1.1\"\n          on-link: true\n          table: 10001\n") !=
        std::string::npos);
  CHECK(y.find("- to: \"10.0.1.0/24\"\n          scope: link\n          table: 10001\n") != std::string::npos);
  CHECK(y.find("accept-ra: true") != std::string::npos);
  // The primary keeps cloud-init's metric (100): nothing of ec2-netcfg's in its overrides.
  const std::string& p = r.yaml["90-ec2-netcfg-ens5.yaml"];
  CHECK(p.find("overrides") == std::string::npos);
  CHECK(r.main_metric["ens5"] == 100);
  CHECK(p.find("- \"2600:1f18:aaaa:bb00::11/128\"") == std::string::npos);  // cloud-init has it
  // The drop-in: what netplan cannot say.
  const std::string& d = r.drop_ins["10-netplan-ens6.network.d/ec2-netcfg-ens6.conf"];
  CHECK(d.find("\n[Link]\nGroup=10000\n") != std::string::npos);
  CHECK(d.find("\n[IPv6AcceptRA]\nRouteMetric=10001\n") != std::string::npos);
  CHECK(d.find("\n[Route]\nGateway=_ipv6ra\nTable=10001\n") != std::string::npos);
  CHECK(d.find("[RoutingPolicyRule]") == std::string::npos);
}

TEST_CASE("render_netplan: an ENI netplan does not know gets a definition of its own") {
  Plan plan = scenario_plan("two-enis-two-subnets");
  NetplanConfig none;
  NetplanRender r = render_netplan(plan, none);
  REQUIRE(r.yaml.size() == 2);
  const std::string& y = r.yaml["90-ec2-netcfg-ens6.yaml"];
  CHECK(y.find("    \"ens6\":\n      match:\n        macaddress: \"02:86:10:7b:e4:f6\"\n      set-name: \"ens6\"\n"
               "      critical: true\n      dhcp4: true\n      dhcp4-overrides:\n        route-metric: 10001\n"
               "        use-hostname: false\n") != std::string::npos);
  CHECK(y.find("10.0.1.21") == std::string::npos);
  CHECK(r.main_metric["ens5"] == 100);  // netplan's RouteMetric= for DHCP without route-metric
  CHECK(r.yaml["90-ec2-netcfg-ens5.yaml"].find("overrides") == std::string::npos);
  CHECK(r.drop_ins.count("10-netplan-ens6.network.d/ec2-netcfg-ens6.conf"));
  // The id is taken by a definition of another kind: a prefixed id instead.
  Parsed taken = parse_files({{"x.yaml", "network:\n  bridges:\n    ens6: {}\n"}});
  r = render_netplan(plan, taken.cfg);
  CHECK(r.ids["ens6"] == "ec2-netcfg-ens6");
  CHECK(r.drop_ins.count("10-netplan-ec2-netcfg-ens6.network.d/ec2-netcfg-ens6.conf"));
}

TEST_CASE("render_netplan: DHCP overrides stay equal when ec2-netcfg turns DHCPv6 on") {
  // cloud-init wrote the file before the ENI had IPv6: dhcp6: false, dhcp4-overrides only.
  Parsed ci = parse_files({{"50-cloud-init.yaml",
                            "network:\n    ethernets:\n        ens6:\n            dhcp4: true\n"
                            "            dhcp4-overrides:\n                route-metric: 200\n"
                            "                use-routes: true\n            dhcp6: false\n"
                            "            match:\n                macaddress: 02:86:10:7b:e4:f6\n"
                            "            set-name: ens6\n    version: 2\n"}});
  Plan plan = scenario_plan("dual-stack-prefixes");
  NetplanRender r = render_netplan(plan, ci.cfg);
  const std::string& y = r.yaml["90-ec2-netcfg-ens6.yaml"];
  CHECK(y.find("      dhcp4-overrides:\n        route-metric: 10001\n        use-hostname: false\n"
               "      dhcp6: true\n      dhcp6-overrides:\n        route-metric: 10001\n        use-hostname: false\n"
               "        use-routes: true\n") != std::string::npos);
}

TEST_CASE("render_netplan: what it leaves to others") {
  Plan plan = scenario_plan("two-enis-two-subnets");
  SUBCASE("NetworkManager renders the ENI") {
    Parsed nm = parse_files({{"01-nm.yaml", "network:\n  renderer: NetworkManager\n"}});
    NetplanRender r = render_netplan(plan, nm.cfg);
    CHECK(r.yaml.empty());
    CHECK(r.notes.size() == 2);
  }
  SUBCASE("a wider definition networkd would read first") {
    Parsed glob = parse_files({{"01-all.yaml", "network:\n  ethernets:\n    all-en:\n      match: {name: \"en*\"}\n"
                                                "      dhcp4: true\n"}});
    NetplanRender r = render_netplan(plan, glob.cfg);
    CHECK(r.yaml.size() == 2);  // still written: the kernel and `netplan get` have them
    REQUIRE(r.notes.size() == 2);
    CHECK(r.notes[0].find("ens5: netplan definition \"all-en\" matches more than this interface") == 0);
  }
  SUBCASE("not actionable") {
    plan.interfaces[1].ignored = true;
    NetplanRender r = render_netplan(plan, NetplanConfig{});
    CHECK(r.yaml.size() == 1);
    CHECK(r.yaml.count("90-ec2-netcfg-ens5.yaml"));
  }
  SUBCASE("an id that cannot name a directory") {
    Parsed odd = parse_files(
        {{"a.yaml", "network:\n  ethernets:\n    \"odd id/x\":\n      match: {macaddress: '02:86:10:7b:e4:f6'}\n"}});
    NetplanRender r = render_netplan(plan, odd.cfg);
    CHECK(r.yaml.size() == 1);
    REQUIRE(r.notes.size() == 1);
    CHECK(r.notes[0].find("ens6: netplan id") == 0);
  }
  SUBCASE("an odd interface id stays out of the YAML structure") {
    plan.interfaces[1].interface_id = "eni-1\nnetwork: {}";
    NetplanRender r = render_netplan(plan, NetplanConfig{});
    YamlParse y = parse_yaml(r.yaml["90-ec2-netcfg-ens6.yaml"]);
    REQUIRE(static_cast<bool>(y.root));
    CHECK(y.root->get("network")->get("ethernets")->get("ens6") != nullptr);
  }
}

TEST_CASE("netplan file names") {
  CHECK(netplan_yaml_name("ens5") == "90-ec2-netcfg-ens5.yaml");
  CHECK(netplan_yaml_iface("90-ec2-netcfg-ens5.yaml") == "ens5");
  CHECK(netplan_yaml_iface("90-ec2-netcfg-.yaml") == "");
  CHECK(netplan_yaml_iface("50-cloud-init.yaml") == "");
  CHECK(netplan_yaml_iface("90-ec2-netcfg-a/b.yaml") == "");
  CHECK(netplan_drop_in_dir("ens5") == "10-netplan-ens5.network.d");
  CHECK(is_netplan_drop_in_dir("10-netplan-ens5.network.d"));
  CHECK_FALSE(is_netplan_drop_in_dir("10-netplan-ens5.network"));
  CHECK_FALSE(is_netplan_drop_in_dir("05-ec2-netcfg-ens5.network.d"));
  CHECK(netplan_drop_in_iface("ec2-netcfg-ens5.conf") == "ens5");
  CHECK(netplan_drop_in_iface("ec2-netcfg.conf") == "");
  CHECK(netplan_drop_in_iface("override.conf") == "");
  CHECK(is_safe_netplan_id("ens5"));
  CHECK_FALSE(is_safe_netplan_id("a/b"));
  CHECK_FALSE(is_safe_netplan_id(""));
}
