#include "core/metadata.h"

#include <rapidjson/document.h>
#include <rapidjson/prettywriter.h>
#include <rapidjson/stringbuffer.h>

#include <algorithm>
#include <set>

namespace ec2nc {

namespace {

const char kMacsPath[] = "meta-data/network/interfaces/macs/";
const char kFormat[] = "ec2-netcfg-metadata/1";
// EC2's largest shapes hold 50 IPv4 and 50 IPv6 addresses per ENI; anything far
// beyond that is not EC2 and is refused rather than rendered.
const size_t kMaxListEntries = 1024;

bool safe_text(const std::string& s) {
  for (unsigned char c : s) {
    if (c < 0x20 && c != '\n') return false;
    if (c == 0x7f) return false;
  }
  return true;
}

std::vector<std::string> split_lines(const std::string& body) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= body.size()) {
    size_t nl = body.find('\n', start);
    if (nl == std::string::npos) nl = body.size();
    std::string line = body.substr(start, nl - start);
    if (!line.empty()) out.push_back(line);
    start = nl + 1;
  }
  return out;
}

/// Per-ENI reader: fetches keys under macs/MAC/, records the first problem.
class EniReader {
 public:
  EniReader(MetadataSource& src, EniMetadata& eni, bool elastic_ips)
      : src_(src), eni_(eni), base_(std::string(kMacsPath) + eni.mac.str() + "/"), elastic_ips_(elastic_ips) {}

  bool ok() const { return eni_.state == EniMetadata::State::Complete; }

  void fail(EniMetadata::State s, const std::string& key, const std::string& what) {
    if (!ok()) return;  // keep the first problem
    eni_.state = s;
    // A fetch error from the source already names the path it failed on.
    eni_.problem = s == EniMetadata::State::FetchFailed ? what : base_ + key + ": " + what;
  }
  void invalid(const std::string& key, const std::string& value, const std::string& why) {
    fail(EniMetadata::State::Invalid, key, "invalid value \"" + printable(value) + "\" (" + why + ")");
  }

  static std::string printable(const std::string& v) {
    std::string out;
    for (unsigned char c : v.substr(0, 80)) {
      if (c == '\n') {
        out += "\\n";
      } else if (c < 0x20 || c >= 0x7f) {
        char buf[8];
        snprintf(buf, sizeof buf, "\\x%02x", c);
        out += buf;
      } else {
        out += char(c);
      }
    }
    if (v.size() > 80) out += "...";
    return out;
  }

  const std::string& base() const { return base_; }
  EniMetadata& eni() { return eni_; }
  /// Whether ipv4-associations/ is read (show), or left alone (apply, diff).
  bool elastic_ips() const { return elastic_ips_; }

  /// Takes the answer for the MAC's directory listing. False (state set) on failure.
  bool take_listing(FetchResult r) {
    if (r.status == FetchResult::Status::Error) {
      fail(EniMetadata::State::FetchFailed, "", r.error);
      return false;
    }
    if (r.status == FetchResult::Status::NotFound) {
      fail(EniMetadata::State::Incomplete, "", "not listed yet (404)");
      return false;
    }
    if (!safe_text(r.body)) {
      invalid("", r.body, "control characters in listing");
      return false;
    }
    for (auto& line : split_lines(r.body)) listed_.insert(line);
    listing_ok_ = true;
    return true;
  }

  bool listed(const std::string& key) const { return listed_.count(key) != 0; }

  /// The keys validate() reads, as far as the listing names them: everything the plan
  /// and `show` use, nothing else (the VPC's blocks and the informational keys are not
  /// fetched), and never a key the listing does not name.
  std::vector<std::string> wanted_keys() const {
    std::vector<std::string> keys;
    if (!listing_ok_) return keys;
    auto want = [&](const char* k) {
      if (listed(k)) keys.emplace_back(k);
    };
    want("device-number");
    if (listed("network-card")) keys.emplace_back("network-card");
    else want("network-card-index");
    want("interface-id");
    want("local-ipv4s");
    want("subnet-ipv4-cidr-block");
    want("subnet-ipv6-cidr-blocks");
    want("ipv6s");
    want("ipv4-prefix");
    want("ipv6-prefix");
    if (elastic_ips_) want("ipv4-associations/");
    return keys;
  }

  /// The ipv4-associations/ entries validate() reads, once that listing is in: one per
  /// line that is an IPv4 address (validate() stops at the first line that is not).
  std::vector<std::string> association_keys() const {
    std::vector<std::string> keys;
    auto it = fetched_.find("ipv4-associations/");
    if (it == fetched_.end() || it->second.status != FetchResult::Status::Ok || !safe_text(it->second.body)) return keys;
    std::set<std::string> seen;
    for (auto& pub : split_lines(it->second.body)) {
      auto public_ip = IpAddr::parse(pub);
      if (!public_ip || !public_ip->is_v4()) break;
      if (seen.insert(pub).second) keys.push_back("ipv4-associations/" + pub);
    }
    return keys;
  }

  /// Keeps the answer for a key fetched in a round.
  void take(const std::string& key, FetchResult r) { fetched_[key] = std::move(r); }

  /// A listed key's value (the answer a round brought, else one request now). nullopt
  /// when not Ok (state set).
  std::optional<std::string> fetch(const std::string& key) {
    auto it = fetched_.find(key);
    FetchResult r = it != fetched_.end() ? it->second : src_.get(base_ + key);
    if (r.status == FetchResult::Status::Error) {
      fail(EniMetadata::State::FetchFailed, key, r.error);
      return std::nullopt;
    }
    if (r.status == FetchResult::Status::NotFound) {
      fail(EniMetadata::State::Incomplete, key, "listed but answers 404 (not propagated yet)");
      return std::nullopt;
    }
    if (!safe_text(r.body)) {
      invalid(key, r.body, "control characters");
      return std::nullopt;
    }
    return r.body;
  }

  std::optional<int> integer(const std::string& key, int max, bool* empty) {
    auto body = fetch(key);
    if (!body) return std::nullopt;
    std::string v = *body;
    while (!v.empty() && v.back() == '\n') v.pop_back();
    if (v.empty()) {
      *empty = true;
      return std::nullopt;
    }
    if (v.size() > 4 || !std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; }) ||
        (v.size() > 1 && v[0] == '0') || std::stoi(v) > max) {
      invalid(key, v, "expected an integer from 0 to " + std::to_string(max));
      return std::nullopt;
    }
    return std::stoi(v);
  }

  template <class T, class Parse>
  std::vector<T> list_of(const std::string& key, Parse parse, const char* what) {
    std::vector<T> out;
    auto body = fetch(key);
    if (!body) return out;
    auto lines = split_lines(*body);
    if (lines.empty()) {
      // IMDS leaves an empty list out of the directory listing: a key it names with an
      // empty body is an answer caught mid-update, never "none" (read as none, it would
      // take every address or prefix of the list away).
      fail(EniMetadata::State::Incomplete, key, "listed but empty (caught mid-update; not propagated yet)");
      return out;
    }
    if (lines.size() > kMaxListEntries) {
      invalid(key, std::to_string(lines.size()) + " entries", "more than EC2 can assign");
      return {};
    }
    for (auto& line : lines) {
      auto v = parse(line);
      if (!v) {
        invalid(key, line, std::string("expected ") + what);
        return {};
      }
      if (std::find(out.begin(), out.end(), *v) == out.end()) out.push_back(*v);
    }
    return out;
  }

  std::vector<IpAddr> addrs(const std::string& key, Family fam) {
    return list_of<IpAddr>(
        key,
        [fam](const std::string& s) -> std::optional<IpAddr> {
          auto a = IpAddr::parse(s);
          if (!a || a->family != fam || a->never_assigned()) return std::nullopt;
          return a;
        },
        fam == Family::V4 ? "a unicast IPv4 address EC2 can assign (not loopback, link-local, multicast or IMDS)"
                          : "a unicast IPv6 address EC2 can assign (not loopback, link-local, multicast or IMDS)");
  }

  std::vector<IpPrefix> prefixes(const std::string& key, Family fam, uint8_t min_len) {
    return list_of<IpPrefix>(
        key,
        [fam, min_len](const std::string& s) -> std::optional<IpPrefix> {
          auto p = IpPrefix::parse(s);
          if (!p || p->family() != fam || !p->is_network() || p->len < min_len) return std::nullopt;
          return p;
        },
        fam == Family::V4 ? "an IPv4 network prefix" : "an IPv6 network prefix");
  }

  /// A subnet or delegated prefix must hold only addresses EC2 can assign: not inside
  /// loopback, link-local, multicast or reserved space, and not holding an IMDS address.
  bool usable_block(const std::string& key, const IpPrefix& p) {
    static const IpPrefix imds4 = *IpPrefix::parse("169.254.169.254/32");
    static const IpPrefix imds6 = *IpPrefix::parse("fd00:ec2::254/128");
    const char* why = p.addr.never_assigned();
    if (why) {
      invalid(key, p.str(), std::string("inside ") + why + " address space");
      return false;
    }
    if (p.covers(imds4) || p.covers(imds6)) {
      invalid(key, p.str(), "holds the IMDS address");
      return false;
    }
    return true;
  }

 private:
  MetadataSource& src_;
  EniMetadata& eni_;
  std::string base_;
  std::set<std::string> listed_;
  bool elastic_ips_;
  bool listing_ok_ = false;
  std::map<std::string, FetchResult> fetched_;
};

/// Judges one ENI from its listing and the keys the rounds fetched, in a fixed order, so
/// the first problem found (the one reported) does not depend on how the keys were
/// fetched.
void validate(EniReader& r, EniMetadata& eni);

/// The ENIs of one read: what each answer under macs/MAC/ calls for next (the listing:
/// the keys it names; ipv4-associations/: its entries), for MetadataSource::crawl.
class EniCrawl {
 public:
  EniCrawl(MetadataSource& src, bool elastic_ips) : src_(src), elastic_ips_(elastic_ips) {}

  /// Adds the ENI `mac` (once) with its record in `out`; the path to start it with
  /// (its listing), or "" when it is already there.
  std::string add(const MacAddr& mac, std::map<MacAddr, EniMetadata>& out) {
    if (out.count(mac)) return "";
    EniMetadata& eni = out[mac];  // map nodes stay put: the readers keep references
    eni.mac = mac;
    eni.state = EniMetadata::State::Complete;  // downgraded by the first problem
    readers_.push_back(std::make_unique<EniReader>(src_, eni, elastic_ips_));
    by_base_[readers_.back()->base()] = readers_.back().get();
    return readers_.back()->base();
  }

  /// Whether `path` is under one of its ENIs; then takes the answer and returns what it
  /// calls for in *next.
  bool take(const std::string& path, const FetchResult& r, std::vector<std::string>* next) {
    // "meta-data/network/interfaces/macs/" + "aa:bb:cc:dd:ee:ff" + "/"
    const size_t base_len = sizeof kMacsPath - 1 + 18;
    auto it = path.size() >= base_len ? by_base_.find(path.substr(0, base_len)) : by_base_.end();
    if (it == by_base_.end()) return false;
    EniReader& reader = *it->second;
    const std::string key = path.substr(base_len);
    std::vector<std::string> keys;
    if (key.empty()) {
      if (reader.take_listing(r)) keys = reader.wanted_keys();
    } else {
      reader.take(key, r);
      if (key == "ipv4-associations/") keys = reader.association_keys();
    }
    for (auto& k : keys) next->push_back(reader.base() + k);
    return true;
  }

  /// Judges every ENI (once every answer is in; is_primary set).
  void validate_all() {
    for (auto& r : readers_) validate(*r, r->eni());
  }

 private:
  MetadataSource& src_;
  bool elastic_ips_;
  std::vector<std::unique_ptr<EniReader>> readers_;
  std::map<std::string, EniReader*> by_base_;
};

/// The MACs of the macs/ listing, in order, once each. False + error (naming the bad
/// entry) when the listing is not one.
bool parse_macs_listing(const std::string& body, std::vector<MacAddr>* macs, std::string* error) {
  if (!safe_text(body)) {
    *error = std::string(kMacsPath) + ": control characters in listing";
    return false;
  }
  for (auto& line : split_lines(body)) {
    std::string entry = line;
    if (!entry.empty() && entry.back() == '/') entry.pop_back();
    auto m = MacAddr::parse(entry);
    if (!m || m->never_assigned()) {
      *error = std::string(kMacsPath) + ": invalid entry \"" + EniReader::printable(line) + "\" (expected " +
               (m ? std::string("a unicast MAC address, not ") + m->never_assigned() : std::string("a MAC address")) +
               ")";
      return false;
    }
    if (std::find(macs->begin(), macs->end(), *m) == macs->end()) macs->push_back(*m);
  }
  return true;
}

}  // namespace

const char* state_name(EniMetadata::State s) {
  switch (s) {
    case EniMetadata::State::Complete: return "complete";
    case EniMetadata::State::Incomplete: return "incomplete";
    case EniMetadata::State::Invalid: return "invalid";
    case EniMetadata::State::FetchFailed: return "fetch-failed";
  }
  return "?";
}

std::unique_ptr<CaptureSource> CaptureSource::from_json(const std::string& text, std::string* error) {
  rapidjson::Document doc;
  // Iterative: rapidjson's default parser recurses once per nesting level, so a
  // capture of a few hundred KB of '[' overflowed the stack.
  doc.Parse<rapidjson::kParseIterativeFlag>(text.c_str(), text.size());
  if (doc.HasParseError()) {
    *error = "not valid JSON (at byte " + std::to_string(doc.GetErrorOffset()) + ")";
    return nullptr;
  }
  if (!doc.IsObject() || !doc.HasMember("format") || !doc["format"].IsString() ||
      std::string(doc["format"].GetString()) != kFormat) {
    *error = std::string("not a dump-metadata capture (expected \"format\": \"") + kFormat + "\")";
    return nullptr;
  }
  if (!doc.HasMember("paths") || !doc["paths"].IsObject()) {
    *error = "capture has no \"paths\" object";
    return nullptr;
  }
  std::map<std::string, std::string> paths;
  for (auto& m : doc["paths"].GetObject()) {
    if (!m.value.IsString()) {
      *error = std::string("capture path \"") + m.name.GetString() + "\" is not a string";
      return nullptr;
    }
    paths[std::string(m.name.GetString(), m.name.GetStringLength())] =
        std::string(m.value.GetString(), m.value.GetStringLength());
  }
  return std::make_unique<CaptureSource>(std::move(paths));
}

FetchResult CaptureSource::get(const std::string& path) {
  auto it = paths_.find(path);
  if (it == paths_.end()) return FetchResult::not_found();
  return FetchResult::ok(it->second);
}

void MetadataSource::crawl(const std::vector<std::string>& paths, const FollowUp& follow_up) {
  std::vector<std::string> generation = paths;
  while (!generation.empty()) {
    std::vector<FetchResult> results = get_many(generation);
    std::vector<std::string> next;
    for (size_t i = 0; i < generation.size(); ++i) {
      auto more = follow_up(generation[i], i < results.size() ? results[i]
                                                              : FetchResult::failed(generation[i] + ": no answer"));
      next.insert(next.end(), more.begin(), more.end());
    }
    generation = std::move(next);
  }
}

std::vector<FetchResult> MetadataSource::get_many(const std::vector<std::string>& paths) {
  std::vector<FetchResult> out;
  out.reserve(paths.size());
  for (auto& p : paths) out.push_back(get(p));
  return out;
}

FetchResult RecordingSource::get(const std::string& path) {
  FetchResult r = inner_.get(path);
  if (r.status == FetchResult::Status::Ok) seen_[path] = r.body;
  return r;
}

std::vector<FetchResult> RecordingSource::get_many(const std::vector<std::string>& paths) {
  std::vector<FetchResult> rs = inner_.get_many(paths);
  for (size_t i = 0; i < rs.size() && i < paths.size(); ++i)
    if (rs[i].status == FetchResult::Status::Ok) seen_[paths[i]] = rs[i].body;
  return rs;
}

void RecordingSource::crawl(const std::vector<std::string>& paths, const FollowUp& follow_up) {
  inner_.crawl(paths, [&](const std::string& path, const FetchResult& r) {
    if (r.status == FetchResult::Status::Ok) seen_[path] = r.body;
    return follow_up(path, r);
  });
}

std::string RecordingSource::capture_json() const {
  rapidjson::StringBuffer sb;
  rapidjson::PrettyWriter<rapidjson::StringBuffer> w(sb);
  w.SetIndent(' ', 2);
  w.StartObject();
  w.Key("format");
  w.String(kFormat);
  w.Key("paths");
  w.StartObject();
  for (auto& [k, v] : seen_) {
    w.Key(k.c_str(), rapidjson::SizeType(k.size()));
    w.String(v.c_str(), rapidjson::SizeType(v.size()));
  }
  w.EndObject();
  w.EndObject();
  return std::string(sb.GetString(), sb.GetSize()) + "\n";
}

namespace {

void validate(EniReader& r, EniMetadata& eni) {
  if (!r.ok()) return;  // the listing failed

  // Identity and numbering.
  if (!r.listed("device-number")) {
    r.fail(EniMetadata::State::Incomplete, "device-number", "not listed yet");
    return;
  }
  bool empty = false;
  auto dev = r.integer("device-number", 99, &empty);
  if (empty) r.fail(EniMetadata::State::Incomplete, "device-number", "empty (not propagated yet)");
  if (!dev) return;
  eni.device_number = *dev;

  // network-card: AWS's tools read "network-card"; the user guide once said
  // "network-card-index". Absent means card 0; present but empty means "not yet".
  for (const char* key : {"network-card", "network-card-index"}) {
    if (!r.listed(key)) continue;
    empty = false;
    auto card = r.integer(key, 99, &empty);
    if (empty) r.fail(EniMetadata::State::Incomplete, key, "empty (not propagated yet)");
    if (!card) return;
    eni.network_card = *card;
    break;
  }
  if (eni.device_number == 0 && eni.network_card == 0 && !eni.is_primary) {
    r.fail(EniMetadata::State::Incomplete, "device-number",
           "0 on card 0 for an ENI that is not meta-data/mac (attachment not propagated yet)");
    return;
  }

  if (r.listed("interface-id")) {
    auto body = r.fetch("interface-id");
    if (!body) return;
    std::string v = *body;
    while (!v.empty() && v.back() == '\n') v.pop_back();
    bool ok = !v.empty() && v.size() <= 64 && std::all_of(v.begin(), v.end(), [](char c) {
      return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
    });
    if (!ok) {
      r.invalid("interface-id", v, "expected eni-<hex>");
      return;
    }
    eni.interface_id = v;
  }

  // IPv4: both keys or neither (then the ENI must be IPv6-only).
  bool v4_listed = r.listed("local-ipv4s") || r.listed("subnet-ipv4-cidr-block");
  if (v4_listed) {
    if (!r.listed("local-ipv4s")) {
      r.fail(EniMetadata::State::Incomplete, "local-ipv4s", "not listed yet");
      return;
    }
    if (!r.listed("subnet-ipv4-cidr-block")) {
      r.fail(EniMetadata::State::Incomplete, "subnet-ipv4-cidr-block", "not listed yet");
      return;
    }
    eni.local_ipv4s = r.addrs("local-ipv4s", Family::V4);
    if (!r.ok()) return;
    if (eni.local_ipv4s.empty()) {
      r.fail(EniMetadata::State::Incomplete, "local-ipv4s", "empty (not propagated yet)");
      return;
    }
    auto subnets = r.prefixes("subnet-ipv4-cidr-block", Family::V4, 8);
    if (!r.ok()) return;
    if (subnets.size() != 1 || subnets[0].len > 30) {
      r.invalid("subnet-ipv4-cidr-block", subnets.empty() ? "" : subnets[0].str(),
                "expected exactly one IPv4 subnet from /8 to /30");
      return;
    }
    eni.subnet_ipv4 = subnets[0];
    if (!r.usable_block("subnet-ipv4-cidr-block", *eni.subnet_ipv4)) return;
    for (auto& a : eni.local_ipv4s) {
      if (!eni.subnet_ipv4->contains(a)) {
        r.invalid("local-ipv4s", a.str(), "not inside subnet " + eni.subnet_ipv4->str());
        return;
      }
    }
  }

  bool v6_addrs = r.listed("ipv6s");
  bool v6_subnets = r.listed("subnet-ipv6-cidr-blocks");
  if (!v4_listed && !(v6_addrs && v6_subnets)) {
    r.fail(EniMetadata::State::Incomplete, "local-ipv4s",
           "neither IPv4 keys nor ipv6s + subnet-ipv6-cidr-blocks listed yet");
    return;
  }
  if (v6_subnets) {
    eni.subnet_ipv6 = r.prefixes("subnet-ipv6-cidr-blocks", Family::V6, 8);
    if (!r.ok()) return;
    for (auto& p : eni.subnet_ipv6)
      if (!r.usable_block("subnet-ipv6-cidr-blocks", p)) return;
  }
  if (v6_addrs) {
    eni.ipv6s = r.addrs("ipv6s", Family::V6);
    if (!r.ok()) return;
    // An IPv6-only ENI always has its primary IPv6 address, as an IPv4 one has its
    // primary IPv4: an empty list has not propagated yet (read as complete, the ENI
    // would be planned with no address at all).
    if (!v4_listed && eni.ipv6s.empty()) {
      r.fail(EniMetadata::State::Incomplete, "ipv6s", "empty (not propagated yet)");
      return;
    }
    if (!v6_subnets) {
      r.fail(EniMetadata::State::Incomplete, "subnet-ipv6-cidr-blocks",
             "not listed yet while ipv6s is");
      return;
    }
    for (auto& a : eni.ipv6s) {
      bool inside = std::any_of(eni.subnet_ipv6.begin(), eni.subnet_ipv6.end(),
                                [&](const IpPrefix& p) { return p.contains(a); });
      if (!inside) {
        r.invalid("ipv6s", a.str(), "not inside any of subnet-ipv6-cidr-blocks");
        return;
      }
    }
  }

  // Delegated prefixes are carved from the ENI's own subnet, always.
  if (r.listed("ipv4-prefix")) {
    eni.ipv4_prefixes = r.prefixes("ipv4-prefix", Family::V4, 8);
    if (!r.ok()) return;
    for (auto& p : eni.ipv4_prefixes) {
      if (!r.usable_block("ipv4-prefix", p)) return;
      if (!eni.subnet_ipv4 || !eni.subnet_ipv4->covers(p)) {
        r.invalid("ipv4-prefix", p.str(),
                  eni.subnet_ipv4 ? "not inside subnet " + eni.subnet_ipv4->str() : std::string("the ENI has no IPv4 subnet"));
        return;
      }
    }
  }
  if (r.listed("ipv6-prefix")) {
    eni.ipv6_prefixes = r.prefixes("ipv6-prefix", Family::V6, 8);
    if (!r.ok()) return;
    for (auto& p : eni.ipv6_prefixes) {
      if (!r.usable_block("ipv6-prefix", p)) return;
      bool inside = std::any_of(eni.subnet_ipv6.begin(), eni.subnet_ipv6.end(),
                                [&](const IpPrefix& s6) { return s6.covers(p); });
      if (!inside) {
        r.invalid("ipv6-prefix", p.str(), "not inside any of subnet-ipv6-cidr-blocks");
        return;
      }
    }
  }
  if (r.elastic_ips() && r.listed("ipv4-associations/")) {
    auto body = r.fetch("ipv4-associations/");
    if (!body) return;
    for (auto& pub : split_lines(*body)) {
      auto public_ip = IpAddr::parse(pub);
      if (!public_ip || !public_ip->is_v4()) {
        r.invalid("ipv4-associations/", pub, "expected an IPv4 address");
        return;
      }
      auto priv = r.addrs("ipv4-associations/" + pub, Family::V4);
      if (!r.ok()) return;
      if (priv.size() != 1) {
        r.invalid("ipv4-associations/" + pub, "", "expected one private IPv4 address");
        return;
      }
      eni.ipv4_associations[*public_ip] = priv[0];
    }
  }
}

}  // namespace

std::map<MacAddr, EniMetadata> read_enis(MetadataSource& src, const std::vector<MacAddr>& macs,
                                         const MacAddr& primary, bool elastic_ips) {
  std::map<MacAddr, EniMetadata> out;
  EniCrawl enis(src, elastic_ips);
  std::vector<std::string> paths;
  for (auto& mac : macs) {
    std::string path = enis.add(mac, out);
    if (!path.empty()) paths.push_back(path);
  }
  if (paths.empty()) return out;
  // Every ENI's listing; each listing's keys as soon as it is in; then the
  // ipv4-associations/ entries.
  src.crawl(paths, [&](const std::string& path, const FetchResult& r) {
    std::vector<std::string> next;
    enis.take(path, r, &next);
    return next;
  });
  for (auto& [mac, eni] : out) eni.is_primary = mac == primary;
  enis.validate_all();
  return out;
}

EniMetadata read_eni(MetadataSource& src, const MacAddr& mac, const MacAddr& primary, bool elastic_ips) {
  auto enis = read_enis(src, {mac}, primary, elastic_ips);
  return std::move(enis.begin()->second);
}

MetadataRead read_metadata(MetadataSource& src, const std::vector<MacAddr>& only, bool elastic_ips,
                           const std::vector<MacAddr>& likely) {
  MetadataRead out;
  auto wanted = [&](const MacAddr& m) { return only.empty() || std::find(only.begin(), only.end(), m) != only.end(); };
  // meta-data/mac and the macs/ listing (neither needs the other), and with them the
  // listings of the `likely` ENIs; every other listed ENI (those in `only`) as soon as
  // the macs/ listing is in, whatever meta-data/mac says: a root that proves unusable
  // throws their answers away below.
  std::vector<std::string> first = {"meta-data/mac", kMacsPath};
  // The early listings by path, each with its answer when that came before the macs/
  // listing (kept until the listing says whether it is used).
  std::map<std::string, std::optional<FetchResult>> early;
  for (auto& m : likely) {
    const std::string path = std::string(kMacsPath) + m.str() + "/";
    if (wanted(m) && early.emplace(path, std::nullopt).second) first.push_back(path);
  }
  FetchResult mac = FetchResult::failed("meta-data/mac: no answer");
  FetchResult list = FetchResult::failed(std::string(kMacsPath) + ": no answer");
  std::vector<MacAddr> macs;
  std::string list_error;
  bool list_parsed = false, list_in = false;
  std::map<MacAddr, EniMetadata> enis;
  EniCrawl crawl(src, elastic_ips);
  src.crawl(first, [&](const std::string& path, const FetchResult& r) {
    std::vector<std::string> next;
    if (path == "meta-data/mac") {
      mac = r;
    } else if (path == kMacsPath) {
      list = r;
      list_in = true;
      list_parsed = r.status == FetchResult::Status::Ok && parse_macs_listing(r.body, &macs, &list_error);
      // A listing no instance can have is not followed (nor acted on, below).
      if (list_parsed && macs.size() <= 256) {
        for (auto& m : macs) {
          if (!wanted(m)) continue;
          std::string start = crawl.add(m, enis);
          if (start.empty()) continue;
          auto e = early.find(start);
          if (e == early.end()) next.push_back(start);                // not asked for yet
          else if (e->second) crawl.take(start, *e->second, &next);  // in already
          // (else: asked for, and taken when its answer comes)
        }
      }
    } else if (!list_in && early.count(path)) {
      early[path] = r;  // an early listing before the macs/ listing: kept for its turn
    } else {
      // An ENI's answer; an early listing of a MAC the macs/ listing does not name
      // belongs to no ENI, and take() ignores it.
      crawl.take(path, r, &next);
    }
    return next;
  });

  if (mac.status != FetchResult::Status::Ok) {
    out.fatal = mac.status == FetchResult::Status::NotFound ? std::string("meta-data/mac: 404 not found") : mac.error;
    out.unreachable = mac.unreachable;
    return out;
  }
  std::string mac_text = mac.body;
  while (!mac_text.empty() && mac_text.back() == '\n') mac_text.pop_back();
  auto primary = MacAddr::parse(mac_text);
  if (!primary || primary->never_assigned()) {
    out.fatal = "meta-data/mac: invalid value \"" + EniReader::printable(mac_text) + "\" (expected " +
                (primary ? std::string("a unicast MAC address, not ") + primary->never_assigned()
                         : std::string("a MAC address")) +
                ")";
    return out;
  }
  out.instance.primary_mac = *primary;

  if (list.status != FetchResult::Status::Ok) {
    out.fatal = list.status == FetchResult::Status::NotFound ? std::string(kMacsPath) + ": 404 not found" : list.error;
    out.unreachable = list.unreachable;
    return out;
  }
  if (!list_parsed) {
    out.fatal = list_error;
    return out;
  }
  // Every instance has its primary ENI: a listing without it (or without any ENI) is a
  // read IMDS cannot mean, never evidence that ENIs went away.
  if (macs.empty()) {
    out.fatal = std::string(kMacsPath) + ": the listing is empty (an instance always has its primary ENI); "
                "not acted on";
    return out;
  }
  if (std::find(macs.begin(), macs.end(), *primary) == macs.end()) {
    out.fatal = std::string(kMacsPath) + ": the listing lacks meta-data/mac " + primary->str() +
                " (an instance always has its primary ENI); not acted on";
    return out;
  }
  if (macs.size() > 256) {
    out.fatal = std::string(kMacsPath) + ": " + std::to_string(macs.size()) + " entries (more than EC2 can attach)";
    return out;
  }
  for (auto& [m, eni] : enis) eni.is_primary = m == *primary;
  crawl.validate_all();
  out.instance.enis = std::move(enis);
  mark_conflicts(out.instance);
  return out;
}

namespace {

/// One address or delegated prefix an ENI claims of the VPC's address space, with its
/// network form (host bits cleared) for ordering and containment.
struct Claim {
  IpPrefix listed;
  IpPrefix net;
  size_t owner;  ///< Index of the claiming ENI.
};

void add_claims(const EniMetadata& eni, size_t owner, std::vector<Claim>* out) {
  auto add = [&](const IpPrefix& p) { out->push_back({p, p.network(), owner}); };
  for (auto& a : eni.local_ipv4s) add(IpPrefix::host(a));
  for (auto& a : eni.ipv6s) add(IpPrefix::host(a));
  for (auto& p : eni.ipv4_prefixes) add(p);
  for (auto& p : eni.ipv6_prefixes) add(p);
}

}  // namespace

void mark_conflicts(InstanceMetadata& md) {
  mark_numbering_conflicts(md);
  // An address (or prefix) EC2 assigns to one ENI at a time, listed on two: a move
  // (--allow-reassignment) caught half-way. Both are left as they are until it is on one.
  // Two prefixes share an address only when one contains the other. Sorted by network
  // address, the wider first, each claim's containers are the chain of claims still open
  // before it (a stack, never deeper than the prefix lengths): one pass over the sorted
  // claims, not every pair of ENIs' claims (the largest shape has 900 of them).
  std::vector<MacAddr> macs;
  std::vector<Claim> claims;
  for (auto& [mac, eni] : md.enis) {
    if (eni.state != EniMetadata::State::Complete) continue;
    add_claims(eni, macs.size(), &claims);
    macs.push_back(mac);
  }
  std::sort(claims.begin(), claims.end(), [](const Claim& x, const Claim& y) {
    if (x.net.addr != y.net.addr) return x.net.addr < y.net.addr;
    if (x.net.len != y.net.len) return x.net.len < y.net.len;
    return x.owner < y.owner;
  });
  std::map<size_t, std::string> problems;  // by owner: the first conflict found for it
  auto say = [&](const Claim& mine, const Claim& theirs) {
    if (problems.count(mine.owner)) return;
    problems[mine.owner] = std::string(kMacsPath) + macs[mine.owner].str() + "/: " + mine.listed.str() +
                           " is also listed on " + macs[theirs.owner].str() + " (" + theirs.listed.str() +
                           "): a move caught half-way, not propagated yet";
  };
  std::vector<const Claim*> open;  // each contains the next
  for (auto& c : claims) {
    while (!open.empty() && !open.back()->net.covers(c.net)) open.pop_back();
    for (const Claim* o : open) {
      if (o->owner == c.owner) continue;
      say(*o, c);
      say(c, *o);
      break;
    }
    open.push_back(&c);
  }
  for (auto& [owner, problem] : problems) {
    EniMetadata& eni = md.enis[macs[owner]];
    eni.state = EniMetadata::State::Incomplete;
    eni.problem = problem;
  }
}

void mark_numbering_conflicts(InstanceMetadata& md) {
  std::map<std::pair<int, int>, std::vector<MacAddr>> claims;
  for (auto& [mac, eni] : md.enis)
    if (eni.state == EniMetadata::State::Complete) claims[{eni.network_card, eni.device_number}].push_back(mac);
  for (auto& [slot, macs] : claims) {
    if (macs.size() < 2) continue;
    for (auto& mac : macs) {
      EniMetadata& eni = md.enis[mac];
      if (eni.is_primary) continue;
      std::string others;
      for (auto& o : macs)
        if (o != mac) others += (others.empty() ? "" : ", ") + o.str();
      eni.state = EniMetadata::State::Incomplete;
      eni.problem = std::string(kMacsPath) + mac.str() + "/device-number: " + std::to_string(slot.second) +
                    " on card " + std::to_string(slot.first) + " is also claimed by " + others +
                    " (attachment not propagated yet)";
    }
  }
}

}  // namespace ec2nc
