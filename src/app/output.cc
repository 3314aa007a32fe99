#include "app/output.h"

#include <rapidjson/prettywriter.h>
#include <rapidjson/stringbuffer.h>

namespace ec2nc {

namespace {

std::string route_text(const RouteSpec& r, const std::string& dev) {
  std::string s = r.dst.len == 0 ? "default" : r.dst.str();
  if (r.gateway) s += " via " + r.gateway->str();
  if (r.gateway_from_ra) s += " via (router from IPv6 router advertisements)";
  if (!dev.empty()) s += " dev " + dev;
  s += " table " + std::to_string(r.table);
  if (r.onlink) s += " onlink";
  if (r.scope == 253) s += " scope link";
  return s;
}

std::string rule_text(const RuleSpec& r) {
  std::string s = "from " + (r.from ? r.from->str() : std::string("all"));
  s += " lookup " + (r.table == 254 ? std::string("main") : std::to_string(r.table));
  if (r.suppress_prefixlen) s += " suppress_prefixlength " + std::to_string(*r.suppress_prefixlen);
  if (r.suppress_ifgroup) s += " suppress_ifgroup " + std::to_string(*r.suppress_ifgroup);
  s += " priority " + std::to_string(r.priority);
  if (!r.from) s += r.family == Family::V4 ? " (IPv4)" : " (IPv6)";
  return s;
}

}  // namespace

std::string eni_title(const InterfacePlan& ip) {
  std::string s = (ip.name.empty() ? std::string("-") : ip.name) + " " + ip.mac.str();
  if (!ip.interface_id.empty()) s += " " + ip.interface_id;
  std::string attrs;
  if (ip.primary) attrs += "primary, ";
  if (ip.device_number >= 0)
    attrs += "card " + std::to_string(ip.network_card) + ", device " + std::to_string(ip.device_number) + ", ";
  if (ip.table) attrs += "table " + std::to_string(ip.table) + ", ";
  if (!ip.present()) attrs += "not present on this host, ";
  if (ip.ignored) attrs += "ignored by configuration, ";
  if (ip.ipv6_off) attrs += "IPv6 off on this link: its IPv6 left out, ";
  if (!attrs.empty()) s += " (" + attrs.substr(0, attrs.size() - 2) + ")";
  return s;
}

void print_plan_text(Out& out, const Plan& plan) {
  for (auto& ip : plan.interfaces) {
    out << eni_title(ip) << "\n";
    if (ip.state != EniMetadata::State::Complete) {
      out << "  " << state_name(ip.state) << ": " << ip.problem << "\n\n";
      continue;
    }
    if (ip.link_group) out << "  link group " << ip.link_group << "\n";
    if (ip.dhcp4 || ip.dhcp6)
      out << "  dhcp " << (ip.dhcp4 && ip.dhcp6 ? "ipv4 ipv6" : ip.dhcp4 ? "ipv4" : "ipv6") << "\n";
    for (auto& a : ip.addresses) {
      out << "  address " << a.prefix.str();
      if (a.from_dhcp) out << " (primary, from DHCP)";
      else if (!a.prefix.addr.is_v4()) out << " (from DHCPv6, or added with preferred_lft 0)";
      else if (a.deprecated) out << " (secondary, preferred_lft 0)";
      out << "\n";
    }
    for (auto& p : ip.ipv4_prefixes) out << "  delegated prefix " << p.str() << "\n";
    for (auto& p : ip.ipv6_prefixes) out << "  delegated prefix " << p.str() << "\n";
    for (auto& r : ip.routes) out << "  route " << route_text(r, ip.name) << "\n";
    for (auto& r : ip.rules) out << "  rule " << rule_text(r) << "\n";
    for (auto& [pub, priv] : ip.elastic_ips) out << "  elastic ip " << pub.str() << " -> " << priv.str() << "\n";
    out << "\n";
  }
  if (!plan.global_rules.empty()) {
    out << "host-wide\n";
    for (auto& r : plan.global_rules) out << "  rule " << rule_text(r) << "\n";
  }
}

void print_plan_json(Out& out, const Plan& plan) {
  rapidjson::StringBuffer sb;
  rapidjson::PrettyWriter<rapidjson::StringBuffer> w(sb);
  w.SetIndent(' ', 2);
  auto str = [&](const char* k, const std::string& v) {
    w.Key(k);
    w.String(v.c_str());
  };
  auto rule_obj = [&](const RuleSpec& r) {
    w.StartObject();
    str("family", r.family == Family::V4 ? "inet" : "inet6");
    w.Key("priority");
    w.Uint(r.priority);
    str("from", r.from ? r.from->str() : "all");
    w.Key("table");
    w.Uint(r.table);
    if (r.suppress_prefixlen) {
      w.Key("suppress_prefixlength");
      w.Uint(*r.suppress_prefixlen);
    }
    if (r.suppress_ifgroup) {
      w.Key("suppress_ifgroup");
      w.Uint(*r.suppress_ifgroup);
    }
    w.EndObject();
  };
  w.StartObject();
  w.Key("interfaces");
  w.StartArray();
  for (auto& ip : plan.interfaces) {
    w.StartObject();
    str("mac", ip.mac.str());
    w.Key("name");
    if (ip.name.empty()) w.Null();
    else w.String(ip.name.c_str());
    w.Key("present");
    w.Bool(ip.present());
    w.Key("ignored");
    w.Bool(ip.ignored);
    str("state", state_name(ip.state));
    if (!ip.problem.empty()) str("problem", ip.problem);
    w.Key("primary");
    w.Bool(ip.primary);
    w.Key("ipv6_off");
    w.Bool(ip.ipv6_off);
    str("interface_id", ip.interface_id);
    w.Key("device_number");
    w.Int(ip.device_number);
    w.Key("network_card");
    w.Int(ip.network_card);
    w.Key("table");
    w.Uint(ip.table);
    w.Key("link_group");
    w.Uint(ip.link_group);
    w.Key("dhcp4");
    w.Bool(ip.dhcp4);
    w.Key("dhcp6");
    w.Bool(ip.dhcp6);
    w.Key("addresses");
    w.StartArray();
    for (auto& a : ip.addresses) {
      w.StartObject();
      str("address", a.prefix.str());
      w.Key("from_dhcp");
      w.Bool(a.from_dhcp);
      w.Key("deprecated");
      w.Bool(a.deprecated);
      w.EndObject();
    }
    w.EndArray();
    w.Key("delegated_prefixes");
    w.StartArray();
    for (auto& p : ip.ipv4_prefixes) w.String(p.str().c_str());
    for (auto& p : ip.ipv6_prefixes) w.String(p.str().c_str());
    w.EndArray();
    w.Key("routes");
    w.StartArray();
    for (auto& r : ip.routes) {
      w.StartObject();
      w.Key("table");
      w.Uint(r.table);
      str("dst", r.dst.len == 0 ? "default" : r.dst.str());
      if (r.gateway) str("gateway", r.gateway->str());
      if (r.gateway_from_ra) str("gateway", "ipv6-ra");
      w.Key("onlink");
      w.Bool(r.onlink);
      str("scope", r.scope == 253 ? "link" : "global");
      w.EndObject();
    }
    w.EndArray();
    w.Key("rules");
    w.StartArray();
    for (auto& r : ip.rules) rule_obj(r);
    w.EndArray();
    w.Key("elastic_ips");
    w.StartObject();
    for (auto& [pub, priv] : ip.elastic_ips) str(pub.str().c_str(), priv.str());
    w.EndObject();
    w.EndObject();
  }
  w.EndArray();
  w.Key("global_rules");
  w.StartArray();
  for (auto& r : plan.global_rules) rule_obj(r);
  w.EndArray();
  w.EndObject();
  out << sb.GetString() << "\n";
}

void print_changes(Out& out, const std::vector<FileChange>& files, const std::vector<Change>& changes,
                   bool json, const std::string& root, const std::vector<MacAddr>& not_present) {
  auto shown = [&](const std::string& p) {
    if (!root.empty() && p.compare(0, root.size(), root) == 0) {
      std::string rel = p.substr(root.size());
      while (!rel.empty() && rel[0] == '/') rel.erase(0, 1);
      return rel;
    }
    return p;
  };
  auto word = [](FileChange::Kind k) {
    return k == FileChange::Kind::Created ? "create" : k == FileChange::Kind::Updated ? "update" : "remove";
  };
  if (json) {
    rapidjson::StringBuffer sb;
    rapidjson::PrettyWriter<rapidjson::StringBuffer> w(sb);
    w.SetIndent(' ', 2);
    w.StartObject();
    w.Key("files");
    w.StartArray();
    for (auto& f : files) {
      w.StartObject();
      w.Key("action");
      w.String(word(f.kind));
      w.Key("path");
      w.String(shown(f.path).c_str());
      w.EndObject();
    }
    w.EndArray();
    w.Key("changes");
    w.StartArray();
    for (auto& c : changes) w.String(c.describe().c_str());
    w.EndArray();
    w.Key("not_present");
    w.StartArray();
    for (auto& m : not_present) w.String(m.str().c_str());
    w.EndArray();
    w.EndObject();
    out << sb.GetString() << "\n";
    return;
  }
  for (auto& f : files) out << word(f.kind) << " " << shown(f.path) << "\n";
  for (auto& c : changes) out << c.describe() << "\n";
}

}  // namespace ec2nc
