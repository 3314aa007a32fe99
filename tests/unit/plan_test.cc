#include <doctest/doctest.h>

#include <algorithm>

#include "core/plan.h"
#include "test_util.h"

using namespace ec2nc;

namespace {

Plan plan_for(const std::string& name, Config cfg = {}) {
  auto src = test::scenario(name);
  auto rd = read_metadata(*src);
  REQUIRE(rd.fatal.empty());
  return make_plan(cfg, rd.instance, test::links_for(rd.instance));
}

bool has_rule(const InterfacePlan& ip, const std::string& from) {
  return std::any_of(ip.rules.begin(), ip.rules.end(),
                     [&](const RuleSpec& r) { return r.from && r.from->str() == from && r.table == ip.table; });
}

}  // namespace

TEST_CASE("tables and priorities follow 10000 + 100*card + device") {
  auto plan = plan_for("four-enis-two-cards");
  REQUIRE(plan.interfaces.size() == 4);
  std::vector<uint32_t> tables;
  for (auto& ip : plan.interfaces) tables.push_back(ip.table);
  CHECK(tables == std::vector<uint32_t>{10000, 10001, 10100, 10101});
  for (auto& ip : plan.interfaces)
    for (auto& r : ip.rules) CHECK(r.priority == ip.table);
  Config cfg;
  cfg.table_base = 20000;
  CHECK(plan_for("four-enis-two-cards", cfg).interfaces[3].table == 20101);
}

TEST_CASE("every address gets a source rule, primary included by default") {
  auto plan = plan_for("one-eni-three-ips");
  auto& ip = plan.interfaces.at(0);
  CHECK(ip.primary);
  CHECK(has_rule(ip, "10.0.0.34/32"));
  CHECK(has_rule(ip, "10.0.0.226/32"));
  CHECK(has_rule(ip, "10.0.0.227/32"));
  CHECK(ip.addresses.at(0).prefix.str() == "10.0.0.34/24");
  CHECK(ip.addresses.at(0).from_dhcp);
  CHECK(ip.addresses.at(1).prefix.str() == "10.0.0.226/32");
  CHECK(ip.addresses.at(1).deprecated);
  Config cfg;
  cfg.primary_rules = false;
  auto off = plan_for("one-eni-three-ips", cfg);
  CHECK(off.interfaces.at(0).rules.empty());
}

TEST_CASE("IPv6 addresses: none is taken to be DHCPv6's by list order; each is added deprecated (issue 26, item 7)") {
  // IMDS does not promise that the first line of ipv6s is the address DHCPv6 hands out.
  auto plan = plan_for("dual-stack-prefixes");
  auto& ip = plan.interfaces.at(0);
  size_t v6 = 0;
  for (auto& a : ip.addresses) {
    if (a.prefix.addr.is_v4()) continue;
    ++v6;
    CHECK(a.prefix.len == 128);
    CHECK_FALSE(a.from_dhcp);
    CHECK(a.deprecated);
  }
  CHECK(v6 == 2);
  CHECK(ip.dhcp6);
}

TEST_CASE("routes: subnet on-link and default via the subnet's first host") {
  auto plan = plan_for("two-enis-two-subnets");
  auto& ens6 = plan.interfaces.at(1);
  REQUIRE(ens6.routes.size() == 2);
  bool subnet = false, def = false;
  for (auto& r : ens6.routes) {
    if (r.dst.str() == "10.0.1.0/24" && !r.gateway && r.scope == 253) subnet = true;
    if (r.dst.len == 0 && r.gateway && r.gateway->str() == "10.0.1.1" && r.onlink) def = true;
    CHECK(r.table == 10001);
  }
  CHECK(subnet);
  CHECK(def);
}

TEST_CASE("global rule lets non-ENI main routes win, for each family in use") {
  auto v4 = plan_for("two-enis-same-subnet");
  REQUIRE(v4.global_rules.size() == 1);
  CHECK(v4.global_rules[0].priority == 9999);
  CHECK(v4.global_rules[0].table == 254);
  CHECK(*v4.global_rules[0].suppress_prefixlen == 0);
  CHECK(*v4.global_rules[0].suppress_ifgroup == 10000);
  CHECK(plan_for("dual-stack-prefixes").global_rules.size() == 2);
}

TEST_CASE("dual stack: IPv6 addresses, RA default, delegated prefixes get rules") {
  auto plan = plan_for("dual-stack-prefixes");
  auto& ens6 = plan.interfaces.at(1);
  CHECK(has_rule(ens6, "10.0.1.64/28"));
  CHECK(has_rule(ens6, "2600:1f18:aaaa:bb01:1234::/80"));
  CHECK(has_rule(ens6, "2600:1f18:aaaa:bb01::20/128"));
  CHECK(std::any_of(ens6.routes.begin(), ens6.routes.end(),
                    [](const RouteSpec& r) { return r.dst.len == 0 && r.dst.family() == Family::V6 && r.gateway_from_ra; }));
  CHECK(ens6.ra_route_metric == 10001);
  CHECK(plan.interfaces.at(0).ra_route_metric == 0);
}

TEST_CASE("ENIs not on this host, ignored ones and incomplete ones are not actionable") {
  auto src = test::scenario("two-enis-two-subnets");
  auto rd = read_metadata(*src);
  auto links = test::links_for(rd.instance);
  links.pop_back();
  Config cfg;
  auto plan = make_plan(cfg, rd.instance, links);
  CHECK(plan.interfaces[0].actionable());
  CHECK(!plan.interfaces[1].present());
  CHECK(!plan.interfaces[1].actionable());
  CHECK(!plan.interfaces[1].rules.empty());  // still shown in full
  cfg.ignore = {"ens5"};
  CHECK(make_plan(cfg, rd.instance, links).interfaces[0].ignored);
}

TEST_CASE("the plan is deterministic") {
  auto a = plan_for("largest");
  auto b = plan_for("largest");
  REQUIRE(a.interfaces.size() == 15);
  for (size_t i = 0; i < a.interfaces.size(); ++i) {
    CHECK(a.interfaces[i].rules == b.interfaces[i].rules);
    CHECK(a.interfaces[i].routes == b.interfaces[i].routes);
  }
}

TEST_CASE("IPv6 off on a link: the ENI is planned with its IPv4 only") {
  auto src = test::scenario("dual-stack-prefixes");
  auto rd = read_metadata(*src);
  REQUIRE(rd.fatal.empty());
  auto links = test::links_for(rd.instance);
  auto full = make_plan({}, rd.instance, links);
  for (auto& l : links)
    if (l.name == "ens6") l.ipv6_off = true;
  auto plan = make_plan({}, rd.instance, links);
  auto& ens5 = plan.interfaces.at(0);
  auto& ens6 = plan.interfaces.at(1);
  CHECK_FALSE(ens5.ipv6_off);
  CHECK(ens5.addresses == full.interfaces.at(0).addresses);
  CHECK(ens6.ipv6_off);
  CHECK(ens6.dhcp4);
  CHECK_FALSE(ens6.dhcp6);
  CHECK(ens6.ra_route_metric == 0);
  for (auto& a : ens6.addresses) CHECK(a.prefix.addr.is_v4());
  for (auto& r : ens6.routes) CHECK(r.dst.addr.is_v4());
  for (auto& r : ens6.rules) CHECK(r.family == Family::V4);
  CHECK(has_rule(ens6, "10.0.1.64/28"));
  CHECK(ens6.addresses.size() == 2);
  // The host-wide IPv6 rule still follows the metadata, not the host's links.
  CHECK(plan.global_rules == full.global_rules);
}
