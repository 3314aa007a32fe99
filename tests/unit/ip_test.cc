#include <doctest/doctest.h>

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

TEST_CASE("MAC addresses") {
  CHECK(MacAddr::parse("02:86:10:7B:E4:F5")->str() == "02:86:10:7b:e4:f5");
  CHECK(!MacAddr::parse("02:86:10:7b:e4"));
  CHECK(!MacAddr::parse("02-86-10-7b-e4-f5"));
  CHECK(!MacAddr::parse("02:86:10:7b:e4:fg"));
}
