// Rtnl's waits for the kernel are bounded by the run's deadline. "A kernel that never
// answers" is made by swallowing requests before they reach the socket: this file
// interposes mnl_socket_sendto (libmnl is a shared library, so the executable's
// definition wins and forwards to libmnl's unless told to swallow; it also counts the
// sends), and mnl_socket_recvfrom, to report a lost answer (ENOBUFS) once. Dumps read
// the host's links (no privilege needed); changes are sent only from a thread in a
// network namespace of its own (root), or without privilege (the kernel answers EPERM).
#include <libmnl/libmnl.h>

#include "edge/rtnl.h"

#include <dlfcn.h>
#include <doctest/doctest.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <thread>

namespace {

std::atomic<bool> g_swallow{false};
std::atomic<bool> g_lose_answers{false};
std::atomic<unsigned> g_sends{0};

}  // namespace

extern "C" ssize_t mnl_socket_sendto(const struct mnl_socket* nl, const void* buf, size_t len) {
  using Fn = ssize_t (*)(const struct mnl_socket*, const void*, size_t);
  static Fn real = reinterpret_cast<Fn>(dlsym(RTLD_NEXT, "mnl_socket_sendto"));
  ++g_sends;
  if (g_swallow) return ssize_t(len);  // "sent"; the kernel never sees it, never answers
  return real(nl, buf, len);
}

extern "C" ssize_t mnl_socket_recvfrom(const struct mnl_socket* nl, void* buf, size_t len) {
  using Fn = ssize_t (*)(const struct mnl_socket*, void*, size_t);
  static Fn real = reinterpret_cast<Fn>(dlsym(RTLD_NEXT, "mnl_socket_recvfrom"));
  // As the kernel reports a full receive buffer: once, before what it still queued.
  if (g_lose_answers.exchange(false)) {
    errno = ENOBUFS;
    return -1;
  }
  return real(nl, buf, len);
}

namespace ec2nc {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

/// Swallows requests for the life of the object.
struct Swallow {
  Swallow() { g_swallow = true; }
  ~Swallow() { g_swallow = false; }
};

/// Runs `body` on a thread in a new network namespace when that can be had (root);
/// otherwise in the caller's, where changes fail with EPERM. Returns whether it was private.
template <class F>
bool in_private_netns(F body) {
  bool isolated = false;
  std::thread t([&] {
    isolated = ::unshare(CLONE_NEWNET) == 0;  // this thread only
    body(isolated);
  });
  t.join();
  return isolated;
}

Change lo_up() {
  Change c;
  c.op = Change::Op::SetLinkUp;
  c.ifindex = 1;  // lo, in every network namespace
  c.ifname = "lo";
  return c;
}

Change rule_change(Change::Op op, const char* from) {
  Change c;
  c.op = op;
  c.ifname = "lo";
  c.rule.from = *IpPrefix::parse(from);
  c.rule.family = Family::V4;
  c.rule.table = c.rule.priority = 100;
  return c;
}

Change address_on_missing_link() {
  Change c;
  c.op = Change::Op::AddAddress;
  c.ifindex = 9999;  // no such link: ENODEV
  c.ifname = "lo";
  c.address.prefix = *IpPrefix::parse("10.9.9.9/32");
  return c;
}

struct Batch {
  std::vector<SendResult> results;
  std::vector<std::string> errors;
  size_t taken = 0;
};

Batch send_batch(Rtnl& r, const std::vector<const Change*>& cs) {
  Batch b;
  b.taken = r.send_batch(cs, &b.results, &b.errors);
  return b;
}

}  // namespace

TEST_CASE("rtnl: a dump the kernel never answers fails at the deadline") {
  Rtnl r;
  std::string error;
  REQUIRE(r.open(&error));
  auto deadline = Clock::now() + milliseconds(300);
  r.set_deadline(deadline);
  std::vector<HostLink> links;
  {
    Swallow s;
    CHECK_FALSE(r.dump_links(&links, &error));
  }
  CHECK(Clock::now() >= deadline);
  CHECK(Clock::now() < deadline + milliseconds(500));
  CHECK(error == "netlink: dump of links: no answer from the kernel by the run deadline");
  HostState host;
  auto start = Clock::now();
  {
    Swallow s;
    CHECK_FALSE(r.dump_all(&host, &error));  // past the deadline: no wait at all
  }
  CHECK(Clock::now() - start < milliseconds(100));
}

TEST_CASE("rtnl: what the kernel answers is read even past the deadline") {
  Rtnl r;
  std::string error;
  REQUIRE(r.open(&error));
  r.set_deadline(Clock::now() - milliseconds(1));
  std::vector<HostLink> links;
  REQUIRE(r.dump_links(&links, &error));  // the kernel queues its answer within the send
  CHECK(!links.empty());                  // lo at least
  HostState host;
  REQUIRE(r.dump_all(&host, &error));
  CHECK(!host.links.empty());
}

TEST_CASE("rtnl: an ack the kernel never sends fails at the deadline") {
  in_private_netns([](bool isolated) {
    Rtnl r;
    std::string error;
    REQUIRE(r.open(&error));
    auto deadline = Clock::now() + milliseconds(300);
    r.set_deadline(deadline);
    {
      Swallow s;
      CHECK(r.send(lo_up(), &error) == SendResult::Failed);
    }
    CHECK(Clock::now() >= deadline);
    CHECK(Clock::now() < deadline + milliseconds(500));
    CHECK(error == "no answer from the kernel by the run deadline");
    // The kernel's own answer, past the deadline, is still read: the ack of a change
    // (root, in this thread's namespace) or EPERM (no privilege). Privileged but not
    // isolated (a container): nothing is sent to the host's namespace.
    if (!isolated && ::geteuid() == 0) return;
    error.clear();
    SendResult res = r.send(lo_up(), &error);
    if (isolated) {
      CHECK(res == SendResult::Done);
    } else {
      CHECK(res != SendResult::Done);
      CHECK(error.find("no answer") == std::string::npos);
    }
  });
}

TEST_CASE("rtnl: a batch is one send; the kernel's answers say which of its changes failed or held") {
  in_private_netns([](bool isolated) {
    if (!isolated) return;  // needs a namespace of its own
    Rtnl r;
    std::string error;
    REQUIRE(r.open(&error));
    CHECK(r.batch_limit() == 64);  // the default receive buffer, or raised to it (root)
    const Change up = lo_up(), absent = rule_change(Change::Op::DelRule, "192.0.2.1/32"),
                 bad = address_on_missing_link(), add = rule_change(Change::Op::AddRule, "192.0.2.2/32");
    const unsigned sends = g_sends, messages = r.messages();
    Batch b = send_batch(r, {&up, &absent, &bad, &add});
    CHECK(g_sends - sends == 1);
    CHECK(r.messages() - messages == 4);  // messages are counted, not sends
    REQUIRE(b.taken == 4);
    CHECK(b.results == std::vector<SendResult>{SendResult::Done, SendResult::Held, SendResult::Failed, SendResult::Done});
    CHECK(b.errors[2].find("No such device") == 0);
    CHECK(b.errors[3].empty());
    HostState host;
    REQUIRE(r.dump_all(&host, &error));
    CHECK(std::any_of(host.rules.begin(), host.rules.end(), [](const ObservedRule& o) {
      return o.priority == 100 && o.table == 100 && o.from && o.from->str() == "192.0.2.2/32";
    }));

    // A sysctl is not netlink: it ends the batch before it and goes alone.
    Change sc;
    sc.op = Change::Op::SetSysctl;
    sc.sysctl = "net/ec2nc-test/none";
    sc.value = "1";
    b = send_batch(r, {&up, &sc, &up});
    CHECK(b.taken == 1);
    CHECK(b.results == std::vector<SendResult>{SendResult::Done});
    b = send_batch(r, {&sc, &up});
    CHECK(b.taken == 1);
    CHECK(b.results == std::vector<SendResult>{SendResult::Failed});
    CHECK(b.errors[0].find("cannot write /proc/sys/net/ec2nc-test/none") == 0);

    // More than a batch holds: the sender takes its limit, the rest comes next.
    std::vector<const Change*> many(100, &absent);
    b = send_batch(r, many);
    CHECK(b.taken == 64);
    CHECK(std::all_of(b.results.begin(), b.results.end(), [](SendResult x) { return x == SendResult::Held; }));
  });
}

TEST_CASE("rtnl: answers lost to a full receive buffer fail the changes they would have accounted for") {
  in_private_netns([](bool isolated) {
    if (!isolated) return;
    Rtnl r;
    std::string error;
    REQUIRE(r.open(&error));
    const Change up = lo_up(), absent = rule_change(Change::Op::DelRule, "192.0.2.1/32"),
                 bad = address_on_missing_link(), add = rule_change(Change::Op::AddRule, "192.0.2.3/32");
    g_lose_answers = true;
    Batch b = send_batch(r, {&up, &absent, &bad, &add});
    REQUIRE(b.taken == 4);
    // The link change had no answer of its own to read: not Done, but Failed, saying why.
    CHECK(b.results[0] == SendResult::Failed);
    CHECK(b.errors[0].find("netlink receive: No buffer space available") == 0);
    // What the kernel did say still counts.
    CHECK(b.results[1] == SendResult::Held);
    CHECK(b.results[2] == SendResult::Failed);
    CHECK(b.errors[2].find("No such device") == 0);
    CHECK(b.results[3] == SendResult::Done);
    // Nothing of it is left queued to be taken for a later request's answer.
    error.clear();
    CHECK(r.send(bad, &error) == SendResult::Failed);
    CHECK(error.find("No such device") == 0);
    CHECK(r.send(up, &error) == SendResult::Done);
  });
}

TEST_CASE("rtnl: a batch the kernel never answers fails at the deadline, every change saying so") {
  in_private_netns([](bool isolated) {
    if (!isolated) return;
    Rtnl r;
    std::string error;
    REQUIRE(r.open(&error));
    auto deadline = Clock::now() + milliseconds(300);
    r.set_deadline(deadline);
    const Change up = lo_up(), absent = rule_change(Change::Op::DelRule, "192.0.2.1/32");
    Batch b;
    {
      Swallow s;
      b = send_batch(r, {&up, &absent, &up});
    }
    CHECK(Clock::now() >= deadline);
    CHECK(Clock::now() < deadline + milliseconds(500));
    REQUIRE(b.taken == 3);
    for (size_t i = 0; i < 3; ++i) {
      CHECK(b.results[i] == SendResult::Failed);
      CHECK(b.errors[i] == "no answer from the kernel by the run deadline");
    }
  });
}

}  // namespace ec2nc
