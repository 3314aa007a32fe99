// Carrying out a change set one interface at a time, all or nothing. Pure: the
// changes reach the kernel through a function the caller passes (the rtnetlink edge,
// or a fake in tests).
//
// A run either brings an interface fully to its new state or leaves it as it was:
// when one change of an interface fails, the changes already made for that interface
// are undone in reverse order, its remaining changes are skipped, and the other
// interfaces go on. Host-wide changes (no interface name) form one unit of their own.
#pragma once

#include <functional>
#include <set>
#include <string>
#include <vector>

#include "core/reconcile.h"

namespace ec2nc {

/// What became of one change sent to the kernel.
enum class SendResult {
  Done,     ///< The kernel made the change.
  Held,     ///< It already held (EEXIST on add, ENOENT on delete): nothing to undo.
  Failed,   ///< The kernel refused it; `error` says why.
};

using SendChange = std::function<SendResult(const Change&, std::string* error)>;

struct TransactionReport {
  std::vector<Change> done;        ///< Changes the kernel made and that were kept, in order.
  std::set<std::string> failed;    ///< Interfaces (names; "" = host-wide) left as they were.
  std::vector<std::string> errors; ///< One line per failure, naming the change.
  std::vector<Change> undone;      ///< Changes taken back, in the order they were undone.
  std::vector<std::string> undo_errors;  ///< Undo steps the kernel refused.
  bool ok() const { return failed.empty(); }
};

/// Sends `changes` in their order (the order reconcile chose keeps every packet on its
/// path), treating each interface's changes as one transaction.
TransactionReport run_transactions(const std::vector<Change>& changes, const SendChange& send);

}  // namespace ec2nc
