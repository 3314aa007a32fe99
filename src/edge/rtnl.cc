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

#include "core/netlink_codec.h"
#include "edge/files.h"

namespace ec2nc {

namespace {

// Big enough for any message the kernel sends in a dump (MNL_SOCKET_DUMP_SIZE is 32 KiB).
constexpr size_t kRecvBuf = 64 * 1024;
// A dump the kernel keeps interrupting (tables changing under it) is retried this often.
constexpr int kDumpAttempts = 5;

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
  return true;
}

// One dump: request, then replies until NLMSG_DONE; redone when interrupted.
static bool run_dump(mnl_socket* sock, unsigned* seq, unsigned* messages, uint16_t type, uint8_t family,
                     Clock::time_point deadline, HostState* out, std::string* error) {
  const char* what = type == RTM_GETLINK ? "links" : type == RTM_GETADDR ? "addresses"
                     : type == RTM_GETROUTE ? "routes" : "rules";
  std::vector<uint8_t> buf(kRecvBuf);
  for (int attempt = 0; attempt < kDumpAttempts; ++attempt) {
    HostState part;
    const uint32_t s = ++*seq;
    NlMessage req = encode_dump(type, family, s);
    if (mnl_socket_sendto(sock, req.data(), req.size()) < 0) {
      *error = std::string("netlink: dump of ") + what + ": " + errno_text(errno);
      return false;
    }
    ++*messages;
    DumpStatus st;
    while (!st.done) {
      ssize_t n = recv_until(sock, buf.data(), buf.size(), deadline);
      if (n < 0) {
        *error = std::string("netlink: dump of ") + what + ": " + (errno == ETIMEDOUT ? kNoAnswer : errno_text(errno));
        return false;
      }
      std::string derr;
      if (!decode_dump(buf.data(), size_t(n), s, &part, &st, &derr)) {
        *error = std::string("netlink: dump of ") + what + ": " + derr;
        return false;
      }
    }
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

bool Rtnl::dump_routes(Family family, std::vector<ObservedRoute>* out, std::string* error) {
  if (!open(error)) return false;
  HostState st;
  const uint8_t af = family == Family::V4 ? AF_INET : AF_INET6;
  if (!run_dump(sock_, &seq_, &messages_, RTM_GETROUTE, af, deadline_, &st, error)) return false;
  *out = std::move(st.routes);
  return true;
}

bool Rtnl::dump_all(HostState* out, std::string* error) {
  if (!open(error)) return false;
  HostState st;
  if (!run_dump(sock_, &seq_, &messages_, RTM_GETLINK, AF_UNSPEC, deadline_, &st, error) ||
      !run_dump(sock_, &seq_, &messages_, RTM_GETADDR, AF_UNSPEC, deadline_, &st, error) ||
      !run_dump(sock_, &seq_, &messages_, RTM_GETROUTE, AF_INET, deadline_, &st, error) ||
      !run_dump(sock_, &seq_, &messages_, RTM_GETROUTE, AF_INET6, deadline_, &st, error) ||
      !run_dump(sock_, &seq_, &messages_, RTM_GETRULE, AF_INET, deadline_, &st, error) ||
      !run_dump(sock_, &seq_, &messages_, RTM_GETRULE, AF_INET6, deadline_, &st, error))
    return false;
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
  if (c.op == Change::Op::SetSysctl) return write_sysctl(c.sysctl, c.value, error) ? SendResult::Done : SendResult::Failed;
  if (!open(error)) return SendResult::Failed;
  NlMessage req;
  const uint32_t s = ++seq_;
  encode_change(c, s, &req);
  if (mnl_socket_sendto(sock_, req.data(), req.size()) < 0) {
    *error = "netlink send: " + errno_text(errno);
    return SendResult::Failed;
  }
  ++messages_;
  if (ack_buf_.size() != kRecvBuf) ack_buf_.resize(kRecvBuf);
  std::vector<uint8_t>& buf = ack_buf_;
  std::vector<Ack> acks;
  for (;;) {
    ssize_t n = recv_until(sock_, buf.data(), buf.size(), deadline_);
    if (n < 0) {
      *error = errno == ETIMEDOUT ? std::string(kNoAnswer) : "netlink receive: " + errno_text(errno);
      return SendResult::Failed;
    }
    acks.clear();
    std::string derr;
    if (!decode_acks(buf.data(), size_t(n), &acks, &derr)) {
      *error = derr;
      return SendResult::Failed;
    }
    for (auto& a : acks) {
      if (a.seq != s) continue;
      if (a.error == 0) return SendResult::Done;
      if (benign(c.op, a.error)) return SendResult::Held;
      *error = errno_text(a.error) + (a.message.empty() ? "" : " (" + a.message + ")");
      return SendResult::Failed;
    }
  }
}

}  // namespace ec2nc
