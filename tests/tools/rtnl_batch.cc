// rtnl_batch: feeds changes read from stdin to the rtnetlink edge, so an integration
// test can hold the batch path against the real kernel and check the kernel's state with
// iproute2 afterwards. One change a line, an operation and key=value words:
//
//   link-up dev=D
//   add-address|del-address dev=D prefix=P
//   add-route|del-route dev=D dst=P [via=GW] [onlink] table=T
//   add-rule|del-rule from=P table=T priority=N
//   sysctl path=net/... value=V
//   each optionally if=NAME: the transaction unit (default: dev's name, else "")
//
// D is a link name, or #N for ifindex N as given (a link that does not exist).
//
//   rtnl_batch              Rtnl::send_batch until every change was taken: one line per
//                           change, "N Done|Held|Failed[: error]", then "batches: B".
//   rtnl_batch --transact   run_transactions over send_batch: "done: ", "failed: ",
//                           "error: ", "undone: ", "undo error: " lines, then "batches: B".
// Exit status 0 when it ran (whatever the kernel answered), 2 on bad input.
#include <net/if.h>

#include <cstdlib>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "core/transaction.h"
#include "edge/rtnl.h"

using namespace ec2nc;

namespace {

[[noreturn]] void bad(size_t line, const std::string& why) {
  std::cerr << "rtnl_batch: line " << line << ": " << why << "\n";
  std::exit(2);
}

Change parse(const std::string& text, size_t line) {
  std::istringstream in(text);
  std::string op, word;
  in >> op;
  std::map<std::string, std::string> kv;
  bool onlink = false;
  while (in >> word) {
    if (word == "onlink") {
      onlink = true;
      continue;
    }
    auto eq = word.find('=');
    if (eq == std::string::npos) bad(line, "expected key=value: " + word);
    kv[word.substr(0, eq)] = word.substr(eq + 1);
  }
  auto need = [&](const char* key) {
    auto it = kv.find(key);
    if (it == kv.end()) bad(line, std::string("missing ") + key + "=");
    return it->second;
  };
  auto prefix = [&](const char* key) {
    auto p = IpPrefix::parse(need(key));
    if (!p) bad(line, std::string("bad prefix in ") + key + "=");
    return *p;
  };
  auto to_number = [&](const std::string& v, const std::string& what) {
    char* end = nullptr;
    unsigned long n = std::strtoul(v.c_str(), &end, 10);
    if (v.empty() || *end || n > 0xffffffffUL) bad(line, "bad number in " + what);
    return uint32_t(n);
  };
  auto number = [&](const char* key) { return to_number(need(key), key); };
  Change c;
  if (kv.count("dev")) {
    const std::string dev = kv["dev"];
    if (dev[0] == '#') {
      c.ifindex = int(to_number(dev.substr(1), "dev="));
    } else {
      c.ifindex = int(if_nametoindex(dev.c_str()));
      if (c.ifindex == 0) bad(line, "no link " + dev);
      c.ifname = dev;
    }
  }
  if (kv.count("if")) c.ifname = kv["if"];
  if (op == "link-up") {
    c.op = Change::Op::SetLinkUp;
  } else if (op == "add-address" || op == "del-address") {
    c.op = op[0] == 'a' ? Change::Op::AddAddress : Change::Op::DelAddress;
    c.address.prefix = prefix("prefix");
  } else if (op == "add-route" || op == "del-route") {
    c.op = op[0] == 'a' ? Change::Op::AddRoute : Change::Op::DelRoute;
    c.route.dst = prefix("dst");
    c.route.table = number("table");
    c.route.onlink = onlink;
    if (kv.count("via")) {
      c.route.gateway = IpAddr::parse(kv["via"]);
      if (!c.route.gateway) bad(line, "bad via=");
    }
  } else if (op == "add-rule" || op == "del-rule") {
    c.op = op[0] == 'a' ? Change::Op::AddRule : Change::Op::DelRule;
    c.rule.from = prefix("from");
    c.rule.family = c.rule.from->family();
    c.rule.table = number("table");
    c.rule.priority = number("priority");
  } else if (op == "sysctl") {
    c.op = Change::Op::SetSysctl;
    c.sysctl = need("path");
    c.value = need("value");
  } else {
    bad(line, "unknown operation " + op);
  }
  return c;
}

}  // namespace

int main(int argc, char** argv) {
  const bool transact = argc > 1 && std::string(argv[1]) == "--transact";
  std::vector<Change> changes;
  std::string text;
  for (size_t line = 1; std::getline(std::cin, text); ++line)
    if (!text.empty() && text[0] != '#') changes.push_back(parse(text, line));
  Rtnl rtnl;
  std::string error;
  if (!rtnl.open(&error)) {
    std::cerr << "rtnl_batch: " << error << "\n";
    return 1;
  }
  unsigned batches = 0;
  auto send = [&](const std::vector<const Change*>& offered, std::vector<SendResult>* results,
                  std::vector<std::string>* errors) {
    ++batches;
    return rtnl.send_batch(offered, results, errors);
  };
  if (transact) {
    TransactionReport rep = run_transactions(changes, send);
    for (auto& c : rep.done) std::cout << "done: " << c.describe() << "\n";
    for (auto& f : rep.failed) std::cout << "failed: " << f << "\n";
    for (auto& e : rep.errors) std::cout << "error: " << e << "\n";
    for (auto& u : rep.undone) std::cout << "undone: " << u.describe() << "\n";
    for (auto& e : rep.undo_errors) std::cout << "undo error: " << e << "\n";
  } else {
    std::vector<const Change*> offered;
    std::vector<SendResult> results;
    std::vector<std::string> errors;
    for (size_t next = 0; next < changes.size();) {
      offered.clear();
      for (size_t i = next; i < changes.size(); ++i) offered.push_back(&changes[i]);
      const size_t n = send(offered, &results, &errors);
      for (size_t i = 0; i < n; ++i) {
        static const char* const names[] = {"Done", "Held", "Failed"};
        std::cout << next + i + 1 << " " << names[int(results[i])];
        if (results[i] == SendResult::Failed) std::cout << ": " << errors[i];
        std::cout << "\n";
      }
      next += n;
    }
  }
  std::cout << "batches: " << batches << "\n";
  return 0;
}
