// edge/networkd_ctl: reading ManageForeignRoutingPolicyRules= from networkd.conf text,
// and systemd's answer about systemd-networkd.service.
// The parser replaced two std::regex; the regexes are kept here as the reference it must
// agree with, on hand-picked edge cases and on many generated texts.
#include <doctest/doctest.h>

#include <fstream>
#include <random>
#include <regex>
#include <sstream>
#include <vector>

#include "edge/networkd_ctl.h"

using namespace ec2nc;

namespace {

// What networkd_conf() did per file before: the same answer for every text.
std::optional<std::string> by_regex(const std::string& text) {
  static const std::regex key(R"(^\s*ManageForeignRoutingPolicyRules\s*=\s*(\S+)\s*$)");
  static const std::regex section(R"(^\s*\[([^\]]*)\]\s*$)");
  std::optional<std::string> setting;
  std::istringstream in(text);
  std::string line, current;
  while (std::getline(in, line)) {
    std::smatch m;
    if (std::regex_match(line, m, section)) current = m[1];
    else if (current == "Network" && std::regex_match(line, m, key)) setting = m[1];
  }
  return setting;
}

}  // namespace

TEST_CASE("foreign_rules_setting: the last [Network] value, whitespace around each part") {
  struct Case {
    const char* text;
    std::optional<std::string> want;
  };
  const Case cases[] = {
      {"", std::nullopt},
      {"[Network]\nManageForeignRoutingPolicyRules=no\n", "no"},
      {"[Network]\nManageForeignRoutingPolicyRules=no", "no"},  // no final newline
      {" \t[Network]\t \n \tManageForeignRoutingPolicyRules \t= \tno\t \n", "no"},
      {"[Network]\r\nManageForeignRoutingPolicyRules=no\r\n", "no"},  // CRLF: \r is whitespace
      {"[Network]\nManageForeignRoutingPolicyRules\v=\fno\n", "no"},
      {"[Network]\nManageForeignRoutingPolicyRules==no\n", "=no"},
      {"[Network]\nManageForeignRoutingPolicyRules=a=b\n", "a=b"},
      {"[Network]\nManageForeignRoutingPolicyRules=\xc3\xa9\n", "\xc3\xa9"},
      {"[Network]\nManageForeignRoutingPolicyRules=no\nManageForeignRoutingPolicyRules=yes\n", "yes"},
      {"[Network]\nManageForeignRoutingPolicyRules=no\n[Network]\nManageForeignRoutingPolicyRules=off\n", "off"},
      // Not the setting: no value, two words, a comment after it, another key or case.
      {"[Network]\nManageForeignRoutingPolicyRules=\n", std::nullopt},
      {"[Network]\nManageForeignRoutingPolicyRules=  \t\n", std::nullopt},
      {"[Network]\nManageForeignRoutingPolicyRules\n", std::nullopt},
      {"[Network]\nManageForeignRoutingPolicyRules=no yes\n", std::nullopt},
      {"[Network]\nManageForeignRoutingPolicyRules=no # comment\n", std::nullopt},
      {"[Network]\n#ManageForeignRoutingPolicyRules=no\n", std::nullopt},
      {"[Network]\nManageForeignRoutingPolicyRulesX=no\n", std::nullopt},
      {"[Network]\nXManageForeignRoutingPolicyRules=no\n", std::nullopt},
      {"[Network]\nmanageforeignroutingpolicyrules=no\n", std::nullopt},
      {"[Network]\nManageForeignRoutingPolicy=no\n", std::nullopt},
      // Not in [Network]: before any section, in another one, a name with spaces.
      {"ManageForeignRoutingPolicyRules=no\n", std::nullopt},
      {"[Match]\nManageForeignRoutingPolicyRules=no\n", std::nullopt},
      {"[Network]\n[DHCPv4]\nManageForeignRoutingPolicyRules=no\n", std::nullopt},
      {"[ Network ]\nManageForeignRoutingPolicyRules=no\n", std::nullopt},
      {"[network]\nManageForeignRoutingPolicyRules=no\n", std::nullopt},
      {"[Network]\n[]\nManageForeignRoutingPolicyRules=no\n", std::nullopt},
      // Not a section header, so the section stays what it was.
      {"[Network]\n[Match] x\nManageForeignRoutingPolicyRules=no\n", "no"},
      {"[Network]\n[Ma]tch]\nManageForeignRoutingPolicyRules=no\n", "no"},
      {"[Network]\n[Match\nManageForeignRoutingPolicyRules=no\n", "no"},
      {"[Match]\n[Network] # comment\nManageForeignRoutingPolicyRules=no\n", std::nullopt},
      {"[Match]\n[Net[work]\nManageForeignRoutingPolicyRules=no\n", std::nullopt},  // name "Net[work"
  };
  for (auto& c : cases) {
    CAPTURE(c.text);
    CHECK(foreign_rules_setting(c.text) == c.want);
    CHECK(by_regex(c.text) == c.want);  // the cases themselves are right
  }
}

TEST_CASE("foreign_rules_setting agrees with the regexes it replaced on generated texts") {
  // Lines near the two shapes (whitespace of every kind, names and values that almost
  // fit), and lines of loose fragments.
  const std::vector<std::string> spaces = {"", " ", "\t", "\r", "\v", "\f", " \t\r"};
  const std::vector<std::string> names = {"Network", "Match", "", " Network", "Net]work", "Net[work", "network"};
  const std::vector<std::string> keys = {"ManageForeignRoutingPolicyRules", "ManageForeignRoutingPolicyRulesX",
                                         "ManageForeignRoutingPolicyRule", "manageforeignroutingpolicyrules", ""};
  const std::vector<std::string> values = {"no", "yes", "", "a=b", "x y", "=", "]", "\xff", "#c",
                                           std::string("n\0o", 3)};
  const std::vector<std::string> fragments = {" ", "\t", "[", "]", "=", "Network", "no", "#",
                                              "ManageForeignRoutingPolicyRules", std::string(1, '\0')};
  std::mt19937 rng(1);
  auto any = [&](const std::vector<std::string>& v) { return v[rng() % v.size()]; };
  int set = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string text = i % 2 ? "[Network]\n" : "";
    for (unsigned lines = 1 + rng() % 5; lines > 0; --lines) {
      switch (rng() % 3) {
        case 0: text += any(spaces) + "[" + any(names) + "]" + any(spaces) + (rng() % 4 ? "" : any(fragments)); break;
        case 1: text += any(spaces) + any(keys) + any(spaces) + "=" + any(spaces) + any(values) + any(spaces); break;
        default:
          for (unsigned n = rng() % 8; n > 0; --n) text += any(fragments);
      }
      if (lines > 1 || rng() % 2) text += "\n";
    }
    CAPTURE(text);
    auto got = foreign_rules_setting(text);
    REQUIRE(got == by_regex(text));
    if (got) ++set;
  }
  CHECK(set > 1000);  // the texts reach both answers
}

TEST_CASE("the drop-in the package installs keeps networkd off others' rules") {
  std::ifstream in(std::string(EC2NC_TEST_DATA) + "/../../units/ec2-netcfg-networkd.conf");
  std::stringstream text;
  text << in.rdbuf();
  REQUIRE(!text.str().empty());
  CHECK(foreign_rules_setting(text.str()) == std::optional<std::string>("no"));
  CHECK(text.str().find("\n[Network]\nManageForeignRoutingPolicyRules=no\nManageForeignRoutes=no\n") !=
        std::string::npos);
}

TEST_CASE("parse_unit_show: the state and how long the main process has run") {
  NetworkdState st = parse_unit_show("ActiveState=active\nExecMainStartTimestampMonotonic=2000000\n", 5000000);
  CHECK(st.active == "active");
  REQUIRE(st.age_s);
  CHECK(*st.age_s == doctest::Approx(3.0));
  // The order systemctl prints the properties in does not matter; a missing newline neither.
  st = parse_unit_show("ExecMainStartTimestampMonotonic=4500000\nActiveState=failed", 5000000);
  CHECK(st.active == "failed");
  CHECK(*st.age_s == doctest::Approx(0.5));
  // Never started (0), a time in the future or not a number: the age is unknown.
  for (const char* ts : {"0", "6000000", "12x", ""}) {
    st = parse_unit_show(std::string("ActiveState=inactive\nExecMainStartTimestampMonotonic=") + ts + "\n", 5000000);
    CHECK(st.active == "inactive");
    CHECK_FALSE(st.age_s);
  }
  st = parse_unit_show("garbage\n", 5000000);
  CHECK(st.active.empty());
  CHECK(!st.detail.empty());
}

TEST_CASE("parse_managers: both units' states, whatever order systemctl prints them in") {
  Managers m = parse_managers(
      "Id=systemd-networkd.service\nActiveState=inactive\nUnitFileState=disabled\n\n"
      "Id=NetworkManager.service\nActiveState=active\nUnitFileState=enabled\n");
  CHECK(m.networkd == "inactive");
  CHECK(m.nm == "active");
  CHECK(m.nm_file == "enabled");
  m = parse_managers("ActiveState=active\nUnitFileState=enabled\nId=NetworkManager.service\n\n"
                     "UnitFileState=enabled\nActiveState=active\nId=systemd-networkd.service");
  CHECK(m.networkd == "active");
  CHECK(m.nm == "active");
  m = parse_managers("garbage\n");
  CHECK(m.networkd.empty());
  CHECK(m.nm.empty());
}
