// The YAML reader (libyaml) on what netplan's files hold: cloud-init's output (indent 4,
// anchors), netplan's own `netplan get` output, hand-written flow style; read as netplan
// reads them (what netplan 0.106 does with each case was checked with `netplan get` and
// `netplan generate`); and its refusals, each naming its line and column.
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

// The node at `path` ("network/ethernets/ens5", sequence items by index) under `root`.
// A pointer, not a reference: a reference returned from a call with a temporary argument
// (the path) is what gcc 14's -Wdangling-reference reports.
const YamlNode* at(const std::shared_ptr<const YamlNode>& root, const std::string& path) {
  const YamlNode* cur = root.get();
  size_t start = 0;
  while (cur && start <= path.size()) {
    size_t slash = path.find('/', start);
    std::string key = path.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
    if (cur->is_seq()) {
      size_t i = std::stoul(key);
      cur = i < cur->seq.size() ? cur->seq[i].get() : nullptr;
    } else {
      cur = cur->get(key);
    }
    REQUIRE_MESSAGE(cur, "no " << key << " in " << path);
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  return cur;
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
  CHECK(at(root, "network/version")->scalar == "2");
  CHECK(at(root, "network/ethernets/ens5/addresses")->seq.size() == 2);
  CHECK(at(root, "network/ethernets/ens5/addresses/1")->scalar == "2600:1f18:aaaa:bb00::11/128");
  CHECK(at(root, "network/ethernets/ens5/dhcp6-overrides/route-metric")->scalar == "100");
  CHECK(at(root, "network/ethernets/ens5/dhcp6-overrides") == at(root, "network/ethernets/ens5/dhcp4-overrides"));
  CHECK(at(root, "network/ethernets/ens5/match/macaddress")->scalar == "02:86:10:7b:e4:f5");
  CHECK(at(root, "network/ethernets/ens6/match/macaddress")->scalar == "12:34:56:78:90:12");
  CHECK(at(root, "network/ethernets/ens6/match/macaddress")->quoted);
  CHECK(at(root, "network/ethernets/ens6/routes")->seq.size() == 2);
  CHECK(at(root, "network/ethernets/ens6/routes/0/via")->scalar == "10.0.1.1");
  CHECK(at(root, "network/ethernets/ens6/routes/1/to")->scalar == "10.0.1.0/24");
  CHECK(at(root, "network/ethernets/ens6/routing-policy/0/from")->scalar == "10.0.1.20");
  CHECK(at(root, "network/ethernets/ens6/set-name")->scalar == "ens6");
  bool b = false;
  CHECK(yaml_bool(*at(root, "network/ethernets/ens5/dhcp4"), &b));
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
  const YamlNode* addrs = at(root, "network/ethernets/ens6/addresses");
  REQUIRE(addrs->seq.size() == 2);
  REQUIRE(addrs->seq[0]->is_map());
  CHECK(addrs->seq[0]->map[0].first == "10.0.1.22/32");
  CHECK(addrs->seq[0]->map[0].second->get("lifetime")->scalar == "0");
  CHECK(addrs->seq[1]->scalar == "10.0.1.21/24");
  bool b = true;
  CHECK(yaml_bool(*at(root, "network/ethernets/ens6/dhcp4-overrides/use-hostname"), &b));
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
  CHECK(at(root, "network/renderer")->scalar == "networkd");
  const YamlNode* a = at(root, "ethernets/eth0/addresses");
  REQUIRE(a->seq.size() == 3);
  CHECK(a->seq[1]->scalar == "2001:1::1/64");
  CHECK(a->seq[2]->scalar == "it's");
  CHECK(at(root, "ethernets/eth0/nameservers/addresses")->seq.size() == 2);
  CHECK(at(root, "ethernets/eth0/text")->scalar == "a value");
  CHECK(at(root, "ethernets/eth0/hash")->scalar == "a#b");
  CHECK(at(root, "ethernets/eth0/url")->scalar == "http://x/y");
  CHECK(at(root, "ethernets/eth0/esc")->scalar == "tab\there\xc3\xa9");
  CHECK(at(root, "ethernets/eth0/empty")->kind == YamlNode::Kind::Null);
  CHECK(at(root, "ethernets/eth0/tilde")->kind == YamlNode::Kind::Null);
  CHECK(at(root, "ethernets/eth0/tagged")->quoted);
  CHECK(root->get("second") == nullptr);
}

TEST_CASE("yaml: an empty file, comments only, a byte-order mark, CRLF") {
  CHECK(parse_ok("")->kind == YamlNode::Kind::Null);
  CHECK(parse_ok("# nothing\n\n")->kind == YamlNode::Kind::Null);
  CHECK(parse_ok("---\n")->kind == YamlNode::Kind::Null);
  CHECK(at(parse_ok("\xEF\xBB\xBFnetwork:\r\n  version: 2\r\n"), "network/version")->scalar == "2");
}

TEST_CASE("yaml: a top level that is not a mapping is read as it is") {
  // The caller says what it expected (merge_netplan: "no network: mapping"), as netplan
  // ("expected mapping").
  auto seq = parse_ok("- a\n- b\n");
  REQUIRE(seq->is_seq());
  CHECK(seq->seq.size() == 2);
  CHECK(seq->get("network") == nullptr);
  CHECK(parse_ok("just text\n")->scalar == "just text");
}

TEST_CASE("yaml: only the first document is read, as netplan") {
  // netplan loads one document (yaml_parser_load once): a second, even a broken one, is
  // never looked at.
  auto root = parse_ok("a: 1\n---\nb: 2\n");
  CHECK(at(root, "a")->scalar == "1");
  CHECK(root->get("b") == nullptr);
  CHECK(at(parse_ok("a: 1\n...\n[ : :\n"), "a")->scalar == "1");
  CHECK(at(parse_ok("a: 1\n---\n[ : :\n"), "a")->scalar == "1");
}

TEST_CASE("yaml: a repeated key keeps both entries; the last one stands, as netplan") {
  // netplan get on the same text: dhcp4: false.
  auto root = parse_ok("eth0:\n  dhcp4: true\n  dhcp4: false\n");
  const YamlNode* eth0 = at(root, "eth0");
  REQUIRE(eth0->map.size() == 2);
  CHECK(eth0->map[0].second->scalar == "true");
  CHECK(eth0->get("dhcp4")->scalar == "false");
}

TEST_CASE("yaml: block scalars, multi-line plain scalars, keys as written") {
  auto root = parse_ok("a: |\n  text\n  more\nb: >\n  folded\n  line\nc: plain\n  continued\n~: tilde\n\"\": empty\n");
  CHECK(at(root, "a")->scalar == "text\nmore\n");
  CHECK(at(root, "a")->quoted);
  CHECK(at(root, "b")->scalar == "folded line\n");
  CHECK(at(root, "c")->scalar == "plain continued");
  CHECK(at(root, "~")->scalar == "tilde");
  CHECK(root->get("")->scalar == "empty");
  auto nulls = parse_ok("a: ~\nb: null\nc:\nd: ''\ne: !!str null\n");
  CHECK(at(nulls, "a")->kind == YamlNode::Kind::Null);
  CHECK(at(nulls, "b")->kind == YamlNode::Kind::Null);
  CHECK(at(nulls, "c")->kind == YamlNode::Kind::Null);
  CHECK(at(nulls, "d")->kind == YamlNode::Kind::Scalar);
  CHECK(at(nulls, "e")->kind == YamlNode::Kind::Scalar);
}

TEST_CASE("yaml: errors name the line and column, in libyaml's words") {
  // What netplan prints as "tabs are not allowed for indent".
  CHECK(parse_error("a:\n\tb: 1\n") ==
        "line 2, column 1: found character that cannot start any token (a tab: YAML indents with spaces only) "
        "(while scanning for the next token at line 2, column 1)");
  CHECK(parse_error("a:\n  b: 1\n   c: 2\n") == "line 3, column 5: mapping values are not allowed in this context");
  CHECK(parse_error("a: [1, 2\n").find("line 2, column 1: did not find expected ',' or ']'") == 0);
  CHECK(parse_error("a: \"open\n").find("line 2, column 1: found unexpected end of stream") == 0);
  CHECK(parse_error("a: b: c\n") == "line 1, column 5: mapping values are not allowed in this context");
  CHECK(parse_error("a: - b\n").find("line 1, column 4: ") == 0);
  // A plain scalar ending in ':' is a mapping indicator.
  CHECK(parse_error("a: 2001:db8::\n").find("mapping values are not allowed") != std::string::npos);
  CHECK(parse_error("a: *nope\n") == "line 1, column 4: alias *nope names no anchor before it");
  CHECK(parse_error("[a]: b\n") == "line 1, column 1: a mapping key that is not a scalar");
  CHECK(parse_error("? {a: 1}\n: b\n").find("a mapping key that is not a scalar") != std::string::npos);
}

TEST_CASE("yaml: bytes libyaml refuses are an error naming their line") {
  // tests/fuzz/corpus/fuzz_netplan/crash-nul-error-without-line: once an error without a line.
  CHECK(parse_error(std::string("network:\n  version: 2\n  x\0y: 1\n", 31)) ==
        "line 3, column 4: control characters are not allowed (#x0)");
  CHECK(parse_error("a: 1\nb: \xff\n").find("line 2, column 4: invalid leading UTF-8 octet (#xFF)") == 0);
  CHECK(parse_error("a: \xc3\xa9\xc3\n") == "line 1, column 6: invalid trailing UTF-8 octet (#xA)");
}

TEST_CASE("yaml: aliases are the anchored node, shared") {
  auto root = parse_ok("a: &x {k: v}\nb: *x\nc: &s text\nd: [*s, *x]\n");
  CHECK(at(root, "a") == at(root, "b"));
  CHECK(at(root, "d/0")->scalar == "text");
  CHECK(at(root, "d/1") == at(root, "a"));
  // An alias as a key stands for its scalar.
  CHECK(at(parse_ok("- &k key\n- {*k : v}\n"), "1/key")->scalar == "v");
}

TEST_CASE("yaml: aliases that netplan refuses, or that would make a walk unbounded") {
  // libyaml's loader (netplan's): "found duplicate anchor".
  CHECK(parse_error("a: &x 1\nb: &x 2\n") == "line 2, column 4: anchor &x is defined twice (first at line 1)");
  CHECK(parse_error("a: &x [&x 1]\n").find("anchor &x is defined twice") != std::string::npos);
  // A cycle (netplan's loader builds one; walking it never ends).
  CHECK(parse_error("network: &n\n  ethernets:\n    eth0: *n\n") ==
        "line 3, column 11: alias *n is inside the node it names");
  // An alias bomb: each level doubles the one before; 30 levels stand for 2^30 nodes.
  std::string bomb = "a0: &a0 [x, x]\n";
  for (int i = 1; i < 30; ++i)
    bomb += "a" + std::to_string(i) + ": &a" + std::to_string(i) + " [*a" + std::to_string(i - 1) + ", *a" +
            std::to_string(i - 1) + "]\n";
  CHECK(parse_error(bomb).find("aliases stand for more than 10000 nodes") != std::string::npos);
  // Under the bound: the same, 10 levels deep (about 4000 nodes).
  std::string small = "a0: &a0 [x, x]\n";
  for (int i = 1; i < 10; ++i)
    small += "a" + std::to_string(i) + ": &a" + std::to_string(i) + " [*a" + std::to_string(i - 1) + ", *a" +
             std::to_string(i - 1) + "]\n";
  CHECK(parse_ok(small)->map.size() == 10);
}

TEST_CASE("yaml: deep nesting is an error, not a crash") {
  const std::string too_deep = "collections nested deeper than 64 levels";
  // Exactly kYamlMaxDepth levels is read; one more is not.
  CHECK(parse_ok(std::string(size_t(kYamlMaxDepth), '[') + std::string(size_t(kYamlMaxDepth), ']'))->is_seq());
  CHECK(parse_error(std::string(size_t(kYamlMaxDepth) + 1, '[')).find(too_deep) != std::string::npos);
  CHECK(parse_error(std::string(100000, '[')).find(too_deep) != std::string::npos);
  std::string block;
  for (int i = 0; i < 200; ++i) block += std::string(size_t(i), ' ') + "k:\n";
  CHECK(parse_error(block).find("line 65, column 65: " + too_deep) == 0);
  std::string dashes;
  for (int i = 0; i < 50000; ++i) dashes += "- ";
  CHECK(parse_error(dashes + "x\n").find(too_deep) != std::string::npos);
  // Tens of thousands of lines of node properties alone once crashed the hand-written
  // reader. libyaml reads the first as an empty node that ends the first document (which
  // is all netplan reads too), or refuses a second property on one node.
  std::string props;
  for (int i = 0; i < 30000; ++i) props += "&a" + std::to_string(i) + "\n";
  CHECK(parse_ok(props)->kind == YamlNode::Kind::Null);
  std::string tags;
  for (int i = 0; i < 30000; ++i) tags += "k" + std::to_string(i) + ": !t\n  !u\n";
  CHECK(parse_error(tags).find("line 2, column 3: did not find expected key") == 0);
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

TEST_CASE("yaml_bool: the text, quoted or not, as netplan") {
  // netplan generate on `dhcp4: "true"`, `dhcp4: !!str true` and `dhcp4: 'Off'`: a
  // boolean each; `dhcp4: |` true is "true\n", "invalid boolean value".
  auto root = parse_ok("a: \"true\"\nb: !!str yes\nc: 'Off'\nd: Y\ne: |\n  true\nf: [true]\ng: ~\nh: 1\n");
  bool b = false;
  CHECK((yaml_bool(*at(root, "a"), &b) && b));
  CHECK((yaml_bool(*at(root, "b"), &b) && b));
  CHECK((yaml_bool(*at(root, "c"), &b) && !b));
  CHECK((yaml_bool(*at(root, "d"), &b) && b));
  b = false;
  for (const char* key : {"e", "f", "g", "h"}) {
    CHECK_FALSE(yaml_bool(*at(root, key), &b));
    CHECK_FALSE(b);
  }
}

TEST_CASE("yaml_quote") {
  CHECK(yaml_quote("ens5") == "\"ens5\"");
  CHECK(yaml_quote("a\"b\\c\nd\x01") == "\"a\\\"b\\\\c\\nd\\x01\"");
  auto root = parse_ok("k: " + yaml_quote("x: \"y\" # z\n") + "\n");
  CHECK(root->get("k")->scalar == "x: \"y\" # z\n");
  // What libyaml refuses in the text (C1 controls, U+FFFE) or reads as a line break (NEL,
  // U+2028, U+2029) is escaped; other UTF-8 is kept as it is.
  const std::string awkward = std::string("nul") + '\0' +
                              " del\x7f nel\xc2\x85 c1\xc2\x9f ls\xe2\x80\xa8 ps\xe2\x80\xa9 fffe\xef\xbf\xbe "
                              "\xc3\xa9\xf0\x9f\x98\x80\t\r";
  CHECK(yaml_quote("\xc2\x85\xe2\x80\xa8\xc3\xa9") == "\"\\u0085\\u2028\xc3\xa9\"");
  CHECK(parse_ok("k: " + yaml_quote(awkward) + "\n")->get("k")->scalar == awkward);
  // Bytes that are not UTF-8 are not YAML at all: libyaml (and so netplan) refuses them.
  CHECK(parse_error("k: " + yaml_quote("\xff") + "\n").find("line 1, column 5: invalid leading UTF-8 octet") == 0);
}
