#include "core/plan.h"

#include <algorithm>

namespace ec2nc {

namespace {

constexpr uint8_t kScopeLink = 253;

IpPrefix default_route(Family f) {
  IpPrefix p;
  p.addr.family = f;
  p.len = 0;
  return p;
}

template <class T>
void sort_unique(std::vector<T>& v) {
  std::sort(v.begin(), v.end());
  v.erase(std::unique(v.begin(), v.end()), v.end());
}

void plan_eni(const Config& cfg, const EniMetadata& md, bool ipv6_off, InterfacePlan& ip) {
  // IPv6 off on the link: plan the ENI as if IMDS gave it no IPv6.
  EniMetadata v4only;
  if (ipv6_off && md.has_ipv6()) {
    v4only = md;
    v4only.ipv6s.clear();
    v4only.ipv6_prefixes.clear();
    v4only.subnet_ipv6.clear();
    ip.ipv6_off = true;
  }
  const EniMetadata& eni = ip.ipv6_off ? v4only : md;
  ip.table = table_for(cfg.table_base, eni.network_card, eni.device_number);
  ip.link_group = cfg.link_group;
  ip.ra_route_metric = (!eni.is_primary && eni.has_ipv6()) ? ip.table : 0;
  ip.main_route_metric = eni.is_primary ? kPrimaryRouteMetric : ip.table;
  ip.dhcp4 = eni.has_ipv4();
  ip.dhcp6 = !eni.ipv6s.empty();
  const bool rules_for_addresses = !eni.is_primary || cfg.primary_rules;

  // Addresses: the primary IPv4 with its subnet's length (what DHCP gives), every
  // other one as a host address, deprecated so it is never picked as the default
  // source of new connections (the primary address stays that).
  for (size_t i = 0; i < eni.local_ipv4s.size(); ++i) {
    AddressSpec a;
    a.from_dhcp = (i == 0);
    a.prefix = i == 0 ? IpPrefix{eni.local_ipv4s[0], eni.subnet_ipv4->len} : IpPrefix::host(eni.local_ipv4s[i]);
    a.deprecated = (i != 0);
    ip.addresses.push_back(a);
  }
  // IPv6: DHCPv6 gives the ENI one of its addresses, and IMDS does not say which (its
  // list order is no promise). ec2-netcfg adds every one it finds missing deprecated; the
  // one DHCPv6 hands out it makes preferred itself (its lease replaces the lifetimes),
  // and one already there is left as it is. A host with only deprecated addresses still
  // uses them as sources (deprecated is a preference, RFC 6724 rule 3).
  for (auto& a6 : eni.ipv6s) {
    AddressSpec a;
    a.prefix = IpPrefix::host(a6);
    a.deprecated = true;
    ip.addresses.push_back(a);
  }

  // Routes of the ENI's own table: its subnets on-link, everything else through its router.
  if (eni.subnet_ipv4) {
    RouteSpec subnet;
    subnet.table = ip.table;
    subnet.dst = eni.subnet_ipv4->network();
    subnet.scope = kScopeLink;
    ip.routes.push_back(subnet);
    RouteSpec def;
    def.table = ip.table;
    def.dst = default_route(Family::V4);
    def.gateway = eni.subnet_ipv4->first_host();
    def.onlink = true;
    ip.routes.push_back(def);
  }
  for (auto& s6 : eni.subnet_ipv6) {
    RouteSpec subnet;
    subnet.table = ip.table;
    subnet.dst = s6.network();
    ip.routes.push_back(subnet);
  }
  if (!eni.subnet_ipv6.empty() && (!eni.ipv6s.empty() || !eni.ipv6_prefixes.empty())) {
    RouteSpec def;
    def.table = ip.table;
    def.dst = default_route(Family::V6);
    def.gateway_from_ra = true;
    ip.routes.push_back(def);
  }

  // Source rules: every address and delegated prefix looks up the ENI's table.
  auto add_rule = [&](const IpPrefix& from) {
    RuleSpec r;
    r.family = from.family();
    r.priority = ip.table;
    r.from = from;
    r.table = ip.table;
    ip.rules.push_back(r);
  };
  if (rules_for_addresses) {
    for (auto& a : eni.local_ipv4s) add_rule(IpPrefix::host(a));
    for (auto& a : eni.ipv6s) add_rule(IpPrefix::host(a));
  }
  for (auto& p : eni.ipv4_prefixes) add_rule(p);
  for (auto& p : eni.ipv6_prefixes) add_rule(p);

  ip.ipv4_prefixes = eni.ipv4_prefixes;
  ip.ipv6_prefixes = eni.ipv6_prefixes;
  for (auto& [pub, priv] : eni.ipv4_associations) ip.elastic_ips.emplace_back(pub, priv);

  sort_unique(ip.routes);
  sort_unique(ip.rules);
}

}  // namespace

bool HostLink::can_be_eni() const {
  static const char* const kAggregates[] = {"bridge", "bond", "team", "vlan", "macvlan", "macvtap", "ipvlan",
                                            "vxlan", "dummy", "vrf", "tun", "tap"};
  if (loopback || type != 1 || mac.never_assigned() || random_veth) return false;
  for (const char* k : kAggregates)
    if (kind == k) return false;
  return true;
}

Plan make_plan(const Config& cfg, const InstanceMetadata& md, const std::vector<HostLink>& links) {
  Plan plan;
  plan.table_base = cfg.table_base;
  bool any_v4 = false, any_v6 = false;
  for (auto& [mac, eni] : md.enis) {
    InterfacePlan ip;
    ip.mac = mac;
    ip.state = eni.state;
    ip.problem = eni.problem;
    ip.primary = eni.is_primary;
    ip.interface_id = eni.interface_id;
    ip.device_number = eni.device_number;
    ip.network_card = eni.network_card;
    // Match by MAC; the lowest ifindex wins should a MAC appear twice (a bond's slave).
    bool opt_out = false, ipv6_off = false;
    for (auto& l : links) {
      if (l.mac == mac && l.can_be_eni() && (ip.ifindex == 0 || l.ifindex < ip.ifindex)) {
        ip.ifindex = l.ifindex;
        ip.name = l.name;
        opt_out = l.opt_out;
        ipv6_off = l.ipv6_off;
      }
    }
    ip.ignored = opt_out || config_ignores(cfg, ip.name, mac.str());
    if (eni.state == EniMetadata::State::Complete) plan_eni(cfg, eni, ipv6_off, ip);
    // Independent of which links this host has, so a capture renders the same anywhere.
    if (!ip.ignored && eni.state == EniMetadata::State::Complete) {
      any_v4 = any_v4 || eni.has_ipv4();
      any_v6 = any_v6 || eni.has_ipv6();
    }
    plan.interfaces.push_back(std::move(ip));
  }
  std::sort(plan.interfaces.begin(), plan.interfaces.end(), [](const InterfacePlan& a, const InterfacePlan& b) {
    auto ka = std::make_tuple(a.network_card, a.device_number < 0 ? 1000 : a.device_number, a.mac);
    auto kb = std::make_tuple(b.network_card, b.device_number < 0 ? 1000 : b.device_number, b.mac);
    return ka < kb;
  });

  // Before the per-ENI rules: the main table, minus its default route and minus any
  // route through an ENI. What remains (a container bridge, a VPN, a Kubernetes
  // service range) wins; traffic from an ENI's address never leaves through another ENI.
  for (Family f : {Family::V4, Family::V6}) {
    if ((f == Family::V4 && !any_v4) || (f == Family::V6 && !any_v6)) continue;
    RuleSpec r;
    r.family = f;
    r.priority = cfg.table_base - 1;
    r.table = 254;  // main
    r.suppress_prefixlen = 0;
    r.suppress_ifgroup = cfg.link_group;
    plan.global_rules.push_back(r);
  }
  return plan;
}

}  // namespace ec2nc
