// Multipath routes (the kernel merges equal-metric RA defaults of several ENIs into one)
// and `ip route get` answers, decoded from bytes built here.
#include <doctest/doctest.h>
#include <libmnl/libmnl.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>

#include <cstring>
#include <vector>

#include "core/netlink_codec.h"
#include "core/reconcile.h"

using namespace ec2nc;

namespace {

/// RTM_NEWROUTE ::/0 proto ra in main with one next hop per (ifindex, link-local router).
std::vector<uint8_t> multipath_default(const std::vector<std::pair<int, const char*>>& hops, bool truncate = false) {
  std::vector<uint8_t> buf(1024, 0);
  nlmsghdr* nlh = mnl_nlmsg_put_header(buf.data());
  nlh->nlmsg_type = RTM_NEWROUTE;
  nlh->nlmsg_seq = 7;
  auto* rtm = static_cast<rtmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(rtmsg)));
  rtm->rtm_family = AF_INET6;
  rtm->rtm_table = RT_TABLE_MAIN;
  rtm->rtm_protocol = RTPROT_RA;
  rtm->rtm_type = RTN_UNICAST;
  mnl_attr_put_u32(nlh, RTA_TABLE, RT_TABLE_MAIN);
  mnl_attr_put_u32(nlh, RTA_PRIORITY, 1024);
  nlattr* mp = mnl_attr_nest_start(nlh, RTA_MULTIPATH);
  for (auto& [ifindex, gw] : hops) {
    auto* nh = static_cast<rtnexthop*>(mnl_nlmsg_get_payload_tail(nlh));
    nlh->nlmsg_len += MNL_ALIGN(sizeof(rtnexthop));
    std::memset(nh, 0, sizeof(*nh));
    nh->rtnh_ifindex = ifindex;
    auto a = IpAddr::parse(gw);
    mnl_attr_put(nlh, RTA_GATEWAY, 16, a->bytes.data());
    nh->rtnh_len = uint16_t(static_cast<char*>(mnl_nlmsg_get_payload_tail(nlh)) - reinterpret_cast<char*>(nh));
    if (truncate) nh->rtnh_len = 200;
  }
  mnl_attr_nest_end(nlh, mp);
  buf.resize(nlh->nlmsg_len);
  return buf;
}

}  // namespace

TEST_CASE("a multipath RA default is decoded next hop by next hop") {
  auto buf = multipath_default({{2, "fe80::5:1"}, {3, "fe80::6:1"}});
  ObservedRoute r;
  std::string err;
  REQUIRE(decode_route(reinterpret_cast<const nlmsghdr*>(buf.data()), &r, &err) == Decoded::Ok);
  CHECK(r.multipath);
  REQUIRE(r.nexthops.size() == 2);
  CHECK(r.nexthops[0].oif == 2);
  CHECK(r.nexthops[0].gateway == IpAddr::parse("fe80::5:1"));
  CHECK(r.nexthops[1].oif == 3);
  CHECK(r.nexthops[1].gateway == IpAddr::parse("fe80::6:1"));
  CHECK(r.metric == 1024);
}

TEST_CASE("a truncated next hop is malformed, not a crash") {
  auto buf = multipath_default({{2, "fe80::5:1"}}, true);
  ObservedRoute r;
  std::string err;
  CHECK(decode_route(reinterpret_cast<const nlmsghdr*>(buf.data()), &r, &err) == Decoded::Malformed);
}

TEST_CASE("each ENI's table gets its IPv6 default from a merged multipath RA route (issue 15, item 3)") {
  auto buf = multipath_default({{2, "fe80::5:1"}, {3, "fe80::6:1"}});
  HostState h;
  ObservedRoute r;
  std::string err;
  REQUIRE(decode_route(reinterpret_cast<const nlmsghdr*>(buf.data()), &r, &err) == Decoded::Ok);
  h.routes.push_back(r);
  HostLink l;
  l.ifindex = 3;
  l.name = "ens6";
  l.up = true;
  l.group = 10000;
  h.links.push_back(l);
  Plan plan;
  InterfacePlan ip;
  ip.name = "ens6";
  ip.ifindex = 3;
  ip.state = EniMetadata::State::Complete;
  ip.table = 10001;
  RouteSpec def;
  def.table = 10001;
  def.dst = *IpPrefix::parse("::/0");
  def.gateway_from_ra = true;
  ip.routes = {def};
  plan.interfaces = {ip};
  auto cs = reconcile(plan, h, {});
  REQUIRE(cs.size() == 1);
  CHECK(cs[0].describe() == "ens6: add route default via fe80::6:1 table 10001");
}

TEST_CASE("route get: a route, or the kernel's error") {
  auto req = encode_route_query(*IpAddr::parse("169.254.169.254"), std::nullopt, 0, 9);
  auto* nlh = reinterpret_cast<const nlmsghdr*>(req.data());
  CHECK(nlh->nlmsg_type == RTM_GETROUTE);
  CHECK(nlh->nlmsg_seq == 9);
  // The answer: an error (ENETUNREACH).
  std::vector<uint8_t> buf(256, 0);
  nlmsghdr* e = mnl_nlmsg_put_header(buf.data());
  e->nlmsg_type = NLMSG_ERROR;
  e->nlmsg_seq = 9;
  auto* err = static_cast<nlmsgerr*>(mnl_nlmsg_put_extra_header(e, sizeof(nlmsgerr)));
  err->error = -ENETUNREACH;
  bool found = false;
  RouteAnswer ans;
  std::string error;
  REQUIRE(decode_route_answer(buf.data(), e->nlmsg_len, 9, &found, &ans, &error));
  CHECK(found);
  CHECK(ans.error == ENETUNREACH);
  // Another sequence number is not the answer.
  REQUIRE(decode_route_answer(buf.data(), e->nlmsg_len, 10, &found, &ans, &error));
  CHECK_FALSE(found);
  // A unicast route is.
  std::vector<uint8_t> ok(256, 0);
  nlmsghdr* r = mnl_nlmsg_put_header(ok.data());
  r->nlmsg_type = RTM_NEWROUTE;
  r->nlmsg_seq = 9;
  auto* rtm = static_cast<rtmsg*>(mnl_nlmsg_put_extra_header(r, sizeof(rtmsg)));
  rtm->rtm_family = AF_INET;
  rtm->rtm_type = RTN_UNICAST;
  REQUIRE(decode_route_answer(ok.data(), r->nlmsg_len, 9, &found, &ans, &error));
  CHECK(found);
  CHECK(ans.error == 0);
  rtm->rtm_type = RTN_UNREACHABLE;
  REQUIRE(decode_route_answer(ok.data(), r->nlmsg_len, 9, &found, &ans, &error));
  CHECK(ans.error == ENETUNREACH);
}
