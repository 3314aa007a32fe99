#include "core/check.h"

#include <algorithm>
#include <cstring>

namespace ec2nc {

namespace {

constexpr uint32_t kMainTable = 254;
constexpr uint8_t kActToTable = 1;

IpAddr internet(Family f) {
  return f == Family::V4 ? *IpAddr::parse("1.1.1.1") : *IpAddr::parse("2606:4700:4700::1111");
}

/// A host of `subnet` that is none of `taken`: from the top of the subnet down.
IpAddr other_host(const IpPrefix& subnet, const std::vector<IpAddr>& taken) {
  IpAddr a = subnet.network().addr;
  const size_t n = a.size();
  // Set every host bit, then count down from the top (the broadcast address for IPv4).
  for (size_t bit = subnet.len; bit < a.bits(); ++bit) a.bytes[bit / 8] |= uint8_t(0x80 >> (bit % 8));
  for (int step = 0; step < 16; ++step) {
    // Decrement by one.
    for (size_t i = n; i-- > 0;) {
      if (a.bytes[i]--) break;
    }
    if (std::find(taken.begin(), taken.end(), a) == taken.end() && subnet.contains(a)) return a;
  }
  return a;
}

std::string table_name(uint32_t t) {
  return t == kMainTable ? "main" : t == 253 ? "default" : t == 255 ? "local" : std::to_string(t);
}

std::string link_name(const HostState& host, int ifindex) {
  for (auto& l : host.links)
    if (l.ifindex == ifindex) return l.name;
  return ifindex ? "ifindex " + std::to_string(ifindex) : "";
}

/// The rule the kernel would consult first for traffic from `src`, among those that look
/// up `table` (selectors it cannot judge, such as fwmark or iif, count as matching).
const ObservedRule* first_rule_to(const HostState& host, const IpAddr& src, uint32_t table) {
  const ObservedRule* best = nullptr;
  for (auto& r : host.rules) {
    if (r.family != src.family || r.table != table || r.action != kActToTable || r.invert) continue;
    if (r.from && !r.from->contains(src)) continue;
    if (!best || r.priority < best->priority) best = &r;
  }
  return best;
}

std::string rule_text(const ObservedRule& r) {
  std::string s = std::to_string(r.priority) + ": from " + (r.from ? r.from->str() : std::string("all"));
  if (!r.iifname.empty()) s += " iif " + r.iifname;
  if (r.fwmark) s += " fwmark " + std::to_string(r.fwmark);
  s += " lookup " + table_name(r.table);
  if (r.protocol == kOwnProto) s += " (ec2-netcfg's)";
  else if (r.protocol) s += " proto " + std::to_string(r.protocol);
  return s;
}

}  // namespace

std::vector<Probe> make_probes(const Plan& plan, const std::vector<std::string>& only) {
  std::vector<Probe> out;
  std::vector<IpAddr> own;
  for (auto& ip : plan.interfaces)
    for (auto& a : ip.addresses) own.push_back(a.prefix.addr);
  for (auto& ip : plan.interfaces) {
    if (!ip.actionable()) continue;
    if (!only.empty() && std::find(only.begin(), only.end(), ip.name) == only.end()) continue;
    for (auto& rule : ip.rules) {
      if (!rule.from || rule.table != ip.table) continue;
      Probe base;
      base.ifname = ip.name;
      base.ifindex = ip.ifindex;
      base.table = ip.table;
      base.source = *rule.from;
      base.forwarded = rule.from->len != rule.from->addr.bits();
      base.src = rule.from->addr;
      if (base.forwarded) {  // a host inside the delegated prefix: the first after its network address
        base.src = rule.from->network().addr;
        for (size_t i = base.src.size(); i-- > 0;)
          if (++base.src.bytes[i]) break;
      }
      const Family f = rule.from->family();
      auto add = [&](const IpAddr& dst, const std::string& toward) {
        Probe p = base;
        p.dst = dst;
        p.toward = toward;
        out.push_back(p);
      };
      add(internet(f), "the internet");
      // Its own subnet(s) and every other ENI's, in the same family.
      for (auto& other : plan.interfaces) {
        if (!other.actionable()) continue;
        for (auto& r : other.routes) {
          if (r.table != other.table || r.gateway || r.gateway_from_ra || r.dst.len == 0 || r.dst.family() != f) continue;
          add(other_host(r.dst, own), other.ifindex == ip.ifindex ? "its own subnet" : other.name + "'s subnet");
        }
      }
    }
  }
  return out;
}

Verdict judge(const Probe& p, const RouteAnswer& a, const Plan& plan, const HostState& host) {
  Verdict v;
  v.probe = p;
  v.answer = a;
  v.leaves = a.error ? "" : link_name(host, a.oif);
  v.right = a.error == 0 && a.oif == p.ifindex && (a.type == 1);
  if (v.right) return v;

  const InterfacePlan* ip = nullptr;
  for (auto& i : plan.interfaces)
    if (i.ifindex == p.ifindex) ip = &i;
  const bool v6 = p.src.family == Family::V6;

  if (p.forwarded) {
    auto it = host.sysctls.find(v6 ? "net/ipv6/conf/all/forwarding" : "net/ipv4/ip_forward");
    if (it != host.sysctls.end() && it->second == "0") {
      v.cause = std::string("forwarding is off (") + (v6 ? "net.ipv6.conf.all.forwarding" : "net.ipv4.ip_forward") +
                " = 0): traffic from the delegated prefix is not forwarded at all";
      return v;
    }
  } else {
    bool on_link = std::any_of(host.addresses.begin(), host.addresses.end(), [&](const ObservedAddress& o) {
      return o.ifindex == p.ifindex && o.prefix.addr == p.src;
    });
    if (!on_link) {
      v.cause = "address missing: " + p.src.str() + " is not on " + p.ifname;
      return v;
    }
  }
  const ObservedRule* own = nullptr;
  for (auto& r : host.rules)
    if (r.family == p.src.family && r.table == p.table && r.from && *r.from == p.source && r.action == kActToTable &&
        (!own || r.priority < own->priority))
      own = &r;
  if (!own) {
    v.cause = "missing rule: no `from " + p.source.str() + " lookup " + std::to_string(p.table) + "`";
    return v;
  }
  if (a.error == 0 && a.table != p.table) {
    const ObservedRule* first = first_rule_to(host, p.src, a.table);
    // ec2-netcfg's own rule before the ENI's (main minus defaults and routes through the
    // ENIs) cannot have given a default or a route through an ENI: such an answer came
    // from main's rule after the ENI's table had no route.
    const HostLink* out_link = nullptr;
    for (auto& l : host.links)
      if (l.ifindex == a.oif) out_link = &l;
    const bool from_global = first && a.table == kMainTable && first->suppress_ifgroup &&
                             !(out_link && out_link->group == *first->suppress_ifgroup);
    if (first && first->priority < own->priority && (from_global || !first->suppress_ifgroup)) {
      if (from_global) {
        v.cause = "a specific route in main through " + v.leaves + " wins (rule " + rule_text(*first) +
                  " lets main's routes through links that are not ENIs win: a bridge, a VPN)";
      } else {
        v.cause = "rule " + rule_text(*first) + " comes before " + p.ifname + "'s rule (" + std::to_string(own->priority) +
                  ") and captures the source";
      }
      return v;
    }
    if (a.table != kMainTable) {
      v.cause = "answered from table " + table_name(a.table) + ", not " + std::to_string(p.table);
      return v;
    }
  }
  // The ENI's own table answered (or nothing did): a route is missing from it.
  const bool has_default = std::any_of(host.routes.begin(), host.routes.end(), [&](const ObservedRoute& r) {
    return r.table == p.table && r.dst.len == 0 && r.dst.family() == p.src.family;
  });
  const bool ra_default_planned = ip && std::any_of(ip->routes.begin(), ip->routes.end(), [&](const RouteSpec& r) {
    return r.gateway_from_ra && r.dst.family() == p.src.family;
  });
  if (!has_default && v6 && ra_default_planned) {
    v.cause = "IPv6 default not learned yet: no router advertisement seen on " + p.ifname +
              ", so table " + std::to_string(p.table) + " has no IPv6 default (the next apply adds it)";
    return v;
  }
  if (!has_default) {
    v.cause = "missing table route: table " + std::to_string(p.table) + " has no default route";
    return v;
  }
  v.cause = a.error ? std::string("the kernel answers: ") + std::strerror(a.error)
                    : "table " + std::to_string(p.table) + " sends it through " + v.leaves + ", not " + p.ifname;
  return v;
}

}  // namespace ec2nc
