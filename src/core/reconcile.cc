#include "core/reconcile.h"

#include <algorithm>
#include <tuple>
#include <unordered_map>

namespace ec2nc {

namespace {

constexpr uint8_t kRtprotRa = 9;      // RTPROT_RA
constexpr uint8_t kActToTable = 1;    // FR_ACT_TO_TBL
constexpr uint32_t kMainTable = 254;

std::string table_name(uint32_t t) {
  switch (t) {
    case 253: return "default";
    case 254: return "main";
    case 255: return "local";
    default: return std::to_string(t);
  }
}

std::string prefix_text(const IpPrefix& p) { return p.len == 0 ? "default" : p.str(); }

bool is_default(const IpPrefix& p) { return p.len == 0; }

// True when `o` is, by what it selects and does, the rule `want` (whoever made it).
bool rule_satisfies(const ObservedRule& o, const RuleSpec& want) {
  return o.family == want.family && o.priority == want.priority && o.from == want.from &&
         o.table == want.table && o.suppress_prefixlen == want.suppress_prefixlen &&
         o.suppress_ifgroup == want.suppress_ifgroup && o.action == kActToTable && !o.to &&
         o.iifname.empty() && o.oifname.empty() && o.fwmark == 0 && o.fwmask == 0 && o.tos == 0 &&
         !o.invert && !o.has_other_selectors;
}

// True when the observed route is the desired one: same table, destination, device
// and next hop; protocol and metric do not matter.
bool route_satisfies(const ObservedRoute& o, int ifindex, const RouteSpec& want) {
  return !o.multipath && o.table == want.table && o.dst == want.dst && o.oif == ifindex &&
         o.gateway == want.gateway;
}

RuleSpec rule_spec_of(const ObservedRule& o) {
  RuleSpec r;
  r.family = o.family;
  r.priority = o.priority;
  r.from = o.from;
  r.table = o.table;
  r.suppress_prefixlen = o.suppress_prefixlen;
  r.suppress_ifgroup = o.suppress_ifgroup;
  return r;
}

RouteSpec route_spec_of(const ObservedRoute& o) {
  RouteSpec r;
  r.table = o.table;
  r.dst = o.dst;
  r.gateway = o.gateway;
  r.onlink = (o.flags & 4) != 0;  // RTNH_F_ONLINK
  r.scope = o.scope;
  r.metric = o.metric;
  return r;
}

// The router of `ifindex` learned from router advertisements: the next hop of an
// IPv6 default route in main through that link (a multipath one included: the kernel
// merges RA defaults of several links with equal metrics), proto ra preferred.
std::optional<IpAddr> ra_router(const HostState& host, int ifindex) {
  std::optional<IpAddr> best;
  bool best_is_ra = false;
  auto consider = [&](const std::optional<IpAddr>& gw, bool is_ra) {
    if (!gw || !gw->is_link_local_v6()) return;
    if (!best || (is_ra && !best_is_ra) || (is_ra == best_is_ra && *gw < *best)) {
      best = gw;
      best_is_ra = is_ra;
    }
  };
  for (auto& r : host.routes) {
    if (r.table != kMainTable || r.dst.family() != Family::V6 || !is_default(r.dst)) continue;
    const bool is_ra = r.protocol == kRtprotRa;
    if (!r.multipath) {
      if (r.oif == ifindex) consider(r.gateway, is_ra);
      continue;
    }
    for (auto& nh : r.nexthops)
      if (nh.oif == ifindex) consider(nh.gateway, is_ra);
  }
  return best;
}

const HostLink* find_link(const HostState& host, int ifindex) {
  for (auto& l : host.links)
    if (l.ifindex == ifindex) return &l;
  return nullptr;
}

Change make(Change::Op op, const InterfacePlan* ip) {
  Change c;
  c.op = op;
  if (ip) {
    c.ifindex = ip->ifindex;
    c.ifname = ip->name;
  }
  return c;
}

// Deletions are sorted by value so the change list does not depend on dump order.
using ChangeRange = std::pair<std::vector<Change>::iterator, std::vector<Change>::iterator>;
void sort_rules(ChangeRange r) {
  std::stable_sort(r.first, r.second, [](const Change& a, const Change& b) { return a.rule < b.rule; });
}
void sort_routes(ChangeRange r) {
  std::stable_sort(r.first, r.second, [](const Change& a, const Change& b) {
    return std::tie(a.route, a.ifindex) < std::tie(b.route, b.ifindex);
  });
}
void sort_addresses(ChangeRange r) {
  std::stable_sort(r.first, r.second, [](const Change& a, const Change& b) {
    return std::tie(a.ifindex, a.address.prefix) < std::tie(b.ifindex, b.address.prefix);
  });
}
void sort_rules(std::vector<Change>& v) { sort_rules(ChangeRange(v.begin(), v.end())); }
void sort_routes(std::vector<Change>& v) { sort_routes(ChangeRange(v.begin(), v.end())); }
void sort_addresses(std::vector<Change>& v) { sort_addresses(ChangeRange(v.begin(), v.end())); }

/// Moves `from` to the end of `to` and releases `from`'s storage (a first apply of the
/// largest shape holds ~1,900 changes: the parts and the whole must not all be kept).
void append(std::vector<Change>& to, std::vector<Change>& from) {
  to.insert(to.end(), std::make_move_iterator(from.begin()), std::make_move_iterator(from.end()));
  std::vector<Change>().swap(from);
}

}  // namespace

std::string Change::describe() const {
  std::string s = ifname.empty() ? "" : ifname + ": ";
  auto route_text = [&] {
    std::string t = prefix_text(route.dst);
    if (route.gateway) t += " via " + route.gateway->str();
    t += " table " + table_name(route.table);
    if (route.scope == 253) t += " scope link";
    if (route.onlink) t += " onlink";
    return t;
  };
  auto rule_text = [&] {
    std::string t = "from " + (rule.from ? rule.from->str() : std::string("all"));
    t += " lookup " + table_name(rule.table);
    if (rule.suppress_prefixlen) t += " suppress_prefixlength " + std::to_string(*rule.suppress_prefixlen);
    if (rule.suppress_ifgroup) t += " suppress_ifgroup " + std::to_string(*rule.suppress_ifgroup);
    t += " priority " + std::to_string(rule.priority);
    if (!rule.from) t += rule.family == Family::V4 ? " (IPv4)" : " (IPv6)";
    return t;
  };
  switch (op) {
    case Op::SetLinkUp: return s + "set link up";
    case Op::SetLinkDown: return s + "set link down";
    case Op::SetLinkGroup: return s + "set group " + std::to_string(group);
    case Op::AddAddress: return s + "add address " + address.prefix.str();
    case Op::DelAddress: return s + "del address " + address.prefix.str();
    case Op::AddRoute: return s + "add route " + route_text();
    case Op::DelRoute: return s + "del route " + route_text();
    case Op::AddRule: return s + "add rule " + rule_text();
    case Op::DelRule: return s + "del rule " + rule_text();
    case Op::SetSysctl: return s + "set sysctl " + sysctl + "=" + value;
  }
  return s;
}

Change inverse(const Change& c) {
  Change u = c;
  switch (c.op) {
    case Change::Op::SetLinkUp: u.op = Change::Op::SetLinkDown; break;
    case Change::Op::SetLinkDown: u.op = Change::Op::SetLinkUp; break;
    case Change::Op::SetLinkGroup: std::swap(u.group, u.prev_group); break;
    case Change::Op::AddAddress: u.op = Change::Op::DelAddress; break;
    case Change::Op::DelAddress: u.op = Change::Op::AddAddress; break;
    case Change::Op::AddRoute: u.op = Change::Op::DelRoute; break;
    case Change::Op::DelRoute: u.op = Change::Op::AddRoute; break;
    case Change::Op::AddRule: u.op = Change::Op::DelRule; break;
    case Change::Op::DelRule: u.op = Change::Op::AddRule; break;
    case Change::Op::SetSysctl: std::swap(u.value, u.prev_value); break;
  }
  return u;
}

bool owns_rule(const ObservedRule& o, uint32_t table, const InterfaceRecord* rec) {
  if (o.table != table) return false;
  if (o.protocol == kOwnProto) return true;
  if (!rec || o.protocol != kNetworkdProto) return false;
  return std::any_of(rec->file_rules.begin(), rec->file_rules.end(),
                     [&](const RuleSpec& r) { return rule_satisfies(o, r); });
}

bool owns_route(const ObservedRoute& o, uint32_t table, int ifindex, const InterfaceRecord* rec) {
  if (o.table != table) return false;
  if (o.protocol == kOwnProto) return true;
  if (!rec || o.protocol != kNetworkdProto || o.multipath || (ifindex != 0 && o.oif != ifindex)) return false;
  return rec->wrote_route(route_spec_of(o));
}

bool owns_address(const ObservedAddress& o, const InterfaceRecord* rec) {
  return o.proto == kOwnProto || (rec && rec->owns_address(o.prefix.addr));
}

namespace {

/// The host's objects by the key every comparison of reconcile() starts with (a link's
/// addresses, a table's routes and rules), in the order the kernel listed them. The
/// largest shape has ~900 addresses and ~1800 rules: matching each wanted one against
/// all of them was quadratic, and most of a no-change run's CPU time.
struct HostIndex {
  std::unordered_map<int, std::vector<const ObservedAddress*>> addresses;  ///< By ifindex.
  std::unordered_map<uint32_t, std::vector<const ObservedRoute*>> routes;  ///< By table.
  std::unordered_map<uint32_t, std::vector<const ObservedRule*>> rules;    ///< By table.

  explicit HostIndex(const HostState& host) {
    for (auto& a : host.addresses) addresses[a.ifindex].push_back(&a);
    for (auto& r : host.routes) routes[r.table].push_back(&r);
    for (auto& r : host.rules) rules[r.table].push_back(&r);
  }
  template <class T, class K>
  static const std::vector<const T*>& of(const std::unordered_map<K, std::vector<const T*>>& m, K key) {
    static const std::vector<const T*> none;
    auto it = m.find(key);
    return it == m.end() ? none : it->second;
  }
  const std::vector<const ObservedAddress*>& addresses_of(int ifindex) const { return of(addresses, ifindex); }
  const std::vector<const ObservedRoute*>& routes_of(uint32_t table) const { return of(routes, table); }
  const std::vector<const ObservedRule*>& rules_of(uint32_t table) const { return of(rules, table); }
};

}  // namespace

std::vector<Change> reconcile(const Plan& plan, const HostState& host, const ReconcileScope& scope) {
  // Every change goes into one list, tagged with its part of the order (below); the list
  // is then put in that order in place. A first apply of the largest shape has ~1,900
  // changes: a list per part and the whole built from them would hold each twice.
  enum Part : uint8_t {
    kLinkUp, kLinkGroup, kAddSubnetRoute, kAddGwRoute, kAddGlobalRule, kAddRule, kAddAddr, kSysctl,
    kDelAddr, kDelRule, kDelRoute, kParts
  };
  std::vector<Change> out;
  std::vector<uint8_t> part_of;
  {
    // Room for a first apply (everything added) at once: growing by doubling would hold
    // the old and the new storage together for a moment.
    size_t adds = plan.global_rules.size();
    for (auto& ip : plan.interfaces) adds += 3 + ip.addresses.size() + ip.routes.size() + ip.rules.size();
    out.reserve(adds);
    part_of.reserve(adds);
  }
  auto push = [&](Part p, Change c) {
    out.push_back(std::move(c));
    part_of.push_back(p);
  };
  const HostIndex index(host);
  auto has_rule = [&](const RuleSpec& want) {
    const auto& rules = index.rules_of(want.table);
    return std::any_of(rules.begin(), rules.end(), [&](const ObservedRule* o) { return rule_satisfies(*o, want); });
  };

  // The host-wide rules go with managing at least one ENI of their family on this host.
  auto manages_family = [&](Family f) {
    return std::any_of(plan.interfaces.begin(), plan.interfaces.end(), [&](const InterfacePlan& ip) {
      return ip.actionable() && std::any_of(ip.rules.begin(), ip.rules.end(), [&](const RuleSpec& r) { return r.family == f; });
    });
  };
  for (auto& want : plan.global_rules) {
    if (!manages_family(want.family)) continue;
    if (!has_rule(want)) {
      Change c = make(Change::Op::AddRule, nullptr);
      c.rule = want;
      push(kAddGlobalRule, std::move(c));
    }
  }
  if (scope.may_remove_global_rules) {
    for (auto& o : host.rules) {
      if (o.protocol != kOwnProto || o.priority != plan.table_base - 1) continue;
      bool wanted = std::any_of(plan.global_rules.begin(), plan.global_rules.end(),
                                [&](const RuleSpec& w) { return rule_satisfies(o, w); });
      if (!wanted) {
        Change c = make(Change::Op::DelRule, nullptr);
        c.rule = rule_spec_of(o);
        push(kDelRule, std::move(c));
      }
    }
  }

  for (auto& ip : plan.interfaces) {
    if (!ip.actionable()) continue;
    if (!scope.only.empty() && std::find(scope.only.begin(), scope.only.end(), ip.name) == scope.only.end())
      continue;
    // The record speaks for this link only if it is about this very link.
    const InterfaceRecord* rec = scope.records ? scope.records->find(ip.name) : nullptr;
    if (rec && (rec->mac != ip.mac || rec->ifindex != ip.ifindex)) rec = nullptr;

    if (const HostLink* link = find_link(host, ip.ifindex)) {
      // Up only when ec2-netcfg brings the link into service (no record of it yet): one it
      // configured before and finds down was set down by someone, on purpose.
      if (!link->up && !rec) push(kLinkUp, make(Change::Op::SetLinkUp, &ip));
      if (ip.link_group != 0 && link->group != ip.link_group) {
        Change c = make(Change::Op::SetLinkGroup, &ip);
        c.group = ip.link_group;
        c.prev_group = link->group;
        push(kLinkGroup, std::move(c));
      }
    }

    // Addresses: the same IP on this link, with any prefix length, is enough.
    const auto& link_addresses = index.addresses_of(ip.ifindex);
    for (auto& a : ip.addresses) {
      bool have = std::any_of(link_addresses.begin(), link_addresses.end(),
                              [&](const ObservedAddress* o) { return o->prefix.addr == a.prefix.addr; });
      if (!have) {
        Change c = make(Change::Op::AddAddress, &ip);
        c.address = a;
        push(kAddAddr, std::move(c));
      }
    }
    for (const ObservedAddress* op : link_addresses) {
      const ObservedAddress& o = *op;
      if (!owns_address(o, rec)) continue;
      bool wanted = std::any_of(ip.addresses.begin(), ip.addresses.end(),
                                [&](const AddressSpec& a) { return a.prefix.addr == o.prefix.addr; });
      if (!wanted) {
        Change c = make(Change::Op::DelAddress, &ip);
        c.address.prefix = o.prefix;
        c.address.deprecated = o.preferred == 0;
        push(kDelAddr, std::move(c));
      }
    }

    // Routes of the ENI's table, the RA router resolved.
    std::vector<RouteSpec> routes;
    bool keep_v6_default = false;
    for (auto& r : ip.routes) {
      RouteSpec want = r;
      if (r.gateway_from_ra) {
        auto gw = ra_router(host, ip.ifindex);
        if (!gw) {
          keep_v6_default = true;
          continue;
        }
        want.gateway = gw;
        want.gateway_from_ra = false;
      }
      routes.push_back(want);
      const auto& table_routes = index.routes_of(want.table);
      // The RA default only as ec2-netcfg's own: networkd's copy (Gateway=_ipv6ra) goes
      // whenever networkd drops what it learned from RAs (networkd 257 at a restart, with
      // its nexthop objects) and comes back only with the next RA.
      const bool own_only = r.gateway_from_ra;
      bool have = std::any_of(table_routes.begin(), table_routes.end(), [&](const ObservedRoute* o) {
        return route_satisfies(*o, ip.ifindex, want) && (!own_only || o->protocol == kOwnProto);
      });
      if (!have) {
        Change c = make(Change::Op::AddRoute, &ip);
        c.route = want;
        push(want.gateway ? kAddGwRoute : kAddSubnetRoute, std::move(c));
      }
    }
    for (const ObservedRoute* op : index.routes_of(ip.table)) {
      const ObservedRoute& o = *op;
      if (!owns_route(o, ip.table, ip.ifindex, rec)) continue;
      if (keep_v6_default && o.dst.family() == Family::V6 && is_default(o.dst)) continue;
      bool wanted = std::any_of(routes.begin(), routes.end(),
                                [&](const RouteSpec& w) { return route_satisfies(o, ip.ifindex, w); });
      if (!wanted) {
        Change c = make(Change::Op::DelRoute, &ip);
        c.ifindex = o.oif;
        c.route = route_spec_of(o);
        c.protocol = o.protocol;
        push(kDelRoute, std::move(c));
      }
    }

    // Source rules.
    for (auto& want : ip.rules) {
      if (!has_rule(want)) {
        Change c = make(Change::Op::AddRule, &ip);
        c.rule = want;
        push(kAddRule, std::move(c));
      }
    }
    for (const ObservedRule* op : index.rules_of(ip.table)) {
      const ObservedRule& o = *op;
      if (!owns_rule(o, ip.table, rec)) continue;
      bool wanted = std::any_of(ip.rules.begin(), ip.rules.end(),
                                [&](const RuleSpec& w) { return rule_satisfies(o, w); });
      if (!wanted) {
        Change c = make(Change::Op::DelRule, &ip);
        c.rule = rule_spec_of(o);
        c.protocol = o.protocol;
        push(kDelRule, std::move(c));
      }
    }

    if (ip.ra_route_metric != 0) {
      const std::string path = "net/ipv6/conf/" + ip.name + "/ra_defrtr_metric";
      const std::string value = std::to_string(ip.ra_route_metric);
      auto it = host.sysctls.find(path);
      // Absent: the kernel has no such setting (before 5.14) or the link no IPv6; skip.
      if (it != host.sysctls.end() && it->second != value) {
        Change c = make(Change::Op::SetSysctl, &ip);
        c.sysctl = path;
        c.value = value;
        c.prev_value = it->second;
        push(kSysctl, std::move(c));
      }
    }
  }

  // A socket can use an address the moment it exists, so the table and the rule that
  // steer its traffic come first and the address last; a rule for an address not yet
  // present matches nothing. Going away, the address leaves first, its rule after it.
  // (The Part order.) A counting sort: each change's place, then the list permuted to
  // it in place, each part keeping the order its changes were found in.
  size_t start[kParts + 1] = {};
  for (uint8_t p : part_of) ++start[p + 1];
  for (int p = 0; p < kParts; ++p) start[p + 1] += start[p];
  std::vector<size_t> dest(out.size());
  {
    size_t next[kParts];
    std::copy(start, start + kParts, next);
    for (size_t i = 0; i < out.size(); ++i) dest[i] = next[part_of[i]]++;
  }
  for (size_t i = 0; i < out.size(); ++i) {
    while (dest[i] != i) {
      const size_t j = dest[i];
      std::swap(out[i], out[j]);
      std::swap(dest[i], dest[j]);
    }
  }
  auto part = [&](Part p) { return std::make_pair(out.begin() + std::ptrdiff_t(start[p]), out.begin() + std::ptrdiff_t(start[p + 1])); };
  sort_rules(part(kDelRule));
  sort_routes(part(kDelRoute));
  sort_addresses(part(kDelAddr));
  return out;
}

std::vector<Change> removal(const std::string& ifname, int ifindex, uint32_t table, uint32_t link_group,
                            const HostState& host, const InterfaceRecord* rec) {
  std::vector<Change> rules, routes, addresses, group;
  auto make_change = [&](Change::Op op) {
    Change c;
    c.op = op;
    c.ifindex = ifindex;
    c.ifname = ifname;
    return c;
  };
  for (auto& o : host.rules) {
    if (!owns_rule(o, table, rec)) continue;
    Change c = make_change(Change::Op::DelRule);
    c.rule = rule_spec_of(o);
    c.protocol = o.protocol;
    rules.push_back(c);
  }
  for (auto& o : host.routes) {
    if (!owns_route(o, table, ifindex, rec)) continue;
    Change c = make_change(Change::Op::DelRoute);
    c.ifindex = o.oif;
    c.route = route_spec_of(o);
    c.protocol = o.protocol;
    routes.push_back(c);
  }
  if (ifindex > 0) {
    for (auto& o : host.addresses) {
      if (o.ifindex != ifindex || !owns_address(o, rec)) continue;
      // Never an address a DHCP client holds (a lease's lifetime is finite), also one
      // ec2-netcfg added before the client did (a hotplug race: the client then took it
      // over): the link stays in service after `remove`.
      if (o.valid != 0xffffffff) continue;
      Change c = make_change(Change::Op::DelAddress);
      c.address.prefix = o.prefix;
      c.address.deprecated = o.preferred == 0;
      addresses.push_back(c);
    }
    const HostLink* link = find_link(host, ifindex);
    if (link && link_group != 0 && link->group == link_group) {
      Change c = make_change(Change::Op::SetLinkGroup);
      c.group = 0;
      c.prev_group = link->group;
      group.push_back(c);
    }
  }
  sort_rules(rules);
  sort_routes(routes);
  sort_addresses(addresses);
  std::vector<Change> out;
  for (auto* part : {&addresses, &rules, &routes, &group}) append(out, *part);
  return out;
}

std::vector<Change> global_removal(const HostState& host, uint32_t table_base, uint32_t link_group) {
  std::vector<Change> out;
  for (auto& o : host.rules) {
    const bool ours = o.protocol == kOwnProto || (o.protocol == kNetworkdProto && o.suppress_ifgroup == link_group);
    if (!ours || o.priority != table_base - 1 || o.table != kMainTable) continue;
    Change c = make(Change::Op::DelRule, nullptr);
    c.rule = rule_spec_of(o);
    c.protocol = o.protocol;
    out.push_back(c);
  }
  sort_rules(out);
  return out;
}

}  // namespace ec2nc
