// show: the desired state of every ENI in the metadata (one without a host interface is
// shown by its MAC as not present on this host). dump-metadata: what ec2-netcfg reads.
#include <algorithm>

#include "app/backend.h"
#include "app/commands.h"
#include "app/metadata_wait.h"
#include "app/output.h"
#include "core/metadata_capture.h"

namespace ec2nc {

int cmd_show(Context& ctx) {
  std::vector<HostLink> links;
  int rc = read_links(ctx, &links);
  if (rc) return rc;
  InstanceMetadata md;
  if ((rc = read_metadata_retrying(ctx, false, &md, /*elastic_ips=*/true))) return rc;
  // An ENI is named by its host interface, its MAC or its ENI id (so one ENI of a capture
  // from another instance can be shown off EC2).
  std::vector<MacAddr> wanted;
  for (auto& arg : ctx.opts.ifaces) {
    auto link = std::find_if(links.begin(), links.end(), [&](const HostLink& l) { return l.name == arg; });
    auto mac = MacAddr::parse(arg);
    auto by_id = std::find_if(md.enis.begin(), md.enis.end(), [&](const auto& e) { return e.second.interface_id == arg; });
    if (link != links.end()) wanted.push_back(link->mac);
    else if (mac && md.enis.count(*mac)) wanted.push_back(*mac);
    else if (by_id != md.enis.end()) wanted.push_back(by_id->first);
    else {
      ctx.log.error(arg + ": no such interface on this host, and no ENI with that MAC or id in the metadata");
      return kExitUsage;
    }
  }
  Plan plan = make_plan(ctx.cfg, md, links);
  if (!ctx.offline()) ctx.log.info(std::string("backend ") + ctx.backend->name() + ": " + ctx.backend_reason);
  if (!ctx.opts.ifaces.empty()) {
    plan.interfaces.erase(std::remove_if(plan.interfaces.begin(), plan.interfaces.end(),
                                         [&](const InterfacePlan& ip) {
                                           return std::find(wanted.begin(), wanted.end(), ip.mac) == wanted.end();
                                         }),
                          plan.interfaces.end());
  }
  if (ctx.opts.json) print_plan_json(ctx.out, plan);
  else print_plan_text(ctx.out, plan);
  int status = kExitOk;
  for (auto& ip : plan.interfaces)
    if (ip.present() && !ip.ignored && ip.state != EniMetadata::State::Complete) status = kExitRetry;
  return status;
}

int cmd_dump(Context& ctx) {
  // The whole tree, every path, never stopping at one ENI's problem: the capture a bug
  // report needs is wanted most when something is wrong. Nothing on stdout without the
  // root (meta-data/mac and the listing): an empty capture would look like a good one.
  // A request that cannot connect ends the walk: said once, with the endpoint.
  MetadataCapture cap = capture_metadata(*ctx.source);
  if (cap.has_root()) ctx.out << cap.json();
  for (size_t i = 0; i < cap.errors.size(); ++i) {
    if (cap.unreachable && i + 1 == cap.errors.size())
      ctx.log.error(imds_unreachable(ctx, cap.errors[i].error) +
                    (cap.has_root() ? "; the walk stopped there: the paths after it are not captured"
                                    : "; nothing captured"));
    else
      ctx.log.error(cap.errors[i].error);
  }
  return cap.errors.empty() ? kExitOk : kExitRetry;
}

}  // namespace ec2nc
