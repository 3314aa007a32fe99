#include "core/reconcile.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <vector>

using namespace ec2nc;

namespace {

IpAddr ip(const char* s) { return *IpAddr::parse(s); }
IpPrefix pfx(const char* s) { return *IpPrefix::parse(s); }

constexpr uint8_t kStatic = 4, kKernel = 2, kBoot = 3, kRa = 9;

RuleSpec rule(const char* from, uint32_t table, uint32_t prio) {
  RuleSpec r;
  r.from = pfx(from);
  r.family = r.from->family();
  r.table = table;
  r.priority = prio;
  return r;
}

RuleSpec global_rule(Family f) {
  RuleSpec r;
  r.family = f;
  r.priority = 9999;
  r.table = 254;
  r.suppress_prefixlen = 0;
  r.suppress_ifgroup = 10000;
  return r;
}

RouteSpec route(uint32_t table, const char* dst, const char* gw = nullptr, bool onlink = false) {
  RouteSpec r;
  r.table = table;
  r.dst = pfx(dst);
  if (gw) r.gateway = ip(gw);
  r.onlink = onlink;
  r.scope = gw ? 0 : 253;
  return r;
}

// ens6 (ifindex 3): two IPv4 addresses, IPv6 with an RA default, table 10001.
InterfacePlan ens6_plan() {
  InterfacePlan p;
  p.name = "ens6";
  p.ifindex = 3;
  p.mac = *MacAddr::parse("02:86:10:7b:e4:f6");
  p.state = EniMetadata::State::Complete;
  p.device_number = 1;
  p.table = 10001;
  p.link_group = 10000;
  p.ra_route_metric = 10001;
  AddressSpec a1{pfx("10.0.1.20/24"), true, false};
  AddressSpec a2{pfx("10.0.1.21/32"), false, true};
  AddressSpec a6{pfx("2600:1f18:aaaa:bb01::20/128"), true, false};
  p.addresses = {a1, a2, a6};
  RouteSpec ra = route(10001, "::/0");
  ra.scope = 0;
  ra.gateway_from_ra = true;
  RouteSpec sub6 = route(10001, "2600:1f18:aaaa:bb01::/64");
  sub6.scope = 0;
  p.routes = {route(10001, "0.0.0.0/0", "10.0.1.1", true), route(10001, "10.0.1.0/24"), sub6, ra};
  p.rules = {rule("10.0.1.20/32", 10001, 10001), rule("10.0.1.21/32", 10001, 10001),
             rule("2600:1f18:aaaa:bb01::20/128", 10001, 10001)};
  return p;
}

Plan one_eni_plan() {
  Plan plan;
  plan.interfaces = {ens6_plan()};
  plan.global_rules = {global_rule(Family::V4), global_rule(Family::V6)};
  return plan;
}

HostLink link(int ifindex, const char* name, bool up, uint32_t group) {
  HostLink l;
  l.ifindex = ifindex;
  l.name = name;
  l.up = up;
  l.group = group;
  return l;
}

ObservedAddress addr(int ifindex, const char* p, uint8_t proto) {
  ObservedAddress a;
  a.ifindex = ifindex;
  a.prefix = pfx(p);
  a.proto = proto;
  return a;
}

ObservedRoute oroute(uint32_t table, const char* dst, int oif, const char* gw, uint8_t proto, uint32_t metric = 0) {
  ObservedRoute r;
  r.table = table;
  r.dst = pfx(dst);
  r.oif = oif;
  if (gw) r.gateway = ip(gw);
  r.protocol = proto;
  r.metric = metric;
  r.type = 1;
  return r;
}

ObservedRule orule(const RuleSpec& s, uint8_t proto) {
  ObservedRule r;
  r.family = s.family;
  r.priority = s.priority;
  r.from = s.from;
  r.table = s.table;
  r.suppress_prefixlen = s.suppress_prefixlen;
  r.suppress_ifgroup = s.suppress_ifgroup;
  r.protocol = proto;
  return r;
}

// The kernel's RA default route on ens6, as the kernel learns it.
ObservedRoute ra_default(const char* gw = "fe80::1") { return oroute(254, "::/0", 3, gw, kRa, 10001); }

// A host where everything of the plan already holds (made by ec2-netcfg).
HostState converged() {
  HostState h;
  h.links = {link(1, "lo", true, 0), link(2, "ens5", true, 0), link(3, "ens6", true, 10000)};
  h.addresses = {addr(3, "10.0.1.20/24", 0), addr(3, "10.0.1.21/32", 236),
                 addr(3, "2600:1f18:aaaa:bb01::20/128", 236)};
  h.routes = {ra_default(),
              oroute(10001, "0.0.0.0/0", 3, "10.0.1.1", 236),
              oroute(10001, "10.0.1.0/24", 3, nullptr, 236),
              oroute(10001, "2600:1f18:aaaa:bb01::/64", 3, nullptr, 236, 1024),
              oroute(10001, "::/0", 3, "fe80::1", 236, 1024)};
  h.rules = {orule(global_rule(Family::V4), 236), orule(global_rule(Family::V6), 236)};
  for (auto& r : ens6_plan().rules) h.rules.push_back(orule(r, 236));
  h.sysctls["net/ipv6/conf/ens6/ra_defrtr_metric"] = "10001";
  return h;
}

std::vector<std::string> describe(const std::vector<Change>& cs) {
  std::vector<std::string> out;
  for (auto& c : cs) out.push_back(c.describe());
  return out;
}

}  // namespace

TEST_CASE("reconcile: an empty host gets everything, in order") {
  HostState h;
  h.links = {link(3, "ens6", false, 0)};
  h.routes = {ra_default()};
  h.sysctls["net/ipv6/conf/ens6/ra_defrtr_metric"] = "1024";  // the kernel's default
  auto got = describe(reconcile(one_eni_plan(), h, {}));
  const std::vector<std::string> want = {
      "ens6: set link up",
      "ens6: set group 10000",
      "ens6: add route 10.0.1.0/24 table 10001 scope link",
      "ens6: add route 2600:1f18:aaaa:bb01::/64 table 10001",
      "ens6: add route default via 10.0.1.1 table 10001 onlink",
      "ens6: add route default via fe80::1 table 10001",
      "add rule from all lookup main suppress_prefixlength 0 suppress_ifgroup 10000 priority 9999 (IPv4)",
      "add rule from all lookup main suppress_prefixlength 0 suppress_ifgroup 10000 priority 9999 (IPv6)",
      "ens6: add rule from 10.0.1.20/32 lookup 10001 priority 10001",
      "ens6: add rule from 10.0.1.21/32 lookup 10001 priority 10001",
      "ens6: add rule from 2600:1f18:aaaa:bb01::20/128 lookup 10001 priority 10001",
      "ens6: add address 10.0.1.20/24",
      "ens6: add address 10.0.1.21/32",
      "ens6: add address 2600:1f18:aaaa:bb01::20/128",
      "ens6: set sysctl net/ipv6/conf/ens6/ra_defrtr_metric=10001",
  };
  CHECK(got == want);
  auto cs = reconcile(one_eni_plan(), h, {});
  CHECK(cs[1].group == 10000);
  CHECK(cs[12].address.deprecated);
  CHECK(cs[5].route.gateway == ip("fe80::1"));
  CHECK(cs[5].ifindex == 3);
  CHECK(cs[6].rule.family == Family::V4);
  CHECK(cs[7].rule.family == Family::V6);
  CHECK(cs[14].sysctl == "net/ipv6/conf/ens6/ra_defrtr_metric");
  CHECK(cs[14].value == "10001");
}

TEST_CASE("reconcile: a converged host yields no change (second run)") {
  CHECK(reconcile(one_eni_plan(), converged(), {}).empty());
}

TEST_CASE("reconcile: what others made satisfies the plan, whoever made it") {
  HostState h = converged();
  // DHCP's address with its subnet length, routes of another protocol and metric,
  // rules made by someone else: all count as present.
  h.addresses = {addr(3, "10.0.1.21/24", 0), addr(3, "10.0.1.20/24", 0),
                 addr(3, "2600:1f18:aaaa:bb01::20/64", 0)};
  for (auto& r : h.routes)
    if (r.table == 10001 && !(r.dst.family() == Family::V6 && r.dst.len == 0)) {
      r.protocol = kStatic;
      r.metric = 5;
    }
  for (auto& r : h.rules) r.protocol = kBoot;
  CHECK(reconcile(one_eni_plan(), h, {}).empty());
}

TEST_CASE("reconcile: the table's RA default is ec2-netcfg's own, beside networkd's copy") {
  // networkd 257 drops its Gateway=_ipv6ra copy (through a nexthop object) when it
  // restarts and adds it again only with the next RA: ec2-netcfg's own must be there too.
  HostState h = converged();
  ObservedRoute* ra = nullptr;
  for (auto& r : h.routes)
    if (r.table == 10001 && r.dst.family() == Family::V6 && r.dst.len == 0) ra = &r;
  REQUIRE(ra != nullptr);
  ra->protocol = 9;  // RTPROT_RA: networkd's
  ra->metric = 10001;
  auto cs = reconcile(one_eni_plan(), h, {});
  REQUIRE(cs.size() == 1);
  CHECK(cs[0].op == Change::Op::AddRoute);
  CHECK(cs[0].route.table == 10001);
  CHECK(cs[0].route.dst.len == 0);
  CHECK(cs[0].route.gateway == ra->gateway);
}

TEST_CASE("reconcile: foreign objects are left alone") {
  HostState h = converged();
  // AWS VPC CNI rules at 512 and 1024, a docker-ish rule, foreign routes in our table
  // and in other tables, a foreign address, kernel routes.
  ObservedRule cni512;
  cni512.priority = 512;
  cni512.to = pfx("10.0.1.99/32");
  cni512.table = 254;
  cni512.protocol = kBoot;
  ObservedRule cni1024;
  cni1024.priority = 1024;
  cni1024.fwmark = 0x80;
  cni1024.fwmask = 0x80;
  cni1024.table = 254;
  cni1024.protocol = kBoot;
  ObservedRule docker;
  docker.priority = 100;
  docker.iifname = "docker0";
  docker.table = 10001;
  docker.protocol = kStatic;
  ObservedRule foreign_same_table = orule(rule("10.0.1.99/32", 10001, 10001), kStatic);
  h.rules.push_back(cni512);
  h.rules.push_back(cni1024);
  h.rules.push_back(docker);
  h.rules.push_back(foreign_same_table);
  h.routes.push_back(oroute(10001, "192.168.0.0/16", 3, "10.0.1.1", kStatic));
  h.routes.push_back(oroute(10001, "10.9.0.0/16", 3, nullptr, kBoot));
  h.routes.push_back(oroute(10002, "0.0.0.0/0", 4, "10.0.2.1", 236));  // another ENI's table
  h.routes.push_back(oroute(254, "10.0.1.0/24", 3, nullptr, kKernel));
  h.routes.push_back(oroute(254, "172.17.0.0/16", 9, nullptr, kKernel));
  h.addresses.push_back(addr(3, "192.168.5.5/32", 0));
  h.addresses.push_back(addr(4, "10.0.2.9/32", 236));  // ours, but on another interface
  CHECK(reconcile(one_eni_plan(), h, {}).empty());
}

TEST_CASE("reconcile: ec2-netcfg's own objects no longer wanted are deleted, in order") {
  HostState h = converged();
  h.addresses.push_back(addr(3, "10.0.1.30/32", 236));
  h.addresses.push_back(addr(3, "10.0.1.29/32", 236));
  h.routes.push_back(oroute(10001, "10.0.9.0/24", 3, nullptr, 236));
  h.rules.push_back(orule(rule("10.0.1.30/32", 10001, 10001), 236));
  h.rules.push_back(orule(rule("10.0.1.29/32", 10001, 10001), 236));
  auto cs = reconcile(one_eni_plan(), h, {});
  const std::vector<std::string> want = {
      "ens6: del address 10.0.1.29/32",
      "ens6: del address 10.0.1.30/32",
      "ens6: del rule from 10.0.1.29/32 lookup 10001 priority 10001",
      "ens6: del rule from 10.0.1.30/32 lookup 10001 priority 10001",
      "ens6: del route 10.0.9.0/24 table 10001",
  };
  CHECK(describe(cs) == want);
  CHECK(cs[4].ifindex == 3);
  CHECK(cs[4].op == Change::Op::DelRoute);
}

TEST_CASE("reconcile: IPv6 default takes the RA router; none yet = left out and ours kept") {
  HostState h = converged();
  SUBCASE("no RA route yet: nothing added, our existing default kept") {
    h.routes.erase(h.routes.begin());  // the RA route in main
    CHECK(reconcile(one_eni_plan(), h, {}).empty());
  }
  SUBCASE("the router changed: new default added, old one deleted") {
    h.routes[0] = ra_default("fe80::2");
    auto got = describe(reconcile(one_eni_plan(), h, {}));
    const std::vector<std::string> want = {"ens6: add route default via fe80::2 table 10001",
                                           "ens6: del route default via fe80::1 table 10001"};
    CHECK(got == want);
  }
  SUBCASE("an RA route on another interface does not count; proto ra preferred") {
    h.routes[0] = oroute(254, "::/0", 2, "fe80::7", kRa);
    h.routes.push_back(oroute(254, "::/0", 3, "fe80::5", kStatic));
    h.routes.push_back(oroute(254, "::/0", 3, "fe80::9", kRa));
    auto got = describe(reconcile(one_eni_plan(), h, {}));
    REQUIRE(got.size() == 2);
    CHECK(got[0] == "ens6: add route default via fe80::9 table 10001");
  }
}

TEST_CASE("reconcile: rules with extra selectors do not satisfy ours") {
  HostState h = converged();
  for (auto& r : h.rules)
    if (r.from == pfx("10.0.1.21/32")) {
      r.protocol = kStatic;
      r.iifname = "lo";
    }
  auto got = describe(reconcile(one_eni_plan(), h, {}));
  const std::vector<std::string> want = {"ens6: add rule from 10.0.1.21/32 lookup 10001 priority 10001"};
  CHECK(got == want);
}

TEST_CASE("reconcile: scope and actionable interfaces") {
  Plan plan = one_eni_plan();
  InterfacePlan other = ens6_plan();
  other.name = "ens7";
  other.ifindex = 4;
  other.table = 10002;
  other.ra_route_metric = 0;
  for (auto& r : other.rules) r.table = r.priority = 10002;
  for (auto& r : other.routes) r.table = 10002;
  other.addresses = {AddressSpec{pfx("10.0.2.5/32"), false, true}};
  plan.interfaces.push_back(other);
  HostState h = converged();
  h.links.push_back(link(4, "ens7", true, 10000));

  ReconcileScope only6;
  only6.only = {"ens6"};
  CHECK(reconcile(plan, h, only6).empty());

  auto all = reconcile(plan, h, {});
  CHECK(!all.empty());
  for (auto& c : all) CHECK(c.ifname == "ens7");

  plan.interfaces[1].ignored = true;
  CHECK(reconcile(plan, h, {}).empty());
  plan.interfaces[1].ignored = false;
  plan.interfaces[1].state = EniMetadata::State::Incomplete;
  CHECK(reconcile(plan, h, {}).empty());
  plan.interfaces[1].state = EniMetadata::State::Complete;
  plan.interfaces[1].ifindex = 0;
  CHECK(reconcile(plan, h, {}).empty());
}

TEST_CASE("reconcile: global rules are removed only when allowed") {
  Plan plan;  // manages no ENI
  HostState h = converged();
  CHECK(reconcile(plan, h, {}).empty());
  ReconcileScope may;
  may.may_remove_global_rules = true;
  auto got = describe(reconcile(plan, h, may));
  const std::vector<std::string> want = {
      "del rule from all lookup main suppress_prefixlength 0 suppress_ifgroup 10000 priority 9999 (IPv4)",
      "del rule from all lookup main suppress_prefixlength 0 suppress_ifgroup 10000 priority 9999 (IPv6)"};
  CHECK(got == want);
  // A foreign rule at that priority stays.
  h.rules = {orule(global_rule(Family::V4), kStatic)};
  CHECK(reconcile(plan, h, may).empty());
}

TEST_CASE("reconcile: no sysctl change where the kernel lacks ra_defrtr_metric (before 5.14)") {
  HostState h;
  h.links = {link(3, "ens6", true, 10000)};
  h.routes = {ra_default()};
  for (auto& c : reconcile(one_eni_plan(), h, {})) CHECK(c.op != Change::Op::SetSysctl);
}

TEST_CASE("reconcile: sysctl only when it differs") {
  HostState h = converged();
  h.sysctls["net/ipv6/conf/ens6/ra_defrtr_metric"] = "1024";
  auto got = describe(reconcile(one_eni_plan(), h, {}));
  CHECK(got == std::vector<std::string>{"ens6: set sysctl net/ipv6/conf/ens6/ra_defrtr_metric=10001"});
  Plan plan = one_eni_plan();
  plan.interfaces[0].ra_route_metric = 0;
  CHECK(reconcile(plan, h, {}).empty());
}

TEST_CASE("reconcile: output does not depend on dump order") {
  HostState h = converged();
  h.addresses.push_back(addr(3, "10.0.1.30/32", 236));
  h.addresses.push_back(addr(3, "10.0.1.29/32", 236));
  auto a = describe(reconcile(one_eni_plan(), h, {}));
  std::reverse(h.addresses.begin(), h.addresses.end());
  std::reverse(h.rules.begin(), h.rules.end());
  std::reverse(h.routes.begin(), h.routes.end());
  CHECK(describe(reconcile(one_eni_plan(), h, {})) == a);
}

TEST_CASE("removal: everything of ours for the interface, nothing else") {
  HostState h = converged();
  h.rules.push_back(orule(rule("10.0.1.99/32", 10001, 10001), kStatic));
  h.routes.push_back(oroute(10001, "10.9.0.0/16", 3, nullptr, kBoot));
  h.addresses.push_back(addr(3, "192.168.5.5/32", 0));
  auto cs = removal("ens6", 3, 10001, 10000, h, nullptr);
  const std::vector<std::string> want = {
      "ens6: del address 10.0.1.21/32",
      "ens6: del address 2600:1f18:aaaa:bb01::20/128",
      "ens6: del rule from 10.0.1.20/32 lookup 10001 priority 10001",
      "ens6: del rule from 10.0.1.21/32 lookup 10001 priority 10001",
      "ens6: del rule from 2600:1f18:aaaa:bb01::20/128 lookup 10001 priority 10001",
      "ens6: del route default via 10.0.1.1 table 10001",
      "ens6: del route 10.0.1.0/24 table 10001",
      "ens6: del route default via fe80::1 table 10001",
      "ens6: del route 2600:1f18:aaaa:bb01::/64 table 10001",
      "ens6: set group 0",
  };
  CHECK(describe(cs) == want);
  CHECK(cs.back().op == Change::Op::SetLinkGroup);
  CHECK(cs.back().group == 0);

  SUBCASE("interface already gone: rules and routes only") {
    auto gone = removal("ens6", 0, 10001, 10000, h, nullptr);
    CHECK(gone.size() == 7);
    for (auto& c : gone) CHECK(c.op != Change::Op::DelAddress);
  }
  SUBCASE("a group someone else set is left") {
    h.links[2].group = 42;
    CHECK(removal("ens6", 3, 10001, 10000, h, nullptr).back().op == Change::Op::DelRoute);
  }
}

TEST_CASE("removal never deletes the address DHCP gives, even one ec2-netcfg added first") {
  HostState h = converged();
  // ec2-netcfg added the primary before the DHCP client did (hotplug), and the client then
  // took it over (a lease's finite lifetime), as a DHCPv6 lease did with an IPv6 address.
  h.addresses = {addr(3, "10.0.1.20/24", 236), addr(3, "10.0.1.21/32", 236),
                 addr(3, "2600:1f18:aaaa:bb01::20/128", 236), addr(3, "2600:1f18:aaaa:bb01::21/128", 236)};
  h.addresses[0].valid = 3600;
  h.addresses[0].preferred = 3600;
  h.addresses[2].valid = 3600;
  h.addresses[2].preferred = 1800;
  std::vector<std::string> dels;
  for (auto& c : removal("ens6", 3, 10001, 10000, h, nullptr))
    if (c.op == Change::Op::DelAddress) dels.push_back(c.address.prefix.str());
  CHECK(dels == std::vector<std::string>{"10.0.1.21/32", "2600:1f18:aaaa:bb01::21/128"});
  // No DHCP client took the primary over (no client here at all): it is ec2-netcfg's to remove.
  h.addresses[0].valid = 0xffffffff;
  dels.clear();
  for (auto& c : removal("ens6", 3, 10001, 10000, h, nullptr))
    if (c.op == Change::Op::DelAddress) dels.push_back(c.address.prefix.str());
  CHECK(dels.front() == "10.0.1.20/24");
}

TEST_CASE("describe: host-wide and link changes") {
  Change c;
  c.op = Change::Op::SetLinkUp;
  c.ifname = "ens6";
  CHECK(c.describe() == "ens6: set link up");
  c.op = Change::Op::AddRule;
  c.ifname = "";
  c.rule = global_rule(Family::V4);
  CHECK(c.describe() == "add rule from all lookup main suppress_prefixlength 0 suppress_ifgroup 10000 priority 9999 (IPv4)");
}

// ens6's record: the link of ens6_plan() and its table.
InterfaceRecord ens6_record() {
  InterfaceRecord rec;
  rec.name = "ens6";
  rec.mac = ens6_plan().mac;
  rec.ifindex = 3;
  rec.table = 10001;
  return rec;
}

TEST_CASE("networkd's static copies are ours only when the record says our file had them (issue 16, item 8)") {
  HostState h = converged();
  // networkd's copies (protocol static) of a rule and route that our .network file had.
  h.rules.push_back(orule(rule("10.0.1.29/32", 10001, 10001), kStatic));
  h.routes.push_back(oroute(10001, "10.0.9.0/24", 3, nullptr, kStatic));
  // Another program's, protocol static too, in the ENI's table and at the ENI's priority.
  h.rules.push_back(orule(rule("10.0.1.28/32", 10001, 10001), kStatic));
  h.routes.push_back(oroute(10001, "10.0.8.0/24", 3, nullptr, kStatic));
  RunState st;
  InterfaceRecord rec = ens6_record();
  rec.file_rules.push_back(rule("10.0.1.29/32", 10001, 10001));
  RouteSpec r;
  r.table = 10001;
  r.dst = *IpPrefix::parse("10.0.9.0/24");
  rec.file_routes.push_back(r);
  st.interfaces.push_back(rec);
  SUBCASE("no record: nothing of protocol static is touched") { CHECK(reconcile(one_eni_plan(), h, {}).empty()); }
  SUBCASE("with the record: only the copies of what our file had") {
    ReconcileScope scope;
    scope.records = &st;
    auto cs = reconcile(one_eni_plan(), h, scope);
    CHECK(describe(cs) == std::vector<std::string>{"ens6: del rule from 10.0.1.29/32 lookup 10001 priority 10001",
                                                   "ens6: del route 10.0.9.0/24 table 10001"});
    for (auto& c : cs) CHECK(c.protocol == kStatic);
    auto rm = removal("ens6", 3, 10001, 10000, h, &st.interfaces[0]);
    CHECK(std::count_if(rm.begin(), rm.end(), [](const Change& c) { return c.protocol == kStatic; }) == 2);
  }
  SUBCASE("a record of another link (same name, other MAC) speaks for nothing") {
    st.interfaces[0].mac = *MacAddr::parse("02:00:00:00:00:99");
    ReconcileScope scope;
    scope.records = &st;
    CHECK(reconcile(one_eni_plan(), h, scope).empty());
  }
}

TEST_CASE("addresses: ours by IFA_PROTO, or by the record where the kernel keeps no IFA_PROTO (issue 16, item 9)") {
  HostState h = converged();
  for (auto& a : h.addresses) a.proto = 0;  // a kernel before 5.18
  h.addresses.push_back(addr(3, "10.0.1.77/32", 0));  // IMDS no longer lists it
  SUBCASE("without a record it is left (no evidence it is ours)") {
    CHECK(reconcile(one_eni_plan(), h, {}).empty());
    for (auto& c : removal("ens6", 3, 10001, 10000, h, nullptr)) CHECK(c.op != Change::Op::DelAddress);
  }
  SUBCASE("the record says ec2-netcfg added it") {
    RunState st;
    InterfaceRecord rec = ens6_record();
    rec.addresses = {*IpPrefix::parse("10.0.1.77/32"), *IpPrefix::parse("10.0.1.21/32")};
    st.interfaces.push_back(rec);
    ReconcileScope scope;
    scope.records = &st;
    CHECK(describe(reconcile(one_eni_plan(), h, scope)) == std::vector<std::string>{"ens6: del address 10.0.1.77/32"});
    auto rm = removal("ens6", 3, 10001, 10000, h, &st.interfaces[0]);
    CHECK(std::count_if(rm.begin(), rm.end(), [](const Change& c) { return c.op == Change::Op::DelAddress; }) == 2);
  }
}

TEST_CASE("global_removal: ec2-netcfg's host-wide rules and networkd's copies, nothing else") {
  HostState h;
  h.rules.push_back(orule(global_rule(Family::V4), kOwnProto));
  h.rules.push_back(orule(global_rule(Family::V6), kStatic));  // networkd's copy from our file
  RuleSpec other_group = global_rule(Family::V4);
  other_group.suppress_ifgroup = 42;
  h.rules.push_back(orule(other_group, kStatic));               // someone else's
  RuleSpec other_prio = global_rule(Family::V4);
  other_prio.priority = 500;
  h.rules.push_back(orule(other_prio, kOwnProto));
  auto cs = global_removal(h, 10000, 10000);
  REQUIRE(cs.size() == 2);
  CHECK(cs[0].op == Change::Op::DelRule);
  CHECK(cs[0].protocol == kOwnProto);
  CHECK(cs[0].rule == global_rule(Family::V4));
  CHECK(cs[1].protocol == kStatic);
  CHECK(cs[1].rule == global_rule(Family::V6));
}

TEST_CASE("reconcile: a link is set up only when ec2-netcfg brings it into service") {
  HostState h = converged();
  for (auto& l : h.links)
    if (l.name == "ens6") l.up = false;
  auto has_up = [](const std::vector<Change>& cs) {
    return std::any_of(cs.begin(), cs.end(), [](const Change& c) { return c.op == Change::Op::SetLinkUp; });
  };
  // No record of the link: a boot's first run or a hot-plugged ENI; it is brought up.
  CHECK(has_up(reconcile(one_eni_plan(), h, {})));
  // ec2-netcfg configured this very link before: down is an administrator's choice.
  RunState st;
  st.interfaces.push_back(ens6_record());
  ReconcileScope scope;
  scope.records = &st;
  CHECK_FALSE(has_up(reconcile(one_eni_plan(), h, scope)));
}
