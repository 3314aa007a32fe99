// libmnl first: rtnl.h names `struct mnl_socket`, which must be the global one.
#include <libmnl/libmnl.h>

#include "edge/rtnl.h"

#include <linux/netlink.h>
#include <fcntl.h>
#include <linux/rtnetlink.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <memory>

#include "core/netlink_codec.h"
#include "edge/files.h"

namespace ec2nc {

namespace {

// Big enough for any message the kernel sends in a dump (MNL_SOCKET_DUMP_SIZE is 32 KiB).
constexpr size_t kRecvBuf = 64 * 1024;
// A dump the kernel keeps interrupting (tables changing under it) is retried this often.
constexpr int kDumpAttempts = 5;

// NETLINK_GET_STRICT_CHK (linux/netlink.h since 4.20): dump requests are checked and
// their filters (a route dump's table) applied by the kernel.
#ifdef NETLINK_GET_STRICT_CHK
constexpr int kNetlinkGetStrictChk = NETLINK_GET_STRICT_CHK;
#else
constexpr int kNetlinkGetStrictChk = 12;
#endif

// Changes sent together. The kernel answers a batch within its send, each failed message
// with an error of its own and the last one with its ack, each answer an skb charged to
// our receive buffer at its truesize (832 bytes measured on 6.x for an error with its
// extended ack message; kAnswerCharge leaves room). A full buffer drops answers (ENOBUFS),
// so a batch holds no more than the buffer takes if every message fails: 64 answers at
// kAnswerCharge, 128 KiB, fit in the default 208 KiB, and open() raises a smaller buffer
// or lowers the limit. 64 cuts a first apply's 1862 round trips to 30; more would save
// little. The request itself is at most 64 x kMaxRequestSize = 16 KiB, far below the
// send buffer.
constexpr size_t kBatchMessages = 64;
constexpr int kAnswerCharge = 2048;
static_assert(kBatchMessages * kMaxRequestSize <= 32 * 1024, "a batch's request stays small");

using Clock = std::chrono::steady_clock;

std::string errno_text(int e) { return std::strerror(e); }

const char kNoAnswer[] = "no answer from the kernel by the run deadline";

/// Receives one chunk, waiting for it at most until `deadline` (time_point::max(): no
/// bound). A chunk already queued is returned even past the deadline. -1 with errno
/// (ETIMEDOUT: nothing came in time).
ssize_t recv_until(mnl_socket* sock, void* buf, size_t len, Clock::time_point deadline) {
  const int fd = mnl_socket_get_fd(sock);
  for (;;) {
    int timeout_ms = -1;
    if (deadline != Clock::time_point::max()) {
      auto now = Clock::now();
      // Rounded up, so poll() does not give up just before the deadline.
      long long left =
          deadline > now ? std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now).count() + 1 : 0;
      timeout_ms = int(std::min<long long>(left, INT_MAX));
    }
    pollfd p{fd, POLLIN, 0};
    int n = ::poll(&p, 1, timeout_ms);
    if (n < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    if (n == 0) {
      errno = ETIMEDOUT;
      return -1;
    }
    // Readable, or an error (ENOBUFS...) that the receive reports.
    ssize_t got = mnl_socket_recvfrom(sock, buf, len);
    if (got < 0 && errno == EINTR) continue;
    return got;
  }
}

bool add_op(Change::Op op) {
  return op == Change::Op::AddAddress || op == Change::Op::AddRoute || op == Change::Op::AddRule;
}
bool del_op(Change::Op op) {
  return op == Change::Op::DelAddress || op == Change::Op::DelRoute || op == Change::Op::DelRule;
}

// Errors that mean the change already holds.
bool benign(Change::Op op, int err) {
  if (add_op(op)) return err == EEXIST;
  if (del_op(op)) return err == ENOENT || err == ESRCH || err == EADDRNOTAVAIL;
  return false;
}

bool write_sysctl(const std::string& path, const std::string& value, std::string* error) {
  const std::string full = "/proc/sys/" + path;
  const std::string line = value + "\n";
  // The flags std::ofstream opened with (fopen's "w"): a failure reports the errno it did.
  const int fd = ::open(full.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  int e = fd < 0 ? errno : 0;
  for (size_t done = 0; !e && done < line.size();) {
    ssize_t n = ::write(fd, line.data() + done, line.size() - done);
    if (n > 0) done += size_t(n);
    else if (n == 0) e = EIO;  // no progress: a sysctl that takes no more
    else if (errno != EINTR) e = errno;
  }
  if (fd >= 0 && ::close(fd) != 0 && !e) e = errno;
  if (e) {
    *error = "cannot write " + full + ": " + errno_text(e);
    return false;
  }
  return true;
}

}  // namespace

Rtnl::Rtnl() = default;

Rtnl::~Rtnl() {
  if (sock_) mnl_socket_close(sock_);
}

bool Rtnl::open(std::string* error) {
  if (sock_) return true;
  sock_ = mnl_socket_open(NETLINK_ROUTE);
  if (!sock_) {
    *error = "netlink: cannot open socket: " + errno_text(errno);
    return false;
  }
  int one = 1;
  // Capped acks keep replies small; extended acks carry the kernel's reason.
  mnl_socket_setsockopt(sock_, NETLINK_CAP_ACK, &one, sizeof(one));
  mnl_socket_setsockopt(sock_, NETLINK_EXT_ACK, &one, sizeof(one));
  if (mnl_socket_bind(sock_, 0, MNL_SOCKET_AUTOPID) < 0) {
    *error = "netlink: cannot bind socket: " + errno_text(errno);
    mnl_socket_close(sock_);
    sock_ = nullptr;
    return false;
  }
  portid_ = mnl_socket_get_portid(sock_);
  seq_ = unsigned(time(nullptr));
  // The receive buffer must hold a full batch's answers (see kBatchMessages). The kernel
  // doubles what is set and reports the doubled figure. SO_RCVBUFFORCE needs
  // CAP_NET_ADMIN (which a run that changes the kernel has); SO_RCVBUF is capped at
  // net.core.rmem_max; whatever is granted bounds the batch.
  const int fd = mnl_socket_get_fd(sock_);
  const int want = int(kBatchMessages) * kAnswerCharge;
  int have = 0;
  socklen_t len = sizeof(have);
  if (getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &have, &len) < 0) have = 0;
  if (have < want) {
    const int half = want / 2;
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &half, sizeof(half)) < 0)
      setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &half, sizeof(half));
    len = sizeof(have);
    if (getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &have, &len) < 0) have = 0;
  }
  batch_limit_ = std::clamp<size_t>(size_t(std::max(have, 0) / kAnswerCharge), 1, kBatchMessages);
  return true;
}

// One dump: request, then replies until NLMSG_DONE; redone when interrupted. A route
// dump with `table` asks for that table only (the socket must have strict checking on).
static bool run_dump(mnl_socket* sock, unsigned* seq, unsigned* messages, uint16_t type, uint8_t family,
                     Clock::time_point deadline, HostState* out, std::string* error, uint32_t table = 0) {
  const char* what = type == RTM_GETLINK ? "links" : type == RTM_GETADDR ? "addresses"
                     : type == RTM_GETROUTE ? "routes" : "rules";
  // Not zeroed: the kernel fills what recv returns, and a run makes dozens of dumps.
  std::unique_ptr<uint8_t[]> buf(new uint8_t[kRecvBuf]);
  for (int attempt = 0; attempt < kDumpAttempts; ++attempt) {
    HostState part;
    const uint32_t s = ++*seq;
    NlMessage req = encode_dump(type, family, s, table);
    if (mnl_socket_sendto(sock, req.data(), req.size()) < 0) {
      *error = std::string("netlink: dump of ") + what + ": " + errno_text(errno);
      return false;
    }
    ++*messages;
    DumpStatus st;
    while (!st.done) {
      ssize_t n = recv_until(sock, buf.get(), kRecvBuf, deadline);
      if (n < 0) {
        *error = std::string("netlink: dump of ") + what + ": " + (errno == ETIMEDOUT ? kNoAnswer : errno_text(errno));
        return false;
      }
      std::string derr;
      if (!decode_dump(buf.get(), size_t(n), s, &part, &st, &derr)) {
        *error = std::string("netlink: dump of ") + what + ": " + derr;
        return false;
      }
    }
    // A table that does not exist (no route or rule ever named it): the kernel says ENOENT.
    if (table != 0 && st.error == ENOENT) return true;
    if (st.error != 0 && st.error != EINTR) {
      *error = std::string("netlink: dump of ") + what + ": " + errno_text(st.error) +
               (st.message.empty() ? "" : " (" + st.message + ")");
      return false;
    }
    if (st.interrupted || st.error == EINTR) continue;
    for (auto& l : part.links) out->links.push_back(std::move(l));
    for (auto& a : part.addresses) out->addresses.push_back(a);
    for (auto& r : part.routes) out->routes.push_back(r);
    for (auto& r : part.rules) out->rules.push_back(std::move(r));
    return true;
  }
  *error = std::string("netlink: dump of ") + what + " kept being interrupted by concurrent changes";
  return false;
}

bool Rtnl::dump_links(std::vector<HostLink>* out, std::string* error) {
  if (!open(error)) return false;
  HostState st;
  if (!run_dump(sock_, &seq_, &messages_, RTM_GETLINK, AF_UNSPEC, deadline_, &st, error)) return false;
  *out = std::move(st.links);
  return true;
}

bool Rtnl::dump_routes(Family family, uint32_t table, std::vector<ObservedRoute>* out, std::string* error) {
  if (!open(error)) return false;
  HostState st;
  if (!dump_routes_of({family == Family::V4 ? uint8_t(AF_INET) : uint8_t(AF_INET6)}, {table}, &st, error))
    return false;
  *out = std::move(st.routes);
  return true;
}

bool Rtnl::strict_check(bool on) {
  int v = on ? 1 : 0;
  return setsockopt(mnl_socket_get_fd(sock_), SOL_NETLINK, kNetlinkGetStrictChk, &v, sizeof(v)) == 0;
}

bool Rtnl::dump_routes_of(const std::vector<uint8_t>& families, const std::set<uint32_t>& tables, HostState* st,
                          std::string* error) {
  // The kernel filters a dump by table only with strict checking (Linux 4.20 and later),
  // which is switched on for these dumps alone (the others' requests need not pass it).
  bool ok = true;
  if (strict_check(true)) {
    for (uint8_t af : families)
      for (uint32_t t : tables)
        if (ok) ok = run_dump(sock_, &seq_, &messages_, RTM_GETROUTE, af, deadline_, st, error, t);
    strict_check(false);
  } else {
    for (uint8_t af : families)
      if (ok) ok = run_dump(sock_, &seq_, &messages_, RTM_GETROUTE, af, deadline_, st, error);
  }
  if (!ok) return false;
  // What a kernel without the filter sent beyond the tables asked for.
  st->routes.erase(std::remove_if(st->routes.begin(), st->routes.end(),
                                  [&](const ObservedRoute& r) { return !tables.count(r.table); }),
                   st->routes.end());
  return true;
}

bool Rtnl::dump_all(HostState* out, std::string* error, const std::set<uint32_t>* tables) {
  if (!open(error)) return false;
  HostState st;
  auto dump = [&](uint16_t type, uint8_t family) {
    return run_dump(sock_, &seq_, &messages_, type, family, deadline_, &st, error);
  };
  bool ok = dump(RTM_GETLINK, AF_UNSPEC) && dump(RTM_GETADDR, AF_UNSPEC);
  if (ok) ok = tables ? dump_routes_of({AF_INET, AF_INET6}, *tables, &st, error)
                      : dump(RTM_GETROUTE, AF_INET) && dump(RTM_GETROUTE, AF_INET6);
  if (!ok || !dump(RTM_GETRULE, AF_INET) || !dump(RTM_GETRULE, AF_INET6)) return false;
  // Tests imitate a kernel before 5.18, which keeps no IFA_PROTO on addresses.
  static const bool no_ifa_proto = [] {
    const char* v = std::getenv("EC2NC_TEST_KERNEL_WITHOUT_IFA_PROTO");
    return v && std::string(v) == "1";
  }();
  if (no_ifa_proto)
    for (auto& a : st.addresses) a.proto = 0;
  for (auto& l : st.links) {
    const std::string path = "net/ipv6/conf/" + l.name + "/ra_defrtr_metric";
    std::string text, unread;  // an entry that cannot be read, or is empty, is left out
    if (read_file("/proc/sys/" + path, &text, &unread) && !text.empty())
      st.sysctls[path] = text.substr(0, text.find('\n'));
  }
  *out = std::move(st);
  return true;
}

bool Rtnl::route_query(const IpAddr& dst, const std::optional<IpAddr>& src, int iif, RouteAnswer* out,
                       std::string* error) {
  if (!open(error)) return false;
  const uint32_t s = ++seq_;
  NlMessage req = encode_route_query(dst, src, iif, s);
  if (mnl_socket_sendto(sock_, req.data(), req.size()) < 0) {
    *error = "netlink route get: " + errno_text(errno);
    return false;
  }
  ++messages_;
  if (ack_buf_.size() != kRecvBuf) ack_buf_.resize(kRecvBuf);
  for (;;) {
    ssize_t n = recv_until(sock_, ack_buf_.data(), ack_buf_.size(), deadline_);
    if (n < 0) {
      if (errno == EINTR) continue;
      *error = "netlink route get: " + (errno == ETIMEDOUT ? std::string(kNoAnswer) : errno_text(errno));
      return false;
    }
    bool found = false;
    if (!decode_route_answer(ack_buf_.data(), size_t(n), s, &found, out, error)) return false;
    if (found) return true;
  }
}

SendResult Rtnl::send(const Change& c, std::string* error) {
  std::vector<SendResult> results;
  std::vector<std::string> errors;
  send_batch({&c}, &results, &errors);
  if (results[0] == SendResult::Failed) *error = errors[0];
  return results[0];
}

size_t Rtnl::send_batch(const std::vector<const Change*>& offered, std::vector<SendResult>* results,
                        std::vector<std::string>* errors) {
  results->clear();
  errors->clear();
  if (offered.empty()) return 0;
  auto fail_all = [&](size_t n, const std::string& why) {
    results->assign(n, SendResult::Failed);
    errors->assign(n, why);
    return n;
  };
  std::string error;
  if (offered[0]->op == Change::Op::SetSysctl) {
    const Change& c = *offered[0];
    if (!write_sysctl(c.sysctl, c.value, &error)) return fail_all(1, error);
    results->assign(1, SendResult::Done);
    errors->assign(1, "");
    return 1;
  }
  if (!open(&error)) return fail_all(1, error);
  size_t n = 0;
  while (n < offered.size() && n < batch_limit_ && offered[n]->op != Change::Op::SetSysctl) ++n;
  const uint32_t first = seq_ + 1;
  seq_ += unsigned(n);
  NlMessage req;
  encode_batch(offered.data(), n, first, &req);
  if (mnl_socket_sendto(sock_, req.data(), req.size()) < 0) return fail_all(n, "netlink send: " + errno_text(errno));
  messages_ += unsigned(n);
  results->assign(n, SendResult::Done);
  errors->assign(n, "");

  // The kernel's answers, all queued within the send: an error for each message that
  // failed, then the last one's answer. Answers to earlier requests (seq below `first`)
  // are skipped.
  if (ack_buf_.size() != kRecvBuf) ack_buf_.resize(kRecvBuf);
  std::vector<bool> answered(n, false);
  bool last_answered = false;
  std::vector<Ack> acks;
  auto take = [&](size_t got, std::string* derr) {
    acks.clear();
    if (!decode_acks(ack_buf_.data(), got, &acks, derr)) return false;
    for (auto& a : acks) {
      const uint32_t i = a.seq - first;  // modulo 2^32: sequence numbers wrap
      if (i >= n || answered[i]) continue;
      answered[i] = true;
      if (i == n - 1) last_answered = true;
      if (a.error == 0) continue;
      if (benign(offered[i]->op, a.error)) {
        (*results)[i] = SendResult::Held;
      } else {
        (*results)[i] = SendResult::Failed;
        (*errors)[i] = errno_text(a.error) + (a.message.empty() ? "" : " (" + a.message + ")");
      }
    }
    return true;
  };
  std::string lost;  // why the answers cannot all be read
  while (!last_answered) {
    ssize_t got = recv_until(sock_, ack_buf_.data(), ack_buf_.size(), deadline_);
    if (got < 0) {
      lost = errno == ETIMEDOUT ? std::string(kNoAnswer)
             : errno == ENOBUFS ? "netlink receive: " + errno_text(errno) +
                                      " (the kernel's answers to changes sent together were lost; "
                                      "whether this one was made is not known)"
                                : "netlink receive: " + errno_text(errno);
      break;
    }
    if (!take(size_t(got), &lost)) break;
  }
  if (lost.empty()) return n;
  // Whatever else the kernel queued is read now (a buffer that overflowed takes answers
  // again only once empty): errors it names still count, but with answers lost, a change
  // it says nothing about may have failed.
  for (;;) {
    ssize_t got = recv_until(sock_, ack_buf_.data(), ack_buf_.size(), Clock::time_point());  // no wait
    if (got < 0 && errno == ENOBUFS) continue;  // reported once; what is queued follows
    std::string derr;
    if (got < 0 || !take(size_t(got), &derr)) break;
  }
  for (size_t i = 0; i < n; ++i) {
    if (answered[i]) continue;
    (*results)[i] = SendResult::Failed;
    (*errors)[i] = lost;
  }
  return n;
}

}  // namespace ec2nc
