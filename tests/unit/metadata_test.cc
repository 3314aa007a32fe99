#include <doctest/doctest.h>

#include <map>
#include <random>
#include <set>

#include "core/metadata.h"
#include "test_util.h"

using namespace ec2nc;

namespace {

const std::string kMacs = "meta-data/network/interfaces/macs/";
const std::string kPrimary = "02:86:10:7b:e4:f5";
const std::string kSecond = "02:86:10:7b:e4:f6";

/// A two-ENI tree that tests then damage key by key.
std::map<std::string, std::string> two_enis() {
  std::map<std::string, std::string> p;
  p["meta-data/mac"] = kPrimary;
  p[kMacs] = kPrimary + "/\n" + kSecond + "/";
  auto eni = [&](const std::string& mac, const std::string& dev, const std::string& ips, const std::string& subnet) {
    p[kMacs + mac + "/"] = "device-number\ninterface-id\nlocal-ipv4s\nsubnet-ipv4-cidr-block";
    p[kMacs + mac + "/device-number"] = dev;
    p[kMacs + mac + "/interface-id"] = "eni-0123456789abcdef" + dev;
    p[kMacs + mac + "/local-ipv4s"] = ips;
    p[kMacs + mac + "/subnet-ipv4-cidr-block"] = subnet;
  };
  eni(kPrimary, "0", "10.0.0.34\n10.0.0.35", "10.0.0.0/24");
  eni(kSecond, "1", "10.0.1.20", "10.0.1.0/24");
  return p;
}

EniMetadata second_eni(std::map<std::string, std::string> p) {
  CaptureSource src(std::move(p));
  auto rd = read_metadata(src);
  REQUIRE(rd.fatal.empty());
  return rd.instance.enis.at(*MacAddr::parse(kSecond));
}

/// A source that fails every request for one path.
class FailingSource : public MetadataSource {
 public:
  FailingSource(std::map<std::string, std::string> p, std::string fail) : inner_(std::move(p)), fail_(std::move(fail)) {}
  FetchResult get(const std::string& path) override {
    if (path == fail_) return FetchResult::failed(path + ": HTTP 503 after 6 attempts");
    return inner_.get(path);
  }

 private:
  CaptureSource inner_;
  std::string fail_;
};

}  // namespace

TEST_CASE("a complete tree reads every ENI as complete") {
  CaptureSource src(two_enis());
  auto rd = read_metadata(src);
  REQUIRE(rd.fatal.empty());
  REQUIRE(rd.instance.enis.size() == 2);
  auto& p = rd.instance.enis.at(*MacAddr::parse(kPrimary));
  CHECK(p.state == EniMetadata::State::Complete);
  CHECK(p.is_primary);
  CHECK(p.local_ipv4s.size() == 2);
  CHECK(p.subnet_ipv4->str() == "10.0.0.0/24");
  CHECK(second_eni(two_enis()).state == EniMetadata::State::Complete);
}

TEST_CASE("propagation: missing or not-yet-final keys make an ENI incomplete, not empty") {
  SUBCASE("local-ipv4s not listed yet") {
    auto p = two_enis();
    p[kMacs + kSecond + "/"] = "device-number\ninterface-id\nsubnet-ipv4-cidr-block";
    auto e = second_eni(p);
    CHECK(e.state == EniMetadata::State::Incomplete);
    CHECK(e.problem.find("local-ipv4s") != std::string::npos);
  }
  SUBCASE("listed but 404") {
    auto p = two_enis();
    p.erase(kMacs + kSecond + "/subnet-ipv4-cidr-block");
    CHECK(second_eni(p).state == EniMetadata::State::Incomplete);
  }
  SUBCASE("device-number 0 on card 0 for a non-primary ENI") {
    auto p = two_enis();
    p[kMacs + kSecond + "/device-number"] = "0";
    auto e = second_eni(p);
    CHECK(e.state == EniMetadata::State::Incomplete);
    CHECK(e.problem.find("device-number") != std::string::npos);
  }
  SUBCASE("device-number 0 on card 1 is fine") {
    auto p = two_enis();
    p[kMacs + kSecond + "/"] += "\nnetwork-card";
    p[kMacs + kSecond + "/device-number"] = "0";
    p[kMacs + kSecond + "/network-card"] = "1";
    auto e = second_eni(p);
    CHECK(e.state == EniMetadata::State::Complete);
    CHECK(e.network_card == 1);
  }
  SUBCASE("network-card listed but empty") {
    auto p = two_enis();
    p[kMacs + kSecond + "/"] += "\nnetwork-card";
    p[kMacs + kSecond + "/network-card"] = "";
    CHECK(second_eni(p).state == EniMetadata::State::Incomplete);
  }
  SUBCASE("network-card-index is read when network-card is absent") {
    auto p = two_enis();
    p[kMacs + kSecond + "/"] += "\nnetwork-card-index";
    p[kMacs + kSecond + "/network-card-index"] = "2";
    CHECK(second_eni(p).network_card == 2);
  }
  SUBCASE("MAC listed but its directory 404s") {
    auto p = two_enis();
    p.erase(kMacs + kSecond + "/");
    CHECK(second_eni(p).state == EniMetadata::State::Incomplete);
  }
}

TEST_CASE("invalid values are rejected naming MAC, key and value") {
  struct Case {
    const char* key;
    const char* value;
  };
  for (auto c : {Case{"local-ipv4s", "10.0.1.20\n10.0.1.300"}, Case{"local-ipv4s", "10.0.1.20\n[Route]"},
                 Case{"local-ipv4s", "10.0.2.20"}, Case{"subnet-ipv4-cidr-block", "10.0.1.7/24"},
                 Case{"subnet-ipv4-cidr-block", "10.0.1.0/24\nDNS=1.2.3.4"}, Case{"device-number", "-1"},
                 Case{"device-number", "1x"}, Case{"device-number", "100"}, Case{"interface-id", "eni-1\n[Match]"},
                 Case{"local-ipv4s", "10.0.1.20\r"}}) {
    auto p = two_enis();
    p[kMacs + kSecond + "/" + c.key] = c.value;
    auto e = second_eni(p);
    CHECK_MESSAGE(e.state == EniMetadata::State::Invalid, c.key, " = ", c.value);
    CHECK(e.problem.find(kSecond) != std::string::npos);
    CHECK(e.problem.find(c.key) != std::string::npos);
  }
}

TEST_CASE("a failed fetch is never mistaken for no addresses") {
  auto p = two_enis();
  FailingSource src(p, kMacs + kSecond + "/local-ipv4s");
  auto rd = read_metadata(src);
  auto& e = rd.instance.enis.at(*MacAddr::parse(kSecond));
  CHECK(e.state == EniMetadata::State::FetchFailed);
  CHECK(e.problem.find("503") != std::string::npos);
  FailingSource root(p, "meta-data/mac");
  CHECK(!read_metadata(root).fatal.empty());
}

TEST_CASE("IPv6-only ENI, prefixes and associations") {
  auto src = test::scenario("ipv6-only-secondary");
  auto rd = read_metadata(*src);
  REQUIRE(rd.fatal.empty());
  auto& e = rd.instance.enis.at(*MacAddr::parse(kSecond));
  CHECK(e.state == EniMetadata::State::Complete);
  CHECK(!e.has_ipv4());
  CHECK(e.ipv6s.size() == 2);

  auto ds = test::scenario("dual-stack-prefixes");
  auto rd2 = read_metadata(*ds);
  auto& d = rd2.instance.enis.at(*MacAddr::parse(kSecond));
  CHECK(d.ipv4_prefixes.at(0).str() == "10.0.1.64/28");
  CHECK(d.ipv6_prefixes.at(0).str() == "2600:1f18:aaaa:bb01:1234::/80");
  auto& p = rd2.instance.enis.at(*MacAddr::parse(kPrimary));
  CHECK(p.ipv4_associations.at(*IpAddr::parse("3.80.1.10")).str() == "10.0.0.34");
}

TEST_CASE("capture round trip: RecordingSource writes what CaptureSource reads") {
  CaptureSource src(two_enis());
  RecordingSource rec(src);
  auto a = read_metadata(rec);
  std::string error;
  auto replay = CaptureSource::from_json(rec.capture_json(), &error);
  REQUIRE(replay);
  auto b = read_metadata(*replay);
  CHECK(a.instance.enis.size() == b.instance.enis.size());
  CHECK(replay->paths() == two_enis());
  CHECK(!CaptureSource::from_json("{\"format\":\"other\"}", &error));
  CHECK(error.find("format") != std::string::npos);
}

TEST_CASE("two ENIs claiming one device number: the non-primary ones are not propagated yet") {
  auto p = two_enis();
  const std::string third = "02:86:10:7b:e4:f7";
  p[kMacs] += "\n" + third + "/";
  p[kMacs + third + "/"] = "device-number\nlocal-ipv4s\nsubnet-ipv4-cidr-block";
  p[kMacs + third + "/device-number"] = "1";  // ens6's number: one of them is stale
  p[kMacs + third + "/local-ipv4s"] = "10.0.2.20";
  p[kMacs + third + "/subnet-ipv4-cidr-block"] = "10.0.2.0/24";
  CaptureSource src(p);
  auto rd = read_metadata(src);
  auto& a = rd.instance.enis.at(*MacAddr::parse(kSecond));
  auto& b = rd.instance.enis.at(*MacAddr::parse(third));
  CHECK(a.state == EniMetadata::State::Incomplete);
  CHECK(b.state == EniMetadata::State::Incomplete);
  CHECK(b.problem.find("also claimed by " + kSecond) != std::string::npos);
  CHECK(rd.instance.enis.at(*MacAddr::parse(kPrimary)).state == EniMetadata::State::Complete);
}

TEST_CASE("a capture nested deeper than the stack is refused, not a crash") {
  // tests/fuzz/corpus/fuzz_capture/crash-deep-nesting.json: the recursive parser
  // overflowed the stack on it.
  std::string error;
  CHECK(!CaptureSource::from_json(std::string(300000, '['), &error));
  CHECK(error.find("not valid JSON") != std::string::npos);
}

TEST_CASE("an IPv6-only ENI with an empty ipv6s has not propagated yet") {
  // tests/fuzz/corpus/fuzz_metadata_tree/crash-ipv6-only-empty-lists: read as complete,
  // the ENI was planned with no address, route or rule at all.
  auto p = test::scenario("ipv6-only-secondary")->paths();
  p[kMacs + kSecond + "/ipv6s"] = "";
  SUBCASE("its subnet listed") {}
  SUBCASE("its subnet empty too") { p[kMacs + kSecond + "/subnet-ipv6-cidr-blocks"] = ""; }
  auto e = second_eni(p);
  CHECK(e.state == EniMetadata::State::Incomplete);
  CHECK(e.problem.find(": listed but empty") != std::string::npos);
}

TEST_CASE("a listed key with an empty body was caught mid-update: never read as none") {
  // IMDS leaves an empty list out of the listing. Read as "none", an empty ipv6s or
  // ipv4-prefix took every IPv6 address, or the prefix's rule, away (issue 26).
  for (const char* key : {"ipv6s", "ipv4-prefix", "ipv6-prefix", "subnet-ipv6-cidr-blocks", "local-ipv4s"}) {
    for (const char* body : {"", "\n"}) {
      CAPTURE(key);
      auto p = test::scenario("dual-stack-prefixes")->paths();
      const std::string path = kMacs + kSecond + "/" + key;
      REQUIRE(p.count(path));
      p[path] = body;
      auto e = second_eni(p);
      CHECK(e.state == EniMetadata::State::Incomplete);
      CHECK(e.problem == path + ": listed but empty (caught mid-update; not propagated yet)");
    }
  }
}

TEST_CASE("an address or prefix listed on two ENIs: both left as they are") {
  auto p = two_enis();
  SUBCASE("the same secondary address, two ENIs in one subnet") {
    p[kMacs + kSecond + "/subnet-ipv4-cidr-block"] = "10.0.0.0/24";
    p[kMacs + kSecond + "/local-ipv4s"] = "10.0.0.20\n10.0.0.35";
  }
  SUBCASE("an address inside the other's delegated prefix") {
    p[kMacs + kPrimary + "/"] += "\nipv4-prefix";
    p[kMacs + kPrimary + "/ipv4-prefix"] = "10.0.0.64/28";
    p[kMacs + kSecond + "/subnet-ipv4-cidr-block"] = "10.0.0.0/24";
    p[kMacs + kSecond + "/local-ipv4s"] = "10.0.0.20\n10.0.0.70";
  }
  CaptureSource src(p);
  auto rd = read_metadata(src);
  REQUIRE(rd.fatal.empty());
  auto& a = rd.instance.enis.at(*MacAddr::parse(kPrimary));
  auto& b = rd.instance.enis.at(*MacAddr::parse(kSecond));
  CHECK(a.state == EniMetadata::State::Incomplete);
  CHECK(b.state == EniMetadata::State::Incomplete);
  CHECK(a.problem.find("is also listed on " + kSecond) != std::string::npos);
  CHECK(b.problem.find("is also listed on " + kPrimary) != std::string::npos);
  CHECK(b.problem.find("a move caught half-way") != std::string::npos);
}

TEST_CASE("conflicting claims: the sorted sweep finds exactly the ENIs a pairwise check finds") {
  // Random instances whose ENIs draw addresses and delegated prefixes from small ranges,
  // so that some overlap (same address, an address inside another's prefix, nested or
  // equal prefixes, both families) and some do not; mark_conflicts must mark exactly the
  // ENIs that share an address with another ENI, and name a real counterpart.
  std::mt19937 rng(27);
  auto pick = [&](int n) { return int(rng() % unsigned(n)); };
  int with_conflicts = 0, without = 0;
  for (int round = 0; round < 400; ++round) {
    InstanceMetadata md;
    const int enis = 2 + pick(6);
    for (int e = 0; e < enis; ++e) {
      EniMetadata eni;
      eni.state = EniMetadata::State::Complete;
      eni.device_number = e;
      for (int k = pick(4); k > 0; --k)
        eni.local_ipv4s.push_back(*IpAddr::parse("10.0.0." + std::to_string(pick(120))));
      for (int k = pick(3); k > 0; --k)
        eni.ipv6s.push_back(*IpAddr::parse("2600:1f14::" + std::to_string(pick(90))));
      if (pick(3) == 0) eni.ipv4_prefixes.push_back(*IpPrefix::parse("10.0.0." + std::to_string(16 * pick(8)) + "/28"));
      if (pick(4) == 0) eni.ipv4_prefixes.push_back(*IpPrefix::parse("10.0.0.0/" + std::to_string(26 + pick(3))));
      if (pick(3) == 0) eni.ipv6_prefixes.push_back(*IpPrefix::parse("2600:1f14::" + std::to_string(16 * pick(6)) + "/124"));
      md.enis[*MacAddr::parse("02:00:00:00:00:0" + std::to_string(e))] = eni;  // e < 8
    }
    auto claims = [](const EniMetadata& e) {
      std::vector<IpPrefix> out;
      for (auto& a : e.local_ipv4s) out.push_back(IpPrefix::host(a));
      for (auto& a : e.ipv6s) out.push_back(IpPrefix::host(a));
      out.insert(out.end(), e.ipv4_prefixes.begin(), e.ipv4_prefixes.end());
      out.insert(out.end(), e.ipv6_prefixes.begin(), e.ipv6_prefixes.end());
      return out;
    };
    std::map<MacAddr, std::set<MacAddr>> partners;  // pairwise, as the definition says
    for (auto& [m1, e1] : md.enis)
      for (auto& [m2, e2] : md.enis)
        if (m1 != m2)
          for (auto& a : claims(e1))
            for (auto& b : claims(e2))
              if (a.overlaps(b)) partners[m1].insert(m2);
    mark_conflicts(md);
    for (auto& [mac, eni] : md.enis) {
      const bool expect = partners.count(mac) > 0;
      CAPTURE(round);
      CAPTURE(mac.str());
      CHECK((eni.state == EniMetadata::State::Incomplete) == expect);
      if (!expect) continue;
      // "... is also listed on MAC (PREFIX) ...": MAC is one it really shares an address with.
      const auto at = eni.problem.find("is also listed on ");
      REQUIRE(at != std::string::npos);
      auto other = MacAddr::parse(eni.problem.substr(at + 18, 17));
      REQUIRE(other);
      CHECK(partners[mac].count(*other) == 1);
    }
    (partners.empty() ? without : with_conflicts)++;
  }
  // The draw must have made both kinds of instance, or the comparison proves little.
  CHECK(with_conflicts > 50);
  CHECK(without > 50);
}

TEST_CASE("the same address on two ENIs only once it is on one: then both are complete") {
  auto p = two_enis();
  p[kMacs + kSecond + "/local-ipv4s"] = "10.0.1.20\n10.0.1.35";
  CaptureSource src(p);
  auto rd = read_metadata(src);
  for (auto& [mac, eni] : rd.instance.enis) CHECK(eni.state == EniMetadata::State::Complete);
}
