// Golden tests of the networkd renderer: every bundled scenario capture -> Plan ->
// .network files, compared byte for byte with tests/data/golden/networkd/SCENARIO/.
// EC2NC_UPDATE_GOLDEN=1 rewrites the goldens from the current output instead.
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
#include "core/plan.h"
#include "core/render_networkd.h"

using namespace ec2nc;

namespace {

const std::string kData = EC2NC_TEST_DATA;

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<std::string> list_dir(const std::string& dir, const std::string& suffix) {
  std::vector<std::string> names;
  if (DIR* d = opendir(dir.c_str())) {
    while (auto* e = readdir(d)) {
      std::string n = e->d_name;
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

// The host of the scenario: one link per ENI, named ens5, ens6, ... in (network
// card, device number) order, as on a Nitro instance.
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

bool update_goldens() {
  const char* v = std::getenv("EC2NC_UPDATE_GOLDEN");
  return v && std::string(v) == "1";
}

void write_goldens(const std::string& dir, const std::map<std::string, std::string>& files) {
  ::mkdir((kData + "/golden").c_str(), 0755);
  ::mkdir((kData + "/golden/networkd").c_str(), 0755);
  ::mkdir(dir.c_str(), 0755);
  for (auto& name : list_dir(dir, ".network"))
    if (!files.count(name)) ::unlink((dir + "/" + name).c_str());
  for (auto& [name, content] : files) {
    std::ofstream out(dir + "/" + name, std::ios::binary | std::ios::trunc);
    out << content;
    REQUIRE_MESSAGE(out.good(), "cannot write golden " << dir << "/" << name);
  }
}

// A minimal plan with one present, complete interface, for the edge cases.
Plan one_interface_plan(const std::string& name) {
  Plan plan;
  InterfacePlan ip;
  ip.mac = *MacAddr::parse("02:00:00:00:00:01");
  ip.name = name;
  ip.ifindex = 3;
  ip.state = EniMetadata::State::Complete;
  ip.interface_id = "eni-0123";
  ip.device_number = 1;
  ip.table = 10001;
  ip.dhcp4 = true;
  plan.interfaces.push_back(ip);
  return plan;
}

}  // namespace

TEST_CASE("render_networkd matches the golden files of every scenario") {
  auto scenarios = list_dir(kData + "/scenarios", ".json");
  REQUIRE(!scenarios.empty());
  for (auto& file : scenarios) {
    std::string scenario = file.substr(0, file.size() - 5);
    CAPTURE(scenario);
    Plan plan = scenario_plan(scenario);
    auto files = render_networkd(plan);
    CHECK(!files.empty());
    std::string dir = kData + "/golden/networkd/" + scenario;
    if (update_goldens()) write_goldens(dir, files);

    std::set<std::string> golden_names;
    for (auto& n : list_dir(dir, ".network")) golden_names.insert(n);
    std::set<std::string> rendered_names;
    for (auto& [name, content] : files) rendered_names.insert(name);
    CHECK_MESSAGE(golden_names == rendered_names, "file set differs from " << dir
                                                                            << " (EC2NC_UPDATE_GOLDEN=1 regenerates)");
    for (auto& [name, content] : files) {
      CAPTURE(name);
      CHECK_MESSAGE(content == slurp(dir + "/" + name), "differs from golden (EC2NC_UPDATE_GOLDEN=1 regenerates)");
    }
    // Byte-stable: rendering the same plan again gives the same bytes.
    CHECK(render_networkd(scenario_plan(scenario)) == files);
  }
}

TEST_CASE("render_networkd: every line is a section, a comment, blank or Key=value") {
  for (auto& file : list_dir(kData + "/scenarios", ".json")) {
    auto files = render_networkd(scenario_plan(file.substr(0, file.size() - 5)));
    for (auto& [name, content] : files) {
      CAPTURE(name);
      REQUIRE(!content.empty());
      CHECK(content.back() == '\n');
      std::istringstream in(content);
      std::string line;
      while (std::getline(in, line)) {
        CAPTURE(line);
        bool ok = line.empty() || line[0] == '#' || (line.front() == '[' && line.back() == ']') ||
                  (line.find('=') != std::string::npos && line.find('[') == std::string::npos);
        CHECK(ok);
      }
    }
  }
}

TEST_CASE("render_networkd: primary keeps the default route, secondaries get metrics; no address, rule or route") {
  Plan plan = scenario_plan("dual-stack-prefixes");
  auto files = render_networkd(plan);
  REQUIRE(files.count("05-ec2-netcfg-ens5.network"));
  REQUIRE(files.count("05-ec2-netcfg-ens6.network"));
  const std::string& primary = files["05-ec2-netcfg-ens5.network"];
  const std::string& second = files["05-ec2-netcfg-ens6.network"];
  CHECK(primary.find("MACAddress=02:86:10:7b:e4:f5\n") != std::string::npos);
  CHECK(primary.find("DHCP=yes\n") != std::string::npos);
  // The primary's defaults at a metric below any distribution's for an ENI.
  CHECK(primary.find("[DHCPv4]\nUseMTU=yes\nRouteMetric=100\n") != std::string::npos);
  CHECK(primary.find("[IPv6AcceptRA]\nRouteMetric=100\n") != std::string::npos);
  CHECK(second.find("[DHCPv4]\nUseMTU=yes\nRouteMetric=10001\nUseHostname=no\n\n[DHCPv6]\nUseHostname=no\n") != std::string::npos);
  CHECK(primary.find("UseHostname") == std::string::npos);
  CHECK(second.find("[IPv6AcceptRA]\nRouteMetric=10001\n") != std::string::npos);
  CHECK(second.find("[Route]\nGateway=_ipv6ra\nTable=10001\n") != std::string::npos);
  // The table's routes, which follow from the subnet, so networkd puts them back.
  CHECK(second.find("[Route]\nGateway=10.0.1.1\nGatewayOnLink=yes\nTable=10001\n") != std::string::npos);
  for (auto* f : {&primary, &second}) {
    // Addresses and rules are the kernel's, over netlink: never in the file.
    CHECK(f->find("[Address]") == std::string::npos);
    CHECK(f->find("[RoutingPolicyRule]") == std::string::npos);
    CHECK(f->find("KeepConfiguration=yes\n") != std::string::npos);
    CHECK(f->find("[Link]\nGroup=10000\n") != std::string::npos);
  }
}

TEST_CASE("render_networkd: a file does not change when addresses, prefixes or rules do") {
  Plan plan = scenario_plan("dual-stack-prefixes");
  const auto before = render_networkd(plan);
  for (auto& ip : plan.interfaces) {
    REQUIRE(ip.addresses.size() >= 2);
    ip.addresses.pop_back();  // an address unassigned
    AddressSpec a;
    a.prefix = ip.addresses.front().prefix;
    a.prefix.addr = IpAddr::parse(a.prefix.addr.is_v4() ? "10.0.9.9" : "2600:1f18:aaaa:bb09::9").value();
    a.deprecated = true;
    ip.addresses.push_back(a);  // one assigned
    std::vector<RuleSpec> rules;
    for (auto& r : ip.rules)
      if (!r.from || r.from->addr.is_v4()) rules.push_back(r);  // IPv6 source rules gone
    ip.rules = rules;
    ip.ipv4_prefixes.clear();
  }
  plan.global_rules.clear();
  CHECK(render_networkd(plan) == before);
}

TEST_CASE("render_networkd skips what apply leaves alone") {
  Plan plan = scenario_plan("two-enis-two-subnets");
  REQUIRE(plan.interfaces.size() == 2);
  SUBCASE("not present on this host") {
    plan.interfaces[1].ifindex = 0;
    plan.interfaces[1].name.clear();
  }
  SUBCASE("ignored") { plan.interfaces[1].ignored = true; }
  SUBCASE("incomplete") { plan.interfaces[1].state = EniMetadata::State::Incomplete; }
  SUBCASE("invalid") { plan.interfaces[1].state = EniMetadata::State::Invalid; }
  auto files = render_networkd(plan);
  CHECK(files.size() == 1);
  CHECK(files.count("05-ec2-netcfg-ens5.network") == 1);
}

TEST_CASE("render_networkd never lets an interface name escape its file or line") {
  for (std::string bad : {"ens5\n[Match]", "en s5", "../etc", "ens5]", "a/b", "ens5=x", "", "waytoolongname0123"}) {
    CAPTURE(bad);
    CHECK(render_networkd(one_interface_plan(bad)).empty());
  }
  for (std::string good : {"ens5", "eth0.100", "enX0@if3", "en_p-1:2"}) {
    CAPTURE(good);
    auto files = render_networkd(one_interface_plan(good));
    REQUIRE(files.size() == 1);
    CHECK(files.begin()->first == "05-ec2-netcfg-" + good + ".network");
    CHECK(is_own_networkd_file(files.begin()->first));
  }
}

TEST_CASE("render_networkd keeps odd metadata text out of the structure") {
  Plan plan = one_interface_plan("ens6");
  plan.interfaces[0].interface_id = "eni-1\n[Network]\nDHCP=yes";
  auto files = render_networkd(plan);
  REQUIRE(files.size() == 1);
  const std::string& text = files.begin()->second;
  CHECK(text.find("\n[Network]\nDHCP=yes") == std::string::npos);
  CHECK(text.find("# ENI eni-1??Network??DHCP?yes,") != std::string::npos);
}

TEST_CASE("is_own_networkd_file") {
  CHECK(is_own_networkd_file("05-ec2-netcfg-ens5.network"));
  CHECK(is_own_networkd_file("05-ec2-netcfg-eth0.network"));
  CHECK_FALSE(is_own_networkd_file("05-ec2-netcfg-.network"));
  CHECK_FALSE(is_own_networkd_file("05-ec2-netcfg-ens5.network~"));
  CHECK_FALSE(is_own_networkd_file("05-ec2-netcfg-ens5.link"));
  CHECK_FALSE(is_own_networkd_file(".05-ec2-netcfg-ens5.network.tmp-1-0"));
  CHECK_FALSE(is_own_networkd_file("10-netplan-ens5.network"));
  CHECK_FALSE(is_own_networkd_file("80-ec2.network"));
  CHECK_FALSE(is_own_networkd_file("70-ens5.network"));
  CHECK_FALSE(is_own_networkd_file("05-ec2-netcfg.conf"));
  CHECK_FALSE(is_own_networkd_file("ec2-netcfg.conf"));
}
