#include <arpa/inet.h>
#include <doctest/doctest.h>

#include <algorithm>
#include <random>

#include "core/ip.h"

using namespace ec2nc;

TEST_CASE("IPv4 and IPv6 parse strictly and print canonically") {
  CHECK(IpAddr::parse("10.0.0.34")->str() == "10.0.0.34");
  CHECK(IpAddr::parse("2600:1F18:aaaa:bb00:0:0:0:10")->str() == "2600:1f18:aaaa:bb00::10");
  for (const char* bad : {"", "10.0.0", "10.0.0.256", "10.0.0.1 ", "10.0.0.1\n", "1.2.3.4/32", "fe80::1%eth0",
                          "::g", "10.0.0.1;rm"}) {
    CHECK_MESSAGE(!IpAddr::parse(bad), bad);
  }
}

TEST_CASE("prefixes: network, containment, first host") {
  auto p = *IpPrefix::parse("10.0.1.77/24");
  CHECK(p.network().str() == "10.0.1.0/24");
  CHECK(!p.is_network());
  CHECK(p.first_host().str() == "10.0.1.1");
  CHECK(p.contains(*IpAddr::parse("10.0.1.255")));
  CHECK(!p.contains(*IpAddr::parse("10.0.2.1")));
  auto v6 = *IpPrefix::parse("2600:1f18:aaaa:bb01:1234::/80");
  CHECK(v6.is_network());
  CHECK(v6.contains(*IpAddr::parse("2600:1f18:aaaa:bb01:1234:0:0:1")));
  CHECK(!IpPrefix::parse("10.0.0.0/33"));
  CHECK(!IpPrefix::parse("10.0.0.0/024"));
  CHECK(!IpPrefix::parse("10.0.0.0/"));
  CHECK(IpPrefix::parse("10.0.0.5", false)->str() == "10.0.0.5/32");
}

TEST_CASE("prefix containment agrees with comparing network addresses, at every length") {
  // contains() compares bits in place; the definition: both addresses' networks at the
  // prefix's length are equal. Every length of both families, addresses near the edges.
  for (const char* base : {"10.1.128.77", "255.255.255.255", "0.0.0.0", "2600:1f18:aaaa:bb01:8000::ff", "ffff::1"}) {
    const IpAddr a = *IpAddr::parse(base);
    for (unsigned len = 0; len <= a.bits(); ++len) {
      const IpPrefix p{a, uint8_t(len)};
      for (unsigned bit = 0; bit < a.bits(); ++bit) {
        IpAddr b = a;
        b.bytes[bit / 8] ^= uint8_t(0x80 >> (bit % 8));  // differs from a in this one bit
        CAPTURE(p.str());
        CAPTURE(b.str());
        CHECK(p.contains(b) == (bit >= len));
        CHECK(p.contains(b) == (IpPrefix{b, uint8_t(len)}.network().addr == p.network().addr));
      }
      CHECK(p.contains(a));
    }
  }
  CHECK(!IpPrefix::parse("10.0.0.0/8")->contains(*IpAddr::parse("::a00:1")));
}

TEST_CASE("addresses print as inet_ntop prints them") {
  // str() formats by itself; glibc's inet_ntop is the reference (files, state and logs
  // have always held its form). Special forms, then random addresses whose groups are
  // zero half the time (every shape of zero run), some IPv4-mapped or -compatible.
  auto reference = [](const IpAddr& a) {
    char buf[INET6_ADDRSTRLEN];
    inet_ntop(a.is_v4() ? AF_INET : AF_INET6, a.bytes.data(), buf, sizeof buf);
    return std::string(buf);
  };
  for (const char* t : {"0.0.0.0", "255.255.255.255", "10.0.1.7", "100.64.0.10", "::", "::1", "1::", "::ffff:10.0.0.1",
                        "::10.0.0.1", "::ffff:0:10.0.0.1", "::1:0:0:0:1", "1:0:0:1:0:0:0:1", "1:0:0:1:0:0:1:1",
                        "fe80::1", "2600:1f18:aaaa:bb01::a00:1", "fd00:ec2::254", "1:2:3:4:5:6:7:8", "0:1::",
                        "::1:0", "ffff::"}) {
    auto a = IpAddr::parse(t);
    REQUIRE_MESSAGE(a, t);
    CHECK(a->str() == reference(*a));
  }
  std::mt19937 rng(5952);
  for (int n = 0; n < 50000; ++n) {
    IpAddr a;
    a.family = n % 5 == 0 ? Family::V4 : Family::V6;
    for (size_t g = 0; g < a.size(); g += 2) {
      const unsigned kind = rng() % 4;
      const unsigned v = kind < 2 ? 0 : kind == 2 ? rng() % 16 : rng() % 65536;
      a.bytes[g] = uint8_t(v >> 8);
      if (g + 1 < a.size()) a.bytes[g + 1] = uint8_t(v);
    }
    if (n % 7 == 1) std::fill(a.bytes.begin(), a.bytes.begin() + 10, 0), a.bytes[10] = a.bytes[11] = 0xff;
    if (n % 11 == 2) std::fill(a.bytes.begin(), a.bytes.begin() + 12, 0);
    CAPTURE(reference(a));
    CHECK(a.str() == reference(a));
    CHECK(IpPrefix{a, 7}.str() == reference(a) + "/7");
  }
}

TEST_CASE("MAC addresses") {
  CHECK(MacAddr::parse("02:86:10:7B:E4:F5")->str() == "02:86:10:7b:e4:f5");
  CHECK(!MacAddr::parse("02:86:10:7b:e4"));
  CHECK(!MacAddr::parse("02-86-10-7b-e4-f5"));
  CHECK(!MacAddr::parse("02:86:10:7b:e4:fg"));
}
