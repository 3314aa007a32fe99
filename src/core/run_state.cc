#include "core/run_state.h"

#include <rapidjson/document.h>
#include <rapidjson/prettywriter.h>
#include <rapidjson/stringbuffer.h>

#include <algorithm>

namespace ec2nc {

namespace {

using Writer = rapidjson::PrettyWriter<rapidjson::StringBuffer>;
using Value = rapidjson::Value;

void put(Writer& w, const char* key, const std::string& v) {
  w.Key(key);
  w.String(v.c_str(), rapidjson::SizeType(v.size()));
}
void put(Writer& w, const char* key, uint32_t v) {
  w.Key(key);
  w.Uint(v);
}

void write_rule(Writer& w, const RuleSpec& r) {
  w.StartObject();
  put(w, "family", r.family == Family::V4 ? 4u : 6u);
  put(w, "priority", r.priority);
  if (r.from) put(w, "from", r.from->str());
  put(w, "table", r.table);
  if (r.suppress_prefixlen) put(w, "suppress_prefixlength", uint32_t(*r.suppress_prefixlen));
  if (r.suppress_ifgroup) put(w, "suppress_ifgroup", *r.suppress_ifgroup);
  w.EndObject();
}

void write_route(Writer& w, const RouteSpec& r) {
  w.StartObject();
  put(w, "table", r.table);
  put(w, "dst", r.dst.str());
  if (r.gateway_from_ra) put(w, "gateway", std::string("ra"));
  else if (r.gateway) put(w, "gateway", r.gateway->str());
  if (r.onlink) {
    w.Key("onlink");
    w.Bool(true);
  }
  if (r.scope) put(w, "scope", uint32_t(r.scope));
  w.EndObject();
}

/// Reads member `key` as an unsigned integer up to `max`; absent is fine when `optional`.
bool get_uint(const Value& o, const char* key, uint32_t max, bool optional, uint32_t* out) {
  if (!o.HasMember(key)) return optional;
  if (!o[key].IsUint() || o[key].GetUint() > max) return false;
  *out = o[key].GetUint();
  return true;
}

bool get_prefix(const Value& o, const char* key, std::optional<IpPrefix>* out) {
  if (!o.HasMember(key)) return true;
  if (!o[key].IsString()) return false;
  auto p = IpPrefix::parse(o[key].GetString());
  if (!p) return false;
  *out = p;
  return true;
}

bool read_rule(const Value& o, RuleSpec* r) {
  if (!o.IsObject()) return false;
  uint32_t fam = 0, sp = 0, sg = 0;
  if (!get_uint(o, "family", 6, false, &fam) || (fam != 4 && fam != 6)) return false;
  r->family = fam == 4 ? Family::V4 : Family::V6;
  if (!get_uint(o, "priority", 0xffffffffu, false, &r->priority)) return false;
  if (!get_uint(o, "table", 0xffffffffu, false, &r->table)) return false;
  if (!get_prefix(o, "from", &r->from)) return false;
  if (r->from && r->from->family() != r->family) return false;
  if (o.HasMember("suppress_prefixlength")) {
    if (!get_uint(o, "suppress_prefixlength", 128, false, &sp)) return false;
    r->suppress_prefixlen = uint8_t(sp);
  }
  if (o.HasMember("suppress_ifgroup")) {
    if (!get_uint(o, "suppress_ifgroup", 0xffffffffu, false, &sg)) return false;
    r->suppress_ifgroup = sg;
  }
  return true;
}

bool read_route(const Value& o, RouteSpec* r) {
  if (!o.IsObject()) return false;
  if (!get_uint(o, "table", 0xffffffffu, false, &r->table)) return false;
  std::optional<IpPrefix> dst;
  if (!o.HasMember("dst") || !get_prefix(o, "dst", &dst) || !dst) return false;
  r->dst = *dst;
  if (o.HasMember("gateway")) {
    if (!o["gateway"].IsString()) return false;
    std::string g = o["gateway"].GetString();
    if (g == "ra") {
      r->gateway_from_ra = true;
    } else {
      auto a = IpAddr::parse(g);
      if (!a) return false;
      r->gateway = a;
    }
  }
  if (o.HasMember("onlink")) {
    if (!o["onlink"].IsBool()) return false;
    r->onlink = o["onlink"].GetBool();
  }
  uint32_t scope = 0;
  if (!get_uint(o, "scope", 255, true, &scope)) return false;
  r->scope = uint8_t(scope);
  return true;
}

template <class T, class Read>
bool read_array(const Value& o, const char* key, Read read, std::vector<T>* out) {
  if (!o.HasMember(key)) return true;
  if (!o[key].IsArray()) return false;
  for (auto& v : o[key].GetArray()) {
    T t;
    if (!read(v, &t)) return false;
    out->push_back(t);
  }
  return true;
}

}  // namespace

bool InterfaceRecord::owns_address(const IpAddr& a) const {
  return std::any_of(addresses.begin(), addresses.end(), [&](const IpPrefix& p) { return p.addr == a; });
}

bool InterfaceRecord::wrote_rule(const RuleSpec& r) const {
  return std::find(file_rules.begin(), file_rules.end(), r) != file_rules.end();
}

bool InterfaceRecord::wrote_route(const RouteSpec& r) const {
  return std::any_of(file_routes.begin(), file_routes.end(), [&](const RouteSpec& f) {
    if (f.table != r.table || f.dst != r.dst) return false;
    return f.gateway_from_ra ? r.gateway.has_value() : f.gateway == r.gateway;
  });
}

const InterfaceRecord* RunState::find(const std::string& name) const {
  for (auto& r : interfaces)
    if (r.name == name) return &r;
  return nullptr;
}

InterfaceRecord* RunState::find(const std::string& name) {
  for (auto& r : interfaces)
    if (r.name == name) return &r;
  return nullptr;
}

namespace {
constexpr char kStateFormat[] = "ec2-netcfg-state/2";
}  // namespace

bool parse_state(const std::string& text, RunState* out, std::string* error) {
  rapidjson::Document doc;
  doc.Parse<rapidjson::kParseIterativeFlag>(text.c_str(), text.size());  // no recursion: any depth
  if (doc.HasParseError() || !doc.IsObject() || !doc.HasMember("interfaces") || !doc["interfaces"].IsArray()) {
    *error = "not a state file (expected a JSON object with an \"interfaces\" array)";
    return false;
  }
  // A record of another format (a newer ec2-netcfg's, say) says nothing this one may act on.
  if (doc.HasMember("format") &&
      (!doc["format"].IsString() || std::string(doc["format"].GetString()) != kStateFormat)) {
    *error = std::string("format ") +
             (doc["format"].IsString() ? "\"" + std::string(doc["format"].GetString()) + "\"" : "(not a string)") +
             ": not a record this ec2-netcfg knows (" + kStateFormat + ")";
    return false;
  }
  RunState st;
  size_t i = 0;
  for (auto& v : doc["interfaces"].GetArray()) {
    const std::string where = "interfaces[" + std::to_string(i++) + "]";
    InterfaceRecord r;
    uint32_t ifindex = 0;
    std::optional<MacAddr> mac;
    if (!v.IsObject() || !v.HasMember("name") || !v["name"].IsString() || !v.HasMember("mac") ||
        !v["mac"].IsString() || !(mac = MacAddr::parse(v["mac"].GetString())) ||
        !get_uint(v, "ifindex", 0x7fffffff, false, &ifindex) || !get_uint(v, "table", 0xffffffffu, false, &r.table)) {
      *error = where + ": expected name, mac, ifindex and table";
      return false;
    }
    r.name = v["name"].GetString();
    r.mac = *mac;
    r.ifindex = int(ifindex);
    auto read_prefix = [](const Value& x, IpPrefix* p) {
      if (!x.IsString()) return false;
      auto q = IpPrefix::parse(x.GetString());
      if (!q) return false;
      *p = *q;
      return true;
    };
    if (!read_array<IpPrefix>(v, "addresses", read_prefix, &r.addresses) ||
        !read_array<RuleSpec>(v, "file_rules", read_rule, &r.file_rules) ||
        !read_array<RouteSpec>(v, "file_routes", read_route, &r.file_routes)) {
      *error = where + " (" + r.name + "): malformed addresses, file_rules or file_routes";
      return false;
    }
    if (st.find(r.name)) {
      *error = where + ": interface " + r.name + " recorded twice";
      return false;
    }
    st.interfaces.push_back(std::move(r));
  }
  *out = std::move(st);
  return true;
}

std::string format_state(const RunState& st) {
  std::vector<const InterfaceRecord*> recs;
  for (auto& r : st.interfaces) recs.push_back(&r);
  std::sort(recs.begin(), recs.end(), [](auto* a, auto* b) { return a->name < b->name; });
  rapidjson::StringBuffer sb;
  Writer w(sb);
  w.SetIndent(' ', 2);
  w.StartObject();
  w.Key("format");
  w.String(kStateFormat);
  w.Key("interfaces");
  w.StartArray();
  for (auto* r : recs) {
    w.StartObject();
    put(w, "name", r->name);
    put(w, "mac", r->mac.str());
    put(w, "ifindex", uint32_t(r->ifindex));
    put(w, "table", r->table);
    auto addrs = r->addresses;
    std::sort(addrs.begin(), addrs.end());
    w.Key("addresses");
    w.StartArray();
    for (auto& a : addrs) {
      std::string s = a.str();
      w.String(s.c_str(), rapidjson::SizeType(s.size()));
    }
    w.EndArray();
    if (!r->file_rules.empty()) {
      w.Key("file_rules");
      w.StartArray();
      for (auto& x : r->file_rules) write_rule(w, x);
      w.EndArray();
    }
    if (!r->file_routes.empty()) {
      w.Key("file_routes");
      w.StartArray();
      for (auto& x : r->file_routes) write_route(w, x);
      w.EndArray();
    }
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  return std::string(sb.GetString(), sb.GetSize()) + "\n";
}

}  // namespace ec2nc
