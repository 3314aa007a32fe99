// early_listing_macs: whose IMDS listings go out with the first requests.
#include <doctest/doctest.h>

#include <string>

#include "app/metadata_wait.h"

using namespace ec2nc;

namespace {

HostLink link(int ifindex, const std::string& mac, const std::string& kind = "") {
  HostLink l;
  l.ifindex = ifindex;
  l.name = "eth" + std::to_string(ifindex);
  l.mac = *MacAddr::parse(mac);
  l.kind = kind;
  return l;
}

InterfaceRecord record(const std::string& mac) {
  InterfaceRecord r;
  r.mac = *MacAddr::parse(mac);
  return r;
}

}  // namespace

TEST_CASE("early listings: the links that can be ENIs on a boot's first run; the recorded ENIs after") {
  HostLink lo = link(1, "00:00:00:00:00:00");
  lo.loopback = true;
  std::vector<HostLink> links = {lo, link(2, "02:00:00:00:00:05"), link(3, "02:00:00:00:00:06"),
                                 link(4, "02:00:00:00:00:07", "bridge"), link(5, "0a:00:00:00:00:08", "veth")};
  RunState none;
  auto first = early_listing_macs(links, {}, none);
  CHECK(first == std::vector<MacAddr>{links[1].mac, links[2].mac, links[4].mac});

  RunState rec;
  rec.interfaces = {record("02:00:00:00:00:05"), record("02:00:00:00:00:06"), record("02:00:00:00:00:99")};
  // A container's veth that appeared since, and a recorded ENI whose link is gone: neither.
  CHECK(early_listing_macs(links, {}, rec) == std::vector<MacAddr>{links[1].mac, links[2].mac});
  // apply IFACE: what was asked for.
  CHECK(early_listing_macs(links, {links[2].mac}, rec) == std::vector<MacAddr>{links[2].mac});
}

TEST_CASE("early listings: none with no record and more candidate links than ENIs (containers' veths)") {
  std::vector<HostLink> links;
  for (size_t i = 0; i <= kMaxEarlyListings; ++i) {
    char mac[18];
    snprintf(mac, sizeof mac, "0a:00:00:00:01:%02zx", i);
    links.push_back(link(int(i) + 2, mac, i ? "veth" : ""));
  }
  CHECK(early_listing_macs(links, {}, RunState{}).empty());
  links.pop_back();
  CHECK(early_listing_macs(links, {}, RunState{}).size() == kMaxEarlyListings);
}
