#include "core/transaction.h"

#include <algorithm>

namespace ec2nc {

namespace {

/// One batch of `offered` through `send`, its answers checked: the count taken is at
/// least one and at most what was offered (a sender breaking that must not stall the
/// run or skip changes), and a change it says nothing about counts as Failed.
size_t send_one_batch(const SendBatch& send, const std::vector<const Change*>& offered,
                      std::vector<SendResult>* results, std::vector<std::string>* errors) {
  results->clear();
  errors->clear();
  size_t k = std::clamp<size_t>(send(offered, results, errors), 1, offered.size());
  const size_t answered = std::min(results->size(), k);
  results->resize(k, SendResult::Failed);
  errors->resize(std::max(errors->size(), k));
  for (size_t i = answered; i < k; ++i) (*errors)[i] = "no result from the sender";
  return k;
}

}  // namespace

TransactionReport run_transactions(std::vector<Change>&& changes, const SendBatch& send) {
  TransactionReport rep;
  // Per change: whether it took effect (so it is undone if its interface fails later).
  std::vector<bool> effective(changes.size(), false);
  std::vector<size_t> pending(changes.size());  // indices not sent yet, in order
  for (size_t i = 0; i < changes.size(); ++i) pending[i] = i;
  std::vector<const Change*> offered;
  std::vector<SendResult> results;
  std::vector<std::string> errors;
  while (!pending.empty()) {
    // Everything left is offered; the sender takes what fits in one batch. Rebuilding
    // the list costs a pointer per change per batch, nothing next to a kernel round trip.
    offered.clear();
    for (size_t i : pending) offered.push_back(&changes[i]);
    const size_t k = send_one_batch(send, offered, &results, &errors);
    std::vector<std::string> failed_now;  // in the order of their first failure
    for (size_t b = 0; b < k; ++b) {
      const size_t i = pending[b];
      const std::string& ifname = changes[i].ifname;
      if (results[b] == SendResult::Done) {
        effective[i] = true;
      } else if (results[b] == SendResult::Failed && rep.failed.insert(ifname).second) {
        // Its first failure; a later one of the same batch is its consequence.
        rep.errors.push_back(changes[i].describe() + ": " + errors[b]);
        failed_now.push_back(ifname);
      }
    }
    pending.erase(pending.begin(), pending.begin() + std::ptrdiff_t(k));
    if (failed_now.empty()) continue;
    pending.erase(std::remove_if(pending.begin(), pending.end(),
                                 [&](size_t i) { return rep.failed.count(changes[i].ifname) > 0; }),
                  pending.end());
    // Each failed interface's effective changes, those after its failure in the batch
    // included, undone in reverse order of the sequence; one interface after the other.
    std::vector<Change> undo;
    for (auto& f : failed_now)
      for (size_t j = changes.size(); j-- > 0;) {
        if (!effective[j] || changes[j].ifname != f) continue;
        effective[j] = false;
        undo.push_back(inverse(changes[j]));
      }
    for (size_t u = 0; u < undo.size();) {
      offered.clear();
      for (size_t j = u; j < undo.size(); ++j) offered.push_back(&undo[j]);
      const size_t n = send_one_batch(send, offered, &results, &errors);
      for (size_t b = 0; b < n; ++b) {
        if (results[b] == SendResult::Failed) rep.undo_errors.push_back(undo[u + b].describe() + ": " + errors[b]);
        rep.undone.push_back(undo[u + b]);
      }
      u += n;
    }
  }
  // `done` is `changes` with the rest taken out: no second list of every change (a first
  // apply of the largest shape has ~1900 of them).
  size_t w = 0;
  for (size_t i = 0; i < changes.size(); ++i) {
    if (!effective[i] || rep.failed.count(changes[i].ifname)) continue;
    if (w != i) changes[w] = std::move(changes[i]);
    ++w;
  }
  changes.erase(changes.begin() + std::ptrdiff_t(w), changes.end());
  rep.done = std::move(changes);
  return rep;
}

TransactionReport run_transactions(const std::vector<Change>& changes, const SendBatch& send) {
  return run_transactions(std::vector<Change>(changes), send);
}

TransactionReport run_transactions(const std::vector<Change>& changes, const SendChange& send) {
  return run_transactions(changes, [&](const std::vector<const Change*>& offered, std::vector<SendResult>* results,
                                       std::vector<std::string>* errors) {
    errors->emplace_back();
    results->push_back(send(*offered[0], &errors->back()));
    return size_t(1);
  });
}

}  // namespace ec2nc
