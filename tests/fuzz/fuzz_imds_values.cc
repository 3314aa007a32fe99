// Fuzz target: the parsers of single IMDS values. The whole input goes through
// ip.h's IpAddr, IpPrefix and MacAddr parsers (whatever parses must print canonically
// and parse back to itself); then, as the body of one IMDS path chosen by its first
// byte, into an otherwise complete two-ENI tree read by read_metadata, which reaches
// metadata.cc's listing, integer, identifier and address-list parsers in context.
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "core/ip.h"
#include "core/metadata.h"
#include "fuzz.h"

using namespace ec2nc;

namespace {

const std::string kMacs = "meta-data/network/interfaces/macs/";
const std::string kPrimary = "02:86:10:7b:e4:f5";
const std::string kSecond = "02:86:10:7b:e4:f6";
const std::string kEni = kMacs + kSecond + "/";

// The paths whose body the input replaces (its first byte, modulo the count, picks one).
const char* const kSlots[] = {
    "meta-data/mac", "MACS", "ENI", "device-number", "network-card", "network-card-index",
    "interface-id", "local-ipv4s", "subnet-ipv4-cidr-block", "ipv6s", "subnet-ipv6-cidr-blocks",
    "ipv4-prefix", "ipv6-prefix", "vpc-ipv4-cidr-blocks", "vpc-ipv4-cidr-block", "vpc-ipv6-cidr-blocks",
    "ipv4-associations/", "ipv4-associations/3.80.1.10",
};
constexpr size_t kSlotCount = sizeof kSlots / sizeof kSlots[0];

std::map<std::string, std::string> base_tree() {
  std::map<std::string, std::string> p;
  p["meta-data/mac"] = kPrimary;
  p[kMacs] = kPrimary + "/\n" + kSecond + "/";
  p[kMacs + kPrimary + "/"] = "device-number\ninterface-id\nlocal-ipv4s\nsubnet-ipv4-cidr-block";
  p[kMacs + kPrimary + "/device-number"] = "0";
  p[kMacs + kPrimary + "/interface-id"] = "eni-0123456789abcdef0";
  p[kMacs + kPrimary + "/local-ipv4s"] = "10.0.0.34\n10.0.0.35";
  p[kMacs + kPrimary + "/subnet-ipv4-cidr-block"] = "10.0.0.0/24";
  p[kEni] =
      "device-number\nnetwork-card\ninterface-id\nlocal-ipv4s\nsubnet-ipv4-cidr-block\nipv6s\n"
      "subnet-ipv6-cidr-blocks\nipv4-prefix\nipv6-prefix\nvpc-ipv4-cidr-blocks\nvpc-ipv6-cidr-blocks\n"
      "ipv4-associations/";
  p[kEni + "device-number"] = "1";
  p[kEni + "network-card"] = "0";
  p[kEni + "network-card-index"] = "0";
  p[kEni + "interface-id"] = "eni-0123456789abcdef1";
  p[kEni + "local-ipv4s"] = "10.0.1.20\n10.0.1.21";
  p[kEni + "subnet-ipv4-cidr-block"] = "10.0.1.0/24";
  p[kEni + "ipv6s"] = "2600:1f18:aaaa:bb01::20";
  p[kEni + "subnet-ipv6-cidr-blocks"] = "2600:1f18:aaaa:bb01::/64";
  p[kEni + "ipv4-prefix"] = "10.0.1.64/28";
  p[kEni + "ipv6-prefix"] = "2600:1f18:aaaa:bb01:1234::/80";
  p[kEni + "vpc-ipv4-cidr-blocks"] = "10.0.0.0/16";
  p[kEni + "vpc-ipv4-cidr-block"] = "10.0.0.0/16";
  p[kEni + "vpc-ipv6-cidr-blocks"] = "2600:1f18:aaaa:bb00::/56";
  p[kEni + "ipv4-associations/"] = "3.80.1.10";
  p[kEni + "ipv4-associations/3.80.1.10"] = "10.0.1.21";
  return p;
}

void check_values(std::string_view text) {
  if (auto a = IpAddr::parse(text)) {
    std::string s = a->str();
    auto again = IpAddr::parse(s);
    FUZZ_CHECK(again && *again == *a && again->str() == s);
    FUZZ_CHECK(a->size() == (a->is_v4() ? 4u : 16u));
    for (size_t i = a->size(); i < 16; ++i) FUZZ_CHECK(a->bytes[i] == 0);
  }
  for (bool require_len : {true, false}) {
    auto p = IpPrefix::parse(text, require_len);
    if (!p) continue;
    FUZZ_CHECK(p->len <= p->addr.bits());
    IpPrefix net = p->network();
    FUZZ_CHECK(net.is_network() && net.len == p->len && net.contains(p->addr) && p->contains(net.addr));
    FUZZ_CHECK(p->is_network() == (net == *p));
    auto again = IpPrefix::parse(p->str());
    FUZZ_CHECK(again && *again == *p);
    IpAddr first = p->first_host();
    FUZZ_CHECK(first.family == p->family());
    if (p->len < p->addr.bits()) FUZZ_CHECK(p->contains(first));
  }
  if (auto m = MacAddr::parse(text)) {
    auto again = MacAddr::parse(m->str());
    FUZZ_CHECK(again && *again == *m && m->str().size() == 17);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view all(reinterpret_cast<const char*>(data), size);
  check_values(all);
  if (size == 0) return 0;

  std::string slot = kSlots[data[0] % kSlotCount];
  std::string body(all.substr(1));
  check_values(body);
  auto tree = base_tree();
  std::string path = slot == "meta-data/mac" ? slot : slot == "MACS" ? kMacs : slot == "ENI" ? kEni : kEni + slot;
  tree[path] = body;
  CaptureSource src(tree);
  MetadataRead rd = read_metadata(src);
  if (!rd.fatal.empty()) {
    FUZZ_CHECK(rd.instance.enis.empty());
    return 0;
  }
  fuzz::check_instance(rd.instance);
  // The value was the only change: the primary ENI reads as complete unless the change
  // was to the root (meta-data/mac or the macs/ listing).
  if (slot != "meta-data/mac" && slot != "MACS") {
    auto it = rd.instance.enis.find(*MacAddr::parse(kPrimary));
    FUZZ_CHECK(it != rd.instance.enis.end() && it->second.state == EniMetadata::State::Complete);
  }
  return 0;
}
