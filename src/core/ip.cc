#include "core/ip.h"

#include <algorithm>

#include <arpa/inet.h>

#include <cstdio>
#include <cstring>

namespace ec2nc {

std::optional<IpAddr> IpAddr::parse(std::string_view text) {
  // inet_pton is strict (no leading zeros in IPv4 octets on glibc, no spaces);
  // bound the length first so the copy is safe and nothing odd gets through.
  if (text.empty() || text.size() > 45) return std::nullopt;
  for (char c : text) {
    bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') ||
              c == '.' || c == ':';
    if (!ok) return std::nullopt;
  }
  char buf[64];
  std::memcpy(buf, text.data(), text.size());
  buf[text.size()] = '\0';
  IpAddr a;
  if (text.find(':') == std::string_view::npos) {
    a.family = Family::V4;
    if (inet_pton(AF_INET, buf, a.bytes.data()) != 1) return std::nullopt;
  } else {
    a.family = Family::V6;
    if (inet_pton(AF_INET6, buf, a.bytes.data()) != 1) return std::nullopt;
  }
  return a;
}

IpAddr IpAddr::from_bytes(Family family, const uint8_t* data) {
  IpAddr a;
  a.family = family;
  std::memcpy(a.bytes.data(), data, family == Family::V4 ? 4 : 16);
  return a;
}

std::string IpAddr::str() const {
  // What glibc's inet_ntop prints, without its sprintf per group (a first apply logs
  // thousands of addresses): IPv4 dotted; IPv6 in lower-case hex without leading zeros,
  // the longest run of two or more zero groups (the first of equals) as "::", and the
  // last 32 bits dotted after "::" or "::ffff:" (IPv4-compatible and -mapped).
  char buf[INET6_ADDRSTRLEN];
  char* p = buf;
  auto dotted = [&p](const uint8_t* b) {
    for (int i = 0; i < 4; ++i) {
      if (i) *p++ = '.';
      const unsigned v = b[i];
      if (v >= 100) *p++ = char('0' + v / 100);
      if (v >= 10) *p++ = char('0' + v / 10 % 10);
      *p++ = char('0' + v % 10);
    }
  };
  if (family == Family::V4) {
    dotted(bytes.data());
    return std::string(buf, p);
  }
  unsigned words[8];
  for (int i = 0; i < 8; ++i) words[i] = unsigned(bytes[2 * i]) << 8 | bytes[2 * i + 1];
  int best = -1, best_len = 0, cur = -1, cur_len = 0;
  for (int i = 0; i <= 8; ++i) {
    if (i < 8 && words[i] == 0) {
      if (cur < 0) cur = i, cur_len = 0;
      ++cur_len;
    } else if (cur >= 0) {
      if (cur_len > best_len) best = cur, best_len = cur_len;
      cur = -1;
    }
  }
  if (best_len < 2) best = -1;
  static const char kHex[] = "0123456789abcdef";
  for (int i = 0; i < 8; ++i) {
    if (best >= 0 && i >= best && i < best + best_len) {
      if (i == best) *p++ = ':';
      continue;
    }
    if (i) *p++ = ':';
    if (i == 6 && best == 0 && (best_len == 6 || (best_len == 5 && words[5] == 0xffff))) {
      dotted(bytes.data() + 12);
      return std::string(buf, p);
    }
    bool started = false;
    for (int shift = 12; shift >= 0; shift -= 4) {
      const unsigned nibble = words[i] >> shift & 0xf;
      if (nibble || started || shift == 0) *p++ = kHex[nibble], started = true;
    }
  }
  if (best >= 0 && best + best_len == 8) *p++ = ':';
  return std::string(buf, p);
}

bool IpAddr::is_link_local_v6() const {
  return family == Family::V6 && bytes[0] == 0xfe && (bytes[1] & 0xc0) == 0x80;
}

const char* IpAddr::never_assigned() const {
  const auto& b = bytes;
  if (family == Family::V4) {
    if (b[0] == 0 && b[1] == 0 && b[2] == 0 && b[3] == 0) return "unspecified";
    if (b[0] == 127) return "loopback";
    if (b[0] == 169 && b[1] == 254) return b[2] == 169 && b[3] == 254 ? "the IMDS address" : "link-local";
    if (b[0] >= 224 && b[0] <= 239) return "multicast";
    if (b[0] >= 240 || b[0] == 0) return "reserved";
    return nullptr;
  }
  static const std::array<uint8_t, 16> imds6 = {0xfd, 0x00, 0x0e, 0xc2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02, 0x54};
  if (b == imds6) return "the IMDS address";
  bool zero_head = std::all_of(b.begin(), b.begin() + 15, [](uint8_t x) { return x == 0; });
  if (zero_head && b[15] == 0) return "unspecified";
  if (zero_head && b[15] == 1) return "loopback";
  if (is_link_local_v6()) return "link-local";
  if (b[0] == 0xff) return "multicast";
  // ::ffff:0:0/96 (IPv4-mapped) and the rest of ::/8 are never an interface's address.
  if (b[0] == 0) return "reserved";
  return nullptr;
}

std::optional<IpPrefix> IpPrefix::parse(std::string_view text, bool require_len) {
  auto slash = text.find('/');
  if (slash == std::string_view::npos) {
    if (require_len) return std::nullopt;
    auto a = IpAddr::parse(text);
    if (!a) return std::nullopt;
    return IpPrefix::host(*a);
  }
  auto a = IpAddr::parse(text.substr(0, slash));
  auto lt = text.substr(slash + 1);
  if (!a || lt.empty() || lt.size() > 3) return std::nullopt;
  unsigned len = 0;
  for (char c : lt) {
    if (c < '0' || c > '9') return std::nullopt;
    len = len * 10 + unsigned(c - '0');
  }
  if (lt.size() > 1 && lt[0] == '0') return std::nullopt;
  if (len > a->bits()) return std::nullopt;
  return IpPrefix{*a, static_cast<uint8_t>(len)};
}

std::string IpPrefix::str() const { return addr.str() + "/" + std::to_string(len); }

IpPrefix IpPrefix::network() const {
  IpPrefix p = *this;
  for (size_t i = 0; i < addr.size(); ++i) {
    int bits_here = int(len) - int(i * 8);
    uint8_t mask = bits_here >= 8 ? 0xff : bits_here <= 0 ? 0 : uint8_t(0xff << (8 - bits_here));
    p.addr.bytes[i] &= mask;
  }
  return p;
}

bool IpPrefix::contains(const IpAddr& a) const {
  if (a.family != addr.family) return false;
  // The first `len` bits equal (a length beyond the family's compares every bit, as
  // network() does): whole bytes, then the partial one. No masked copies: reconcile and
  // the metadata's conflict check ask this thousands of times a run.
  const unsigned l = std::min<unsigned>(len, addr.bits());
  const size_t whole = l / 8;
  if (!std::equal(addr.bytes.begin(), addr.bytes.begin() + whole, a.bytes.begin())) return false;
  if (l % 8 == 0) return true;
  const uint8_t mask = uint8_t(0xff << (8 - l % 8));
  return (addr.bytes[whole] & mask) == (a.bytes[whole] & mask);
}

IpAddr IpPrefix::first_host() const {
  IpAddr a = network().addr;
  for (size_t i = a.size(); i-- > 0;) {
    if (++a.bytes[i] != 0) break;
  }
  return a;
}

const char* MacAddr::never_assigned() const {
  if (std::all_of(bytes.begin(), bytes.end(), [](uint8_t b) { return b == 0; })) return "all-zero";
  if (std::all_of(bytes.begin(), bytes.end(), [](uint8_t b) { return b == 0xff; })) return "broadcast";
  if (bytes[0] & 1) return "multicast";
  return nullptr;
}

std::optional<MacAddr> MacAddr::parse(std::string_view text) {
  if (text.size() != 17) return std::nullopt;
  MacAddr m;
  for (size_t i = 0; i < 6; ++i) {
    if (i < 5 && text[i * 3 + 2] != ':') return std::nullopt;
    int v = 0;
    for (size_t j = 0; j < 2; ++j) {
      char c = text[i * 3 + j];
      int d = (c >= '0' && c <= '9')   ? c - '0'
              : (c >= 'a' && c <= 'f') ? c - 'a' + 10
              : (c >= 'A' && c <= 'F') ? c - 'A' + 10
                                       : -1;
      if (d < 0) return std::nullopt;
      v = v * 16 + d;
    }
    m.bytes[i] = uint8_t(v);
  }
  return m;
}

std::string MacAddr::str() const {
  char buf[18];
  std::snprintf(buf, sizeof buf, "%02x:%02x:%02x:%02x:%02x:%02x", bytes[0], bytes[1], bytes[2],
                bytes[3], bytes[4], bytes[5]);
  return buf;
}

}  // namespace ec2nc
