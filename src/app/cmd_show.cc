// show: the desired state of every ENI in the metadata (one without a host interface is
// shown by its MAC as not present on this host). dump-metadata: what ec2-netcfg reads.
#include <algorithm>

#include "app/commands.h"
#include "app/metadata_wait.h"
#include "app/output.h"
#include "core/metadata_capture.h"

namespace ec2nc {

int cmd_show(Context& ctx) {
  std::vector<HostLink> links;
  int rc = read_links(ctx, &links);
  if (rc) return rc;
  std::vector<MacAddr> wanted;
  if ((rc = resolve_ifaces(ctx, links, &wanted))) return rc;
  MetadataRead rd = read_metadata(*ctx.source);
  if (!rd.fatal.empty()) {
    ctx.log.error(rd.fatal);
    return kExitRetry;
  }
  Plan plan = make_plan(ctx.cfg, rd.instance, links);
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
  MetadataCapture cap = capture_metadata(*ctx.source);
  if (cap.has_root()) ctx.out << cap.json();
  for (auto& e : cap.errors) ctx.log.error(e.error);
  return cap.errors.empty() ? kExitOk : kExitRetry;
}

}  // namespace ec2nc
