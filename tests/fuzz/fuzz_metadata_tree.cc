// Fuzz target: a whole metadata read. The input is a metadata tree, path and body
// pairs separated by NUL bytes ("path\0body\0path\0body..."); a path written "!path"
// answers with a fetch error instead (a timeout, a 5xx after retries).
// - dump-metadata's walk (capture_metadata) captures only what was served, and a
//   capture without errors replays to the same read;
// - read_metadata and read_eni judge every ENI complete, incomplete, invalid or
//   fetch-failed, keeping IMDS.md's invariants for what they call complete;
// - what they accept goes through the rest of the pure pipeline: make_plan,
//   decide_cleanup (nothing of a link still present is removed), the networkd renderer
//   (no IMDS value may break out of its line), reconcile against an empty host and the
//   encoding of every change.
#include <linux/netlink.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "core/cleanup.h"
#include "core/metadata.h"
#include "core/metadata_capture.h"
#include "core/netlink_codec.h"
#include "core/plan.h"
#include "core/reconcile.h"
#include "core/render_networkd.h"
#include "fuzz.h"

using namespace ec2nc;

namespace {

/// The tree of the input; paths listed in `failing` answer a fetch error.
class FuzzSource : public MetadataSource {
 public:
  FuzzSource(std::map<std::string, std::string> paths, std::set<std::string> failing)
      : paths_(std::move(paths)), failing_(std::move(failing)) {}
  FetchResult get(const std::string& path) override {
    if (failing_.count(path)) return FetchResult::failed(path + ": HTTP 503 after 6 attempts");
    auto it = paths_.find(path);
    return it == paths_.end() ? FetchResult::not_found() : FetchResult::ok(it->second);
  }

 private:
  std::map<std::string, std::string> paths_;
  std::set<std::string> failing_;
};

bool key_char(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

/// Every line of a rendered .network file is empty, a comment, a section header or
/// Key=Value of printable characters: nothing from IMDS can start a section or a key.
void check_unit_text(const std::string& text) {
  FUZZ_CHECK(!text.empty() && text.back() == '\n');
  size_t start = 0;
  while (start < text.size()) {
    size_t nl = text.find('\n', start);
    std::string line = text.substr(start, nl - start);
    start = nl + 1;
    for (unsigned char c : line) FUZZ_CHECK(c >= 0x20 && c < 0x7f);
    if (line.empty() || line[0] == '#') continue;
    if (line[0] == '[') {
      FUZZ_CHECK(line.back() == ']');
      for (size_t i = 1; i + 1 < line.size(); ++i) FUZZ_CHECK(key_char(line[i]));
      continue;
    }
    size_t eq = line.find('=');
    FUZZ_CHECK(eq != std::string::npos && eq > 0);
    for (size_t i = 0; i < eq; ++i) FUZZ_CHECK(key_char(line[i]));
  }
}

/// Host links named ens5, ens6, ... for the ENIs in (card, device) order.
std::vector<HostLink> links_for(const InstanceMetadata& md, bool ipv6_off) {
  std::vector<std::pair<std::pair<int, int>, MacAddr>> order;
  for (auto& [mac, eni] : md.enis) order.push_back({{eni.network_card, eni.device_number}, mac});
  std::sort(order.begin(), order.end());
  std::vector<HostLink> links;
  int idx = 2;
  for (auto& entry : order) {
    HostLink l;
    l.ifindex = idx;
    l.name = "ens" + std::to_string(idx + 3);
    l.mac = entry.second;
    l.up = true;
    l.ipv6_off = ipv6_off;
    links.push_back(l);
    ++idx;
  }
  return links;
}

void check_plan(const Config& cfg, const InstanceMetadata& md, bool ipv6_off) {
  HostState host;
  host.links = links_for(md, ipv6_off);
  Plan plan = make_plan(cfg, md, host.links);
  FUZZ_CHECK(plan.interfaces.size() == md.enis.size());
  for (auto& ip : plan.interfaces) {
    if (ip.state != EniMetadata::State::Complete) {
      FUZZ_CHECK(ip.addresses.empty() && ip.routes.empty() && ip.rules.empty());
      continue;
    }
    FUZZ_CHECK(ip.table == table_for(cfg.table_base, ip.network_card, ip.device_number));
    FUZZ_CHECK(ip.table > cfg.table_base - 1 && ip.table < 32766);
    for (auto& r : ip.routes) FUZZ_CHECK(r.table == ip.table && r.dst.is_network());
    for (auto& r : ip.rules) FUZZ_CHECK(r.table == ip.table && r.priority == ip.table && r.from);
    if (ip.ipv6_off) {
      for (auto& a : ip.addresses) FUZZ_CHECK(a.prefix.addr.is_v4());
      for (auto& r : ip.routes) FUZZ_CHECK(r.dst.addr.is_v4());
      for (auto& r : ip.rules) FUZZ_CHECK(r.family == Family::V4);
    }
  }
  // The cleanup policy over records of links that are all still here: nothing is
  // removed; only a complete ENI may move its table (RemoveTable of the old one).
  RunState st;
  for (auto& l : host.links) {
    InterfaceRecord rec;
    rec.name = l.name;
    rec.mac = l.mac;
    rec.ifindex = l.ifindex;
    rec.table = table_for(cfg.table_base, 0, l.ifindex % 3);
    st.interfaces.push_back(rec);
  }
  for (auto& d : decide_cleanup(plan, host.links, st)) {
    FUZZ_CHECK(d.action == CleanupDecision::Action::Keep || d.action == CleanupDecision::Action::RemoveTable);
    if (d.action != CleanupDecision::Action::RemoveTable) continue;
    bool complete = false;
    for (auto& ip : plan.interfaces)
      if (ip.ifindex == d.record.ifindex)
        complete = ip.state == EniMetadata::State::Complete && !ip.ignored && ip.table != d.record.table;
    FUZZ_CHECK(complete);
  }
  for (auto& [name, text] : render_networkd(plan)) {
    FUZZ_CHECK(is_own_networkd_file(name));
    check_unit_text(text);
  }
  ReconcileScope scope;
  scope.may_remove_global_rules = true;
  scope.records = &st;
  uint32_t seq = 1;
  for (auto& c : reconcile(plan, host, scope)) {
    FUZZ_CHECK(!c.describe().empty());
    NlMessage m;
    if (!encode_change(c, seq++, &m)) continue;
    FUZZ_CHECK(m.size() >= sizeof(nlmsghdr));
    FUZZ_CHECK(reinterpret_cast<const nlmsghdr*>(m.data())->nlmsg_len == m.size());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string in(reinterpret_cast<const char*>(data), size);
  std::map<std::string, std::string> paths;
  std::set<std::string> failing;
  size_t pos = 0;
  while (pos < in.size()) {
    size_t end = in.find('\0', pos);
    if (end == std::string::npos) end = in.size();
    std::string path = in.substr(pos, end - pos);
    pos = end + 1;
    std::string body;
    if (pos <= in.size()) {
      end = in.find('\0', pos);
      if (end == std::string::npos) end = in.size();
      body = in.substr(pos, end - pos);
      pos = end + 1;
    }
    if (!path.empty() && path[0] == '!') failing.insert(path.substr(1));
    else paths[path] = body;
  }
  FuzzSource src(paths, failing);

  // dump-metadata's walk: it captures only what the tree served, within its bounds, and
  // a capture without errors replays to the same read (what a bug report is for).
  CaptureLimits limits;
  limits.max_paths = 500;
  MetadataCapture cap = capture_metadata(src, limits);
  FUZZ_CHECK(cap.paths.size() <= limits.max_paths);
  for (auto& [path, body] : cap.paths) {
    FUZZ_CHECK(!failing.count(path));
    auto it = paths.find(path);
    FUZZ_CHECK(it != paths.end() && it->second == body);
  }
  std::unique_ptr<CaptureSource> replay;
  if (cap.has_root()) {
    std::string error;
    replay = CaptureSource::from_json(cap.json(), &error);
    FUZZ_CHECK(replay != nullptr);
    FUZZ_CHECK(replay->paths() == cap.paths);
  }

  MetadataRead rd = read_metadata(src);
  if (replay && cap.errors.empty()) {
    MetadataRead again = read_metadata(*replay);
    FUZZ_CHECK(again.fatal == rd.fatal && again.instance.enis.size() == rd.instance.enis.size());
    for (auto& [mac, eni] : again.instance.enis) {
      auto it = rd.instance.enis.find(mac);
      FUZZ_CHECK(it != rd.instance.enis.end() && it->second.state == eni.state && it->second.problem == eni.problem);
    }
  }
  if (!rd.fatal.empty()) {
    FUZZ_CHECK(rd.instance.enis.empty());
    return 0;
  }
  fuzz::check_instance(rd.instance);
  // A read that is not fatal lists the primary ENI (IMDS.md: an instance always has it).
  FUZZ_CHECK(rd.instance.enis.count(rd.instance.primary_mac) == 1);

  // Re-reading each ENI on its own (what the propagation wait does) agrees with the
  // whole read: the source answers the same.
  InstanceMetadata again;
  again.primary_mac = rd.instance.primary_mac;
  for (auto& entry : rd.instance.enis)
    again.enis[entry.first] = read_eni(src, entry.first, rd.instance.primary_mac);
  mark_numbering_conflicts(again);
  fuzz::check_instance(again);
  FUZZ_CHECK(again.enis.size() == rd.instance.enis.size());
  for (auto& [mac, eni] : again.enis) {
    const EniMetadata& first = rd.instance.enis.at(mac);
    FUZZ_CHECK(eni.state == first.state && eni.problem == first.problem);
  }
  // Reading one ENI only (apply IFACE) reads at most that one.
  if (!rd.instance.enis.empty()) {
    MacAddr one = rd.instance.enis.begin()->first;
    MetadataRead single = read_metadata(src, {one});
    FUZZ_CHECK(single.fatal.empty() && single.instance.enis.size() <= 1);
    fuzz::check_instance(single.instance);
  }

  Config cfg;
  check_plan(cfg, rd.instance, false);
  cfg.primary_rules = false;
  cfg.table_base = 22766;  // the highest table-base parse_config accepts
  check_plan(cfg, rd.instance, true);
  return 0;
}
