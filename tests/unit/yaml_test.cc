// The YAML reader on what netplan's files hold: cloud-init's output (indent 4, anchors),
// netplan's own `netplan get` output, hand-written flow style; and its refusals.
#include <doctest/doctest.h>

#include <string>

#include "core/yaml.h"

using namespace ec2nc;

namespace {

std::shared_ptr<const YamlNode> parse_ok(const std::string& text) {
  YamlParse p = parse_yaml(text);
  REQUIRE_MESSAGE(static_cast<bool>(p.root), p.error);
  return p.root;
}

std::string parse_error(const std::string& text) {
  YamlParse p = parse_yaml(text);
  CHECK_MESSAGE(!static_cast<bool>(p.root), "parsed, expected an error");
  return p.error;
}

const YamlNode& at(const YamlNode& n, const std::string& path) {
  const YamlNode* cur = &n;
  size_t start = 0;
  while (start <= path.size()) {
    size_t dot = path.find('/', start);
    std::string key = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    const YamlNode* next = nullptr;
    if (cur->is_seq()) {
      size_t i = std::stoul(key);
      REQUIRE(i < cur->seq.size());
      next = cur->seq[i].get();
    } else {
      next = cur->get(key);
    }
    REQUIRE_MESSAGE(next, "no " << key << " in " << path);
    cur = next;
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return *cur;
}

}  // namespace

TEST_CASE("yaml: cloud-init's 50-cloud-init.yaml (indent 4, indentless lists, anchors)") {
  auto root = parse_ok(
      "# This file is generated from information provided by the datasource.  Changes\n"
      "# network: {config: disabled}\n"
      "network:\n"
      "    ethernets:\n"
      "        ens5:\n"
      "            addresses:\n"
      "            - 10.0.0.35/24\n"
      "            - 2600:1f18:aaaa:bb00::11/128\n"
      "            dhcp4: true\n"
      "            dhcp4-overrides: &id001\n"
      "                route-metric: 100\n"
      "            dhcp6: true\n"
      "            dhcp6-overrides: *id001\n"
      "            match:\n"
      "                macaddress: 02:86:10:7b:e4:f5\n"
      "            set-name: ens5\n"
      "        ens6:\n"
      "            match:\n"
      "                macaddress: '12:34:56:78:90:12'\n"
      "            routes:\n"
      "            -   table: 101\n"
      "                to: 0.0.0.0/0\n"
      "                via: 10.0.1.1\n"
      "            -   table: 101\n"
      "                to: 10.0.1.0/24\n"
      "            routing-policy:\n"
      "            -   from: 10.0.1.20\n"
      "                table: 101\n"
      "            set-name: ens6\n"
      "    version: 2\n");
  CHECK(at(*root, "network/version").scalar == "2");
  CHECK(at(*root, "network/ethernets/ens5/addresses").seq.size() == 2);
  CHECK(at(*root, "network/ethernets/ens5/addresses/1").scalar == "2600:1f18:aaaa:bb00::11/128");
  CHECK(at(*root, "network/ethernets/ens5/dhcp6-overrides/route-metric").scalar == "100");
  CHECK(&at(*root, "network/ethernets/ens5/dhcp6-overrides") == &at(*root, "network/ethernets/ens5/dhcp4-overrides"));
  CHECK(at(*root, "network/ethernets/ens5/match/macaddress").scalar == "02:86:10:7b:e4:f5");
  CHECK(at(*root, "network/ethernets/ens6/match/macaddress").scalar == "12:34:56:78:90:12");
  CHECK(at(*root, "network/ethernets/ens6/match/macaddress").quoted);
  CHECK(at(*root, "network/ethernets/ens6/routes").seq.size() == 2);
  CHECK(at(*root, "network/ethernets/ens6/routes/0/via").scalar == "10.0.1.1");
  CHECK(at(*root, "network/ethernets/ens6/routes/1/to").scalar == "10.0.1.0/24");
  CHECK(at(*root, "network/ethernets/ens6/routing-policy/0/from").scalar == "10.0.1.20");
  CHECK(at(*root, "network/ethernets/ens6/set-name").scalar == "ens6");
  bool b = false;
  CHECK(yaml_bool(at(*root, "network/ethernets/ens5/dhcp4"), &b));
  CHECK(b);
}

TEST_CASE("yaml: netplan get output and address options") {
  auto root = parse_ok(
      "network:\n"
      "  version: 2\n"
      "  ethernets:\n"
      "    ens6:\n"
      "      match:\n"
      "        macaddress: \"02:86:10:7b:e4:f6\"\n"
      "      critical: true\n"
      "      addresses:\n"
      "      - \"10.0.1.22/32\":\n"
      "          lifetime: \"0\"\n"
      "      - \"10.0.1.21/24\"\n"
      "      dhcp4-overrides:\n"
      "        use-hostname: false\n"
      "        route-metric: 10001\n");
  auto& addrs = at(*root, "network/ethernets/ens6/addresses");
  REQUIRE(addrs.seq.size() == 2);
  REQUIRE(addrs.seq[0]->is_map());
  CHECK(addrs.seq[0]->map[0].first == "10.0.1.22/32");
  CHECK(addrs.seq[0]->map[0].second->get("lifetime")->scalar == "0");
  CHECK(addrs.seq[1]->scalar == "10.0.1.21/24");
  bool b = true;
  CHECK(yaml_bool(at(*root, "network/ethernets/ens6/dhcp4-overrides/use-hostname"), &b));
  CHECK_FALSE(b);
}

TEST_CASE("yaml: flow style, comments, quotes, document markers") {
  auto root = parse_ok(
      "%YAML 1.1\n"
      "---\n"
      "network: {version: 2, renderer: networkd}   # comment\n"
      "ethernets:\n"
      "  eth0:\n"
      "    addresses: [192.168.14.2/24, \"2001:1::1/64\", 'it''s']\n"
      "    nameservers:\n"
      "      addresses: [\n"
      "        8.8.8.8,   # first\n"
      "        \"FEDC::1\"\n"
      "      ]\n"
      "    text: a value # a comment\n"
      "    hash: a#b\n"
      "    url: http://x/y\n"
      "    esc: \"tab\\there\\u00e9\"\n"
      "    empty:\n"
      "    tilde: ~\n"
      "    tagged: !!str 123\n"
      "...\n"
      "---\n"
      "second: document\n");
  CHECK(at(*root, "network/renderer").scalar == "networkd");
  auto& a = at(*root, "ethernets/eth0/addresses");
  REQUIRE(a.seq.size() == 3);
  CHECK(a.seq[1]->scalar == "2001:1::1/64");
  CHECK(a.seq[2]->scalar == "it's");
  CHECK(at(*root, "ethernets/eth0/nameservers/addresses").seq.size() == 2);
  CHECK(at(*root, "ethernets/eth0/text").scalar == "a value");
  CHECK(at(*root, "ethernets/eth0/hash").scalar == "a#b");
  CHECK(at(*root, "ethernets/eth0/url").scalar == "http://x/y");
  CHECK(at(*root, "ethernets/eth0/esc").scalar == "tab\there\xc3\xa9");
  CHECK(at(*root, "ethernets/eth0/empty").kind == YamlNode::Kind::Null);
  CHECK(at(*root, "ethernets/eth0/tilde").kind == YamlNode::Kind::Null);
  CHECK(at(*root, "ethernets/eth0/tagged").quoted);
  CHECK(root->get("second") == nullptr);
}

TEST_CASE("yaml: empty and comment-only documents are null") {
  CHECK(parse_ok("")->kind == YamlNode::Kind::Null);
  CHECK(parse_ok("# nothing\n\n")->kind == YamlNode::Kind::Null);
  CHECK(parse_ok("\xEF\xBB\xBFnetwork:\r\n  version: 2\r\n")->get("network")->get("version")->scalar == "2");
}

TEST_CASE("yaml: what it refuses, with the line") {
  CHECK(parse_error("a:\n\tb: 1\n").find("line 2: tab") == 0);
  CHECK(parse_error("a: |\n  text\n").find("block scalars") != std::string::npos);
  CHECK(parse_error("a: *nope\n").find("names no anchor") != std::string::npos);
  CHECK(parse_error("a: [1, 2\n").find("unterminated flow") != std::string::npos);
  CHECK(parse_error("a: \"open\n").find("unterminated quoted") != std::string::npos);
  CHECK(parse_error("a: b: c\n").find("mapping values are not allowed") != std::string::npos);
  CHECK(parse_error("a:\n  b: 1\n   c: 2\n").find("line 3: unexpected indentation") == 0);
  CHECK(parse_error("a: 1\nmulti\n  line\n").size() > 0);
  CHECK(parse_error("? complex\n: key\n").size() > 0);
  CHECK(parse_error("a: - b\n").find("line 1") == 0);
  // A plain scalar ending in ':' is a mapping indicator, as libyaml reads it.
  CHECK(parse_error("a: 2001:db8::\n").find("mapping values are not allowed") != std::string::npos);
}

TEST_CASE("yaml: deep nesting is an error, not a crash") {
  std::string deep;
  for (int i = 0; i < 1000; ++i) deep += "[";
  CHECK(parse_error(deep).find("too deep") != std::string::npos);
  std::string block;
  for (int i = 0; i < 200; ++i) block += std::string(size_t(i), ' ') + "k:\n";
  CHECK(parse_error(block).find("too deep") != std::string::npos);
}

TEST_CASE("yaml: arbitrary bytes never crash the reader") {
  // A cheap stand-in for a fuzzer: every prefix and some mutations of a real file.
  const std::string base =
      "network:\n  ethernets:\n    ens5: {match: {macaddress: \"02:00:00:00:00:01\"}, addresses: [a, 'b']}\n"
      "    ens6:\n      - &x 1\n      - *x\n      routes:\n      -   to: 0.0.0.0/0\n";
  for (size_t n = 0; n <= base.size(); ++n) (void)parse_yaml(base.substr(0, n));
  const char noise[] = {'\n', ' ', '\t', ':', '-', '[', ']', '{', '}', '"', '\'', '#', '&', '*', '!', '|', '\\', ','};
  for (size_t i = 0; i < base.size(); ++i)
    for (char c : noise) {
      std::string m = base;
      m[i] = c;
      (void)parse_yaml(m);
    }
}

TEST_CASE("yaml_quote") {
  CHECK(yaml_quote("ens5") == "\"ens5\"");
  CHECK(yaml_quote("a\"b\\c\nd\x01") == "\"a\\\"b\\\\c\\nd\\x01\"");
  auto root = parse_ok("k: " + yaml_quote("x: \"y\" # z\n") + "\n");
  CHECK(root->get("k")->scalar == "x: \"y\" # z\n");
}

TEST_CASE("yaml: a NUL byte is an error naming its line, like every other") {
  // tests/fuzz/corpus/fuzz_netplan/crash-nul-error-without-line: the error said no line.
  CHECK(parse_error(std::string("network:\n  version: 2\n  x\0y: 1\n", 31)).find("line 3: NUL byte") == 0);
}
