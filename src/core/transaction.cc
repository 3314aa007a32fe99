#include "core/transaction.h"

#include <algorithm>

namespace ec2nc {

TransactionReport run_transactions(const std::vector<Change>& changes, const SendChange& send) {
  TransactionReport rep;
  // Per change: whether it took effect (so it is undone if its interface fails later).
  std::vector<bool> effective(changes.size(), false);
  for (size_t i = 0; i < changes.size(); ++i) {
    const Change& c = changes[i];
    if (rep.failed.count(c.ifname)) continue;
    std::string error;
    SendResult r = send(c, &error);
    if (r != SendResult::Failed) {
      effective[i] = r == SendResult::Done;
      continue;
    }
    rep.failed.insert(c.ifname);
    rep.errors.push_back(c.describe() + ": " + error);
    for (size_t j = i; j-- > 0;) {
      if (!effective[j] || changes[j].ifname != c.ifname) continue;
      effective[j] = false;
      Change u = inverse(changes[j]);
      std::string uerr;
      if (send(u, &uerr) == SendResult::Failed) rep.undo_errors.push_back(u.describe() + ": " + uerr);
      rep.undone.push_back(u);
    }
  }
  auto kept = [&](size_t i) { return effective[i] && !rep.failed.count(changes[i].ifname); };
  size_t n = 0;
  for (size_t i = 0; i < changes.size(); ++i) n += kept(i);
  rep.done.reserve(n);  // exactly: a first apply's list is large
  for (size_t i = 0; i < changes.size(); ++i)
    if (kept(i)) rep.done.push_back(changes[i]);
  return rep;
}

}  // namespace ec2nc
