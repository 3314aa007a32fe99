// IP address and prefix value types: parsed strictly, printed canonically,
// ordered and compared by value so plans and diffs are deterministic.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ec2nc {

/// Address family, numerically equal to AF_INET / AF_INET6.
enum class Family : uint8_t { V4 = 2, V6 = 10 };

/// An IPv4 or IPv6 address. For V4 only the first 4 bytes are used (the rest are zero).
struct IpAddr {
  Family family = Family::V4;
  std::array<uint8_t, 16> bytes{};

  /// Parses dotted-quad IPv4 or RFC 4291 IPv6 text (no zone, no prefix, no spaces).
  static std::optional<IpAddr> parse(std::string_view text);
  /// Builds from raw network-order bytes (4 or 16 of them).
  static IpAddr from_bytes(Family family, const uint8_t* data);
  /// Canonical text (RFC 5952 for IPv6).
  std::string str() const;
  /// Number of meaningful bytes: 4 or 16.
  size_t size() const { return family == Family::V4 ? 4 : 16; }
  /// Number of bits: 32 or 128.
  uint8_t bits() const { return family == Family::V4 ? 32 : 128; }
  bool is_v4() const { return family == Family::V4; }
  /// True for fe80::/10.
  bool is_link_local_v6() const;
  /// Why this address can never be an address EC2 assigns to an ENI: "loopback",
  /// "link-local", "multicast", "unspecified", "reserved", "the IMDS address"; or
  /// nullptr when it can be. (IMDS.md, "What IMDS never says".)
  const char* never_assigned() const;

  bool operator==(const IpAddr& o) const { return family == o.family && bytes == o.bytes; }
  bool operator!=(const IpAddr& o) const { return !(*this == o); }
  bool operator<(const IpAddr& o) const {
    return family != o.family ? family < o.family : bytes < o.bytes;
  }
};

/// An address with a prefix length. `addr` may have host bits set (an interface
/// address such as 10.0.0.34/24); network() clears them.
struct IpPrefix {
  IpAddr addr;
  uint8_t len = 0;

  /// Parses "ADDR/LEN". With `require_len` false, a bare address gets the full length.
  static std::optional<IpPrefix> parse(std::string_view text, bool require_len = true);
  /// A host prefix (/32 or /128).
  static IpPrefix host(const IpAddr& a) { return IpPrefix{a, a.bits()}; }
  std::string str() const;
  /// The prefix with host bits cleared.
  IpPrefix network() const;
  /// True when host bits are zero.
  bool is_network() const { return network().addr == addr; }
  /// True when `a` is inside this prefix.
  bool contains(const IpAddr& a) const;
  /// The first usable host: network address + 1 (the VPC subnet router for IPv4).
  IpAddr first_host() const;
  Family family() const { return addr.family; }
  /// True when every address of `inner` is inside this prefix.
  bool covers(const IpPrefix& inner) const { return inner.len >= len && contains(inner.addr); }
  /// True when the two prefixes share at least one address.
  bool overlaps(const IpPrefix& o) const { return family() == o.family() && (covers(o) || o.covers(*this)); }

  bool operator==(const IpPrefix& o) const { return addr == o.addr && len == o.len; }
  bool operator!=(const IpPrefix& o) const { return !(*this == o); }
  bool operator<(const IpPrefix& o) const {
    return addr != o.addr ? addr < o.addr : len < o.len;
  }
};

/// A MAC address as 6 bytes.
struct MacAddr {
  std::array<uint8_t, 6> bytes{};
  /// Parses "aa:bb:cc:dd:ee:ff" (either case). Nothing else is accepted.
  static std::optional<MacAddr> parse(std::string_view text);
  /// Lower-case colon form, as IMDS lists it.
  std::string str() const;
  /// Why this can never be an ENI's MAC: "all-zero", "broadcast", "multicast"; or
  /// nullptr for a unicast MAC.
  const char* never_assigned() const;
  bool operator==(const MacAddr& o) const { return bytes == o.bytes; }
  bool operator!=(const MacAddr& o) const { return bytes != o.bytes; }
  bool operator<(const MacAddr& o) const { return bytes < o.bytes; }
};

}  // namespace ec2nc
