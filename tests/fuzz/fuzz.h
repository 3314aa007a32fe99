// Helpers shared by the fuzz targets: a check that fails loudly under libFuzzer and
// the replay main alike, and the invariants every metadata read must keep.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <set>
#include <string>
#include <utility>

#include "core/metadata.h"

/// Aborts (a finding under libFuzzer, a failed test under the replay main) when `cond`
/// is false: the fuzz targets check properties, not only the absence of crashes.
#define FUZZ_CHECK(cond)                                                                   \
  do {                                                                                     \
    if (!(cond)) {                                                                         \
      std::fprintf(stderr, "%s:%d: property violated: %s\n", __FILE__, __LINE__, #cond);   \
      std::abort();                                                                        \
    }                                                                                      \
  } while (0)

namespace ec2nc::fuzz {

/// What read_metadata promises about every ENI it returns, whatever IMDS answered:
/// a complete ENI has every value in range and consistent, anything else says why,
/// and no two complete ENIs share a routing table.
inline void check_instance(const InstanceMetadata& md) {
  std::set<std::pair<int, int>> slots;
  FUZZ_CHECK(!md.primary_mac.never_assigned());
  for (auto& [mac, eni] : md.enis) {
    FUZZ_CHECK(eni.mac == mac);
    FUZZ_CHECK(!mac.never_assigned());
    FUZZ_CHECK(eni.is_primary == (mac == md.primary_mac));
    if (eni.state != EniMetadata::State::Complete) {
      FUZZ_CHECK(!eni.problem.empty());
      continue;
    }
    FUZZ_CHECK(eni.problem.empty());
    FUZZ_CHECK(eni.device_number >= 0 && eni.device_number <= 99);
    FUZZ_CHECK(eni.network_card >= 0 && eni.network_card <= 99);
    FUZZ_CHECK(eni.is_primary || eni.device_number != 0 || eni.network_card != 0);
    FUZZ_CHECK(slots.insert({eni.network_card, eni.device_number}).second);
    FUZZ_CHECK(eni.has_ipv4() || eni.has_ipv6());
    FUZZ_CHECK(eni.has_ipv4() == eni.subnet_ipv4.has_value());
    if (eni.subnet_ipv4) {
      FUZZ_CHECK(eni.subnet_ipv4->is_network() && eni.subnet_ipv4->family() == Family::V4);
      FUZZ_CHECK(eni.subnet_ipv4->len >= 8 && eni.subnet_ipv4->len <= 30);
      for (auto& a : eni.local_ipv4s) FUZZ_CHECK(a.is_v4() && eni.subnet_ipv4->contains(a));
      FUZZ_CHECK(!eni.subnet_ipv4->addr.never_assigned());
    }
    // IMDS.md, "What IMDS never says": no address EC2 cannot assign, and delegated
    // prefixes are carved from the ENI's own subnet.
    for (auto* list : {&eni.local_ipv4s, &eni.ipv6s})
      for (auto& a : *list) FUZZ_CHECK(!a.never_assigned());
    for (auto& p : eni.ipv4_prefixes) FUZZ_CHECK(eni.subnet_ipv4 && eni.subnet_ipv4->covers(p));
    for (auto& p : eni.ipv6_prefixes) {
      bool inside = false;
      for (auto& s : eni.subnet_ipv6) inside = inside || s.covers(p);
      FUZZ_CHECK(inside);
    }
    for (auto& a : eni.ipv6s) {
      FUZZ_CHECK(!a.is_v4());
      bool inside = false;
      for (auto& s : eni.subnet_ipv6) inside = inside || s.contains(a);
      FUZZ_CHECK(inside);
    }
    for (auto& p : eni.ipv4_prefixes) FUZZ_CHECK(p.is_network() && p.family() == Family::V4 && p.len >= 8);
    for (auto* list : {&eni.ipv6_prefixes, &eni.subnet_ipv6})
      for (auto& p : *list) FUZZ_CHECK(p.is_network() && p.family() == Family::V6 && p.len >= 8);
    for (auto& [pub, priv] : eni.ipv4_associations) FUZZ_CHECK(pub.is_v4() && priv.is_v4());
    for (char c : eni.interface_id) FUZZ_CHECK((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-');
  }
}

}  // namespace ec2nc::fuzz
