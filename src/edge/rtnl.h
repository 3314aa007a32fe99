// The rtnetlink edge over libmnl: dumps and change execution. Message building and
// parsing live in core/netlink_codec (pure); this file only moves bytes.
#pragma once

#include <string>
#include <vector>

#include "core/netlink.h"
#include "core/reconcile.h"

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
  /// RTM_GETLINK dump.
  bool dump_links(std::vector<HostLink>* out, std::string* error);
  /// Links, addresses, routes (all tables) and rules of both families.
  bool dump_all(HostState* out, std::string* error);
  /// Executes changes in order, each with NLM_F_ACK. EEXIST on add and ENOENT/ESRCH on
  /// delete count as success. Stops at the first failure: `error` names the change and
  /// the kernel's (extended ack) message. `sent` counts the changes completed, so
  /// changes[0..sent) are the ones that took effect.
  bool execute(const std::vector<Change>& changes, std::string* error, unsigned* sent);
  /// Netlink messages sent so far (requests, dumps included).
  unsigned messages() const { return messages_; }

 private:
  struct mnl_socket* sock_ = nullptr;
  unsigned seq_ = 0;
  unsigned messages_ = 0;
  unsigned portid_ = 0;
};

}  // namespace ec2nc
