#include "core/cleanup.h"

#include <algorithm>

namespace ec2nc {

std::vector<CleanupDecision> decide_cleanup(const Plan& plan, const std::vector<HostLink>& links,
                                            const RunState& st) {
  std::vector<CleanupDecision> out;
  for (auto& rec : st.interfaces) {
    CleanupDecision d;
    d.record = rec;
    const bool link_there = std::any_of(links.begin(), links.end(), [&](const HostLink& l) {
      return l.ifindex == rec.ifindex && l.mac == rec.mac;
    });
    const InterfacePlan* same = nullptr;  // the plan of this very link
    for (auto& ip : plan.interfaces)
      if (ip.present() && ip.ifindex == rec.ifindex && ip.mac == rec.mac) same = &ip;
    const bool table_taken = std::any_of(plan.interfaces.begin(), plan.interfaces.end(), [&](const InterfacePlan& ip) {
      return ip.present() && ip.table == rec.table && !(ip.ifindex == rec.ifindex && ip.mac == rec.mac);
    }) || std::any_of(st.interfaces.begin(), st.interfaces.end(), [&](const InterfaceRecord& o) {
      // Another recorded ENI whose link is still here owns the same table now.
      return &o != &rec && o.table == rec.table &&
             std::any_of(links.begin(), links.end(), [&](const HostLink& l) { return l.ifindex == o.ifindex && l.mac == o.mac; });
    });
    const bool name_taken = std::any_of(links.begin(), links.end(), [&](const HostLink& l) {
      return l.name == rec.name && !(l.ifindex == rec.ifindex && l.mac == rec.mac);
    });

    if (link_there) {
      if (!same) {
        d.reason = "not listed by IMDS; left as it was (a listing without it is no evidence it went away)";
      } else if (same->ignored) {
        d.reason = "ignored by configuration; left as it was";
      } else if (same->state != EniMetadata::State::Complete) {
        d.reason = std::string("IMDS data ") + state_name(same->state) + "; left as it was";
      } else if (same->table != rec.table) {
        d.action = table_taken ? CleanupDecision::Action::Keep : CleanupDecision::Action::RemoveTable;
        d.reason = "now table " + std::to_string(same->table) + " (was " + std::to_string(rec.table) + ")";
      } else {
        d.reason = "present and complete";
      }
      out.push_back(std::move(d));
      continue;
    }
    // The link left the host: positive evidence.
    d.remove_file = !name_taken;
    if (table_taken) {
      d.action = CleanupDecision::Action::Forget;
      d.reason = "link gone; table " + std::to_string(rec.table) + " now belongs to another ENI, left to it";
    } else {
      d.action = CleanupDecision::Action::Remove;
      d.reason = "link gone";
    }
    out.push_back(std::move(d));
  }
  return out;
}

void mark_lost_ipv4(InstanceMetadata& md, const HostState& host, const RunState& st) {
  for (auto& [mac, eni] : md.enis) {
    if (eni.state != EniMetadata::State::Complete || eni.has_ipv4()) continue;
    for (auto& rec : st.interfaces) {
      if (rec.mac != mac || rec.table == 0) continue;
      const bool rules = std::any_of(host.rules.begin(), host.rules.end(), [&](const ObservedRule& r) {
        return r.family == Family::V4 && r.protocol == kOwnProto && r.table == rec.table;
      });
      const bool routes = std::any_of(host.routes.begin(), host.routes.end(), [&](const ObservedRoute& r) {
        return r.dst.addr.is_v4() && r.protocol == kOwnProto && r.table == rec.table;
      });
      if (!rules && !routes) continue;
      eni.state = EniMetadata::State::Incomplete;
      eni.problem = "meta-data/network/interfaces/macs/" + mac.str() +
                    "/: lists neither local-ipv4s nor subnet-ipv4-cidr-block, but ec2-netcfg configured IPv4 on "
                    "it (table " + std::to_string(rec.table) +
                    "): EC2 cannot make an ENI with IPv4 IPv6-only, so this is a read caught mid-update (not "
                    "propagated yet)";
      break;
    }
  }
}

}  // namespace ec2nc
