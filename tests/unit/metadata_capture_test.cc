// capture_metadata walks the whole tree through a fake source: every served path is
// captured whatever state an ENI is in, problems are recorded and the walk goes on,
// and bounds hold against a hostile server.
#include "core/metadata_capture.h"

#include <doctest/doctest.h>

#include <cerrno>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "test_util.h"

using namespace ec2nc;

namespace {

const std::string kMacs = "meta-data/network/interfaces/macs/";
const std::string kPrimary = "02:86:10:7b:e4:f5";
const std::string kSecond = "02:86:10:7b:e4:f6";

/// Serves `paths` (absent = 404), fails the paths in `failing`, counts every request.
class FakeSource : public MetadataSource {
 public:
  explicit FakeSource(std::map<std::string, std::string> paths) : paths_(std::move(paths)) {}
  FetchResult get(const std::string& path) override {
    ++gets_[path];
    ++total_;
    auto f = failing.find(path);
    if (f != failing.end()) return FetchResult::failed(f->second, unreachable.count(path) ? unreachable.at(path) : 0);
    if (dynamic) {
      if (auto body = dynamic(path)) return FetchResult::ok(*body);
    }
    auto it = paths_.find(path);
    if (it == paths_.end()) return FetchResult::not_found();
    return FetchResult::ok(it->second);
  }
  unsigned gets(const std::string& path) const { return gets_.count(path) ? gets_.at(path) : 0; }
  unsigned total() const { return total_; }

  std::map<std::string, std::string> failing;  ///< path -> error text
  std::map<std::string, int> unreachable;     ///< path (also in `failing`) -> FetchResult::unreachable
  std::function<std::optional<std::string>(const std::string&)> dynamic;  ///< generated answers

 private:
  std::map<std::string, std::string> paths_;
  std::map<std::string, unsigned> gets_;
  unsigned total_ = 0;
};

std::vector<std::string> error_paths(const MetadataCapture& c) {
  std::vector<std::string> out;
  for (auto& e : c.errors) out.push_back(e.path);
  return out;
}

/// Two ENIs, the second one propagating and invalid in several ways at once.
std::map<std::string, std::string> troubled_tree() {
  std::map<std::string, std::string> p;
  p["meta-data/mac"] = kPrimary;
  p[kMacs] = kPrimary + "/\n" + kSecond + "/";
  p[kMacs + kPrimary + "/"] = "device-number\nlocal-ipv4s\nsubnet-ipv4-cidr-block\nipv4-associations/";
  p[kMacs + kPrimary + "/device-number"] = "0";
  p[kMacs + kPrimary + "/local-ipv4s"] = "10.0.0.34\n10.0.0.35";
  p[kMacs + kPrimary + "/subnet-ipv4-cidr-block"] = "10.0.0.0/24";
  p[kMacs + kPrimary + "/ipv4-associations/"] = "3.80.1.10\n3.80.1.11";
  p[kMacs + kPrimary + "/ipv4-associations/3.80.1.10"] = "10.0.0.34";
  p[kMacs + kPrimary + "/ipv4-associations/3.80.1.11"] = "10.0.0.35";
  // The second ENI: device-number fails, network-card empty, local-ipv4s listed but
  // 404, an invalid address, keys the reader never reads.
  p[kMacs + kSecond + "/"] =
      "device-number\nnetwork-card\nlocal-ipv4s\nipv6s\nsubnet-ipv4-cidr-block\nowner-id\nsecurity-groups";
  p[kMacs + kSecond + "/network-card"] = "";
  p[kMacs + kSecond + "/ipv6s"] = "2600:1f18::zz";
  p[kMacs + kSecond + "/subnet-ipv4-cidr-block"] = "10.0.1.0/24";
  p[kMacs + kSecond + "/owner-id"] = "111122223333";
  p[kMacs + kSecond + "/security-groups"] = "default";
  return p;
}

}  // namespace

TEST_CASE("capture_metadata: every bundled scenario is captured in full and replays the same") {
  for (const char* name : {"one-eni-three-ips", "two-enis-same-subnet", "two-enis-two-subnets", "four-enis-two-cards",
                           "dual-stack-prefixes", "ipv6-only-secondary", "largest"}) {
    CAPTURE(name);
    auto served = test::scenario(name);
    FakeSource src(served->paths());
    MetadataCapture cap = capture_metadata(src);
    CHECK(cap.errors.empty());
    CHECK(cap.has_root());
    CHECK(cap.paths == served->paths());
    CHECK(src.total() == served->paths().size());  // each path once

    std::string error;
    auto replay = CaptureSource::from_json(cap.json(), &error);
    REQUIRE_MESSAGE(replay, error);
    CHECK(replay->paths() == served->paths());
    auto a = read_metadata(*served), b = read_metadata(*replay);
    CHECK(b.fatal == a.fatal);
    REQUIRE(b.instance.enis.size() == a.instance.enis.size());
    for (auto& [mac, eni] : a.instance.enis) {
      CHECK(b.instance.enis.at(mac).state == eni.state);
      CHECK(b.instance.enis.at(mac).local_ipv4s == eni.local_ipv4s);
    }
  }
}

TEST_CASE("capture_metadata: a troubled ENI is captured in full, each problem recorded") {
  auto tree = troubled_tree();
  FakeSource src(tree);
  src.failing[kMacs + kSecond + "/device-number"] =
      kMacs + kSecond + "/device-number: HTTP 503 after 6 attempts";
  MetadataCapture cap = capture_metadata(src);

  // What the reader would have fetched of the second ENI stops at device-number; the
  // capture holds every other served path, the empty network-card included.
  CHECK(cap.has_root());
  std::map<std::string, std::string> want = tree;
  CHECK(cap.paths == want);
  CHECK(cap.paths.at(kMacs + kSecond + "/network-card").empty());
  REQUIRE(cap.errors.size() == 2);
  CHECK(cap.errors[0].path == kMacs + kSecond + "/device-number");
  CHECK(cap.errors[0].error == kMacs + kSecond + "/device-number: HTTP 503 after 6 attempts");
  CHECK(cap.errors[1].path == kMacs + kSecond + "/local-ipv4s");
  CHECK(cap.errors[1].error == kMacs + kSecond + "/local-ipv4s: listed but answers 404");

  // The capture replays what IMDS said: the reader finds the same problems in it.
  std::string error;
  auto replay = CaptureSource::from_json(cap.json(), &error);
  REQUIRE(replay);
  CHECK(replay->paths().at(kMacs + kSecond + "/network-card").empty());
  auto rd = read_metadata(*replay);
  REQUIRE(rd.fatal.empty());
  CHECK(rd.instance.enis.at(*MacAddr::parse(kPrimary)).state == EniMetadata::State::Complete);
  CHECK(rd.instance.enis.at(*MacAddr::parse(kSecond)).state != EniMetadata::State::Complete);
}

TEST_CASE("capture_metadata: an error text that does not name its path gets it") {
  FakeSource src(troubled_tree());
  src.failing["meta-data/mac"] = "connection refused";
  MetadataCapture cap = capture_metadata(src);
  REQUIRE(!cap.errors.empty());
  CHECK(cap.errors[0].path == "meta-data/mac");
  CHECK(cap.errors[0].error == "meta-data/mac: connection refused");
}

TEST_CASE("capture_metadata: without meta-data/mac or the listing there is no root, the rest is still walked") {
  SUBCASE("meta-data/mac fails") {
    FakeSource src(troubled_tree());
    src.failing["meta-data/mac"] = "meta-data/mac: HTTP 500 after 6 attempts";
    MetadataCapture cap = capture_metadata(src);
    CHECK_FALSE(cap.has_root());
    CHECK(error_paths(cap)[0] == "meta-data/mac");
    CHECK(cap.paths.count(kMacs + kPrimary + "/local-ipv4s"));
  }
  SUBCASE("meta-data/mac is missing") {
    auto tree = troubled_tree();
    tree.erase("meta-data/mac");
    FakeSource src(tree);
    MetadataCapture cap = capture_metadata(src);
    CHECK_FALSE(cap.has_root());
    CHECK(cap.errors[0].error == "meta-data/mac: 404 not found");
  }
  SUBCASE("the listing is missing") {
    auto tree = troubled_tree();
    tree.erase(kMacs);
    FakeSource src(tree);
    MetadataCapture cap = capture_metadata(src);
    CHECK_FALSE(cap.has_root());
    REQUIRE(cap.errors.size() == 1);
    CHECK(cap.errors[0].error == kMacs + ": 404 not found");
    CHECK(cap.paths.size() == 1);  // meta-data/mac
  }
  SUBCASE("an empty listing is a root (the reader judges it)") {
    std::map<std::string, std::string> tree = {{"meta-data/mac", kPrimary}, {kMacs, ""}};
    FakeSource src(tree);
    MetadataCapture cap = capture_metadata(src);
    CHECK(cap.has_root());
    CHECK(cap.errors.empty());
    CHECK(cap.paths == tree);
  }
}

TEST_CASE("capture_metadata: a request that cannot connect ends the walk, with one error") {
  SUBCASE("at meta-data/mac: nothing more is asked") {
    FakeSource src(troubled_tree());
    src.failing["meta-data/mac"] = "meta-data/mac: token PUT /latest/api/token: Connection refused after 6 attempts";
    src.unreachable["meta-data/mac"] = ECONNREFUSED;
    MetadataCapture cap = capture_metadata(src);
    CHECK(cap.unreachable == ECONNREFUSED);
    CHECK_FALSE(cap.has_root());
    REQUIRE(cap.errors.size() == 1);
    CHECK(cap.errors[0].path == "meta-data/mac");
    CHECK(src.total() == 1);
    CHECK(cap.paths.empty());
  }
  SUBCASE("in the middle: what was read is kept, nothing after it is asked") {
    FakeSource src(troubled_tree());
    const std::string at = kMacs + kPrimary + "/";
    src.failing[at] = at + ": Network is unreachable after 6 attempts";
    src.unreachable[at] = ENETUNREACH;
    MetadataCapture cap = capture_metadata(src);
    CHECK(cap.unreachable == ENETUNREACH);
    CHECK(cap.has_root());
    REQUIRE(cap.errors.size() == 1);
    CHECK(cap.errors.back().path == at);
    CHECK(src.total() == 3);  // meta-data/mac, the listing, the failed one
    CHECK(src.gets(kMacs + kSecond + "/") == 0);
  }
  SUBCASE("a failure of the path's own does not end it") {
    FakeSource src(troubled_tree());
    src.failing["meta-data/mac"] = "meta-data/mac: HTTP 500 after 6 attempts";
    MetadataCapture cap = capture_metadata(src);
    CHECK(cap.unreachable == 0);
    CHECK(cap.paths.count(kMacs + kPrimary + "/local-ipv4s"));
  }
}

TEST_CASE("capture_metadata: MACs listed without '/' are walked as directories") {
  auto tree = troubled_tree();
  tree[kMacs] = kPrimary + "\n" + kSecond;
  FakeSource src(tree);
  MetadataCapture cap = capture_metadata(src);
  CHECK(cap.paths.count(kMacs + kPrimary + "/local-ipv4s"));
  CHECK(cap.paths.count(kMacs + kSecond + "/owner-id"));
  CHECK(src.gets(kMacs + kPrimary) == 0);
}

TEST_CASE("capture_metadata: listing entries that are not names are recorded, never fetched") {
  auto tree = troubled_tree();
  const std::string dir = kMacs + kPrimary + "/";
  tree[dir] += "\n../\n..\n./\n/\na b\nx?y\nz#\n%2e%2e/\nback\\slash\nctl\x01x\nlocal-ipv4s\nlocal-ipv4s\n\n";
  FakeSource src(tree);
  MetadataCapture cap = capture_metadata(src);
  CHECK(cap.paths == tree);  // nothing more fetched or recorded
  unsigned bad = 0;
  for (auto& e : cap.errors) {
    if (e.path != dir) continue;
    ++bad;
    CHECK(e.error.find("is not a metadata name") != std::string::npos);
  }
  CHECK(bad == 10);
  CHECK(src.gets(dir + "local-ipv4s") == 1);  // listed twice, fetched once
  CHECK(src.gets(kMacs) == 1);
  CHECK(src.gets(kMacs + "..") == 0);
  CHECK(src.gets(kMacs + "../") == 0);
  for (auto& e : cap.errors) CHECK(e.error.find("\x01") == std::string::npos);  // escaped in messages
}

TEST_CASE("capture_metadata: a server that lists directories without end is cut at the depth bound") {
  FakeSource src({{"meta-data/mac", kPrimary}, {kMacs, kPrimary + "/"}});
  src.dynamic = [&](const std::string& path) -> std::optional<std::string> {
    if (path.rfind(kMacs + kPrimary + "/", 0) == 0 && path.back() == '/') return std::string("a/\nv");
    return std::nullopt;
  };
  MetadataCapture cap = capture_metadata(src);
  CHECK(cap.has_root());
  // macs/ (depth 0), the MAC (1), then a/ down to depth 8: 8 listings and their values.
  CHECK(src.total() == 2 + 8 + 8);
  std::string deepest = kMacs + kPrimary + "/";
  for (int i = 0; i < 8; ++i) deepest += "a/";
  unsigned too_deep = 0;
  for (auto& e : cap.errors) {
    if (e.error.find("not walked: deeper than 8 levels") == std::string::npos) continue;
    ++too_deep;
    CHECK(e.path == deepest);
  }
  CHECK(too_deep == 1);
  // The values at each level are 404s (listed, not served): recorded, the walk goes on.
  CHECK(cap.errors.size() == 8 + 1);
}

TEST_CASE("capture_metadata: a listing without end is cut at the path bound, with one error saying so") {
  std::string huge;
  for (int i = 0; i < 25000; ++i) huge += "k" + std::to_string(i) + "\n";
  FakeSource src({{"meta-data/mac", kPrimary}, {kMacs, kPrimary + "/"}, {kMacs + kPrimary + "/", huge}});
  src.dynamic = [&](const std::string& path) -> std::optional<std::string> {
    if (path.rfind(kMacs + kPrimary + "/k", 0) == 0) return std::string("1");
    return std::nullopt;
  };
  MetadataCapture cap = capture_metadata(src);
  CHECK(src.total() == 10000);
  CHECK(cap.paths.size() == 10000);
  REQUIRE(cap.errors.size() == 1);
  CHECK(cap.errors[0].path == kMacs + kPrimary + "/k9997");
  CHECK(cap.errors[0].error ==
        kMacs + kPrimary + "/k9997: not captured (nor 15002 other listed paths): the capture stops at 10000 paths");

  CaptureLimits small;
  small.max_paths = 5;
  FakeSource src2(troubled_tree());
  cap = capture_metadata(src2, small);
  CHECK(src2.total() == 5);
  CHECK(cap.has_root());
  REQUIRE(cap.errors.size() == 1);
  CHECK(cap.errors[0].error.find("the capture stops at 5 paths") != std::string::npos);
}

TEST_CASE("capture_metadata: bodies are kept up to the byte bound") {
  auto tree = troubled_tree();
  size_t served = 0;
  for (auto& [k, v] : tree) served += v.size();
  CaptureLimits small;
  small.max_bytes = served + 100;  // room for all but a 200-byte owner-id
  tree[kMacs + kSecond + "/owner-id"] = std::string(200, 'x');
  FakeSource src(tree);
  MetadataCapture cap = capture_metadata(src, small);
  CHECK(cap.paths.count(kMacs + kSecond + "/owner-id") == 0);
  CHECK(cap.paths.count(kMacs + kSecond + "/security-groups") == 0);  // after the bound: not fetched
  CHECK(src.gets(kMacs + kSecond + "/security-groups") == 0);
  REQUIRE(!cap.errors.empty());
  CHECK(cap.errors.back().path == kMacs + kSecond + "/owner-id");
  CHECK(cap.errors.back().error ==
        kMacs + kSecond + "/owner-id: not captured (nor 1 other listed path): the capture keeps at most " +
            std::to_string(small.max_bytes) + " bytes of bodies");
  size_t bytes = 0;
  for (auto& [k, v] : cap.paths) bytes += v.size();
  CHECK(bytes <= small.max_bytes);
}
