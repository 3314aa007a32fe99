// The rtnetlink edge over libmnl: dumps and change execution. Message building and
// parsing live in core/netlink_codec (pure); this file only moves bytes.
#pragma once

#include <chrono>
#include <set>
#include <string>
#include <vector>

#include "core/check.h"
#include "core/netlink.h"
#include "core/reconcile.h"
#include "core/transaction.h"

struct mnl_socket;  // libmnl's, in the global namespace

namespace ec2nc {

class Rtnl {
 public:
  Rtnl();
  ~Rtnl();
  Rtnl(const Rtnl&) = delete;
  Rtnl& operator=(const Rtnl&) = delete;

  /// Opens the socket (NETLINK_ROUTE, NETLINK_CAP_ACK, NETLINK_EXT_ACK). False + error.
  bool open(std::string* error);
  /// The run's one bound: no wait for the kernel's answer (an ack, a dump's next part)
  /// goes past it; a request the kernel has not answered by then fails, saying so.
  /// What the kernel has already queued is still read after it (rtnetlink answers
  /// within the request's own send, so changes after a long propagation wait still
  /// go through). Default: no bound.
  void set_deadline(std::chrono::steady_clock::time_point deadline) { deadline_ = deadline; }
  /// RTM_GETLINK dump.
  bool dump_links(std::vector<HostLink>* out, std::string* error);
  /// The routes of one family in one table (see dump_all on how the table is chosen).
  bool dump_routes(Family family, uint32_t table, std::vector<ObservedRoute>* out, std::string* error);
  /// Links, addresses, routes and rules of both families. With `tables`, routes of those
  /// tables only: one dump per table where the kernel filters by table (Linux 4.20 and
  /// later), else one of every table with the others dropped here. A host with a large
  /// table of its own (BGP, many containers' routes) then costs nothing per run.
  bool dump_all(HostState* out, std::string* error, const std::set<uint32_t>* tables = nullptr);
  /// Carries out one change with NLM_F_ACK (a sysctl by writing /proc/sys). EEXIST on
  /// add and ENOENT/ESRCH/EADDRNOTAVAIL on delete mean it already held. On failure
  /// `error` gives the kernel's reason (with the extended ack message).
  SendResult send(const Change& c, std::string* error);
  /// A SendBatch (feeds run_transactions): the leading netlink changes of `offered`, up
  /// to a batch's limit, in one send, NLM_F_ACK on the last only; a change the kernel
  /// says nothing about before that last ack was made. A sysctl goes alone (and ends
  /// the batch before it). Results as send() gives them; when the kernel's answers
  /// cannot all be read (the deadline, a lost answer), each change not accounted for
  /// is Failed, saying why.
  size_t send_batch(const std::vector<const Change*>& offered, std::vector<SendResult>* results,
                    std::vector<std::string>* errors);
  /// The kernel's routing decision for DST from SRC (arriving on `iif` when > 0), as
  /// `ip route get` asks it. False + error when the question could not be asked.
  bool route_query(const IpAddr& dst, const std::optional<IpAddr>& src, int iif, RouteAnswer* out,
                   std::string* error);
  /// Netlink messages sent so far (requests, dumps included; a batch counts each of its
  /// messages).
  unsigned messages() const { return messages_; }
  /// The most changes one batch holds on this socket (see open()).
  size_t batch_limit() const { return batch_limit_; }

 private:
  /// NETLINK_GET_STRICT_CHK on or off; false where the kernel lacks it (before 4.20).
  bool strict_check(bool on);
  /// The routes of `tables` in `families` (AF_INET, AF_INET6), into st->routes.
  bool dump_routes_of(const std::vector<uint8_t>& families, const std::set<uint32_t>& tables, HostState* st,
                      std::string* error);
  struct mnl_socket* sock_ = nullptr;
  unsigned seq_ = 0;
  unsigned messages_ = 0;
  size_t batch_limit_ = 1;
  unsigned portid_ = 0;
  std::vector<uint8_t> ack_buf_;
  std::chrono::steady_clock::time_point deadline_ = std::chrono::steady_clock::time_point::max();
};

}  // namespace ec2nc
