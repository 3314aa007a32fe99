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
