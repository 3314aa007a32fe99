#include "core/records.h"

#include "core/render_networkd.h"

#include <algorithm>
#include <utility>
#include <vector>

namespace ec2nc {

void update_records(RunState* st, const PassOutcome& pass) {
  const Plan& plan = *pass.plan;
  auto in_scope = [&](const std::string& name) {
    return pass.scope.empty() || std::find(pass.scope.begin(), pass.scope.end(), name) != pass.scope.end();
  };
  // Cleanup first: removed and forgotten records go (a failed removal keeps its record,
  // so the next run finishes it).
  for (auto& d : pass.cleanup) {
    if (d.action != CleanupDecision::Action::Remove && d.action != CleanupDecision::Action::Forget) continue;
    if (pass.failed.count(d.record.name)) continue;
    auto& v = st->interfaces;
    v.erase(std::remove_if(v.begin(), v.end(),
                           [&](const InterfaceRecord& r) { return r.name == d.record.name && r.mac == d.record.mac; }),
            v.end());
  }
  // Every address on the host by link, looked up once per recorded address (the largest
  // shape records 900 of them, among as many on the host).
  std::vector<std::pair<int, IpAddr>> on_host;
  on_host.reserve(pass.host->addresses.size());
  for (auto& o : pass.host->addresses) on_host.emplace_back(o.ifindex, o.prefix.addr);
  std::sort(on_host.begin(), on_host.end());
  for (auto& ip : plan.interfaces) {
    if (!ip.actionable() || !in_scope(ip.name) || pass.failed.count(ip.name)) continue;
    InterfaceRecord next;
    next.name = ip.name;
    next.mac = ip.mac;
    next.ifindex = ip.ifindex;
    next.table = ip.table;
    // Addresses: what was recorded for this very link and is still on it, less what this
    // pass deleted, plus what it added.
    InterfaceRecord* prev = st->find(ip.name);
    if (prev && prev->mac == ip.mac && prev->ifindex == ip.ifindex) {
      for (auto& a : prev->addresses)
        if (std::binary_search(on_host.begin(), on_host.end(), std::make_pair(ip.ifindex, a.addr)))
          next.addresses.push_back(a);
    }
    for (auto& c : pass.done) {
      if (c.ifname != ip.name) continue;
      if (c.op == Change::Op::AddAddress && !next.owns_address(c.address.prefix.addr))
        next.addresses.push_back(c.address.prefix);
      if (c.op == Change::Op::DelAddress) {
        auto& v = next.addresses;
        v.erase(std::remove_if(v.begin(), v.end(), [&](const IpPrefix& p) { return p.addr == c.address.prefix.addr; }),
                v.end());
      }
    }
    std::sort(next.addresses.begin(), next.addresses.end());
    if (pass.writes_files && pass.files_failed) {
      if (prev && prev->mac == ip.mac) next.file_routes = prev->file_routes;
    } else if (pass.writes_files) {
      next.file_rules.clear();  // the files hold no rule (render_networkd.h)
      next.file_routes = networkd_file_routes(ip);
    }
    if (prev) *prev = std::move(next);
    else st->interfaces.push_back(std::move(next));
  }
  std::sort(st->interfaces.begin(), st->interfaces.end(),
            [](const InterfaceRecord& a, const InterfaceRecord& b) { return a.name < b.name; });
}

}  // namespace ec2nc
