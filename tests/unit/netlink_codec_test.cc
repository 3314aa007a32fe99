#include "core/netlink_codec.h"

#include <doctest/doctest.h>
#include <libmnl/libmnl.h>
#include <linux/fib_rules.h>
#include <linux/if.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <vector>

using namespace ec2nc;

namespace {

IpAddr ip(const char* s) { return *IpAddr::parse(s); }
IpPrefix pfx(const char* s) { return *IpPrefix::parse(s); }

// Netlink is host-endian; these expectations are written for little-endian hosts.
bool little_endian() {
  uint16_t x = 1;
  uint8_t b;
  std::memcpy(&b, &x, 1);
  return b == 1;
}

// Builds kernel-like messages by hand into one buffer, as a dump reply would hold them.
struct Builder {
  std::vector<uint8_t> buf = std::vector<uint8_t>(16384, 0);
  size_t used = 0;
  nlmsghdr* cur = nullptr;

  template <class Hdr>
  Hdr* begin(uint16_t type, uint32_t seq = 1, uint16_t flags = NLM_F_MULTI) {
    cur = mnl_nlmsg_put_header(buf.data() + used);
    cur->nlmsg_type = type;
    cur->nlmsg_seq = seq;
    cur->nlmsg_flags = flags;
    return static_cast<Hdr*>(mnl_nlmsg_put_extra_header(cur, sizeof(Hdr)));
  }
  void end() { used += cur->nlmsg_len; }
  void done(uint32_t seq = 1) {
    auto* e = begin<int>(NLMSG_DONE, seq);
    *e = 0;
    end();
  }
  const void* data() const { return buf.data(); }
};

void put_ip(nlmsghdr* n, uint16_t type, const char* s) {
  auto a = ip(s);
  mnl_attr_put(n, type, a.size(), a.bytes.data());
}

// A realistic dump: one link, one address, two routes, two rules, then DONE.
Builder sample_dump() {
  Builder b;
  auto* ifi = b.begin<ifinfomsg>(RTM_NEWLINK);
  ifi->ifi_index = 3;
  ifi->ifi_flags = IFF_UP | IFF_BROADCAST;
  mnl_attr_put_strz(b.cur, IFLA_IFNAME, "ens6");
  uint8_t mac[6] = {0x02, 0x86, 0x10, 0x7b, 0xe4, 0xf6};
  mnl_attr_put(b.cur, IFLA_ADDRESS, 6, mac);
  mnl_attr_put_u32(b.cur, IFLA_GROUP, 10000);
  nlattr* li = mnl_attr_nest_start(b.cur, IFLA_LINKINFO);
  mnl_attr_put_strz(b.cur, IFLA_INFO_KIND, "veth");
  mnl_attr_nest_end(b.cur, li);
  b.end();

  auto* ifa = b.begin<ifaddrmsg>(RTM_NEWADDR);
  ifa->ifa_family = AF_INET;
  ifa->ifa_prefixlen = 32;
  ifa->ifa_index = 3;
  put_ip(b.cur, IFA_ADDRESS, "10.0.1.21");
  put_ip(b.cur, IFA_LOCAL, "10.0.1.21");
  mnl_attr_put_u32(b.cur, IFA_FLAGS, IFA_F_PERMANENT | IFA_F_DEPRECATED);
  ifa_cacheinfo ci{0, 0xffffffffu, 5, 6};
  mnl_attr_put(b.cur, IFA_CACHEINFO, sizeof(ci), &ci);
  mnl_attr_put_u8(b.cur, 11 /* IFA_PROTO */, 236);
  b.end();

  auto* rtm = b.begin<rtmsg>(RTM_NEWROUTE);
  rtm->rtm_family = AF_INET;
  rtm->rtm_table = RT_TABLE_UNSPEC;
  rtm->rtm_protocol = 236;
  rtm->rtm_type = RTN_UNICAST;
  rtm->rtm_flags = RTNH_F_ONLINK;
  mnl_attr_put_u32(b.cur, RTA_TABLE, 10001);
  put_ip(b.cur, RTA_GATEWAY, "10.0.1.1");
  mnl_attr_put_u32(b.cur, RTA_OIF, 3);
  b.end();

  rtm = b.begin<rtmsg>(RTM_NEWROUTE);
  rtm->rtm_family = AF_INET6;
  rtm->rtm_table = RT_TABLE_MAIN;
  rtm->rtm_protocol = RTPROT_RA;
  rtm->rtm_type = RTN_UNICAST;
  mnl_attr_put_u32(b.cur, RTA_TABLE, 254);
  mnl_attr_put_u32(b.cur, RTA_PRIORITY, 1024);
  rtnexthop nh{};
  nh.rtnh_len = sizeof(nh);
  nh.rtnh_ifindex = 3;
  mnl_attr_put(b.cur, RTA_MULTIPATH, sizeof(nh), &nh);
  b.end();

  auto* frh = b.begin<fib_rule_hdr>(RTM_NEWRULE);
  frh->family = AF_INET;
  frh->src_len = 32;
  frh->action = FR_ACT_TO_TBL;
  mnl_attr_put_u32(b.cur, FRA_TABLE, 10001);
  mnl_attr_put_u32(b.cur, FRA_SUPPRESS_PREFIXLEN, 0xffffffffu);
  mnl_attr_put_u32(b.cur, FRA_PRIORITY, 10001);
  put_ip(b.cur, FRA_SRC, "10.0.1.21");
  mnl_attr_put_u8(b.cur, FRA_PROTOCOL, 236);
  b.end();

  frh = b.begin<fib_rule_hdr>(RTM_NEWRULE);
  frh->family = AF_INET;
  frh->action = FR_ACT_TO_TBL;
  frh->table = RT_TABLE_MAIN;
  mnl_attr_put_u32(b.cur, FRA_TABLE, 254);
  mnl_attr_put_u32(b.cur, FRA_PRIORITY, 512);
  mnl_attr_put_u32(b.cur, FRA_SUPPRESS_PREFIXLEN, 0);
  mnl_attr_put_u32(b.cur, FRA_SUPPRESS_IFGROUP, 10000);
  struct { uint32_t start, end; } uid{1000, 1000};
  mnl_attr_put(b.cur, FRA_UID_RANGE, sizeof(uid), &uid);
  mnl_attr_put_u8(b.cur, FRA_PROTOCOL, RTPROT_BOOT);
  b.end();

  b.done();
  return b;
}

}  // namespace

TEST_CASE("encode: IPv4 secondary address, deprecated, byte for byte") {
  REQUIRE(little_endian());
  AddressSpec a;
  a.prefix = pfx("10.0.0.227/32");
  a.deprecated = true;
  NlMessage m = encode_address(true, 3, a, 7);
  const std::vector<uint8_t> want = {
      0x44, 0, 0, 0, 20, 0, 0x05, 0x06, 7, 0, 0, 0, 0, 0, 0, 0,  // nlmsghdr: NEWADDR, REQ|ACK|EXCL|CREATE
      2, 32, 0, 0, 3, 0, 0, 0,                                  // ifaddrmsg: AF_INET /32 ifindex 3
      8, 0, 2, 0, 10, 0, 0, 227,                                // IFA_LOCAL
      8, 0, 1, 0, 10, 0, 0, 227,                                // IFA_ADDRESS
      20, 0, 6, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0,  // IFA_CACHEINFO
      5, 0, 11, 0, 236, 0, 0, 0,                                // IFA_PROTO 236
  };
  CHECK(m == want);
}

TEST_CASE("encode: IPv4 address delete carries only the address") {
  REQUIRE(little_endian());
  AddressSpec a;
  a.prefix = pfx("10.0.1.20/24");
  NlMessage m = encode_address(false, 3, a, 8);
  const std::vector<uint8_t> want = {
      0x28, 0, 0, 0, 21, 0, 0x05, 0x00, 8, 0, 0, 0, 0, 0, 0, 0,  // DELADDR, REQ|ACK
      2, 24, 0, 0, 3, 0, 0, 0,
      8, 0, 2, 0, 10, 0, 1, 20,
      8, 0, 1, 0, 10, 0, 1, 20,
  };
  CHECK(m == want);
}

TEST_CASE("encode: IPv6 address has IFA_ADDRESS, NODAD and no IFA_LOCAL") {
  REQUIRE(little_endian());
  AddressSpec a;
  a.prefix = pfx("2600:1f18:aaaa:bb01::21/128");
  NlMessage m = encode_address(true, 4, a, 1);
  const std::vector<uint8_t> want = {
      0x3c, 0, 0, 0, 20, 0, 0x05, 0x06, 1, 0, 0, 0, 0, 0, 0, 0,
      10, 128, IFA_F_NODAD, 0, 4, 0, 0, 0,
      20, 0, 1, 0, 0x26, 0, 0x1f, 0x18, 0xaa, 0xaa, 0xbb, 0x01, 0, 0, 0, 0, 0, 0, 0, 0x21,
      8, 0, 8, 0, IFA_F_NODAD, 0, 0, 0,  // IFA_FLAGS
      5, 0, 11, 0, 236, 0, 0, 0,
  };
  CHECK(m == want);
}

TEST_CASE("encode: default route via the subnet router, onlink, table above 255") {
  REQUIRE(little_endian());
  RouteSpec r;
  r.table = 10001;
  r.dst = pfx("0.0.0.0/0");
  r.gateway = ip("10.0.1.1");
  r.onlink = true;
  NlMessage m = encode_route(true, 3, r, 9);
  const std::vector<uint8_t> want = {
      0x34, 0, 0, 0, 24, 0, 0x05, 0x04, 9, 0, 0, 0, 0, 0, 0, 0,  // NEWROUTE, REQ|ACK|CREATE
      2, 0, 0, 0, 0, 236, 0, 1, 4, 0, 0, 0,                      // rtmsg: table 0, proto 236, unicast, ONLINK
      8, 0, 15, 0, 0x11, 0x27, 0, 0,                             // RTA_TABLE 10001
      8, 0, 5, 0, 10, 0, 1, 1,                                   // RTA_GATEWAY
      8, 0, 4, 0, 3, 0, 0, 0,                                    // RTA_OIF
  };
  CHECK(m == want);
}

TEST_CASE("encode: subnet route scope link; small table also in rtm_table; delete matches any scope") {
  REQUIRE(little_endian());
  RouteSpec r;
  r.table = 200;
  r.dst = pfx("10.0.1.0/24");
  r.scope = RT_SCOPE_LINK;
  NlMessage m = encode_route(true, 3, r, 2);
  const std::vector<uint8_t> want = {
      0x34, 0, 0, 0, 24, 0, 0x05, 0x04, 2, 0, 0, 0, 0, 0, 0, 0,
      2, 24, 0, 0, 200, 236, RT_SCOPE_LINK, 1, 0, 0, 0, 0,
      8, 0, 15, 0, 200, 0, 0, 0,
      8, 0, 1, 0, 10, 0, 1, 0,  // RTA_DST
      8, 0, 4, 0, 3, 0, 0, 0,
  };
  CHECK(m == want);
  NlMessage d = encode_route(false, 3, r, 2);
  REQUIRE(d.size() == want.size());
  CHECK(d[4] == RTM_DELROUTE);
  CHECK(d[6] == 0x05);
  CHECK(d[7] == 0x00);
  CHECK(d[16 + 6] == RT_SCOPE_NOWHERE);
}

TEST_CASE("encode: source rule, byte for byte") {
  REQUIRE(little_endian());
  RuleSpec r;
  r.priority = 10001;
  r.from = pfx("10.0.1.21/32");
  r.table = 10001;
  NlMessage m = encode_rule(true, r, 11);
  const std::vector<uint8_t> want = {
      0x3c, 0, 0, 0, 32, 0, 0x05, 0x06, 11, 0, 0, 0, 0, 0, 0, 0,  // NEWRULE, REQ|ACK|EXCL|CREATE
      2, 0, 32, 0, 0, 0, 0, FR_ACT_TO_TBL, 0, 0, 0, 0,            // fib_rule_hdr
      8, 0, 6, 0, 0x11, 0x27, 0, 0,                               // FRA_PRIORITY
      8, 0, 2, 0, 10, 0, 1, 21,                                   // FRA_SRC
      8, 0, 15, 0, 0x11, 0x27, 0, 0,                              // FRA_TABLE
      5, 0, 21, 0, 236, 0, 0, 0,                                  // FRA_PROTOCOL
  };
  CHECK(m == want);
}

TEST_CASE("encode: global rule with suppressors round-trips through the decoder") {
  RuleSpec r;
  r.family = Family::V6;
  r.priority = 9999;
  r.table = 254;
  r.suppress_prefixlen = 0;
  r.suppress_ifgroup = 10000;
  NlMessage m = encode_rule(true, r, 1);
  auto* nlh = reinterpret_cast<const nlmsghdr*>(m.data());
  CHECK(m[16 + 4] == 254);  // rtm_table-like field set for tables below 256
  ObservedRule o;
  std::string err;
  REQUIRE(decode_rule(nlh, &o, &err) == Decoded::Ok);
  CHECK(o.family == Family::V6);
  CHECK(o.priority == 9999);
  CHECK(o.table == 254);
  CHECK(!o.from);
  CHECK(o.protocol == 236);
  CHECK(o.suppress_prefixlen == std::optional<uint8_t>(0));
  CHECK(o.suppress_ifgroup == std::optional<uint32_t>(10000));
  CHECK(o.action == FR_ACT_TO_TBL);
  CHECK(!o.has_other_selectors);
}

TEST_CASE("encode: link up and link group") {
  REQUIRE(little_endian());
  NlMessage up = encode_link_up(5, 3);
  const std::vector<uint8_t> want_up = {
      0x20, 0, 0, 0, 16, 0, 0x05, 0, 3, 0, 0, 0, 0, 0, 0, 0,
      0, 0, 0, 0, 5, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0,  // index 5, flags IFF_UP, change IFF_UP
  };
  CHECK(up == want_up);
  NlMessage down = encode_link_up(5, 3, false);
  std::vector<uint8_t> want_down = want_up;
  want_down[24] = 0;  // flags 0, change IFF_UP: the flag is cleared
  CHECK(down == want_down);
  NlMessage g = encode_link_group(5, 10000, 4);
  const std::vector<uint8_t> want_g = {
      0x28, 0, 0, 0, 16, 0, 0x05, 0, 4, 0, 0, 0, 0, 0, 0, 0,
      0, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
      8, 0, 27, 0, 0x10, 0x27, 0, 0,  // IFLA_GROUP 10000
  };
  CHECK(g == want_g);
}

TEST_CASE("encode: change dispatch; sysctl is not netlink") {
  Change c;
  c.op = Change::Op::AddRule;
  c.rule.priority = 1;
  NlMessage m;
  CHECK(encode_change(c, 1, &m));
  CHECK(reinterpret_cast<const nlmsghdr*>(m.data())->nlmsg_type == RTM_NEWRULE);
  // An add carries the change's protocol: ec2-netcfg's by default, a deleted object's
  // own when a delete is undone.
  auto protocol_of = [](const NlMessage& msg) {
    int proto = -1;
    for (size_t i = 16 + sizeof(fib_rule_hdr); i + 4 <= msg.size();) {
      auto* a = reinterpret_cast<const nlattr*>(&msg[i]);
      if (a->nla_type == FRA_PROTOCOL) proto = msg[i + 4];
      i += (a->nla_len + 3) & ~3u;
    }
    return proto;
  };
  CHECK(protocol_of(m) == kOwnProto);
  c.protocol = 4;
  CHECK(encode_change(c, 1, &m));
  CHECK(protocol_of(m) == 4);
  c.op = Change::Op::SetSysctl;
  CHECK(!encode_change(c, 1, &m));
}

TEST_CASE("encode: a batch is the changes' requests back to back, numbered on, NLM_F_ACK on the last only") {
  Change up;
  up.op = Change::Op::SetLinkUp;
  up.ifindex = 3;
  Change a;
  a.op = Change::Op::AddAddress;
  a.ifindex = 3;
  a.address.prefix = pfx("10.0.1.21/32");
  Change r;
  r.op = Change::Op::DelRule;
  r.rule.from = pfx("10.0.1.21/32");
  r.rule.table = r.rule.priority = 10001;
  const Change* cs[] = {&up, &a, &r};
  NlMessage batch;
  REQUIRE(encode_batch(cs, 3, 0xfffffffeu, &batch));  // sequence numbers wrap
  size_t off = 0;
  const uint32_t seqs[] = {0xfffffffeu, 0xffffffffu, 0};
  for (int i = 0; i < 3; ++i) {
    NlMessage one;
    REQUIRE(encode_change(*cs[i], seqs[i], &one));
    REQUIRE(off + one.size() <= batch.size());
    auto* nlh = reinterpret_cast<const nlmsghdr*>(batch.data() + off);
    CHECK(nlh->nlmsg_len == one.size());
    CHECK(nlh->nlmsg_seq == seqs[i]);
    CHECK(nlh->nlmsg_flags == (i == 2 ? reinterpret_cast<const nlmsghdr*>(one.data())->nlmsg_flags
                                      : reinterpret_cast<const nlmsghdr*>(one.data())->nlmsg_flags & ~NLM_F_ACK));
    CHECK((reinterpret_cast<const nlmsghdr*>(one.data())->nlmsg_flags & NLM_F_ACK) != 0);
    // Past the header the bytes are the single request's.
    CHECK(std::equal(one.begin() + 8, one.end(), batch.begin() + std::ptrdiff_t(off) + 8));
    CHECK(one.size() <= kMaxRequestSize);
    off += MNL_ALIGN(one.size());
  }
  CHECK(off == batch.size());
  Change sc;
  sc.op = Change::Op::SetSysctl;
  const Change* with_sysctl[] = {&up, &sc};
  CHECK_FALSE(encode_batch(with_sysctl, 2, 1, &batch));
  CHECK(batch.empty());
  CHECK(encode_batch(cs, 0, 1, &batch));
  CHECK(batch.empty());
}

TEST_CASE("encode: dump requests") {
  NlMessage m = encode_dump(RTM_GETROUTE, AF_INET6, 42);
  auto* nlh = reinterpret_cast<const nlmsghdr*>(m.data());
  CHECK(nlh->nlmsg_type == RTM_GETROUTE);
  CHECK(nlh->nlmsg_flags == (NLM_F_REQUEST | NLM_F_DUMP));
  CHECK(nlh->nlmsg_seq == 42);
  CHECK(nlh->nlmsg_len == m.size());
  CHECK(m[16] == AF_INET6);
  CHECK(m[16 + 4] == 0);  // every table
  m = encode_dump(RTM_GETRULE, AF_INET, 1);
  CHECK(m.size() == 16 + sizeof(fib_rule_hdr));
}

TEST_CASE("decode: a hand-built dump") {
  Builder b = sample_dump();
  HostState hs;
  DumpStatus st;
  std::string err;
  REQUIRE(decode_dump(b.data(), b.used, 1, &hs, &st, &err));
  CHECK(st.done);
  CHECK(!st.interrupted);
  CHECK(st.error == 0);

  REQUIRE(hs.links.size() == 1);
  CHECK(hs.links[0].ifindex == 3);
  CHECK(hs.links[0].name == "ens6");
  CHECK(hs.links[0].mac.str() == "02:86:10:7b:e4:f6");
  CHECK(hs.links[0].up);
  CHECK(hs.links[0].group == 10000);
  CHECK(hs.links[0].kind == "veth");

  REQUIRE(hs.addresses.size() == 1);
  CHECK(hs.addresses[0].ifindex == 3);
  CHECK(hs.addresses[0].prefix == pfx("10.0.1.21/32"));
  CHECK(hs.addresses[0].proto == 236);
  CHECK(hs.addresses[0].flags == (IFA_F_PERMANENT | IFA_F_DEPRECATED));
  CHECK(hs.addresses[0].preferred == 0);
  CHECK(hs.addresses[0].valid == 0xffffffffu);

  REQUIRE(hs.routes.size() == 2);
  CHECK(hs.routes[0].table == 10001);
  CHECK(hs.routes[0].dst == pfx("0.0.0.0/0"));
  CHECK(hs.routes[0].gateway == ip("10.0.1.1"));
  CHECK(hs.routes[0].oif == 3);
  CHECK(hs.routes[0].protocol == 236);
  CHECK(hs.routes[0].flags == RTNH_F_ONLINK);
  CHECK(!hs.routes[0].multipath);
  CHECK(hs.routes[1].dst == pfx("::/0"));
  CHECK(hs.routes[1].table == 254);
  CHECK(hs.routes[1].metric == 1024);
  CHECK(hs.routes[1].multipath);

  REQUIRE(hs.rules.size() == 2);
  CHECK(hs.rules[0].priority == 10001);
  CHECK(hs.rules[0].from == pfx("10.0.1.21/32"));
  CHECK(hs.rules[0].table == 10001);
  CHECK(hs.rules[0].protocol == 236);
  CHECK(!hs.rules[0].suppress_prefixlen);  // -1 means unset
  CHECK(!hs.rules[0].has_other_selectors);
  CHECK(hs.rules[1].priority == 512);
  CHECK(hs.rules[1].suppress_prefixlen == std::optional<uint8_t>(0));
  CHECK(hs.rules[1].suppress_ifgroup == std::optional<uint32_t>(10000));
  CHECK(hs.rules[1].has_other_selectors);  // FRA_UID_RANGE
}

TEST_CASE("decode: other families are skipped, other sequence numbers ignored, DUMP_INTR noted") {
  Builder b;
  auto* rtm = b.begin<rtmsg>(RTM_NEWROUTE, 1, NLM_F_MULTI | NLM_F_DUMP_INTR);
  rtm->rtm_family = 128;  // RTNL_FAMILY_IPMR
  b.end();
  auto* frh = b.begin<fib_rule_hdr>(RTM_NEWRULE, 99);
  frh->family = AF_INET;
  b.end();
  b.done();
  HostState hs;
  DumpStatus st;
  std::string err;
  REQUIRE(decode_dump(b.data(), b.used, 1, &hs, &st, &err));
  CHECK(hs.routes.empty());
  CHECK(hs.rules.empty());
  CHECK(st.interrupted);
  CHECK(st.done);
}

TEST_CASE("decode: rule selectors that are never ec2-netcfg's") {
  for (uint16_t type : {uint16_t(FRA_SPORT_RANGE), uint16_t(FRA_DPORT_RANGE), uint16_t(FRA_IP_PROTO),
                        uint16_t(FRA_GOTO), uint16_t(FRA_TUN_ID), uint16_t(FRA_FLOW), uint16_t(40)}) {
    Builder b;
    auto* frh = b.begin<fib_rule_hdr>(RTM_NEWRULE);
    frh->family = AF_INET;
    frh->action = FR_ACT_TO_TBL;
    mnl_attr_put_u32(b.cur, FRA_PRIORITY, 1000);
    uint32_t v[2] = {1, 2};
    mnl_attr_put(b.cur, type, sizeof(v), v);
    b.end();
    ObservedRule o;
    std::string err;
    REQUIRE(decode_rule(reinterpret_cast<const nlmsghdr*>(b.data()), &o, &err) == Decoded::Ok);
    CHECK(o.has_other_selectors);
  }
  Builder b;
  auto* frh = b.begin<fib_rule_hdr>(RTM_NEWRULE);
  frh->family = AF_INET;
  frh->flags = FIB_RULE_INVERT;
  mnl_attr_put_strz(b.cur, FRA_IIFNAME, "docker0");
  mnl_attr_put_u32(b.cur, FRA_FWMARK, 0x10);
  b.end();
  ObservedRule o;
  std::string err;
  REQUIRE(decode_rule(reinterpret_cast<const nlmsghdr*>(b.data()), &o, &err) == Decoded::Ok);
  CHECK(o.invert);
  CHECK(o.iifname == "docker0");
  CHECK(o.fwmark == 0x10);
}

TEST_CASE("decode: malformed messages are rejected") {
  std::string err;
  SUBCASE("address attribute of the wrong size") {
    Builder b;
    auto* ifa = b.begin<ifaddrmsg>(RTM_NEWADDR);
    ifa->ifa_family = AF_INET;
    ifa->ifa_prefixlen = 32;
    uint8_t three[3] = {10, 0, 0};
    mnl_attr_put(b.cur, IFA_LOCAL, 3, three);
    b.end();
    ObservedAddress a;
    CHECK(decode_address(reinterpret_cast<const nlmsghdr*>(b.data()), &a, &err) == Decoded::Malformed);
    CHECK(!err.empty());
  }
  SUBCASE("u32 attribute too short") {
    Builder b;
    auto* rtm = b.begin<rtmsg>(RTM_NEWROUTE);
    rtm->rtm_family = AF_INET;
    mnl_attr_put_u16(b.cur, RTA_OIF, 3);
    b.end();
    ObservedRoute r;
    CHECK(decode_route(reinterpret_cast<const nlmsghdr*>(b.data()), &r, &err) == Decoded::Malformed);
  }
  SUBCASE("attribute length beyond the message") {
    Builder b;
    auto* frh = b.begin<fib_rule_hdr>(RTM_NEWRULE);
    frh->family = AF_INET;
    mnl_attr_put_u32(b.cur, FRA_PRIORITY, 7);
    b.end();
    auto* attr = reinterpret_cast<nlattr*>(b.buf.data() + 16 + sizeof(fib_rule_hdr));
    attr->nla_len = 200;
    ObservedRule o;
    CHECK(decode_rule(reinterpret_cast<const nlmsghdr*>(b.data()), &o, &err) == Decoded::Malformed);
  }
  SUBCASE("header shorter than the family header") {
    Builder b;
    nlmsghdr* n = mnl_nlmsg_put_header(b.buf.data());
    n->nlmsg_type = RTM_NEWLINK;
    n->nlmsg_len = 16 + 4;
    b.used = 20;
    HostState hs;
    DumpStatus st;
    CHECK(!decode_dump(b.data(), b.used, 0, &hs, &st, &err));
  }
  SUBCASE("prefix length out of range") {
    Builder b;
    auto* rtm = b.begin<rtmsg>(RTM_NEWROUTE);
    rtm->rtm_family = AF_INET;
    rtm->rtm_dst_len = 33;
    b.end();
    ObservedRoute r;
    CHECK(decode_route(reinterpret_cast<const nlmsghdr*>(b.data()), &r, &err) == Decoded::Malformed);
  }
  SUBCASE("interface name without its NUL") {
    Builder b;
    b.begin<ifinfomsg>(RTM_NEWLINK);
    mnl_attr_put(b.cur, IFLA_IFNAME, 4, "ens6");
    b.end();
    HostLink l;
    CHECK(decode_link(reinterpret_cast<const nlmsghdr*>(b.data()), &l, &err) == Decoded::Malformed);
  }
  SUBCASE("a truncated chunk") {
    Builder b = sample_dump();
    HostState hs;
    DumpStatus st;
    CHECK(!decode_dump(b.data(), b.used - 3, 1, &hs, &st, &err));
  }
}

TEST_CASE("decode: every truncation and byte corruption of a dump is survived") {
  Builder b = sample_dump();
  std::vector<uint8_t> copy(b.buf.begin(), b.buf.begin() + long(b.used));
  for (size_t len = 0; len <= copy.size(); ++len) {
    std::vector<uint8_t> part(copy.begin(), copy.begin() + long(len));
    HostState hs;
    DumpStatus st;
    std::string err;
    decode_dump(part.data(), part.size(), 1, &hs, &st, &err);
  }
  for (size_t i = 0; i < copy.size(); ++i) {
    for (uint8_t v : {uint8_t(0), uint8_t(0xff), uint8_t(copy[i] + 1), uint8_t(3)}) {
      std::vector<uint8_t> bad = copy;
      bad[i] = v;
      HostState hs;
      DumpStatus st;
      std::string err;
      decode_dump(bad.data(), bad.size(), 1, &hs, &st, &err);
    }
  }
  CHECK(true);
}

TEST_CASE("decode: acks with extended messages, dump errors") {
  Builder b;
  auto* e = b.begin<nlmsgerr>(NLMSG_ERROR, 5, NLM_F_CAPPED | NLM_F_ACK_TLVS);
  e->error = -EEXIST;
  e->msg.nlmsg_len = 60;
  e->msg.nlmsg_seq = 5;
  mnl_attr_put_strz(b.cur, NLMSGERR_ATTR_MSG, "File exists for a reason");
  b.end();
  auto* ok = b.begin<nlmsgerr>(NLMSG_ERROR, 6, 0);
  ok->error = 0;
  b.end();
  std::vector<Ack> acks;
  std::string err;
  REQUIRE(decode_acks(b.data(), b.used, &acks, &err));
  REQUIRE(acks.size() == 2);
  CHECK(acks[0].seq == 5);
  CHECK(acks[0].error == EEXIST);
  CHECK(acks[0].message == "File exists for a reason");
  CHECK(acks[1].error == 0);
  CHECK(acks[1].message.empty());

  HostState hs;
  DumpStatus st;
  REQUIRE(decode_dump(b.data(), b.used, 5, &hs, &st, &err));
  CHECK(st.done);
  CHECK(st.error == EEXIST);
  CHECK(st.message == "File exists for a reason");
}

// Chunks as exactly sized heap buffers, so an AddressSanitizer build catches a read
// past the end (the fuzz targets' crashers, tests/fuzz/corpus/fuzz_netlink_dump/crash-*).
TEST_CASE("decode: a message length of 2^31 or more ends the walk instead of leaving the chunk") {
  // A NLMSG_ERROR header whose nlmsg_len is 0xd2000014 in a 21-byte chunk.
  const std::vector<uint8_t> chunk = {0x14, 0, 0, 0xd2, 2, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
  std::vector<Ack> acks;
  std::string err;
  CHECK(!decode_acks(chunk.data(), chunk.size(), &acks, &err));
  CHECK(acks.empty());
  CHECK(err.find("truncated") != std::string::npos);
  HostState hs;
  DumpStatus st;
  err.clear();
  CHECK(!decode_dump(chunk.data(), chunk.size(), 7, &hs, &st, &err));
  CHECK(!st.done);
  CHECK(err.find("truncated") != std::string::npos);
}

TEST_CASE("decode: attributes end at nlmsg_len, not at the padding after the last message") {
  Builder b;
  auto* frh = b.begin<fib_rule_hdr>(RTM_NEWRULE, 1);
  frh->family = AF_INET;
  frh->action = FR_ACT_TO_TBL;
  mnl_attr_put_u8(b.cur, FRA_PROTOCOL, 236);
  b.cur->nlmsg_len = 33;  // the attribute's 5 bytes, without the 3 of padding after them
  std::vector<uint8_t> chunk(b.buf.begin(), b.buf.begin() + 33);
  HostState hs;
  DumpStatus st;
  std::string err;
  REQUIRE(decode_dump(chunk.data(), chunk.size(), 1, &hs, &st, &err));
  REQUIRE(hs.rules.size() == 1);
  CHECK(hs.rules[0].protocol == 236);

  // The same message claiming a u32 there: its last 3 bytes would be the padding,
  // outside both the message and the chunk.
  auto* attr = reinterpret_cast<nlattr*>(chunk.data() + 16 + sizeof(fib_rule_hdr));
  attr->nla_type = FRA_PRIORITY;
  attr->nla_len = 8;
  hs = HostState();
  CHECK(!decode_dump(chunk.data(), chunk.size(), 1, &hs, &st, &err));
  CHECK(hs.rules.empty());
}

TEST_CASE("decode: an error of INT_MIN is not negated") {
  Builder b;
  auto* e = b.begin<nlmsgerr>(NLMSG_ERROR, 5, NLM_F_CAPPED);
  e->error = INT_MIN;
  b.end();
  auto* d = b.begin<int>(NLMSG_DONE, 6);
  *d = INT_MIN;
  b.end();
  std::vector<Ack> acks;
  std::string err;
  REQUIRE(decode_acks(b.data(), b.used, &acks, &err));
  REQUIRE(acks.size() == 1);
  CHECK(acks[0].error > 0);
  HostState hs;
  DumpStatus st;
  REQUIRE(decode_dump(b.data(), b.used, 6, &hs, &st, &err));
  CHECK(st.done);
  CHECK(st.error > 0);
}
