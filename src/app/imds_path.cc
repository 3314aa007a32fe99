// The metadata source (a --metadata-file capture, or IMDS) and the way to IMDS: which
// endpoint (IPv4's, or IPv6's on an IPv6-only instance), the wait for a route to it at
// boot, and the host route that keeps IMDS requests on the ENI that answers them.
#include "app/imds_path.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdint>
#include <cstring>
#include <map>
#include <thread>

#include "edge/files.h"
#include "edge/host_probe.h"
#include "edge/imds_client.h"

namespace ec2nc {

namespace {

/// The IP literal of an endpoint URL ("http://169.254.169.254", "http://[fd00:ec2::254]:80/"),
/// or nullopt for a host name.
std::optional<IpAddr> endpoint_ip(const std::string& url) {
  std::string rest = url;
  auto scheme = rest.find("://");
  if (scheme != std::string::npos) rest = rest.substr(scheme + 3);
  if (!rest.empty() && rest[0] == '[') {
    auto close = rest.find(']');
    if (close == std::string::npos) return std::nullopt;
    return IpAddr::parse(rest.substr(1, close - 1));
  }
  auto end = rest.find_first_of(":/");
  return IpAddr::parse(rest.substr(0, end));
}

bool imds_answers(Context& ctx, const std::string& url);

/// Whether the kernel has a route to `ip` now (no wait; false when it cannot be asked).
bool has_route(Context& ctx, const IpAddr& ip) {
  if (open_rtnl(ctx)) return false;
  RouteAnswer a;
  std::string error;
  return ctx.rtnl.route_query(ip, std::nullopt, 0, &a, &error) && a.error == 0;
}

/// IMDS is read from `endpoint` from now on.
void use_imds_endpoint(Context& ctx, const std::string& endpoint) {
  ImdsOptions io;
  io.endpoint = endpoint;
  io.connect_timeout_ms = ctx.cfg.imds_connect_timeout_ms;
  io.request_timeout_ms = ctx.cfg.imds_request_timeout_ms;
  io.attempts = ctx.cfg.imds_attempts;
  io.max_connections = ctx.cfg.imds_connections;
  io.deadline = ctx.deadline;
  ctx.log.debug("IMDS endpoint " + io.endpoint);
  ctx.imds_endpoint = endpoint;
  ctx.source = std::make_unique<ImdsClient>(io);
}

}  // namespace

int open_source(Context& ctx) {
  if (!ctx.opts.metadata_file.empty()) {
    std::string text, error;
    if (!read_file(ctx.opts.metadata_file, &text, &error)) {
      ctx.log.error("--metadata-file " + error);
      return kExitUsage;
    }
    auto cap = CaptureSource::from_json(text, &error);
    if (!cap) {
      ctx.log.error(ctx.opts.metadata_file + ": " + error);
      return kExitUsage;
    }
    ctx.source = std::move(cap);
    return kExitOk;
  }
  std::string endpoint, error;
  if (!resolve_imds_endpoint(ctx.opts.imds_endpoint, &endpoint, &error, &ctx.imds_default)) {
    ctx.log.error(error);
    return kExitUsage;
  }
  use_imds_endpoint(ctx, endpoint);
  // Nothing chose the endpoint: IPv4's, unless it has no route and IPv6's answers (an
  // IPv6-only subnet has no IPv4 at all). apply and diff decide it while they wait for a
  // route to IMDS (prepare_imds_path): at boot a dual-stack instance's router advertisement
  // may come before its DHCPv4 lease, and proves nothing about the IPv6 endpoint.
  const bool waits = ctx.opts.command == "apply" || ctx.opts.command == "diff";
  if (ctx.imds_default && !waits && !has_route(ctx, *endpoint_ip(kImdsDefaultV4)) &&
      has_route(ctx, *endpoint_ip(kImdsDefaultV6)) && imds_answers(ctx, kImdsDefaultV6))
    use_imds_endpoint(ctx, kImdsDefaultV6);
  return kExitOk;
}

namespace {

/// Waits for a route to `ip` (the kernel's answer in *answer; *waited when there was
/// none at first); false when there was none by the deadline.
bool wait_for_route(Context& ctx, const IpAddr& ip, RouteAnswer* answer, bool* waited);

/// The ENI links with a default route in main of `f` at the lowest metric among them,
/// with that route's gateway; the kernel's own pick first.
struct Candidate {
  int ifindex;
  std::string name;
  std::optional<IpAddr> gateway;
};
std::vector<Candidate> default_candidates(const HostState& h, Family f, int kernel_pick) {
  std::map<int, const HostLink*> enis;
  for (auto& l : h.links)
    if (l.can_be_eni() && l.up) enis[l.ifindex] = &l;
  uint32_t best = UINT32_MAX;
  std::vector<std::pair<uint32_t, Candidate>> all;
  for (auto& r : h.routes) {
    if (r.table != 254 || r.dst.len != 0 || r.dst.family() != f) continue;
    auto add = [&](int oif, const std::optional<IpAddr>& gw) {
      if (!enis.count(oif)) return;
      all.push_back({r.metric, {oif, enis[oif]->name, gw}});
      best = std::min(best, r.metric);
    };
    if (!r.multipath) add(r.oif, r.gateway);
    for (auto& nh : r.nexthops) add(nh.oif, nh.gateway);
  }
  std::vector<Candidate> out;
  for (auto& mc : all) {
    if (mc.first != best) continue;
    const Candidate& c = mc.second;  // (a structured binding: C++17 lambdas may not capture it)
    if (std::any_of(out.begin(), out.end(), [&](const Candidate& o) { return o.ifindex == c.ifindex; })) continue;
    out.push_back(c);
  }
  std::stable_sort(out.begin(), out.end(), [&](const Candidate& a, const Candidate& b) {
    return (a.ifindex == kernel_pick) > (b.ifindex == kernel_pick);
  });
  return out;
}

/// One quick IMDS question (a token and meta-data/mac, one attempt, short bounds).
bool imds_answers(Context& ctx, const std::string& url) {
  ImdsOptions io;
  io.endpoint = url;
  io.connect_timeout_ms = std::min(ctx.cfg.imds_connect_timeout_ms, 500u);
  io.request_timeout_ms = std::min(ctx.cfg.imds_request_timeout_ms, 1000u);
  io.attempts = 1;
  io.deadline = std::min(ctx.deadline, Clock::now() + std::chrono::milliseconds(1500));
  ImdsClient probe(io);
  return probe.get("meta-data/mac").status == FetchResult::Status::Ok;
}

}  // namespace

void prepare_imds_path(Context& ctx, const std::vector<HostLink>& run_links, bool may_change) {
  if (!ctx.opts.metadata_file.empty() || ctx.offline()) return;
  std::string url = ctx.imds_endpoint, error;
  auto ip = endpoint_ip(url);
  RouteAnswer pick;
  bool waited = false;
  if (!ip || open_rtnl(ctx) || !wait_for_route(ctx, *ip, &pick, &waited) || pick.error) return;
  url = ctx.imds_endpoint;  // the wait may have moved to the IPv6 endpoint
  ip = endpoint_ip(url);
  // The links as the run began, unless the wait let them change (an ENI coming up).
  std::vector<HostLink> fresh;
  if (waited && ctx.rtnl.dump_links(&fresh, &error)) annotate_links(fresh);
  const std::vector<HostLink>& links = waited && !fresh.empty() ? fresh : run_links;
  // IMDS reached through something that is not an ENI (a test's loopback, a proxy
  // host): there is no ENI to choose, and no dump needed to say so.
  const bool via_eni = std::any_of(links.begin(), links.end(),
                                   [&](const HostLink& l) { return l.ifindex == pick.oif && l.can_be_eni(); });
  // A run that only reads (show, diff, --dry-run) holds no lock: it neither pins a route
  // nor takes away one a running apply pinned; it asks IMDS the way the kernel routes.
  if (!via_eni || !may_change) return;
  HostState h;
  h.links = links;
  if (!ctx.rtnl.dump_routes(ip->family, 254, &h.routes, &error)) return;
  // A route of ours left by a run that was killed: take it away first.
  for (auto& r : h.routes) {
    if (r.table == 254 && r.protocol == kOwnProto && r.dst == IpPrefix::host(*ip)) {
      Change del;
      del.op = Change::Op::DelRoute;
      del.ifindex = r.oif;
      del.route.table = 254;
      del.route.dst = r.dst;
      del.route.gateway = r.gateway;
      ctx.rtnl.send(del, &error);
    }
  }
  auto cands = default_candidates(h, ip->family, pick.oif);
  const int eni_links = int(std::count_if(h.links.begin(), h.links.end(),
                                          [](const HostLink& l) { return l.can_be_eni() && l.up; }));
  // The first run of a boot (no record yet) with several ENIs: another ENI's DHCP default
  // may appear at any moment, at the same metric, and take the IMDS requests with it.
  struct stat st;
  const bool first_run = ::stat(ctx.path(std::string(kStateDir) + "/state.json").c_str(), &st) != 0;
  if (cands.size() < 2 && !(first_run && eni_links >= 2)) return;  // nothing to choose
  auto pin = [&](int ifindex, const std::string& name, const std::optional<IpAddr>& gw) {
    Change add;
    add.op = Change::Op::AddRoute;
    add.ifindex = ifindex;
    add.ifname = name;
    add.route.table = 254;
    add.route.dst = IpPrefix::host(*ip);
    add.route.gateway = gw;
    add.route.onlink = gw && gw->is_v4();
    if (ctx.rtnl.send(add, &error) == SendResult::Failed) return std::optional<Change>{};
    return std::optional<Change>{add};
  };
  if (imds_answers(ctx, url)) {
    // The kernel's choice works: keep IMDS on that ENI for the rest of the run.
    std::string name;
    for (auto& l : h.links)
      if (l.ifindex == pick.oif) name = l.name;
    if (pick.gateway && !name.empty()) ctx.imds_route = pin(pick.oif, name, pick.gateway);
    return;
  }
  for (auto& c : cands) {
    if (c.ifindex == pick.oif || !c.gateway) continue;
    auto added = pin(c.ifindex, c.name, c.gateway);
    if (!added) continue;
    if (imds_answers(ctx, url)) {
      ctx.log.info("IMDS answers through " + c.name + ", not through the ENI the kernel picked among equal "
                   "default routes: using " + added->describe() + " for this run");
      ctx.imds_route = std::move(added);
      return;
    }
    ctx.rtnl.send(inverse(*added), &error);
  }
}

void restore_imds_path(Context& ctx) {
  if (!ctx.imds_route) return;
  std::string error;
  if (ctx.rtnl.send(inverse(*ctx.imds_route), &error) == SendResult::Failed)
    ctx.log.warn("netlink: " + inverse(*ctx.imds_route).describe() + ": " + error);
  ctx.imds_route.reset();
}

namespace {

/// Why the kernel has no route to IMDS (`ip`; `error` the errno of its answer), as far as
/// the host shows, for the wait's messages: at boot the primary ENI's DHCP lease (a router
/// advertisement for the IPv6 endpoint) brings its address and the route; an interface
/// with an address and no route, or a route that rejects the address, is not that.
std::string no_route_reason(Context& ctx, const IpAddr& ip, int error) {
  const bool v4 = ip.is_v4();
  const std::string fam = v4 ? "IPv4" : "IPv6";
  const std::string brings = v4 ? "the primary ENI's DHCP lease brings its address and the route"
                                : "the primary ENI's router advertisement brings the route";
  if (error != ENETUNREACH)
    return "the kernel's route to " + ip.str() + " rejects it (" + std::strerror(error) +
           "): an unreachable, prohibit or blackhole route that someone added, which no DHCP lease replaces";
  HostState h;
  std::string err;
  const std::set<uint32_t> no_tables;  // links and addresses are all it needs
  if (!ctx.rtnl.dump_all(&h, &err, &no_tables)) return "at boot " + brings;
  std::vector<std::string> with_addr, without;
  for (auto& l : h.links) {
    if (!l.can_be_eni()) continue;
    std::string addrs;
    for (auto& a : h.addresses)
      if (a.ifindex == l.ifindex && a.prefix.family() == ip.family && !a.prefix.addr.never_assigned())
        addrs += (addrs.empty() ? "" : ", ") + a.prefix.str();
    if (!addrs.empty()) with_addr.push_back(l.name + " " + addrs);
    else without.push_back(l.name + (l.up ? "" : " (down)"));
  }
  auto join = [](const std::vector<std::string>& v) {
    std::string o;
    for (auto& x : v) o += (o.empty() ? "" : "; ") + x;
    return o;
  };
  // Said as it is: an address without a route for long is unusual at boot, but only a
  // message draws that conclusion, never the wait (a lease's routes follow its address).
  if (!with_addr.empty())
    return "the host has " + fam + " addresses (" + join(with_addr) + ") but no route that covers " + ip.str() +
           " (no default route): on an instance " + brings + "; off EC2 none comes";
  if (without.empty())
    return "no interface here can be an ENI (an Ethernet device with a unicast MAC): on an instance " + brings +
           "; off EC2 none comes";
  return "no interface that can be an ENI has an " + fam + " address yet (" + join(without) + "): at boot " + brings;
}

bool wait_for_route(Context& ctx, const IpAddr& ip, RouteAnswer* answer, bool* waited) {
  std::string error;
  bool logged = false;
  auto t0 = Clock::now();
  auto last_v6_probe = t0 - std::chrono::seconds(1);
  auto last_progress = t0;
  unsigned v6_asked = 0;
  bool v6_routed = false;
  while (true) {
    *answer = RouteAnswer{};
    if (!ctx.rtnl.route_query(ip, std::nullopt, 0, answer, &error)) {
      ctx.log.debug("cannot ask the kernel for a route to " + ip.str() + ": " + error);
      return false;
    }
    if (answer->error == 0) break;
    // The default endpoint: an IPv6-only instance never gets a route to 169.254.169.254.
    // After 2 s without one (DHCPv4 normally takes a fraction of that), and at most once a
    // second, the IPv6 endpoint is asked (it answers only where the instance enabled it; a
    // dual-stack instance's router advertisement alone proves nothing).
    if (ctx.imds_default && ip.is_v4() && Clock::now() - t0 >= std::chrono::seconds(2) &&
        Clock::now() - last_v6_probe >= std::chrono::seconds(1)) {
      last_v6_probe = Clock::now();
      const IpAddr v6 = *endpoint_ip(kImdsDefaultV6);
      RouteAnswer a6;
      if (ctx.rtnl.route_query(v6, std::nullopt, 0, &a6, &error) && a6.error == 0) {
        v6_routed = true;
        ++v6_asked;
        if (imds_answers(ctx, kImdsDefaultV6)) {
          ctx.log.info("no route to IMDS over IPv4, and " + std::string(kImdsDefaultV6) + " answers: using it");
          use_imds_endpoint(ctx, kImdsDefaultV6);
          *answer = a6;
          return true;
        }
      }
    }
    const long left = long(std::chrono::duration_cast<std::chrono::seconds>(ctx.deadline - Clock::now()).count());
    if (Clock::now() + std::chrono::milliseconds(20) >= ctx.deadline) {
      const long waited_s = long(std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - t0).count());
      std::string v6_note;
      if (ctx.imds_default && ip.is_v4())
        v6_note = v6_asked ? "; " + std::string(kImdsDefaultV6) + " did not answer either (asked " +
                                 std::to_string(v6_asked) + " times)"
                           : !v6_routed && waited_s >= 2 ? "; nor is there a route to " + std::string(kImdsDefaultV6)
                                                         : "";
      ctx.imds_no_route = "the kernel had no route to " + ip.str() + " for the whole wait (" +
                          std::to_string(waited_s) + " s): " + no_route_reason(ctx, ip, answer->error) + v6_note;
      return false;  // read_metadata_retrying() says so, as the run's error
    }
    // What is awaited and why, at first and every 10 s (the reason may change: an
    // address comes, a link goes up).
    if (!logged || Clock::now() - last_progress >= std::chrono::seconds(10)) {
      ctx.log.info(std::string(logged ? "still waiting" : "waiting") + " for a route to IMDS (" + ip.str() + "), " +
                   std::to_string(left) + " s left: " + no_route_reason(ctx, ip, answer->error));
      logged = true;
      last_progress = Clock::now();
    }
    *waited = true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (logged) {
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count();
    ctx.log.info("route to IMDS there after " + std::to_string(ms) + " ms");
  }
  return true;
}

}  // namespace

}  // namespace ec2nc
