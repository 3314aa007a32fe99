// Carrying out a change set, each interface all or nothing. Pure: the changes reach
// the kernel through a function the caller passes (the rtnetlink edge, or a fake in
// tests), in batches of the sender's choosing (one send for many changes).
//
// A run either brings an interface fully to its new state or leaves it as it was:
// when one change of an interface fails, the changes already made for that interface
// are undone in reverse order, its remaining changes are skipped, and the other
// interfaces go on. Host-wide changes (no interface name) form one unit of their own.
// A batch is carried out whole: an interface's changes after its failing one in the
// same batch were made too, and are undone with the others.
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

/// Carries out the first changes of `offered`, in their order, as one batch, and says how
/// many it took: at least one (when `offered` is not empty), as many as the sender puts
/// in one batch. Fills results[i] for each change taken and, for a Failed one, errors[i]
/// (the others may stay empty). A change that fails does not stop the later ones of
/// the batch: the kernel goes on with them.
using SendBatch = std::function<size_t(const std::vector<const Change*>& offered, std::vector<SendResult>* results,
                                       std::vector<std::string>* errors)>;

struct TransactionReport {
  std::vector<Change> done;        ///< Changes the kernel made and that were kept, in order.
  std::set<std::string> failed;    ///< Interfaces (names; "" = host-wide) left as they were.
  std::vector<std::string> errors; ///< One line per failed interface, naming its first failure.
  std::vector<Change> undone;      ///< Changes taken back, in the order they were undone.
  std::vector<std::string> undo_errors;  ///< Undo steps the kernel refused.
  bool ok() const { return failed.empty(); }
};

/// Sends `changes` in their order (the order reconcile chose keeps every packet on its
/// path), treating each interface's changes as one transaction. After a batch in which
/// an interface failed, its changes that took effect are undone (in batches too) before
/// the next batch, which holds none of its changes. One error line per failed interface:
/// its first failure (later ones in the same batch follow from it).
TransactionReport run_transactions(const std::vector<Change>& changes, const SendBatch& send);
/// The same, `done` made of `changes` itself (moved from, not copied).
TransactionReport run_transactions(std::vector<Change>&& changes, const SendBatch& send);
/// The same with one change per send.
TransactionReport run_transactions(const std::vector<Change>& changes, const SendChange& send);

}  // namespace ec2nc
