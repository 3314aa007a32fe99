// Rtnl's waits for the kernel are bounded by the run's deadline. "A kernel that never
// answers" is made by swallowing requests before they reach the socket: this file
// interposes mnl_socket_sendto (libmnl is a shared library, so the executable's
// definition wins and forwards to libmnl's unless told to swallow). Dumps read the
// host's links (no privilege needed); changes are sent only from a thread in a network
// namespace of its own (root), or without privilege (the kernel answers EPERM).
#include <libmnl/libmnl.h>

#include "edge/rtnl.h"

#include <dlfcn.h>
#include <doctest/doctest.h>
#include <sched.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>

namespace {

std::atomic<bool> g_swallow{false};

}  // namespace

extern "C" ssize_t mnl_socket_sendto(const struct mnl_socket* nl, const void* buf, size_t len) {
  using Fn = ssize_t (*)(const struct mnl_socket*, const void*, size_t);
  static Fn real = reinterpret_cast<Fn>(dlsym(RTLD_NEXT, "mnl_socket_sendto"));
  if (g_swallow) return ssize_t(len);  // "sent"; the kernel never sees it, never answers
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

}  // namespace ec2nc
