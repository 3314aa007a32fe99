#include "core/netlink_codec.h"

#include <libmnl/libmnl.h>
#include <linux/fib_rules.h>
#include <linux/if.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>

#ifndef IFA_PROTO
#define IFA_PROTO 11
#endif

namespace ec2nc {

namespace {

// Large enough for any single request built here.
constexpr size_t kRequestBuf = kMaxRequestSize;
constexpr uint32_t kInfinity = 0xffffffffu;
// FRA_SUPPRESS_* value meaning "not set" (-1).
constexpr uint32_t kNoSuppress = 0xffffffffu;

// Starts a request: header plus a zeroed fixed-size family header.
template <class Hdr>
std::pair<nlmsghdr*, Hdr*> start(std::vector<uint8_t>& buf, uint16_t type, uint16_t flags, uint32_t seq) {
  buf.assign(kRequestBuf, 0);
  nlmsghdr* nlh = mnl_nlmsg_put_header(buf.data());
  nlh->nlmsg_type = type;
  nlh->nlmsg_flags = flags;
  nlh->nlmsg_seq = seq;
  auto* hdr = static_cast<Hdr*>(mnl_nlmsg_put_extra_header(nlh, sizeof(Hdr)));
  return {nlh, hdr};
}

NlMessage finish(std::vector<uint8_t>& buf, const nlmsghdr* nlh) {
  buf.resize(nlh->nlmsg_len);
  return std::move(buf);
}

void put_addr(nlmsghdr* nlh, uint16_t type, const IpAddr& a) {
  mnl_attr_put(nlh, type, a.size(), a.bytes.data());
}

// Walks the attributes after the fixed header at `offset`, calling cb(attr) for
// each. False when the attribute area is truncated (a partial attribute left over).
// The area ends at nlmsg_len, not at its aligned end (mnl_nlmsg_get_payload_tail): the
// last message of a chunk need not be followed by its padding.
template <class F>
bool for_each_attr(const nlmsghdr* nlh, size_t offset, F&& cb) {
  const char* tail = reinterpret_cast<const char*>(nlh) + nlh->nlmsg_len;
  auto* attr = static_cast<const nlattr*>(mnl_nlmsg_get_payload_offset(nlh, offset));
  while (mnl_attr_ok(attr, int(tail - reinterpret_cast<const char*>(attr)))) {
    if (!cb(attr)) return false;
    attr = mnl_attr_next(attr);
  }
  // Only alignment padding (or nothing) may follow the last attribute.
  return tail - reinterpret_cast<const char*>(attr) < int(sizeof(nlattr));
}

// Same over the payload of a nested attribute.
template <class F>
bool for_each_nested(const nlattr* nest, F&& cb) {
  const char* end = static_cast<const char*>(mnl_attr_get_payload(nest)) + mnl_attr_get_payload_len(nest);
  auto* attr = static_cast<const nlattr*>(mnl_attr_get_payload(nest));
  while (mnl_attr_ok(attr, int(end - reinterpret_cast<const char*>(attr)))) {
    if (!cb(attr)) return false;
    attr = mnl_attr_next(attr);
  }
  return end - reinterpret_cast<const char*>(attr) < int(sizeof(nlattr));
}

bool valid(const nlattr* a, mnl_attr_data_type t) { return mnl_attr_validate(a, t) >= 0; }

// A whole message at the start of the `left` bytes of a chunk. Not mnl_nlmsg_ok: it
// compares nlmsg_len as an int, so a length of 2^31 or more passes it and the walk
// leaves the chunk.
bool msg_ok(const nlmsghdr* nlh, size_t left) {
  return left >= sizeof(nlmsghdr) && nlh->nlmsg_len >= sizeof(nlmsghdr) && nlh->nlmsg_len <= left;
}

// The message after `nlh` (which msg_ok accepted); the last one's padding may be absent.
const nlmsghdr* msg_next(const nlmsghdr* nlh, size_t* left) {
  const size_t step = std::min<size_t>(MNL_ALIGN(size_t(nlh->nlmsg_len)), *left);
  *left -= step;
  return reinterpret_cast<const nlmsghdr*>(reinterpret_cast<const char*>(nlh) + step);
}

// The kernel sends -errno; be lenient about the sign (and about INT_MIN, which has no
// positive counterpart).
int positive_errno(int e) { return e == INT_MIN ? INT_MAX : e < 0 ? -e : e; }

bool family_of(uint8_t af, Family* f) {
  if (af == AF_INET) *f = Family::V4;
  else if (af == AF_INET6) *f = Family::V6;
  else return false;
  return true;
}

// An address attribute of exactly the family's size.
bool get_addr(const nlattr* a, Family f, IpAddr* out) {
  size_t want = f == Family::V4 ? 4 : 16;
  if (mnl_attr_validate2(a, MNL_TYPE_BINARY, want) < 0) return false;
  *out = IpAddr::from_bytes(f, static_cast<const uint8_t*>(mnl_attr_get_payload(a)));
  return true;
}

Decoded bad(std::string* error, const std::string& what) {
  if (error) *error = what;
  return Decoded::Malformed;
}

template <class Hdr>
const Hdr* fixed_header(const nlmsghdr* nlh) {
  if (nlh->nlmsg_len < MNL_NLMSG_HDRLEN + sizeof(Hdr)) return nullptr;
  return static_cast<const Hdr*>(mnl_nlmsg_get_payload(nlh));
}

std::string attr_error(const char* msg, uint16_t type, const nlattr* a) {
  return std::string(msg) + ": attribute " + std::to_string(type) + " of length " +
         std::to_string(mnl_attr_get_payload_len(a)) + " is invalid";
}

}  // namespace

NlMessage encode_address(bool add, int ifindex, const AddressSpec& a, uint32_t seq) {
  std::vector<uint8_t> buf;
  uint16_t flags = NLM_F_REQUEST | NLM_F_ACK | (add ? NLM_F_CREATE | NLM_F_EXCL : 0);
  auto [nlh, ifa] = start<ifaddrmsg>(buf, add ? RTM_NEWADDR : RTM_DELADDR, flags, seq);
  const bool v4 = a.prefix.addr.is_v4();
  const uint32_t ifa_flags = (add && !v4) ? IFA_F_NODAD : 0;
  ifa->ifa_family = v4 ? AF_INET : AF_INET6;
  ifa->ifa_prefixlen = a.prefix.len;
  ifa->ifa_flags = uint8_t(ifa_flags);
  ifa->ifa_scope = RT_SCOPE_UNIVERSE;
  ifa->ifa_index = uint32_t(ifindex);
  if (v4) put_addr(nlh, IFA_LOCAL, a.prefix.addr);
  put_addr(nlh, IFA_ADDRESS, a.prefix.addr);
  if (add) {
    if (!v4) mnl_attr_put_u32(nlh, IFA_FLAGS, ifa_flags);
    if (a.deprecated) {
      ifa_cacheinfo ci{};
      ci.ifa_prefered = 0;
      ci.ifa_valid = kInfinity;
      mnl_attr_put(nlh, IFA_CACHEINFO, sizeof(ci), &ci);
    }
    mnl_attr_put_u8(nlh, IFA_PROTO, kOwnProto);
  }
  return finish(buf, nlh);
}

NlMessage encode_route(bool add, int ifindex, const RouteSpec& r, uint32_t seq, uint8_t protocol) {
  std::vector<uint8_t> buf;
  uint16_t flags = NLM_F_REQUEST | NLM_F_ACK | (add ? NLM_F_CREATE : 0);
  auto [nlh, rtm] = start<rtmsg>(buf, add ? RTM_NEWROUTE : RTM_DELROUTE, flags, seq);
  rtm->rtm_family = r.dst.addr.is_v4() ? AF_INET : AF_INET6;
  rtm->rtm_dst_len = r.dst.len;
  rtm->rtm_table = r.table < 256 ? uint8_t(r.table) : uint8_t(RT_TABLE_UNSPEC);
  rtm->rtm_protocol = protocol;
  rtm->rtm_scope = add ? r.scope : uint8_t(RT_SCOPE_NOWHERE);
  rtm->rtm_type = RTN_UNICAST;
  rtm->rtm_flags = r.onlink ? RTNH_F_ONLINK : 0;
  mnl_attr_put_u32(nlh, RTA_TABLE, r.table);
  if (r.dst.len > 0) put_addr(nlh, RTA_DST, r.dst.network().addr);
  if (r.gateway) put_addr(nlh, RTA_GATEWAY, *r.gateway);
  if (ifindex > 0) mnl_attr_put_u32(nlh, RTA_OIF, uint32_t(ifindex));
  if (r.metric > 0) mnl_attr_put_u32(nlh, RTA_PRIORITY, r.metric);
  return finish(buf, nlh);
}

NlMessage encode_route_query(const IpAddr& dst, const std::optional<IpAddr>& src, int iif, uint32_t seq) {
  std::vector<uint8_t> buf;
  auto [nlh, rtm] = start<rtmsg>(buf, RTM_GETROUTE, NLM_F_REQUEST, seq);
  rtm->rtm_family = dst.is_v4() ? AF_INET : AF_INET6;
  rtm->rtm_dst_len = dst.bits();
  // Without it the kernel reports every IPv4 answer as table main (as `ip route get` does).
  rtm->rtm_flags = RTM_F_LOOKUP_TABLE;
  put_addr(nlh, RTA_DST, dst);
  if (src) {
    rtm->rtm_src_len = src->bits();
    put_addr(nlh, RTA_SRC, *src);
  }
  if (iif > 0) mnl_attr_put_u32(nlh, RTA_IIF, uint32_t(iif));
  return finish(buf, nlh);
}

bool decode_route_answer(const void* data, size_t len, uint32_t seq, bool* found, RouteAnswer* out,
                         std::string* error) {
  *found = false;
  auto* nlh = static_cast<const nlmsghdr*>(data);
  size_t left = len;
  while (msg_ok(nlh, left)) {
    if (nlh->nlmsg_seq == seq && nlh->nlmsg_type == NLMSG_ERROR) {
      if (nlh->nlmsg_len < NLMSG_HDRLEN + sizeof(nlmsgerr)) return *error = "route get: truncated error", false;
      nlmsgerr e;
      std::memcpy(&e, mnl_nlmsg_get_payload(nlh), sizeof(e));
      *found = true;
      *out = RouteAnswer{};
      out->error = positive_errno(e.error);
      if (out->error == 0) out->error = ENETUNREACH;
      return true;
    }
    if (nlh->nlmsg_seq == seq && nlh->nlmsg_type == RTM_NEWROUTE) {
      ObservedRoute r;
      if (decode_route(nlh, &r, error) == Decoded::Malformed) return false;
      *found = true;
      *out = RouteAnswer{};
      out->oif = r.oif;
      out->table = r.table;
      out->gateway = r.gateway;
      out->type = r.type;
      if (r.type != RTN_UNICAST && r.type != RTN_LOCAL) out->error = ENETUNREACH;
      return true;
    }
    nlh = msg_next(nlh, &left);
  }
  return true;
}

NlMessage encode_rule(bool add, const RuleSpec& r, uint32_t seq, uint8_t protocol) {
  std::vector<uint8_t> buf;
  uint16_t flags = NLM_F_REQUEST | NLM_F_ACK | (add ? NLM_F_CREATE | NLM_F_EXCL : 0);
  auto [nlh, frh] = start<fib_rule_hdr>(buf, add ? RTM_NEWRULE : RTM_DELRULE, flags, seq);
  frh->family = r.family == Family::V4 ? AF_INET : AF_INET6;
  frh->src_len = r.from ? r.from->len : 0;
  frh->table = r.table < 256 ? uint8_t(r.table) : uint8_t(RT_TABLE_UNSPEC);
  frh->action = FR_ACT_TO_TBL;
  mnl_attr_put_u32(nlh, FRA_PRIORITY, r.priority);
  if (r.from && r.from->len > 0) put_addr(nlh, FRA_SRC, r.from->network().addr);
  mnl_attr_put_u32(nlh, FRA_TABLE, r.table);
  mnl_attr_put_u8(nlh, FRA_PROTOCOL, protocol);
  if (r.suppress_prefixlen) mnl_attr_put_u32(nlh, FRA_SUPPRESS_PREFIXLEN, *r.suppress_prefixlen);
  if (r.suppress_ifgroup) mnl_attr_put_u32(nlh, FRA_SUPPRESS_IFGROUP, *r.suppress_ifgroup);
  return finish(buf, nlh);
}

NlMessage encode_link_up(int ifindex, uint32_t seq, bool up) {
  std::vector<uint8_t> buf;
  auto [nlh, ifi] = start<ifinfomsg>(buf, RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK, seq);
  ifi->ifi_family = AF_UNSPEC;
  ifi->ifi_index = ifindex;
  ifi->ifi_flags = up ? IFF_UP : 0;
  ifi->ifi_change = IFF_UP;
  return finish(buf, nlh);
}

NlMessage encode_link_group(int ifindex, uint32_t group, uint32_t seq) {
  std::vector<uint8_t> buf;
  auto [nlh, ifi] = start<ifinfomsg>(buf, RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK, seq);
  ifi->ifi_family = AF_UNSPEC;
  ifi->ifi_index = ifindex;
  mnl_attr_put_u32(nlh, IFLA_GROUP, group);
  return finish(buf, nlh);
}

bool encode_change(const Change& c, uint32_t seq, NlMessage* out) {
  switch (c.op) {
    case Change::Op::SetLinkUp: *out = encode_link_up(c.ifindex, seq); return true;
    case Change::Op::SetLinkDown: *out = encode_link_up(c.ifindex, seq, false); return true;
    case Change::Op::SetLinkGroup: *out = encode_link_group(c.ifindex, c.group, seq); return true;
    case Change::Op::AddAddress: *out = encode_address(true, c.ifindex, c.address, seq); return true;
    case Change::Op::DelAddress: *out = encode_address(false, c.ifindex, c.address, seq); return true;
    case Change::Op::AddRoute: *out = encode_route(true, c.ifindex, c.route, seq, c.protocol); return true;
    case Change::Op::DelRoute: *out = encode_route(false, c.ifindex, c.route, seq, c.protocol); return true;
    case Change::Op::AddRule: *out = encode_rule(true, c.rule, seq, c.protocol); return true;
    case Change::Op::DelRule: *out = encode_rule(false, c.rule, seq, c.protocol); return true;
    case Change::Op::SetSysctl: return false;
  }
  return false;
}

bool encode_batch(const Change* const* changes, size_t n, uint32_t first_seq, NlMessage* out) {
  out->clear();
  out->reserve(n * kMaxRequestSize);
  NlMessage one;
  size_t last = 0;  // offset of the last message
  for (size_t i = 0; i < n; ++i) {
    if (!encode_change(*changes[i], first_seq + uint32_t(i), &one)) {
      out->clear();
      return false;
    }
    last = out->size();
    out->insert(out->end(), one.begin(), one.end());
    out->resize(MNL_ALIGN(out->size()), 0);  // the next header starts aligned
    auto* nlh = reinterpret_cast<nlmsghdr*>(out->data() + last);
    nlh->nlmsg_flags &= uint16_t(~NLM_F_ACK);
  }
  if (n > 0) reinterpret_cast<nlmsghdr*>(out->data() + last)->nlmsg_flags |= NLM_F_ACK;
  return true;
}

NlMessage encode_dump(uint16_t type, uint8_t family, uint32_t seq, uint32_t table) {
  std::vector<uint8_t> buf;
  const uint16_t flags = NLM_F_REQUEST | NLM_F_DUMP;
  nlmsghdr* nlh = nullptr;
  switch (type) {
    case RTM_GETLINK: {
      auto [n, ifi] = start<ifinfomsg>(buf, type, flags, seq);
      ifi->ifi_family = family;
      mnl_attr_put_u32(n, IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
      nlh = n;
      break;
    }
    case RTM_GETADDR: {
      auto [n, ifa] = start<ifaddrmsg>(buf, type, flags, seq);
      ifa->ifa_family = family;
      nlh = n;
      break;
    }
    case RTM_GETROUTE: {
      auto [n, rtm] = start<rtmsg>(buf, type, flags, seq);
      rtm->rtm_family = family;
      rtm->rtm_table = RT_TABLE_UNSPEC;
      if (table != 0) mnl_attr_put_u32(n, RTA_TABLE, table);
      nlh = n;
      break;
    }
    default: {  // RTM_GETRULE and anything with a one-byte family header.
      auto [n, frh] = start<fib_rule_hdr>(buf, type, flags, seq);
      frh->family = family;
      nlh = n;
      break;
    }
  }
  return finish(buf, nlh);
}

Decoded decode_link(const nlmsghdr* nlh, HostLink* out, std::string* error) {
  auto* ifi = fixed_header<ifinfomsg>(nlh);
  if (!ifi) return bad(error, "RTM_NEWLINK: truncated header");
  HostLink l;
  l.ifindex = ifi->ifi_index;
  l.up = (ifi->ifi_flags & IFF_UP) != 0;
  l.loopback = (ifi->ifi_flags & IFF_LOOPBACK) != 0;
  l.type = ifi->ifi_type;
  std::string err;
  bool ok = for_each_attr(nlh, sizeof(ifinfomsg), [&](const nlattr* a) {
    const uint16_t t = mnl_attr_get_type(a);
    switch (t) {
      case IFLA_IFNAME:
        if (!valid(a, MNL_TYPE_NUL_STRING)) return err = attr_error("RTM_NEWLINK", t, a), false;
        l.name = mnl_attr_get_str(a);
        break;
      case IFLA_ADDRESS:
        if (!valid(a, MNL_TYPE_BINARY)) return err = attr_error("RTM_NEWLINK", t, a), false;
        // Only Ethernet-like hardware addresses are MACs; others (tunnels) stay zero.
        if (mnl_attr_get_payload_len(a) == 6)
          std::memcpy(l.mac.bytes.data(), mnl_attr_get_payload(a), 6);
        break;
      case IFLA_GROUP:
        if (!valid(a, MNL_TYPE_U32)) return err = attr_error("RTM_NEWLINK", t, a), false;
        l.group = mnl_attr_get_u32(a);
        break;
      case IFLA_LINKINFO: {
        if (!valid(a, MNL_TYPE_NESTED)) return err = attr_error("RTM_NEWLINK", t, a), false;
        bool nested_ok = for_each_nested(a, [&](const nlattr* n) {
          if (mnl_attr_get_type(n) != IFLA_INFO_KIND) return true;
          if (!valid(n, MNL_TYPE_NUL_STRING)) return false;
          l.kind = mnl_attr_get_str(n);
          return true;
        });
        if (!nested_ok) return err = "RTM_NEWLINK: malformed IFLA_LINKINFO", false;
        break;
      }
      default:
        break;
    }
    return true;
  });
  if (!ok) return bad(error, err.empty() ? "RTM_NEWLINK: truncated attributes" : err);
  *out = std::move(l);
  return Decoded::Ok;
}

Decoded decode_address(const nlmsghdr* nlh, ObservedAddress* out, std::string* error) {
  auto* ifa = fixed_header<ifaddrmsg>(nlh);
  if (!ifa) return bad(error, "RTM_NEWADDR: truncated header");
  Family f;
  if (!family_of(ifa->ifa_family, &f)) return Decoded::Skip;
  ObservedAddress a;
  a.ifindex = int(ifa->ifa_index);
  a.flags = ifa->ifa_flags;
  a.scope = ifa->ifa_scope;
  a.prefix.len = ifa->ifa_prefixlen;
  a.prefix.addr.family = f;
  if (a.prefix.len > a.prefix.addr.bits()) return bad(error, "RTM_NEWADDR: prefix length out of range");
  std::optional<IpAddr> local, address;
  std::string err;
  bool ok = for_each_attr(nlh, sizeof(ifaddrmsg), [&](const nlattr* at) {
    const uint16_t t = mnl_attr_get_type(at);
    IpAddr ip;
    switch (t) {
      case IFA_LOCAL:
      case IFA_ADDRESS:
        if (!get_addr(at, f, &ip)) return err = attr_error("RTM_NEWADDR", t, at), false;
        (t == IFA_LOCAL ? local : address) = ip;
        break;
      case IFA_FLAGS:
        if (!valid(at, MNL_TYPE_U32)) return err = attr_error("RTM_NEWADDR", t, at), false;
        a.flags = mnl_attr_get_u32(at);
        break;
      case IFA_PROTO:
        if (!valid(at, MNL_TYPE_U8)) return err = attr_error("RTM_NEWADDR", t, at), false;
        a.proto = mnl_attr_get_u8(at);
        break;
      case IFA_CACHEINFO: {
        if (mnl_attr_validate2(at, MNL_TYPE_BINARY, sizeof(ifa_cacheinfo)) < 0)
          return err = attr_error("RTM_NEWADDR", t, at), false;
        ifa_cacheinfo ci;
        std::memcpy(&ci, mnl_attr_get_payload(at), sizeof(ci));
        a.preferred = ci.ifa_prefered;
        a.valid = ci.ifa_valid;
        break;
      }
      default:
        break;
    }
    return true;
  });
  if (!ok) return bad(error, err.empty() ? "RTM_NEWADDR: truncated attributes" : err);
  // IFA_LOCAL is the interface's own address (IFA_ADDRESS is the peer on p2p links).
  if (local) a.prefix.addr = *local;
  else if (address) a.prefix.addr = *address;
  else return bad(error, "RTM_NEWADDR: no address");
  *out = a;
  return Decoded::Ok;
}

// The rtnexthop records of an RTA_MULTIPATH attribute, each with its own attributes
// (RTA_GATEWAY, RTA_VIA). False when a record is truncated or an attribute malformed.
bool decode_nexthops(const nlattr* a, Family f, std::vector<ObservedNexthop>* out) {
  auto* p = static_cast<const uint8_t*>(mnl_attr_get_payload(a));
  size_t left = mnl_attr_get_payload_len(a);
  while (left >= sizeof(rtnexthop)) {
    rtnexthop nh;
    std::memcpy(&nh, p, sizeof(nh));
    if (nh.rtnh_len < sizeof(rtnexthop) || nh.rtnh_len > left) return false;
    ObservedNexthop o;
    o.oif = nh.rtnh_ifindex;
    o.flags = nh.rtnh_flags;
    size_t off = RTNH_ALIGN(sizeof(rtnexthop));
    while (off + sizeof(nlattr) <= nh.rtnh_len) {
      nlattr at;
      std::memcpy(&at, p + off, sizeof(at));
      if (at.nla_len < sizeof(nlattr) || off + at.nla_len > nh.rtnh_len) return false;
      const uint8_t* payload = p + off + NLA_HDRLEN;
      const size_t plen = at.nla_len - NLA_HDRLEN;
      const uint16_t type = at.nla_type & NLA_TYPE_MASK;
      const size_t n = f == Family::V4 ? 4 : 16;
      if (type == RTA_GATEWAY) {
        if (plen != n) return false;
        o.gateway = IpAddr::from_bytes(f, payload);
      } else if (type == RTA_VIA && plen >= sizeof(rtvia)) {
        rtvia hdr;
        std::memcpy(&hdr, payload, sizeof(hdr));
        Family vf;
        if (family_of(uint8_t(hdr.rtvia_family), &vf) && plen == sizeof(rtvia) + (vf == Family::V4 ? 4u : 16u))
          o.gateway = IpAddr::from_bytes(vf, payload + sizeof(rtvia));
      }
      off += NLA_ALIGN(at.nla_len);
    }
    out->push_back(o);
    const size_t step = RTNH_ALIGN(nh.rtnh_len);
    if (step >= left) break;
    p += step;
    left -= step;
  }
  return true;
}

Decoded decode_route(const nlmsghdr* nlh, ObservedRoute* out, std::string* error) {
  auto* rtm = fixed_header<rtmsg>(nlh);
  if (!rtm) return bad(error, "RTM_NEWROUTE: truncated header");
  Family f;
  if (!family_of(rtm->rtm_family, &f)) return Decoded::Skip;
  ObservedRoute r;
  r.table = rtm->rtm_table;
  r.protocol = rtm->rtm_protocol;
  r.scope = rtm->rtm_scope;
  r.type = rtm->rtm_type;
  r.flags = rtm->rtm_flags;
  r.dst.addr.family = f;
  r.dst.len = rtm->rtm_dst_len;
  if (r.dst.len > r.dst.addr.bits()) return bad(error, "RTM_NEWROUTE: prefix length out of range");
  std::string err;
  bool ok = for_each_attr(nlh, sizeof(rtmsg), [&](const nlattr* a) {
    const uint16_t t = mnl_attr_get_type(a);
    IpAddr ip;
    switch (t) {
      case RTA_DST:
        if (!get_addr(a, f, &ip)) return err = attr_error("RTM_NEWROUTE", t, a), false;
        r.dst.addr = ip;
        break;
      case RTA_GATEWAY:
        if (!get_addr(a, f, &ip)) return err = attr_error("RTM_NEWROUTE", t, a), false;
        r.gateway = ip;
        break;
      case RTA_VIA: {
        // A gateway of the other family (IPv4 route via an IPv6 next hop).
        if (!valid(a, MNL_TYPE_BINARY) || mnl_attr_get_payload_len(a) < sizeof(rtvia))
          return err = attr_error("RTM_NEWROUTE", t, a), false;
        auto* via = static_cast<const uint8_t*>(mnl_attr_get_payload(a));
        rtvia hdr;
        std::memcpy(&hdr, via, sizeof(hdr));
        Family vf;
        if (!family_of(uint8_t(hdr.rtvia_family), &vf)) break;
        size_t n = vf == Family::V4 ? 4 : 16;
        if (mnl_attr_get_payload_len(a) != sizeof(rtvia) + n)
          return err = attr_error("RTM_NEWROUTE", t, a), false;
        r.gateway = IpAddr::from_bytes(vf, via + sizeof(rtvia));
        break;
      }
      case RTA_OIF:
        if (!valid(a, MNL_TYPE_U32)) return err = attr_error("RTM_NEWROUTE", t, a), false;
        r.oif = int(mnl_attr_get_u32(a));
        break;
      case RTA_PRIORITY:
        if (!valid(a, MNL_TYPE_U32)) return err = attr_error("RTM_NEWROUTE", t, a), false;
        r.metric = mnl_attr_get_u32(a);
        break;
      case RTA_TABLE:
        if (!valid(a, MNL_TYPE_U32)) return err = attr_error("RTM_NEWROUTE", t, a), false;
        r.table = mnl_attr_get_u32(a);
        break;
      case RTA_MULTIPATH: {
        if (!valid(a, MNL_TYPE_BINARY)) return err = attr_error("RTM_NEWROUTE", t, a), false;
        r.multipath = true;
        if (!decode_nexthops(a, f, &r.nexthops)) return err = "RTM_NEWROUTE: malformed RTA_MULTIPATH", false;
        break;
      }
      default:
        break;
    }
    return true;
  });
  if (!ok) return bad(error, err.empty() ? "RTM_NEWROUTE: truncated attributes" : err);
  *out = r;
  return Decoded::Ok;
}

Decoded decode_rule(const nlmsghdr* nlh, ObservedRule* out, std::string* error) {
  auto* frh = fixed_header<fib_rule_hdr>(nlh);
  if (!frh) return bad(error, "RTM_NEWRULE: truncated header");
  Family f;
  if (!family_of(frh->family, &f)) return Decoded::Skip;
  ObservedRule r;
  r.family = f;
  r.table = frh->table;
  r.action = frh->action;
  r.tos = frh->tos;
  r.invert = (frh->flags & FIB_RULE_INVERT) != 0;
  const uint8_t bits = f == Family::V4 ? 32 : 128;
  if (frh->src_len > bits || frh->dst_len > bits) return bad(error, "RTM_NEWRULE: prefix length out of range");
  std::string err;
  auto need = [&](const nlattr* a, mnl_attr_data_type type) {
    if (valid(a, type)) return true;
    err = attr_error("RTM_NEWRULE", mnl_attr_get_type(a), a);
    return false;
  };
  bool ok = for_each_attr(nlh, sizeof(fib_rule_hdr), [&](const nlattr* a) {
    const uint16_t t = mnl_attr_get_type(a);
    IpAddr ip;
    switch (t) {
      case FRA_SRC:
      case FRA_DST:
        if (!get_addr(a, f, &ip)) return err = attr_error("RTM_NEWRULE", t, a), false;
        if (t == FRA_SRC) r.from = IpPrefix{ip, frh->src_len};
        else r.to = IpPrefix{ip, frh->dst_len};
        break;
      case FRA_PRIORITY:
        if (!need(a, MNL_TYPE_U32)) return false;
        r.priority = mnl_attr_get_u32(a);
        break;
      case FRA_TABLE:
        if (!need(a, MNL_TYPE_U32)) return false;
        r.table = mnl_attr_get_u32(a);
        break;
      case FRA_PROTOCOL:
        if (!need(a, MNL_TYPE_U8)) return false;
        r.protocol = mnl_attr_get_u8(a);
        break;
      case FRA_IIFNAME:
      case FRA_OIFNAME:
        if (!need(a, MNL_TYPE_NUL_STRING)) return false;
        (t == FRA_IIFNAME ? r.iifname : r.oifname) = mnl_attr_get_str(a);
        break;
      case FRA_FWMARK:
        if (!need(a, MNL_TYPE_U32)) return false;
        r.fwmark = mnl_attr_get_u32(a);
        break;
      case FRA_FWMASK:
        if (!need(a, MNL_TYPE_U32)) return false;
        r.fwmask = mnl_attr_get_u32(a);
        break;
      case FRA_SUPPRESS_PREFIXLEN:
        if (!need(a, MNL_TYPE_U32)) return false;
        if (mnl_attr_get_u32(a) != kNoSuppress) r.suppress_prefixlen = uint8_t(mnl_attr_get_u32(a));
        break;
      case FRA_SUPPRESS_IFGROUP:
        if (!need(a, MNL_TYPE_U32)) return false;
        if (mnl_attr_get_u32(a) != kNoSuppress) r.suppress_ifgroup = mnl_attr_get_u32(a);
        break;
      case FRA_L3MDEV:
        if (!need(a, MNL_TYPE_U8)) return false;
        if (mnl_attr_get_u8(a) != 0) r.has_other_selectors = true;
        break;
      case FRA_PAD:
      case FRA_UNSPEC:
        break;
      default:
        // FRA_GOTO, FRA_FLOW, FRA_TUN_ID, uid and port ranges, ip_proto, and
        // anything newer: a rule selecting on something ec2-netcfg never sets.
        r.has_other_selectors = true;
        break;
    }
    return true;
  });
  if (!ok) return bad(error, err.empty() ? "RTM_NEWRULE: truncated attributes" : err);
  if (frh->src_len > 0 && !r.from) return bad(error, "RTM_NEWRULE: source length without FRA_SRC");
  if (frh->dst_len > 0 && !r.to) return bad(error, "RTM_NEWRULE: destination length without FRA_DST");
  *out = r;
  return Decoded::Ok;
}

namespace {

// The extended ack message, if the kernel attached one to an NLMSG_ERROR/NLMSG_DONE.
std::string ext_ack_message(const nlmsghdr* nlh, size_t tlv_offset) {
  std::string msg;
  if (!(nlh->nlmsg_flags & NLM_F_ACK_TLVS)) return msg;
  if (nlh->nlmsg_len < MNL_NLMSG_HDRLEN + tlv_offset) return msg;
  for_each_attr(nlh, tlv_offset, [&](const nlattr* a) {
    if (mnl_attr_get_type(a) == NLMSGERR_ATTR_MSG && valid(a, MNL_TYPE_NUL_STRING)) msg = mnl_attr_get_str(a);
    return true;
  });
  return msg;
}

// Decodes an NLMSG_ERROR: errno (positive) and extended message.
bool decode_error(const nlmsghdr* nlh, int* err, std::string* msg) {
  if (nlh->nlmsg_len < MNL_NLMSG_HDRLEN + sizeof(nlmsgerr)) return false;
  nlmsgerr e;
  std::memcpy(&e, mnl_nlmsg_get_payload(nlh), sizeof(e));
  *err = positive_errno(e.error);
  size_t offset = sizeof(nlmsgerr);
  // Without NLM_F_CAPPED the original request's payload sits before the TLVs.
  if (!(nlh->nlmsg_flags & NLM_F_CAPPED) && e.msg.nlmsg_len >= MNL_NLMSG_HDRLEN)
    offset += MNL_ALIGN(e.msg.nlmsg_len - MNL_NLMSG_HDRLEN);
  *msg = ext_ack_message(nlh, offset);
  return true;
}

}  // namespace

bool decode_dump(const void* data, size_t len, uint32_t seq, HostState* out, DumpStatus* status,
                 std::string* error) {
  auto* nlh = static_cast<const nlmsghdr*>(data);
  size_t left = len;
  for (; msg_ok(nlh, left); nlh = msg_next(nlh, &left)) {
    if (nlh->nlmsg_seq != seq) continue;
    if (nlh->nlmsg_flags & NLM_F_DUMP_INTR) status->interrupted = true;
    Decoded d = Decoded::Skip;
    switch (nlh->nlmsg_type) {
      case NLMSG_NOOP:
        break;
      case NLMSG_DONE: {
        status->done = true;
        // NLMSG_DONE carries an int: 0, or -errno when the dump failed part-way.
        if (nlh->nlmsg_len >= MNL_NLMSG_HDRLEN + sizeof(int)) {
          int e;
          std::memcpy(&e, mnl_nlmsg_get_payload(nlh), sizeof(e));
          if (e != 0) {
            status->error = positive_errno(e);
            status->message = ext_ack_message(nlh, sizeof(int));
          }
        }
        return true;
      }
      case NLMSG_ERROR: {
        int e = 0;
        std::string msg;
        if (!decode_error(nlh, &e, &msg)) {
          if (error) *error = "netlink: truncated NLMSG_ERROR";
          return false;
        }
        status->done = true;
        status->error = e;
        status->message = msg;
        return true;
      }
      case RTM_NEWLINK: {
        HostLink l;
        d = decode_link(nlh, &l, error);
        if (d == Decoded::Ok) out->links.push_back(std::move(l));
        break;
      }
      case RTM_NEWADDR: {
        ObservedAddress a;
        d = decode_address(nlh, &a, error);
        if (d == Decoded::Ok) out->addresses.push_back(a);
        break;
      }
      case RTM_NEWROUTE: {
        ObservedRoute r;
        d = decode_route(nlh, &r, error);
        if (d == Decoded::Ok) out->routes.push_back(r);
        break;
      }
      case RTM_NEWRULE: {
        ObservedRule r;
        d = decode_rule(nlh, &r, error);
        if (d == Decoded::Ok) out->rules.push_back(std::move(r));
        break;
      }
      default:
        break;
    }
    if (d == Decoded::Malformed) return false;
  }
  if (left != 0) {
    if (error) *error = "netlink: truncated message in dump (" + std::to_string(left) + " bytes left)";
    return false;
  }
  return true;
}

bool decode_acks(const void* data, size_t len, std::vector<Ack>* out, std::string* error) {
  auto* nlh = static_cast<const nlmsghdr*>(data);
  size_t left = len;
  for (; msg_ok(nlh, left); nlh = msg_next(nlh, &left)) {
    if (nlh->nlmsg_type != NLMSG_ERROR) continue;
    Ack ack;
    ack.seq = nlh->nlmsg_seq;
    if (!decode_error(nlh, &ack.error, &ack.message)) {
      if (error) *error = "netlink: truncated NLMSG_ERROR";
      return false;
    }
    out->push_back(std::move(ack));
  }
  if (left != 0) {
    if (error) *error = "netlink: truncated message in reply (" + std::to_string(left) + " bytes left)";
    return false;
  }
  return true;
}

}  // namespace ec2nc
