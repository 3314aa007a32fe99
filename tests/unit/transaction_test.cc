// run_transactions: each interface's changes all or nothing, the others go on;
// inverse(): what undoes each kind of change.
#include "core/transaction.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <map>
#include <string>
#include <vector>

using namespace ec2nc;

namespace {

Change addr(const char* ifname, Change::Op op, const char* prefix) {
  Change c;
  c.op = op;
  c.ifname = ifname;
  c.address.prefix = *IpPrefix::parse(prefix);
  return c;
}

Change rule(const char* ifname, Change::Op op, const char* from, uint32_t table) {
  Change c;
  c.op = op;
  c.ifname = ifname;
  c.rule.from = *IpPrefix::parse(from);
  c.rule.family = c.rule.from->family();
  c.rule.table = table;
  c.rule.priority = table;
  return c;
}

// A kernel stand-in: records every change it is sent, fails the ones named in
// `refuse`, answers "already there" for the ones in `held`.
struct FakeKernel {
  std::vector<std::string> log;
  std::map<std::string, std::string> refuse;
  std::vector<std::string> held;
  SendChange sender() {
    return [this](const Change& c, std::string* error) {
      const std::string d = c.describe();
      log.push_back(d);
      auto it = refuse.find(d);
      if (it != refuse.end()) {
        *error = it->second;
        return SendResult::Failed;
      }
      for (auto& h : held)
        if (h == d) return SendResult::Held;
      return SendResult::Done;
    };
  }
};

std::vector<std::string> describe(const std::vector<Change>& cs) {
  std::vector<std::string> out;
  for (auto& c : cs) out.push_back(c.describe());
  return out;
}

// Two interfaces interleaved the way reconcile orders them (rules before addresses).
std::vector<Change> two_interfaces() {
  return {rule("ens5", Change::Op::AddRule, "10.0.0.35/32", 10000),
          rule("ens6", Change::Op::AddRule, "10.0.1.21/32", 10001),
          rule("ens6", Change::Op::AddRule, "10.0.1.22/32", 10001),
          addr("ens5", Change::Op::AddAddress, "10.0.0.35/32"),
          addr("ens6", Change::Op::AddAddress, "10.0.1.21/32"),
          addr("ens6", Change::Op::AddAddress, "10.0.1.22/32"),
          addr("ens6", Change::Op::DelAddress, "10.0.1.29/32")};
}

}  // namespace

TEST_CASE("transactions: everything accepted = everything done, in order, nothing undone") {
  FakeKernel k;
  auto cs = two_interfaces();
  auto rep = run_transactions(cs, k.sender());
  CHECK(rep.ok());
  CHECK(describe(rep.done) == describe(cs));
  CHECK(k.log == describe(cs));
  CHECK(rep.undone.empty());
}

TEST_CASE("transactions: a failing interface is undone in reverse order; the other goes on") {
  FakeKernel k;
  k.refuse["ens6: add address 10.0.1.22/32"] = "No such device";
  auto rep = run_transactions(two_interfaces(), k.sender());
  CHECK_FALSE(rep.ok());
  CHECK(rep.failed == std::set<std::string>{"ens6"});
  REQUIRE(rep.errors.size() == 1);
  CHECK(rep.errors[0] == "ens6: add address 10.0.1.22/32: No such device");
  CHECK(describe(rep.undone) == std::vector<std::string>{"ens6: del address 10.0.1.21/32",
                                                         "ens6: del rule from 10.0.1.22/32 lookup 10001 priority 10001",
                                                         "ens6: del rule from 10.0.1.21/32 lookup 10001 priority 10001"});
  CHECK(describe(rep.done) == std::vector<std::string>{"ens5: add rule from 10.0.0.35/32 lookup 10000 priority 10000",
                                                       "ens5: add address 10.0.0.35/32"});
  // ens6's delete after the failure was never sent.
  CHECK(std::find(k.log.begin(), k.log.end(), "ens6: del address 10.0.1.29/32") == k.log.end());
  CHECK(k.log.back() == "ens6: del rule from 10.0.1.21/32 lookup 10001 priority 10001");
}

TEST_CASE("transactions: what already held is not undone (it was there before the run)") {
  FakeKernel k;
  k.held.push_back("ens6: add rule from 10.0.1.21/32 lookup 10001 priority 10001");
  k.refuse["ens6: add address 10.0.1.21/32"] = "Permission denied";
  auto rep = run_transactions(two_interfaces(), k.sender());
  CHECK(describe(rep.undone) == std::vector<std::string>{"ens6: del rule from 10.0.1.22/32 lookup 10001 priority 10001"});
}

TEST_CASE("transactions: the first change failing undoes nothing; an undo the kernel refuses is reported") {
  FakeKernel k;
  k.refuse["ens6: add rule from 10.0.1.21/32 lookup 10001 priority 10001"] = "Invalid argument";
  auto rep = run_transactions(two_interfaces(), k.sender());
  CHECK(rep.undone.empty());
  CHECK(rep.done.size() == 2);

  FakeKernel k2;
  k2.refuse["ens6: add address 10.0.1.21/32"] = "No such device";
  k2.refuse["ens6: del rule from 10.0.1.22/32 lookup 10001 priority 10001"] = "Operation not permitted";
  auto rep2 = run_transactions(two_interfaces(), k2.sender());
  CHECK(rep2.undone.size() == 2);
  REQUIRE(rep2.undo_errors.size() == 1);
  CHECK(rep2.undo_errors[0] == "ens6: del rule from 10.0.1.22/32 lookup 10001 priority 10001: Operation not permitted");
}

TEST_CASE("transactions: host-wide changes are a unit of their own") {
  FakeKernel k;
  Change g = rule("", Change::Op::AddRule, "10.0.0.0/8", 254);
  std::vector<Change> cs = {g, rule("ens5", Change::Op::AddRule, "10.0.0.35/32", 10000)};
  k.refuse[g.describe()] = "File exists?";
  auto rep = run_transactions(cs, k.sender());
  CHECK(rep.failed == std::set<std::string>{""});
  CHECK(rep.done.size() == 1);
}

namespace {

Change route(const char* ifname, Change::Op op, const char* dst, uint32_t table) {
  Change c;
  c.op = op;
  c.ifname = ifname;
  c.route.dst = *IpPrefix::parse(dst);
  c.route.table = table;
  return c;
}

// A batching kernel stand-in: takes up to `limit` changes a batch and carries out every
// one of them, as the kernel goes on past a message that failed; records each batch.
struct FakeBatchKernel {
  size_t limit = 3;
  std::vector<std::vector<std::string>> batches;
  std::map<std::string, std::string> refuse;
  std::vector<std::string> held;
  SendBatch sender() {
    return [this](const std::vector<const Change*>& offered, std::vector<SendResult>* results,
                  std::vector<std::string>* errors) {
      const size_t n = std::min(limit, offered.size());
      batches.emplace_back();
      for (size_t i = 0; i < n; ++i) {
        const std::string d = offered[i]->describe();
        batches.back().push_back(d);
        auto it = refuse.find(d);
        errors->push_back(it != refuse.end() ? it->second : "");
        results->push_back(it != refuse.end() ? SendResult::Failed
                           : std::find(held.begin(), held.end(), d) != held.end() ? SendResult::Held
                                                                                  : SendResult::Done);
      }
      return n;
    };
  }
  std::vector<std::string> sent() const {
    std::vector<std::string> out;
    for (auto& b : batches) out.insert(out.end(), b.begin(), b.end());
    return out;
  }
};

// ens5 and ens6 interleaved, as reconcile orders a first apply: routes, rules, addresses.
std::vector<Change> interleaved() {
  return {route("ens5", Change::Op::AddRoute, "10.0.0.0/24", 10000),
          route("ens6", Change::Op::AddRoute, "10.0.1.0/24", 10001),
          rule("ens5", Change::Op::AddRule, "10.0.0.35/32", 10000),
          rule("ens6", Change::Op::AddRule, "10.0.1.21/32", 10001),
          rule("ens6", Change::Op::AddRule, "10.0.1.22/32", 10001),
          addr("ens5", Change::Op::AddAddress, "10.0.0.35/32"),
          addr("ens6", Change::Op::AddAddress, "10.0.1.21/32"),
          addr("ens6", Change::Op::AddAddress, "10.0.1.22/32"),
          addr("ens5", Change::Op::AddAddress, "10.0.0.36/32")};
}

const char kRoute5[] = "ens5: add route 10.0.0.0/24 table 10000";
const char kRoute6[] = "ens6: add route 10.0.1.0/24 table 10001";
const char kRule5[] = "ens5: add rule from 10.0.0.35/32 lookup 10000 priority 10000";
const char kRule6a[] = "ens6: add rule from 10.0.1.21/32 lookup 10001 priority 10001";
const char kRule6b[] = "ens6: add rule from 10.0.1.22/32 lookup 10001 priority 10001";
const char kAddr5a[] = "ens5: add address 10.0.0.35/32";
const char kAddr6a[] = "ens6: add address 10.0.1.21/32";
const char kAddr6b[] = "ens6: add address 10.0.1.22/32";
const char kAddr5b[] = "ens5: add address 10.0.0.36/32";

using Lines = std::vector<std::string>;

}  // namespace

TEST_CASE("batched transactions: everything accepted = everything done, in order, in batches of the sender's size") {
  FakeBatchKernel k;
  k.limit = 4;
  auto cs = interleaved();
  auto rep = run_transactions(cs, k.sender());
  CHECK(rep.ok());
  CHECK(describe(rep.done) == describe(cs));
  CHECK(k.batches == std::vector<Lines>{{kRoute5, kRoute6, kRule5, kRule6a},
                                        {kRule6b, kAddr5a, kAddr6a, kAddr6b},
                                        {kAddr5b}});
  CHECK(rep.undone.empty());
}

TEST_CASE("batched transactions: a failure mid-batch; the interface's later changes in it were made and are undone") {
  FakeBatchKernel k;
  k.limit = 9;  // one batch
  auto cs = interleaved();
  // ens6: its route made, a rule refused; after it in the same batch one rule already
  // held, one address made, one refused as well (a consequence of the first failure).
  k.refuse[kRule6a] = "Invalid argument";
  k.held.push_back(kRule6b);
  k.refuse[kAddr6b] = "No such device";
  auto rep = run_transactions(cs, k.sender());
  CHECK(rep.failed == std::set<std::string>{"ens6"});
  CHECK(rep.errors == Lines{std::string(kRule6a) + ": Invalid argument"});  // one line, the first failure
  // Reverse order of the sequence: the address (after the failure) before the route.
  CHECK(describe(rep.undone) == Lines{"ens6: del address 10.0.1.21/32", "ens6: del route 10.0.1.0/24 table 10001"});
  CHECK(rep.undo_errors.empty());
  CHECK(describe(rep.done) == Lines{kRoute5, kRule5, kAddr5a, kAddr5b});
  REQUIRE(k.batches.size() == 2);
  CHECK(k.batches[0] == describe(cs));
  CHECK(k.batches[1] == describe(rep.undone));
}

TEST_CASE("batched transactions: a change set handed over (moved) gives the same report, done made of it") {
  for (int limit : {1, 3, 9}) {
    FakeBatchKernel k1, k2;
    k1.limit = k2.limit = limit;
    for (auto* k : {&k1, &k2}) {
      k->refuse[kRule6a] = "Invalid argument";
      k->held.push_back(kRule6b);
    }
    const auto kept = interleaved();
    auto copied = run_transactions(kept, k1.sender());  // const: the copying overload
    auto cs = interleaved();
    auto moved = run_transactions(std::move(cs), k2.sender());
    CHECK(describe(moved.done) == describe(copied.done));
    CHECK(describe(moved.undone) == describe(copied.undone));
    CHECK(moved.errors == copied.errors);
    CHECK(moved.failed == copied.failed);
    CHECK(k2.batches == k1.batches);
  }
}

TEST_CASE("batched transactions: interleaved interfaces; later batches hold none of a failed interface's changes") {
  FakeBatchKernel k;
  k.limit = 2;
  k.refuse[kRule6a] = "Permission denied";  // second batch, its second message
  auto rep = run_transactions(interleaved(), k.sender());
  CHECK(rep.failed == std::set<std::string>{"ens6"});
  CHECK(k.batches == std::vector<Lines>{{kRoute5, kRoute6},
                                        {kRule5, kRule6a},
                                        {"ens6: del route 10.0.1.0/24 table 10001"},  // before anything else
                                        {kAddr5a, kAddr5b}});
  CHECK(describe(rep.done) == Lines{kRoute5, kRule5, kAddr5a, kAddr5b});
  CHECK(rep.errors == Lines{std::string(kRule6a) + ": Permission denied"});
}

TEST_CASE("batched transactions: failure in a batch's last message; two interfaces failing in one batch") {
  FakeBatchKernel k;
  k.limit = 3;
  // Batches: [route5 route6 rule5] [rule6a rule6b addr5a], then the undo, then the rest.
  k.refuse[kAddr5a] = "Invalid argument";  // the second batch's last message
  auto rep = run_transactions(interleaved(), k.sender());
  CHECK(rep.failed == std::set<std::string>{"ens5"});
  CHECK(describe(rep.undone) == Lines{"ens5: del rule from 10.0.0.35/32 lookup 10000 priority 10000",
                                      "ens5: del route 10.0.0.0/24 table 10000"});
  CHECK(k.batches.size() == 4);
  CHECK(k.batches[3] == Lines{kAddr6a, kAddr6b});
  CHECK(describe(rep.done) == Lines{kRoute6, kRule6a, kRule6b, kAddr6a, kAddr6b});

  FakeBatchKernel k2;
  k2.limit = 9;
  k2.refuse[kRule6a] = "Invalid argument";
  k2.refuse[kAddr5a] = "Invalid argument";
  auto rep2 = run_transactions(interleaved(), k2.sender());
  CHECK(rep2.failed == std::set<std::string>{"ens5", "ens6"});
  CHECK(rep2.errors == Lines{std::string(kRule6a) + ": Invalid argument", std::string(kAddr5a) + ": Invalid argument"});
  // ens6 failed first: its undo first, each in reverse order of the sequence.
  CHECK(describe(rep2.undone) == Lines{"ens6: del address 10.0.1.22/32", "ens6: del address 10.0.1.21/32",
                                       "ens6: del rule from 10.0.1.22/32 lookup 10001 priority 10001",
                                       "ens6: del route 10.0.1.0/24 table 10001",
                                       "ens5: del address 10.0.0.36/32",
                                       "ens5: del rule from 10.0.0.35/32 lookup 10000 priority 10000",
                                       "ens5: del route 10.0.0.0/24 table 10000"});
  CHECK(rep2.done.empty());
  REQUIRE(k2.batches.size() == 2);
  CHECK(k2.batches[1] == describe(rep2.undone));  // the undo in one batch too
}

TEST_CASE("batched transactions: host-wide changes are a unit of their own") {
  FakeBatchKernel k;
  k.limit = 8;
  Change g1 = rule("", Change::Op::AddRule, "0.0.0.0/0", 254);
  g1.rule.priority = 9999;
  Change g2 = rule("", Change::Op::AddRule, "::/0", 254);
  g2.rule.priority = 9999;
  Change g3 = rule("", Change::Op::DelRule, "10.0.0.0/8", 254);
  std::vector<Change> cs = {g1, rule("ens5", Change::Op::AddRule, "10.0.0.35/32", 10000), g2, g3};
  k.refuse[g2.describe()] = "Address family not supported by protocol";
  auto rep = run_transactions(cs, k.sender());
  CHECK(rep.failed == std::set<std::string>{""});
  CHECK(rep.errors == Lines{g2.describe() + ": Address family not supported by protocol"});
  CHECK(describe(rep.undone) == Lines{inverse(g3).describe(), inverse(g1).describe()});
  CHECK(describe(rep.done) == Lines{kRule5});
}

TEST_CASE("batched transactions: undo spans batches in reverse order; a failing undo step is reported, the rest go on") {
  FakeBatchKernel k;
  k.limit = 2;
  std::vector<Change> cs = {route("ens6", Change::Op::AddRoute, "10.0.1.0/24", 10001),
                            rule("ens6", Change::Op::AddRule, "10.0.1.21/32", 10001),
                            rule("ens6", Change::Op::AddRule, "10.0.1.22/32", 10001),
                            addr("ens6", Change::Op::AddAddress, "10.0.1.21/32"),
                            addr("ens6", Change::Op::AddAddress, "10.0.1.22/32")};
  k.refuse[kAddr6b] = "No such device";
  k.refuse["ens6: del rule from 10.0.1.22/32 lookup 10001 priority 10001"] = "Operation not permitted";
  auto rep = run_transactions(cs, k.sender());
  const Lines undo = {"ens6: del address 10.0.1.21/32", "ens6: del rule from 10.0.1.22/32 lookup 10001 priority 10001",
                      "ens6: del rule from 10.0.1.21/32 lookup 10001 priority 10001",
                      "ens6: del route 10.0.1.0/24 table 10001"};
  CHECK(describe(rep.undone) == undo);
  CHECK(rep.undo_errors == Lines{"ens6: del rule from 10.0.1.22/32 lookup 10001 priority 10001: Operation not permitted"});
  CHECK(k.batches == std::vector<Lines>{{kRoute6, kRule6a}, {kRule6b, kAddr6a}, {kAddr6b}, {undo[0], undo[1]},
                                        {undo[2], undo[3]}});
  CHECK(rep.done.empty());
  CHECK(rep.errors == Lines{std::string(kAddr6b) + ": No such device"});
}

TEST_CASE("batched transactions: a sender that answers for fewer changes than it took fails them, stalls nothing") {
  auto cs = interleaved();
  size_t calls = 0;
  auto rep = run_transactions(cs, [&](const std::vector<const Change*>& offered, std::vector<SendResult>* results,
                                      std::vector<std::string>*) {
    ++calls;
    if (offered[0]->ifname == "ens6") return size_t(0);  // takes nothing: counted as one, unanswered
    results->push_back(SendResult::Done);
    return size_t(1);
  });
  CHECK(rep.failed == std::set<std::string>{"ens6"});
  CHECK(rep.errors == Lines{std::string(kRoute6) + ": no result from the sender"});
  CHECK(describe(rep.done) == Lines{kRoute5, kRule5, kAddr5a, kAddr5b});
  CHECK(calls == 5);
}

TEST_CASE("inverse: each change and what undoes it") {
  Change up;
  up.op = Change::Op::SetLinkUp;
  up.ifname = "ens6";
  CHECK(inverse(up).op == Change::Op::SetLinkDown);
  CHECK(inverse(up).describe() == "ens6: set link down");

  Change grp;
  grp.op = Change::Op::SetLinkGroup;
  grp.group = 10000;
  grp.prev_group = 7;
  CHECK(inverse(grp).group == 7);
  CHECK(inverse(grp).prev_group == 10000);

  Change sc;
  sc.op = Change::Op::SetSysctl;
  sc.sysctl = "net/ipv6/conf/ens6/ra_defrtr_metric";
  sc.value = "10001";
  sc.prev_value = "1024";
  CHECK(inverse(sc).value == "1024");

  Change del_route;
  del_route.op = Change::Op::DelRoute;
  del_route.protocol = 4;  // networkd's static copy: re-added as it was
  CHECK(inverse(del_route).op == Change::Op::AddRoute);
  CHECK(inverse(del_route).protocol == 4);

  Change da = addr("ens6", Change::Op::DelAddress, "10.0.1.29/32");
  da.address.deprecated = true;
  CHECK(inverse(da).op == Change::Op::AddAddress);
  CHECK(inverse(da).address.deprecated);
  CHECK(inverse(inverse(da)).op == Change::Op::DelAddress);
  CHECK(inverse(rule("x", Change::Op::AddRule, "10.0.0.1/32", 1)).op == Change::Op::DelRule);
}
