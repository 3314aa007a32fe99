// Issue 16: reads IMDS cannot mean are invalid and change nothing; configuration goes
// away only on positive evidence. One case per item.
#include <doctest/doctest.h>

#include "core/cleanup.h"
#include "core/config.h"
#include "core/ip.h"
#include "core/metadata.h"
#include "core/plan.h"
#include "core/records.h"
#include "core/run_state.h"
#include "test_util.h"

using namespace ec2nc;

namespace {

const std::string kMacs = "meta-data/network/interfaces/macs/";
const std::string kPrimary = "02:86:10:7b:e4:f5";
const std::string kSecond = "02:86:10:7b:e4:f6";

std::map<std::string, std::string> two_enis() {
  std::map<std::string, std::string> p;
  p["meta-data/mac"] = kPrimary;
  p[kMacs] = kPrimary + "/\n" + kSecond + "/";
  auto eni = [&](const std::string& mac, const std::string& dev, const std::string& ips, const std::string& subnet) {
    p[kMacs + mac + "/"] = "device-number\nlocal-ipv4s\nsubnet-ipv4-cidr-block";
    p[kMacs + mac + "/device-number"] = dev;
    p[kMacs + mac + "/local-ipv4s"] = ips;
    p[kMacs + mac + "/subnet-ipv4-cidr-block"] = subnet;
  };
  eni(kPrimary, "0", "10.0.0.34\n10.0.0.35", "10.0.0.0/24");
  eni(kSecond, "1", "10.0.1.20\n10.0.1.21", "10.0.1.0/24");
  return p;
}

MetadataRead read(std::map<std::string, std::string> p) {
  CaptureSource src(std::move(p));
  return read_metadata(src);
}

EniMetadata second(std::map<std::string, std::string> p) {
  auto rd = read(std::move(p));
  REQUIRE(rd.fatal.empty());
  return rd.instance.enis.at(*MacAddr::parse(kSecond));
}

HostLink link(int ifindex, const std::string& name, const std::string& mac) {
  HostLink l;
  l.ifindex = ifindex;
  l.name = name;
  l.mac = *MacAddr::parse(mac);
  l.up = true;
  return l;
}

InterfaceRecord record(const std::string& name, const std::string& mac, int ifindex, uint32_t table) {
  InterfaceRecord r;
  r.name = name;
  r.mac = *MacAddr::parse(mac);
  r.ifindex = ifindex;
  r.table = table;
  return r;
}

const CleanupDecision& decision(const std::vector<CleanupDecision>& v, const std::string& name) {
  for (auto& d : v)
    if (d.record.name == name) return d;
  FAIL("no decision for " << name);
  static CleanupDecision none;
  return none;
}

}  // namespace

TEST_CASE("item 1: an empty listing, or one without meta-data/mac, is a read IMDS cannot mean") {
  auto p = two_enis();
  p[kMacs] = "";
  auto rd = read(p);
  CHECK(rd.fatal.find("listing is empty") != std::string::npos);
  p[kMacs] = kSecond + "/";
  rd = read(p);
  CHECK(rd.fatal.find("lacks meta-data/mac " + kPrimary) != std::string::npos);
}

TEST_CASE("item 3: MACs that are never an ENI's make the read invalid") {
  for (const char* bad : {"00:00:00:00:00:00", "ff:ff:ff:ff:ff:ff", "01:00:5e:00:00:01"}) {
    CAPTURE(bad);
    auto p = two_enis();
    p[kMacs] = kPrimary + "/\n" + std::string(bad) + "/";
    CHECK(read(p).fatal.find("expected a unicast MAC address") != std::string::npos);
    auto q = two_enis();
    q["meta-data/mac"] = bad;
    CHECK(read(q).fatal.find("meta-data/mac: invalid value") != std::string::npos);
  }
}

TEST_CASE("item 3: only links that can be ENIs are matched: lo's zero MAC never is") {
  HostLink lo = link(1, "lo", "00:00:00:00:00:00");
  lo.loopback = true;
  lo.type = 772;
  CHECK_FALSE(lo.can_be_eni());
  HostLink br = link(5, "br0", "02:86:10:7b:e4:f6");
  br.kind = "bridge";
  CHECK_FALSE(br.can_be_eni());
  HostLink tun = link(6, "tun0", "02:86:10:7b:e4:f6");
  tun.type = 65534;
  CHECK_FALSE(tun.can_be_eni());
  CHECK(link(3, "ens6", kSecond).can_be_eni());
  // A plan over a listing with both: the bridge carrying the ENI's MAC is not the ENI.
  auto rd = read(two_enis());
  REQUIRE(rd.fatal.empty());
  Config cfg;
  Plan plan = make_plan(cfg, rd.instance, {lo, br, link(2, "ens5", kPrimary)});
  for (auto& ip : plan.interfaces) CHECK(ip.name != "br0");
}

TEST_CASE("item 4: addresses, subnets and prefixes IMDS never gives make the ENI invalid") {
  struct Case {
    const char* key;
    const char* value;
    const char* why;
  };
  const Case cases[] = {
      {"local-ipv4s", "10.0.1.20\n127.0.0.1", "unicast IPv4 address"},
      {"local-ipv4s", "10.0.1.20\n169.254.169.254", "unicast IPv4 address"},
      {"local-ipv4s", "10.0.1.20\n224.0.0.5", "unicast IPv4 address"},
      // Every address of these subnets is itself one IMDS never gives.
      {"subnet-ipv4-cidr-block", "169.254.169.0/24", "invalid value"},
      {"subnet-ipv4-cidr-block", "127.0.0.0/8", "invalid value"},
      {"subnet-ipv4-cidr-block", "169.0.0.0/8", "holds the IMDS address"},
  };
  for (auto& c : cases) {
    const std::string key = c.key, value = c.value;
    CAPTURE(key);
    CAPTURE(value);
    auto p = two_enis();
    p[kMacs + kSecond + "/" + key] = value;
    if (key == "subnet-ipv4-cidr-block")
      p[kMacs + kSecond + "/local-ipv4s"] = value.substr(0, value.find('.')) + (value[1] == '2' ? ".0.0.20" : ".254.169.20");
    if (value == "169.0.0.0/8") p[kMacs + kSecond + "/local-ipv4s"] = "169.1.0.20";
    auto e = second(p);
    CHECK(e.state == EniMetadata::State::Invalid);
    CHECK(e.problem.find(c.why) != std::string::npos);
  }
  SUBCASE("a delegated prefix outside the ENI's subnet") {
    auto p = two_enis();
    p[kMacs + kSecond + "/"] += "\nipv4-prefix";
    p[kMacs + kSecond + "/ipv4-prefix"] = "10.0.0.0/8";
    auto e = second(p);
    CHECK(e.state == EniMetadata::State::Invalid);
    CHECK(e.problem.find("ipv4-prefix: invalid value \"10.0.0.0/8\" (not inside subnet 10.0.1.0/24)") != std::string::npos);
    p[kMacs + kSecond + "/ipv4-prefix"] = "10.0.1.64/28";
    CHECK(second(p).state == EniMetadata::State::Complete);
  }
  SUBCASE("an IPv6 prefix outside every IPv6 subnet, and a link-local IPv6 address") {
    auto p = two_enis();
    p[kMacs + kSecond + "/"] += "\nipv6s\nsubnet-ipv6-cidr-blocks\nipv6-prefix";
    p[kMacs + kSecond + "/subnet-ipv6-cidr-blocks"] = "2600:1f18:aaaa:bb01::/64";
    p[kMacs + kSecond + "/ipv6s"] = "2600:1f18:aaaa:bb01::20";
    p[kMacs + kSecond + "/ipv6-prefix"] = "2600:1f18:aaaa:bb02::/80";
    CHECK(second(p).state == EniMetadata::State::Invalid);
    p[kMacs + kSecond + "/ipv6-prefix"] = "2600:1f18:aaaa:bb01:1::/80";
    CHECK(second(p).state == EniMetadata::State::Complete);
    p[kMacs + kSecond + "/ipv6s"] = "fe80::1";
    CHECK(second(p).state == EniMetadata::State::Invalid);
  }
  SUBCASE("the other ENI stays complete") {
    auto p = two_enis();
    p[kMacs + kSecond + "/local-ipv4s"] = "10.0.1.20\n127.0.0.1";
    auto rd = read(p);
    REQUIRE(rd.fatal.empty());
    CHECK(rd.instance.enis.at(*MacAddr::parse(kPrimary)).state == EniMetadata::State::Complete);
  }
}

TEST_CASE("never_assigned: the classes IMDS never gives") {
  CHECK(std::string(IpAddr::parse("169.254.169.254")->never_assigned()) == "the IMDS address");
  CHECK(std::string(IpAddr::parse("fd00:ec2::254")->never_assigned()) == "the IMDS address");
  CHECK(std::string(IpAddr::parse("::1")->never_assigned()) == "loopback");
  CHECK(std::string(IpAddr::parse("::")->never_assigned()) == "unspecified");
  CHECK(std::string(IpAddr::parse("ff02::1")->never_assigned()) == "multicast");
  CHECK(std::string(IpAddr::parse("0.0.0.0")->never_assigned()) == "unspecified");
  CHECK(IpAddr::parse("10.0.0.1")->never_assigned() == nullptr);
  CHECK(IpAddr::parse("2600:1f18::1")->never_assigned() == nullptr);
  CHECK(IpAddr::parse("fd00:ec2::253")->never_assigned() == nullptr);
}

TEST_CASE("item 5: a table-base whose rule priorities would sit behind main's rule is refused") {
  Config c;
  std::string err;
  CHECK_FALSE(parse_config("[main]\ntable-base = 40000\n", "ec2-netcfg.conf", &c, &err));
  CHECK(err.find("ec2-netcfg.conf:2: [main] table-base = 40000: expected an integer from 1000 to 22766") == 0);
  CHECK(err.find("32766") != std::string::npos);
  CHECK(parse_config("[main]\ntable-base = 22766\n", "x", &c, &err));
  CHECK(c.table_base == 22766);
}

TEST_CASE("cleanup: configuration goes away only when the link left the host (items 1 and 2)") {
  auto rd = read(two_enis());
  REQUIRE(rd.fatal.empty());
  Config cfg;
  std::vector<HostLink> links = {link(2, "ens5", kPrimary), link(3, "ens6", kSecond)};
  RunState st;
  st.interfaces = {record("ens5", kPrimary, 2, 10000), record("ens6", kSecond, 3, 10001)};

  SUBCASE("present and listed: kept") {
    auto d = decide_cleanup(make_plan(cfg, rd.instance, links), links, st);
    for (auto& x : d) CHECK(x.action == CleanupDecision::Action::Keep);
  }
  SUBCASE("present but missing from the listing: kept, never removed") {
    auto p = two_enis();
    p[kMacs] = kPrimary + "/";
    auto partial = read(p);
    REQUIRE(partial.fatal.empty());
    auto d = decide_cleanup(make_plan(cfg, partial.instance, links), links, st);
    CHECK(decision(d, "ens6").action == CleanupDecision::Action::Keep);
    CHECK(decision(d, "ens6").reason.find("not listed") == 0);
  }
  SUBCASE("present, listed incomplete or invalid: kept") {
    auto p = two_enis();
    p[kMacs + kSecond + "/local-ipv4s"] = "10.0.1.20\n127.0.0.1";
    auto bad = read(p);
    auto d = decide_cleanup(make_plan(cfg, bad.instance, links), links, st);
    CHECK(decision(d, "ens6").action == CleanupDecision::Action::Keep);
  }
  SUBCASE("link gone: removed, with its file") {
    std::vector<HostLink> one = {links[0]};
    auto d = decide_cleanup(make_plan(cfg, rd.instance, one), one, st);
    CHECK(decision(d, "ens6").action == CleanupDecision::Action::Remove);
    CHECK(decision(d, "ens6").remove_file);
  }
  SUBCASE("link gone, another ENI attached at the same device number: its table is left to it") {
    auto p = two_enis();
    const std::string third = "02:86:10:7b:e4:f7";
    p[kMacs] = kPrimary + "/\n" + third + "/";
    for (auto& k : {"", "device-number", "local-ipv4s", "subnet-ipv4-cidr-block"}) {
      p[kMacs + third + "/" + k] = p[kMacs + kSecond + "/" + k];
    }
    auto rd3 = read(p);
    REQUIRE(rd3.fatal.empty());
    std::vector<HostLink> now = {links[0], link(4, "ens7", third)};
    auto d = decide_cleanup(make_plan(cfg, rd3.instance, now), now, st);
    CHECK(decision(d, "ens6").action == CleanupDecision::Action::Forget);
    // ...also when the new ENI is only in the record (applied earlier by its own unit).
    st.interfaces.push_back(record("ens7", third, 4, 10001));
    auto d2 = decide_cleanup(make_plan(cfg, rd.instance, {links[0], link(4, "ens7", third)}), {links[0], link(4, "ens7", third)}, st);
    CHECK(decision(d2, "ens6").action == CleanupDecision::Action::Forget);
  }
  SUBCASE("same name, another link (re-created): the old record is gone, the file is the new link's") {
    std::vector<HostLink> now = {links[0], link(9, "ens6", "02:86:10:7b:e4:f9")};
    auto d = decide_cleanup(make_plan(cfg, rd.instance, now), now, st);
    CHECK(decision(d, "ens6").action == CleanupDecision::Action::Remove);
    CHECK_FALSE(decision(d, "ens6").remove_file);
  }
  SUBCASE("same link, new table (device number propagated): the old table goes") {
    RunState moved;
    moved.interfaces = {record("ens6", kSecond, 3, 10005)};
    auto d = decide_cleanup(make_plan(cfg, rd.instance, links), links, moved);
    CHECK(decision(d, "ens6").action == CleanupDecision::Action::RemoveTable);
  }
}

TEST_CASE("item 6: a damaged record is an error, not an empty record") {
  RunState st;
  std::string err;
  CHECK_FALSE(parse_state("{\"interfaces\": [", &st, &err));
  CHECK_FALSE(parse_state("{\"interfaces\": [{\"name\": \"ens6\"}]}", &st, &err));
  CHECK(err.find("interfaces[0]") == 0);
  CHECK(parse_state("{\"interfaces\": []}", &st, &err));
  // Another format is not read as this one's (a record without the field, hand-made or
  // from before it, still is).
  CHECK(parse_state("{\"format\": \"ec2-netcfg-state/2\", \"interfaces\": []}", &st, &err));
  CHECK_FALSE(parse_state("{\"format\": \"ec2-netcfg-state/3\", \"interfaces\": []}", &st, &err));
  CHECK(err.find("format \"ec2-netcfg-state/3\": not a record this ec2-netcfg knows") == 0);
  CHECK_FALSE(parse_state("{\"format\": 2, \"interfaces\": []}", &st, &err));
}

TEST_CASE("run state: a record survives format and parse unchanged") {
  RunState st;
  InterfaceRecord r = record("ens6", kSecond, 3, 10001);
  r.addresses = {*IpPrefix::parse("10.0.1.21/32"), *IpPrefix::parse("2600:1f18::5/128")};
  RuleSpec rule;
  rule.family = Family::V6;
  rule.priority = 10001;
  rule.from = IpPrefix::parse("2600:1f18::5/128");
  rule.table = 10001;
  r.file_rules = {rule};
  RuleSpec g;
  g.priority = 9999;
  g.table = 254;
  g.suppress_prefixlen = 0;
  g.suppress_ifgroup = 10000;
  r.file_rules.push_back(g);
  RouteSpec ra;
  ra.table = 10001;
  ra.dst = *IpPrefix::parse("::/0");
  ra.gateway_from_ra = true;
  RouteSpec gw;
  gw.table = 10001;
  gw.dst = *IpPrefix::parse("0.0.0.0/0");
  gw.gateway = IpAddr::parse("10.0.1.1");
  gw.onlink = true;
  RouteSpec sub;
  sub.table = 10001;
  sub.dst = *IpPrefix::parse("10.0.1.0/24");
  sub.scope = 253;
  r.file_routes = {ra, gw, sub};
  st.interfaces = {r};
  RunState back;
  std::string err;
  REQUIRE(parse_state(format_state(st), &back, &err));
  REQUIRE(back.interfaces.size() == 1);
  auto& b = back.interfaces[0];
  CHECK(b.name == "ens6");
  CHECK(b.addresses == r.addresses);
  CHECK(b.file_rules == r.file_rules);
  CHECK(b.file_routes == r.file_routes);
  CHECK(format_state(back) == format_state(st));
  // An RA default written as "via the RA router" matches whatever router it resolved to.
  RouteSpec resolved = ra;
  resolved.gateway_from_ra = false;
  resolved.gateway = IpAddr::parse("fe80::1");
  CHECK(b.wrote_route(resolved));
}

namespace {

/// A pass over the two-ENI instance (ens5, ens6 present), before any change.
struct TwoEniPass {
  Plan plan;
  HostState host;
  PassOutcome pass;
  TwoEniPass() {
    auto rd = read(two_enis());
    host.links = {link(2, "ens5", kPrimary), link(3, "ens6", kSecond)};
    plan = make_plan(Config{}, rd.instance, host.links);
    pass.plan = &plan;
    pass.host = &host;
  }
  TwoEniPass(const TwoEniPass&) = delete;
};

}  // namespace

TEST_CASE("records: addresses added are recorded, deleted ones dropped, removed links forgotten") {
  TwoEniPass f;
  HostState& host = f.host;
  PassOutcome& pass = f.pass;
  RunState st;
  st.interfaces = {record("ens9", "02:86:10:7b:e4:f9", 9, 10003)};
  Change add;
  add.op = Change::Op::AddAddress;
  add.ifname = "ens6";
  add.address.prefix = *IpPrefix::parse("10.0.1.21/32");
  pass.done = {add};
  CleanupDecision gone;
  gone.action = CleanupDecision::Action::Remove;
  gone.record = st.interfaces[0];
  pass.cleanup = {gone};
  pass.writes_files = true;
  update_records(&st, pass);
  REQUIRE(st.interfaces.size() == 2);
  CHECK(st.find("ens9") == nullptr);
  REQUIRE(st.find("ens6") != nullptr);
  CHECK(st.find("ens6")->owns_address(*IpAddr::parse("10.0.1.21")));
  // The files hold no rule; of the routes only the table's RA default (none here: no IPv6).
  CHECK(st.find("ens6")->file_rules.empty());
  // Next pass: the address is on the link, then deleted.
  ObservedAddress oa;
  oa.ifindex = 3;
  oa.prefix = *IpPrefix::parse("10.0.1.21/32");
  host.addresses = {oa};
  Change del = add;
  del.op = Change::Op::DelAddress;
  pass.done = {del};
  pass.cleanup.clear();
  update_records(&st, pass);
  CHECK_FALSE(st.find("ens6")->owns_address(*IpAddr::parse("10.0.1.21")));
  SUBCASE("a failed interface keeps its record as it was") {
    pass.done = {add};
    pass.failed = {"ens6"};
    update_records(&st, pass);
    CHECK_FALSE(st.find("ens6")->owns_address(*IpAddr::parse("10.0.1.21")));
  }
}

TEST_CASE("records: a failed file write records no route the file was to get (issue 26, item 10)") {
  TwoEniPass f;
  PassOutcome& pass = f.pass;
  pass.writes_files = true;
  pass.files_failed = true;
  RunState st;
  update_records(&st, pass);
  REQUIRE(st.find("ens6") != nullptr);
  CHECK(st.find("ens6")->file_routes.empty());  // no file was written: none of its routes is ours
  // Written once, then a write fails: what the file held before stays recorded.
  pass.files_failed = false;
  update_records(&st, pass);
  const auto written = st.find("ens6")->file_routes;
  CHECK_FALSE(written.empty());
  pass.files_failed = true;
  update_records(&st, pass);
  CHECK(st.find("ens6")->file_routes == written);
}

TEST_CASE("mark_lost_ipv4: an ENI with ec2-netcfg's IPv4 on it read as IPv6-only was caught mid-update") {
  // ipv6-only-secondary: ens6 (…:f6) is IPv6-only in IMDS. Had ec2-netcfg configured IPv4
  // on it (its table 10001), that read cannot be true (issue 26, item 3).
  auto src = test::scenario("ipv6-only-secondary");
  auto rd = read_metadata(*src);
  REQUIRE(rd.fatal.empty());
  const MacAddr second = *MacAddr::parse("02:86:10:7b:e4:f6");
  REQUIRE(rd.instance.enis.at(second).state == EniMetadata::State::Complete);
  REQUIRE_FALSE(rd.instance.enis.at(second).has_ipv4());
  RunState st;
  InterfaceRecord rec;
  rec.name = "ens6";
  rec.mac = second;
  rec.ifindex = 3;
  rec.table = 10001;
  st.interfaces.push_back(rec);
  HostState host;
  SUBCASE("its IPv4 source rule is there") {
    ObservedRule r;
    r.family = Family::V4;
    r.protocol = kOwnProto;
    r.table = 10001;
    r.from = *IpPrefix::parse("10.0.1.20/32");
    host.rules.push_back(r);
  }
  SUBCASE("its IPv4 table route is there") {
    ObservedRoute r;
    r.table = 10001;
    r.dst = *IpPrefix::parse("10.0.1.0/24");
    r.protocol = kOwnProto;
    host.routes.push_back(r);
  }
  InstanceMetadata md = rd.instance;
  mark_lost_ipv4(md, host, st);
  CHECK(md.enis.at(second).state == EniMetadata::State::Incomplete);
  CHECK(md.enis.at(second).problem.find("cannot make an ENI with IPv4 IPv6-only") != std::string::npos);
}

TEST_CASE("mark_lost_ipv4: nothing of ec2-netcfg's IPv4 there (or another's table): the read stands") {
  auto src = test::scenario("ipv6-only-secondary");
  auto rd = read_metadata(*src);
  const MacAddr second = *MacAddr::parse("02:86:10:7b:e4:f6");
  RunState st;
  InterfaceRecord rec;
  rec.name = "ens6";
  rec.mac = second;
  rec.table = 10001;
  st.interfaces.push_back(rec);
  HostState host;
  ObservedRule foreign;  // someone else's IPv4 rule to that table, and ours to another
  foreign.family = Family::V4;
  foreign.protocol = 4;
  foreign.table = 10001;
  host.rules.push_back(foreign);
  ObservedRule other;
  other.family = Family::V4;
  other.protocol = kOwnProto;
  other.table = 10000;
  host.rules.push_back(other);
  mark_lost_ipv4(rd.instance, host, st);
  CHECK(rd.instance.enis.at(second).state == EniMetadata::State::Complete);
}
