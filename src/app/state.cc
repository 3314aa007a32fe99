#include "app/state.h"

#include <rapidjson/document.h>
#include <rapidjson/prettywriter.h>
#include <rapidjson/stringbuffer.h>

#include <algorithm>
#include <cerrno>

#include "edge/files.h"

namespace ec2nc {

bool load_state(const std::string& dir, RunState* out, std::string* error) {
  out->interfaces.clear();
  std::string text;
  if (!read_file(dir + "/state.json", &text, error)) return errno == ENOENT;
  rapidjson::Document doc;
  doc.Parse(text.c_str(), text.size());
  if (doc.HasParseError() || !doc.IsObject() || !doc.HasMember("interfaces") || !doc["interfaces"].IsArray()) {
    *error = dir + "/state.json: not a state file; ignored";
    return false;
  }
  for (auto& v : doc["interfaces"].GetArray()) {
    if (!v.IsObject() || !v.HasMember("name") || !v["name"].IsString() || !v.HasMember("mac") ||
        !v["mac"].IsString() || !v.HasMember("ifindex") || !v["ifindex"].IsInt() || !v.HasMember("table") ||
        !v["table"].IsUint())
      continue;
    auto mac = MacAddr::parse(v["mac"].GetString());
    if (!mac) continue;
    out->interfaces.push_back({v["name"].GetString(), *mac, v["ifindex"].GetInt(), v["table"].GetUint()});
  }
  return true;
}

bool save_state(const std::string& dir, const RunState& st, std::string* error) {
  rapidjson::StringBuffer sb;
  rapidjson::PrettyWriter<rapidjson::StringBuffer> w(sb);
  w.SetIndent(' ', 2);
  w.StartObject();
  w.Key("interfaces");
  w.StartArray();
  for (auto& r : st.interfaces) {
    w.StartObject();
    w.Key("name");
    w.String(r.name.c_str());
    w.Key("mac");
    w.String(r.mac.str().c_str());
    w.Key("ifindex");
    w.Int(r.ifindex);
    w.Key("table");
    w.Uint(r.table);
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  bool changed = false;
  return write_file_atomic(dir + "/state.json", std::string(sb.GetString(), sb.GetSize()) + "\n", 0644, &changed,
                           error);
}

void update_state(RunState* st, const Plan& plan, const std::vector<std::string>& scope,
                  const std::set<std::string>& failed) {
  std::vector<InterfaceRecord> next;
  for (auto& ip : plan.interfaces) {
    bool in_scope = scope.empty() || std::find(scope.begin(), scope.end(), ip.name) != scope.end();
    if (!ip.present() || ip.ignored) continue;
    if (in_scope && ip.actionable() && !failed.count(ip.name)) {
      next.push_back({ip.name, ip.mac, ip.ifindex, ip.table});
      continue;
    }
    // Out of scope or not actionable this run: keep what was recorded.
    for (auto& r : st->interfaces)
      if (r.mac == ip.mac && r.ifindex == ip.ifindex) next.push_back(r);
  }
  // Interfaces outside the scope that are not in the plan stay recorded, and so do
  // those whose changes failed (a detached ENI whose cleanup must be tried again).
  for (auto& r : st->interfaces) {
    bool listed = std::any_of(next.begin(), next.end(), [&](const InterfaceRecord& n) { return n.name == r.name; });
    bool in_scope = scope.empty() || std::find(scope.begin(), scope.end(), r.name) != scope.end();
    if (!listed && (!in_scope || failed.count(r.name))) next.push_back(r);
  }
  std::sort(next.begin(), next.end(), [](const InterfaceRecord& a, const InterfaceRecord& b) { return a.name < b.name; });
  st->interfaces = next;
}

}  // namespace ec2nc
