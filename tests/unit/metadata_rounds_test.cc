// How read_metadata/read_enis fetch: only what the plan and `show` use, only keys an
// ENI's listing names, in rounds of requests that do not depend on each other
// (MetadataSource::get_many), with the outcome the same whatever a round brought.
#include <doctest/doctest.h>

#include <algorithm>
#include <set>

#include "core/metadata.h"
#include "test_util.h"

using namespace ec2nc;

namespace {

const std::string kMacs = "meta-data/network/interfaces/macs/";
const std::string kPrimary = "02:86:10:7b:e4:f5";
const std::string kSecond = "02:86:10:7b:e4:f6";

/// A capture that records every round: one get_many call, or one get() of its own.
class RoundsSource : public MetadataSource {
 public:
  explicit RoundsSource(std::map<std::string, std::string> p) : inner_(std::move(p)) {}
  FetchResult get(const std::string& path) override {
    rounds.push_back({path});
    singles.push_back(path);
    return answer(path);
  }
  std::vector<FetchResult> get_many(const std::vector<std::string>& paths) override {
    rounds.push_back(paths);
    std::vector<FetchResult> out;
    for (auto& p : paths) out.push_back(answer(p));
    return out;
  }
  /// Paths that fail (as IMDS down after retries would).
  std::set<std::string> failing;
  std::vector<std::vector<std::string>> rounds;
  std::vector<std::string> singles;  ///< Paths fetched with get(), not in a round.
  const std::map<std::string, std::string>& paths() const { return inner_.paths(); }

  std::vector<std::string> all() const {
    std::vector<std::string> v;
    for (auto& r : rounds) v.insert(v.end(), r.begin(), r.end());
    return v;
  }

 private:
  FetchResult answer(const std::string& p) {
    if (failing.count(p)) return FetchResult::failed(p + ": HTTP 503 after 6 attempts");
    return inner_.get(p);
  }
  CaptureSource inner_;
};

/// A source with get() alone: the default get_many.
class OneByOneSource : public MetadataSource {
 public:
  explicit OneByOneSource(std::map<std::string, std::string> p) : inner_(std::move(p)) {}
  FetchResult get(const std::string& path) override {
    order.push_back(path);
    return inner_.get(path);
  }
  std::vector<std::string> order;

 private:
  CaptureSource inner_;
};

std::map<std::string, std::string> paths_of(const std::string& scenario) { return test::scenario(scenario)->paths(); }

std::set<std::string> sorted(const std::vector<std::string>& v) { return {v.begin(), v.end()}; }

/// Keys the reader may fetch under an ENI's directory (the rest of IMDS's keys are
/// informational or unused: mac, owner-id, security-groups, subnet-id, vpc-id,
/// local-hostname, public-ipv4s, vpc-ipv4-cidr-block(s), vpc-ipv6-cidr-blocks).
const std::set<std::string> kUsedKeys = {"device-number",  "network-card", "network-card-index",  "interface-id",
                                         "local-ipv4s",    "ipv6s",        "subnet-ipv4-cidr-block",
                                         "subnet-ipv6-cidr-blocks",        "ipv4-prefix",         "ipv6-prefix",
                                         "ipv4-associations/"};

std::string eni_key(const std::string& path) {
  // meta-data/network/interfaces/macs/MAC/KEY -> KEY ("" for the listing itself)
  std::string rest = path.substr(kMacs.size());
  return rest.substr(rest.find('/') + 1);
}

}  // namespace

TEST_CASE("rounds: root, every ENI's listing, every listed key, then the associations") {
  RoundsSource src(paths_of("dual-stack-prefixes"));
  auto rd = read_metadata(src);
  REQUIRE(rd.fatal.empty());
  for (auto& [mac, eni] : rd.instance.enis) CHECK(eni.state == EniMetadata::State::Complete);
  CHECK(src.singles.empty());
  REQUIRE(src.rounds.size() == 4);
  CHECK(src.rounds[0] == std::vector<std::string>{"meta-data/mac", kMacs});
  CHECK(sorted(src.rounds[1]) == std::set<std::string>{kMacs + kPrimary + "/", kMacs + kSecond + "/"});
  const std::string p = kMacs + kPrimary + "/", s = kMacs + kSecond + "/";
  CHECK(sorted(src.rounds[2]) ==
        std::set<std::string>{p + "device-number", p + "interface-id", p + "local-ipv4s",
                              p + "subnet-ipv4-cidr-block", p + "ipv6s", p + "subnet-ipv6-cidr-blocks",
                              p + "ipv4-associations/", s + "device-number", s + "interface-id", s + "local-ipv4s",
                              s + "subnet-ipv4-cidr-block", s + "ipv6s", s + "subnet-ipv6-cidr-blocks",
                              s + "ipv4-prefix", s + "ipv6-prefix"});
  CHECK(src.rounds[3] == std::vector<std::string>{p + "ipv4-associations/3.80.1.10"});
  // What the rounds brought is what a read one path at a time gives.
  OneByOneSource one(paths_of("dual-stack-prefixes"));
  auto seq = read_metadata(one);
  CHECK(sorted(one.order) == sorted(src.all()));
  for (auto& [mac, eni] : rd.instance.enis) {
    auto& o = seq.instance.enis.at(mac);
    CHECK(o.local_ipv4s == eni.local_ipv4s);
    CHECK(o.ipv6s == eni.ipv6s);
    CHECK(o.ipv4_prefixes == eni.ipv4_prefixes);
    CHECK(o.ipv6_prefixes == eni.ipv6_prefixes);
    CHECK(o.ipv4_associations == eni.ipv4_associations);
    CHECK(o.interface_id == eni.interface_id);
  }
}

TEST_CASE("rounds: apply's read leaves the Elastic IPs unread: three rounds") {
  auto p = paths_of("dual-stack-prefixes");
  p[kMacs + kPrimary + "/ipv4-associations/3.80.1.10"] = "not an address";  // show would refuse it
  RoundsSource src(p);
  auto rd = read_metadata(src, {}, /*elastic_ips=*/false);
  REQUIRE(rd.fatal.empty());
  CHECK(src.rounds.size() == 3);
  for (auto& path : src.all()) CHECK(path.find("ipv4-associations") == std::string::npos);
  for (auto& [mac, eni] : rd.instance.enis) {
    CHECK(eni.state == EniMetadata::State::Complete);
    CHECK(eni.ipv4_associations.empty());
  }
  RoundsSource shown(p);
  auto e = read_metadata(shown).instance.enis.at(*MacAddr::parse(kPrimary));
  CHECK(e.state == EniMetadata::State::Invalid);
  RoundsSource one(p);
  auto enis = read_enis(one, {*MacAddr::parse(kPrimary)}, *MacAddr::parse(kPrimary), false);
  CHECK(enis.begin()->second.state == EniMetadata::State::Complete);
  CHECK(one.rounds.size() == 2);
}

TEST_CASE("rounds: no ENI without associations needs a fourth round; many ENIs share the rounds") {
  RoundsSource src(paths_of("largest"));
  auto rd = read_metadata(src);
  REQUIRE(rd.fatal.empty());
  CHECK(rd.instance.enis.size() == 15);
  CHECK(src.rounds.size() == 3);
  CHECK(src.rounds[1].size() == 15);
  CHECK(src.rounds[2].size() == 15 * 6);  // device-number, interface-id, 2 address and 2 subnet keys
  CHECK(src.singles.empty());
}

TEST_CASE("rounds: only keys the listing names, and only keys the plan or show use") {
  for (const char* name : {"one-eni-three-ips", "two-enis-same-subnet", "two-enis-two-subnets", "four-enis-two-cards",
                           "dual-stack-prefixes", "ipv6-only-secondary", "largest"}) {
    CAPTURE(name);
    RoundsSource src(paths_of(name));
    auto rd = read_metadata(src);
    REQUIRE(rd.fatal.empty());
    std::set<std::string> seen;
    for (auto& path : src.all()) {
      CAPTURE(path);
      CHECK(src.paths().count(path) == 1);  // no 404 probe
      CHECK(seen.insert(path).second);      // nothing fetched twice
      if (path.rfind(kMacs, 0) != 0 || path == kMacs) continue;
      std::string key = eni_key(path);
      if (key.empty() || key.rfind("ipv4-associations/", 0) == 0) continue;
      CHECK(kUsedKeys.count(key) == 1);
    }
  }
}

TEST_CASE("rounds: the default get_many fetches one path at a time, in the rounds' order") {
  OneByOneSource one(paths_of("dual-stack-prefixes"));
  RoundsSource rounds(paths_of("dual-stack-prefixes"));
  read_metadata(one);
  read_metadata(rounds);
  CHECK(one.order == rounds.all());
}

TEST_CASE("rounds: an ENI whose listing fails gets no key round; the others go on") {
  RoundsSource src(paths_of("two-enis-two-subnets"));
  src.failing.insert(kMacs + kSecond + "/");
  auto rd = read_metadata(src);
  REQUIRE(rd.fatal.empty());
  auto& bad = rd.instance.enis.at(*MacAddr::parse(kSecond));
  CHECK(bad.state == EniMetadata::State::FetchFailed);
  CHECK(bad.problem == kMacs + kSecond + "/: HTTP 503 after 6 attempts");
  CHECK(rd.instance.enis.at(*MacAddr::parse(kPrimary)).state == EniMetadata::State::Complete);
  REQUIRE(src.rounds.size() == 3);
  for (auto& path : src.rounds[2]) CHECK(path.rfind(kMacs + kPrimary + "/", 0) == 0);
}

TEST_CASE("rounds: the first problem in the checks' order is reported, whatever else a round brought") {
  SUBCASE("an invalid device-number wins over a later key that failed") {
    auto p = paths_of("two-enis-two-subnets");
    p[kMacs + kSecond + "/device-number"] = "1x";
    RoundsSource src(p);
    src.failing.insert(kMacs + kSecond + "/local-ipv4s");
    auto e = read_metadata(src).instance.enis.at(*MacAddr::parse(kSecond));
    CHECK(e.state == EniMetadata::State::Invalid);
    CHECK(e.problem.find("device-number") != std::string::npos);
  }
  SUBCASE("a failed key wins over a later invalid one") {
    auto p = paths_of("dual-stack-prefixes");
    p[kMacs + kSecond + "/ipv6-prefix"] = "not a prefix";
    RoundsSource src(p);
    src.failing.insert(kMacs + kSecond + "/local-ipv4s");
    auto e = read_metadata(src).instance.enis.at(*MacAddr::parse(kSecond));
    CHECK(e.state == EniMetadata::State::FetchFailed);
    CHECK(e.problem == kMacs + kSecond + "/local-ipv4s: HTTP 503 after 6 attempts");
  }
  SUBCASE("a failed association entry makes the ENI fetch-failed") {
    RoundsSource src(paths_of("dual-stack-prefixes"));
    src.failing.insert(kMacs + kPrimary + "/ipv4-associations/3.80.1.10");
    auto e = read_metadata(src).instance.enis.at(*MacAddr::parse(kPrimary));
    CHECK(e.state == EniMetadata::State::FetchFailed);
    CHECK(e.problem.find("ipv4-associations/3.80.1.10") != std::string::npos);
  }
  SUBCASE("association entries after a line that is not an address are not fetched") {
    auto p = paths_of("dual-stack-prefixes");
    p[kMacs + kPrimary + "/ipv4-associations/"] = "nonsense\n3.80.1.10";
    RoundsSource src(p);
    auto e = read_metadata(src).instance.enis.at(*MacAddr::parse(kPrimary));
    CHECK(e.state == EniMetadata::State::Invalid);
    CHECK(e.problem.find("ipv4-associations/") != std::string::npos);
    CHECK(src.rounds.size() == 3);
  }
}

TEST_CASE("rounds: read_enis re-reads several ENIs together; read_eni is one of them") {
  RoundsSource src(paths_of("four-enis-two-cards"));
  auto primary = *MacAddr::parse(kPrimary);
  std::vector<MacAddr> macs = {*MacAddr::parse("02:86:10:7b:e4:f7"), *MacAddr::parse("02:86:10:7b:e4:f8")};
  auto enis = read_enis(src, macs, primary);
  REQUIRE(enis.size() == 2);
  for (auto& [mac, eni] : enis) CHECK(eni.state == EniMetadata::State::Complete);
  CHECK(src.rounds.size() == 2);  // the two listings; their keys
  CHECK(src.rounds[0].size() == 2);
  RoundsSource one(paths_of("four-enis-two-cards"));
  auto e = read_eni(one, macs[0], primary);
  CHECK(e.state == EniMetadata::State::Complete);
  CHECK(e.network_card == enis.at(macs[0]).network_card);
  CHECK(e.device_number == enis.at(macs[0]).device_number);
  CHECK(one.rounds.size() == 2);
}

TEST_CASE("rounds: the host's ENIs' listings go with the root: a round fewer, the same outcome") {
  const auto p = paths_of("dual-stack-prefixes");
  const MacAddr primary = *MacAddr::parse(kPrimary), second = *MacAddr::parse(kSecond);
  RoundsSource plain(p);
  auto base = read_metadata(plain, {}, /*elastic_ips=*/false);
  REQUIRE(base.fatal.empty());
  REQUIRE(plain.rounds.size() == 3);

  RoundsSource src(p);
  auto rd = read_metadata(src, {}, false, {second, primary});
  REQUIRE(rd.fatal.empty());
  REQUIRE(src.rounds.size() == 2);
  CHECK(sorted(src.rounds[0]) ==
        std::set<std::string>{"meta-data/mac", kMacs, kMacs + kPrimary + "/", kMacs + kSecond + "/"});
  CHECK(sorted(src.rounds[1]) == sorted(plain.rounds[2]));
  CHECK(src.all().size() == plain.all().size());  // every listing asked for once
  REQUIRE(rd.instance.enis.size() == base.instance.enis.size());
  for (auto& [mac, eni] : base.instance.enis) {
    auto& o = rd.instance.enis.at(mac);
    CHECK(o.state == eni.state);
    CHECK(o.is_primary == eni.is_primary);
    CHECK(o.local_ipv4s == eni.local_ipv4s);
    CHECK(o.ipv6s == eni.ipv6s);
    CHECK(o.ipv6_prefixes == eni.ipv6_prefixes);
    CHECK(o.device_number == eni.device_number);
  }

  SUBCASE("one the listing does not name (not an ENI, or not propagated) is asked for, and not used") {
    const MacAddr stranger = *MacAddr::parse("02:86:10:7b:e4:99");
    RoundsSource s2(p);
    auto r2 = read_metadata(s2, {}, false, {primary, stranger});
    REQUIRE(r2.fatal.empty());
    CHECK(r2.instance.enis.size() == 2);
    CHECK(!r2.instance.enis.count(stranger));
    CHECK(s2.rounds.size() == 3);  // the second ENI's listing after the macs/ listing
    CHECK(std::count(s2.rounds[1].begin(), s2.rounds[1].end(), kMacs + kSecond + "/") == 1);
    CHECK(r2.instance.enis.at(second).state == EniMetadata::State::Complete);
  }
  SUBCASE("a root that cannot be acted on stays fatal, whatever the early listings said") {
    auto q = p;
    q[kMacs] = kSecond + "/";  // lacks meta-data/mac
    RoundsSource s3(q);
    auto r3 = read_metadata(s3, {}, false, {primary, second});
    CHECK(r3.fatal.find("lacks meta-data/mac") != std::string::npos);
    CHECK(r3.instance.enis.empty());
  }
  SUBCASE("with `only`, the early listings are those of the ENIs asked for") {
    RoundsSource s4(p);
    auto r4 = read_metadata(s4, {second}, false, {primary, second});
    REQUIRE(r4.fatal.empty());
    CHECK(r4.instance.enis.size() == 1);
    CHECK(sorted(s4.rounds[0]) == std::set<std::string>{"meta-data/mac", kMacs, kMacs + kSecond + "/"});
  }
}
