// Fuzz target: the rtnetlink reply decoders of netlink_codec (decode_dump with the
// per-type decoders of links, addresses, routes and rules, and decode_acks). The input
// is one received chunk, as edge/rtnl hands it over (also read as the answer to a
// route query, decode_route_answer); the dump's sequence number is
// the first message's. Bytes after the chunk (the rest of the receive buffer) must not
// change what decodes. What decodes must be in range, and then goes where a real dump
// goes: reconcile against the plan of a dual-stack two-ENI instance (the
// dual-stack-prefixes scenario), with and without ec2-netcfg's records of it, removal
// and global_removal, each change encoded; check's judge() of the decoded route answer
// against the decoded host.
#include <linux/netlink.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/check.h"
#include "core/metadata.h"
#include "core/netlink_codec.h"
#include "core/plan.h"
#include "core/reconcile.h"
#include "core/run_state.h"
#include "fuzz.h"

using namespace ec2nc;

namespace {

// What ec2-netcfg would have recorded after applying them with the networkd backend:
// ens5 and ens6 (the MACs below) with their tables, addresses and file rules.
const RunState& records() {
  static const RunState st = [] {
    RunState s;
    const char* names[] = {"ens5", "ens6"};
    const char* macs[] = {"02:86:10:7b:e4:f5", "02:86:10:7b:e4:f6"};
    const char* addrs[] = {"10.0.0.35/32", "10.0.1.21/32"};
    for (int i = 0; i < 2; ++i) {
      InterfaceRecord r;
      r.name = names[i];
      r.mac = *MacAddr::parse(macs[i]);
      r.ifindex = 2 + i;
      r.table = 10000 + uint32_t(i);
      r.addresses = {*IpPrefix::parse(addrs[i])};
      RuleSpec rule;
      rule.priority = r.table;
      rule.table = r.table;
      rule.from = IpPrefix::host(r.addresses[0].addr);
      r.file_rules = {rule};
      RouteSpec def;
      def.table = r.table;
      def.dst = *IpPrefix::parse("::/0");
      def.gateway_from_ra = true;
      r.file_routes = {def};
      s.interfaces.push_back(r);
    }
    return s;
  }();
  return st;
}

// The ENIs of tests/data/scenarios/dual-stack-prefixes.json (the keys ec2-netcfg reads).
const InstanceMetadata& instance() {
  static const InstanceMetadata md = [] {
    const std::string macs = "meta-data/network/interfaces/macs/";
    const std::string a = macs + "02:86:10:7b:e4:f5/", b = macs + "02:86:10:7b:e4:f6/";
    CaptureSource src({
        {"meta-data/mac", "02:86:10:7b:e4:f5"},
        {macs, "02:86:10:7b:e4:f5/\n02:86:10:7b:e4:f6/"},
        {a, "device-number\nipv6s\nlocal-ipv4s\nsubnet-ipv4-cidr-block\nsubnet-ipv6-cidr-blocks"},
        {a + "device-number", "0"},
        {a + "ipv6s", "2600:1f18:aaaa:bb00::10\n2600:1f18:aaaa:bb00::11"},
        {a + "local-ipv4s", "10.0.0.34\n10.0.0.35"},
        {a + "subnet-ipv4-cidr-block", "10.0.0.0/24"},
        {a + "subnet-ipv6-cidr-blocks", "2600:1f18:aaaa:bb00::/64"},
        {b, "device-number\nipv4-prefix\nipv6-prefix\nipv6s\nlocal-ipv4s\nsubnet-ipv4-cidr-block\n"
            "subnet-ipv6-cidr-blocks"},
        {b + "device-number", "1"},
        {b + "ipv4-prefix", "10.0.1.64/28"},
        {b + "ipv6-prefix", "2600:1f18:aaaa:bb01:1234::/80"},
        {b + "ipv6s", "2600:1f18:aaaa:bb01::20"},
        {b + "local-ipv4s", "10.0.1.20\n10.0.1.21"},
        {b + "subnet-ipv4-cidr-block", "10.0.1.0/24"},
        {b + "subnet-ipv6-cidr-blocks", "2600:1f18:aaaa:bb01::/64"},
    });
    MetadataRead rd = read_metadata(src);
    FUZZ_CHECK(rd.fatal.empty() && rd.instance.enis.size() == 2);
    return rd.instance;
  }();
  return md;
}

std::string opt(const std::optional<IpAddr>& a) { return a ? a->str() : "-"; }
std::string opt(const std::optional<IpPrefix>& p) { return p ? p->str() : "-"; }

// Every decoded field, as text: two decodes of the same bytes must agree.
std::string describe(const HostState& h, const DumpStatus& st) {
  std::string out = std::to_string(st.done) + std::to_string(st.interrupted) + std::to_string(st.error) + st.message;
  for (auto& l : h.links)
    out += "|L" + std::to_string(l.ifindex) + l.name + l.mac.str() + std::to_string(l.up) + std::to_string(l.group) +
           l.kind + std::to_string(l.type) + std::to_string(l.loopback);
  for (auto& a : h.addresses)
    out += "|A" + std::to_string(a.ifindex) + a.prefix.str() + std::to_string(a.proto) + std::to_string(a.flags) +
           std::to_string(a.preferred) + std::to_string(a.valid) + std::to_string(a.scope);
  for (auto& r : h.routes) {
    out += "|R" + std::to_string(r.table) + r.dst.str() + std::to_string(r.oif) + opt(r.gateway) +
           std::to_string(r.protocol) + std::to_string(r.scope) + std::to_string(r.type) + std::to_string(r.metric) +
           std::to_string(r.flags) + std::to_string(r.multipath);
    for (auto& nh : r.nexthops) out += "/" + std::to_string(nh.oif) + opt(nh.gateway) + std::to_string(nh.flags);
  }
  for (auto& r : h.rules)
    out += "|U" + std::to_string(int(r.family)) + std::to_string(r.priority) + opt(r.from) + opt(r.to) +
           std::to_string(r.table) + std::to_string(r.protocol) + std::to_string(r.action) + r.iifname + "/" +
           r.oifname + std::to_string(r.fwmark) + std::to_string(r.fwmask) + std::to_string(r.tos) +
           std::to_string(r.invert) + (r.suppress_prefixlen ? std::to_string(*r.suppress_prefixlen) : "-") +
           (r.suppress_ifgroup ? std::to_string(*r.suppress_ifgroup) : "-") + std::to_string(r.has_other_selectors);
  return out;
}

// Decodes the chunk from a copy followed by 4 bytes of `fill` (what a receive buffer
// holds after the chunk): nothing outside the chunk may change what decodes.
bool decode_padded(const uint8_t* data, size_t size, uint8_t fill, uint32_t seq, std::string* text) {
  std::vector<uint8_t> buf(data, data + size);
  buf.resize(size + 4, fill);
  HostState h;
  DumpStatus st;
  std::string error;
  bool ok = decode_dump(buf.data(), size, seq, &h, &st, &error);
  *text = (ok ? "ok" : "error " + error) + describe(h, st);
  return ok;
}

void check_encoded(const std::vector<Change>& changes) {
  uint32_t seq = 1;
  for (auto& c : changes) {
    FUZZ_CHECK(!c.describe().empty());
    Change back = inverse(inverse(c));
    FUZZ_CHECK(back.op == c.op);
    NlMessage m;
    if (!encode_change(c, seq++, &m)) continue;
    FUZZ_CHECK(m.size() >= sizeof(nlmsghdr));
    FUZZ_CHECK(reinterpret_cast<const nlmsghdr*>(m.data())->nlmsg_len == m.size());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  uint32_t seq = 0;
  if (size >= sizeof(nlmsghdr)) std::memcpy(&seq, data + offsetof(nlmsghdr, nlmsg_seq), sizeof seq);

  std::vector<Ack> acks;
  std::string error;
  if (!decode_acks(data, size, &acks, &error)) FUZZ_CHECK(!error.empty());
  for (auto& a : acks) FUZZ_CHECK(a.error >= 0);

  // The answer to a route query (the same chunk, the first message's sequence number).
  bool found = false;
  RouteAnswer answer;
  error.clear();
  if (!decode_route_answer(data, size, seq, &found, &answer, &error)) FUZZ_CHECK(!error.empty());
  else if (found) FUZZ_CHECK(answer.error >= 0);

  std::string zeros, ones;
  decode_padded(data, size, 0x00, seq, &zeros);
  decode_padded(data, size, 0xff, seq, &ones);
  FUZZ_CHECK(zeros == ones);

  HostState host;
  DumpStatus status;
  error.clear();
  if (!decode_dump(data, size, seq, &host, &status, &error)) {
    FUZZ_CHECK(!error.empty());
    return 0;
  }
  FUZZ_CHECK(status.error >= 0);
  for (auto& a : host.addresses) FUZZ_CHECK(a.prefix.len <= a.prefix.addr.bits());
  for (auto& r : host.routes) {
    FUZZ_CHECK(r.dst.len <= r.dst.addr.bits());
    if (r.gateway) FUZZ_CHECK(r.gateway->family == Family::V4 || r.gateway->family == Family::V6);
    FUZZ_CHECK(r.multipath || r.nexthops.empty());
  }
  for (auto& r : host.rules) {
    if (r.from) FUZZ_CHECK(r.from->family() == r.family && r.from->len <= r.from->addr.bits());
    if (r.to) FUZZ_CHECK(r.to->family() == r.family && r.to->len <= r.to->addr.bits());
  }

  Config cfg;
  Plan plan = make_plan(cfg, instance(), host.links);
  for (bool with_records : {false, true}) {
    ReconcileScope scope;
    scope.records = with_records ? &records() : nullptr;
    scope.may_remove_global_rules = with_records;
    check_encoded(reconcile(plan, host, scope));
  }
  for (auto& l : host.links) {
    for (auto& ip : plan.interfaces)
      if (ip.ifindex == l.ifindex)
        check_encoded(removal(l.name, l.ifindex, ip.table, cfg.link_group, host, records().find(l.name)));
  }
  check_encoded(removal("ens9", 0, 10009, cfg.link_group, host, nullptr));
  check_encoded(global_removal(host, cfg.table_base, cfg.link_group));

  // check's verdicts on the decoded answer, judged against the decoded host.
  size_t n = 0;
  for (auto& probe : make_probes(plan, {})) {
    if (n++ == 8) break;
    Verdict v = judge(probe, found ? answer : RouteAnswer{}, plan, host);
    FUZZ_CHECK(v.right == v.cause.empty());
  }
  return 0;
}
