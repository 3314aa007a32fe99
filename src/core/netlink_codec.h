// rtnetlink message encoding and dump/ack decoding. Pure: bytes in, bytes out, no
// socket (edge/rtnl moves the bytes), so requests are tested byte for byte and
// replies are decoded (and fuzzed) from plain buffers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/check.h"
#include "core/netlink.h"
#include "core/plan.h"
#include "core/reconcile.h"

struct nlmsghdr;

namespace ec2nc {

/// One encoded netlink request, exactly nlmsg_len bytes long (or, from encode_batch,
/// several back to back).
using NlMessage = std::vector<uint8_t>;

/// No request built here is longer (a batch's size follows from its count).
constexpr size_t kMaxRequestSize = 256;

/// RTM_NEWADDR (add) or RTM_DELADDR. Adds carry IFA_PROTO kOwnProto, IFA_F_NODAD for
/// IPv6 and, for a deprecated address, preferred lifetime 0 with an infinite valid one.
NlMessage encode_address(bool add, int ifindex, const AddressSpec& a, uint32_t seq);

/// RTM_NEWROUTE (add) or RTM_DELROUTE, protocol kOwnProto, out of `ifindex`.
/// `r.gateway` must be concrete. Deletes match any scope and metric.
NlMessage encode_route(bool add, int ifindex, const RouteSpec& r, uint32_t seq, uint8_t protocol = kOwnProto);

/// RTM_NEWRULE (add, NLM_F_EXCL) or RTM_DELRULE: action to-table, protocol kOwnProto.
NlMessage encode_rule(bool add, const RuleSpec& r, uint32_t seq, uint8_t protocol = kOwnProto);

/// RTM_NEWLINK setting (or, `up` false, clearing) IFF_UP on `ifindex`.
NlMessage encode_link_up(int ifindex, uint32_t seq, bool up = true);

/// RTM_NEWLINK setting IFLA_GROUP on `ifindex`.
NlMessage encode_link_group(int ifindex, uint32_t group, uint32_t seq);

/// The request for one change. False for changes that are not netlink (SetSysctl).
bool encode_change(const Change& c, uint32_t seq, NlMessage* out);

/// The requests for changes[0..n) back to back, for one send: sequence numbers
/// first_seq, first_seq + 1, ..., NLM_F_ACK on the last only. The kernel carries them
/// out in order and answers each one that fails with an error even without NLM_F_ACK,
/// so the last one's answer comes after everything it says about the others. False
/// (and `out` empty) when one of them is not netlink.
bool encode_batch(const Change* const* changes, size_t n, uint32_t first_seq, NlMessage* out);

/// A dump request (NLM_F_DUMP): RTM_GETLINK, RTM_GETADDR, RTM_GETROUTE or RTM_GETRULE,
/// for `family` (AF_UNSPEC, AF_INET or AF_INET6). A route dump with `table` != 0 asks for
/// that table only (RTA_TABLE: the kernel filters where the socket has
/// NETLINK_GET_STRICT_CHK, Linux 4.20 and later; else every table comes).
NlMessage encode_dump(uint16_t type, uint8_t family, uint32_t seq, uint32_t table = 0);

/// RTM_GETROUTE as `ip route get DST [from SRC] [iif IIF]` asks it (no `src`: the kernel
/// picks one; iif 0: locally sent).
NlMessage encode_route_query(const IpAddr& dst, const std::optional<IpAddr>& src, int iif, uint32_t seq);

/// The answer to encode_route_query in one chunk (*found when it was there): the route's
/// output interface, table, gateway and type, or the kernel's error.
bool decode_route_answer(const void* data, size_t len, uint32_t seq, bool* found, RouteAnswer* out,
                         std::string* error);

/// Outcome of decoding one message.
enum class Decoded {
  Ok,         ///< The object was filled in.
  Skip,       ///< Well formed but not of interest (another family, another type).
  Malformed,  ///< Truncated header, bad attribute: `error` says which.
};

/// RTM_NEWLINK -> HostLink.
Decoded decode_link(const nlmsghdr* nlh, HostLink* out, std::string* error);
/// RTM_NEWADDR -> ObservedAddress (IPv4 and IPv6 only).
Decoded decode_address(const nlmsghdr* nlh, ObservedAddress* out, std::string* error);
/// RTM_NEWROUTE -> ObservedRoute (IPv4 and IPv6 only).
Decoded decode_route(const nlmsghdr* nlh, ObservedRoute* out, std::string* error);
/// RTM_NEWRULE -> ObservedRule (IPv4 and IPv6 only).
Decoded decode_rule(const nlmsghdr* nlh, ObservedRule* out, std::string* error);

/// Where a dump stands after decoding a chunk of its reply.
struct DumpStatus {
  bool done = false;         ///< NLMSG_DONE (or an error) ended the dump.
  bool interrupted = false;  ///< Some message had NLM_F_DUMP_INTR: redo the dump.
  int error = 0;             ///< Positive errno the kernel ended the dump with (0: none).
  std::string message;       ///< The kernel's extended ack message with `error`.
};

/// Decodes one received chunk of a dump reply (`len` bytes, whole messages) for the
/// request with sequence number `seq`: links, addresses, routes and rules are appended
/// to `out`; messages of other sequence numbers are ignored. False with `error` when
/// the chunk is malformed; `out` may then hold part of the chunk.
bool decode_dump(const void* data, size_t len, uint32_t seq, HostState* out, DumpStatus* status,
                 std::string* error);

/// The kernel's answer to one request.
struct Ack {
  uint32_t seq = 0;
  int error = 0;        ///< Positive errno, 0 for success.
  std::string message;  ///< Extended ack message (NLMSGERR_ATTR_MSG), if any.
};

/// Decodes the NLMSG_ERROR messages (acks) of one received chunk, appending them to
/// `out`; other messages are ignored. False with `error` when the chunk is malformed.
bool decode_acks(const void* data, size_t len, std::vector<Ack>* out, std::string* error);

}  // namespace ec2nc
