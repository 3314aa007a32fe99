// check: for every address and delegated prefix of the managed ENIs, the kernel's own
// routing decision (as `ip route get`), compared with the plan; each wrong answer named
// with its cause. Changes nothing.
#include <rapidjson/prettywriter.h>
#include <rapidjson/stringbuffer.h>

#include <cstring>

#include "app/backend.h"
#include "app/commands.h"
#include "app/metadata_wait.h"
#include "core/check.h"
#include "core/plan.h"
#include "edge/files.h"

namespace ec2nc {

namespace {

/// The first line of /proc/sys/PATH; "" when it cannot be read.
std::string read_sysctl(const std::string& path) {
  std::string text, error;
  if (!read_file("/proc/sys/" + path, &text, &error)) return "";
  return text.substr(0, text.find('\n'));
}

void print_text(Out& out, const std::vector<Verdict>& vs, const Plan& plan, size_t wrong) {
  std::string current;
  for (auto& v : vs) {
    const std::string head = v.probe.ifname + " " + v.probe.source.str();
    if (head != current) {
      out << (current.empty() ? "" : "\n") << head << (v.probe.forwarded ? " (delegated prefix, forwarded)" : "") << "\n";
      current = head;
    }
    out << "  " << (v.right ? "ok    " : "WRONG ") << "to " << v.probe.toward << " (" << v.probe.dst.str() << "): ";
    if (v.answer.error) out << "no route (" << std::strerror(v.answer.error) << ")";
    else out << "leaves via " << v.leaves << " (table " << (v.answer.table == 254 ? std::string("main") : std::to_string(v.answer.table)) << ")";
    if (!v.right) out << "\n        cause: " << v.cause;
    out << "\n";
  }
  for (auto& ip : plan.interfaces)
    if (ip.present() && !ip.ignored && ip.state != EniMetadata::State::Complete)
      out << "\n" << ip.name << " " << ip.mac.str() << ": not checked: IMDS data " << state_name(ip.state) << ": "
          << ip.problem << "\n";
  out << "\n" << vs.size() << " checked, " << wrong << " wrong\n";
}

void print_json(Out& out, const std::vector<Verdict>& vs, size_t wrong) {
  rapidjson::StringBuffer sb;
  rapidjson::PrettyWriter<rapidjson::StringBuffer> w(sb);
  w.SetIndent(' ', 2);
  w.StartObject();
  w.Key("checked");
  w.Uint(unsigned(vs.size()));
  w.Key("wrong");
  w.Uint(unsigned(wrong));
  w.Key("results");
  w.StartArray();
  for (auto& v : vs) {
    w.StartObject();
    w.Key("interface");
    w.String(v.probe.ifname.c_str());
    w.Key("source");
    w.String(v.probe.source.str().c_str());
    w.Key("forwarded");
    w.Bool(v.probe.forwarded);
    w.Key("to");
    w.String(v.probe.toward.c_str());
    w.Key("destination");
    w.String(v.probe.dst.str().c_str());
    w.Key("right");
    w.Bool(v.right);
    w.Key("leaves");
    if (v.leaves.empty()) w.Null();
    else w.String(v.leaves.c_str());
    w.Key("table");
    w.Uint(v.answer.table);
    if (!v.right) {
      w.Key("cause");
      w.String(v.cause.c_str());
    }
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  out << sb.GetString() << "\n";
}

}  // namespace

int cmd_check(Context& ctx) {
  std::vector<HostLink> links;
  int rc = read_links(ctx, &links);
  if (rc) return rc;
  std::vector<MacAddr> wanted;
  if ((rc = resolve_ifaces(ctx, links, &wanted))) return rc;
  InstanceMetadata md;
  if ((rc = read_metadata_retrying(ctx, false, &md))) return rc;
  if ((rc = capture_fits_host(ctx, md, links, wanted))) return rc;
  HostState host;
  const std::set<uint32_t> tables = tables_to_read(ctx.cfg, md, RunState{});
  if ((rc = read_host(ctx, &host, &tables))) return rc;
  for (const char* s : {"net/ipv4/ip_forward", "net/ipv6/conf/all/forwarding"}) host.sysctls[s] = read_sysctl(s);
  if (!ctx.offline()) ctx.log.info(std::string("backend ") + ctx.backend->name() + ": " + ctx.backend_reason);
  Plan plan = make_plan(ctx.cfg, md, host.links);
  int lo = 0;
  for (auto& l : host.links)
    if (l.loopback) lo = l.ifindex;

  std::vector<Verdict> verdicts;
  size_t wrong = 0;
  for (auto& p : make_probes(plan, ctx.opts.ifaces)) {
    RouteAnswer a;
    std::string error;
    if (!ctx.rtnl.route_query(p.dst, p.src, p.forwarded ? lo : 0, &a, &error)) {
      ctx.log.error(error);
      return kExitRetry;
    }
    verdicts.push_back(judge(p, a, plan, host));
    if (!verdicts.back().right) ++wrong;
  }
  if (ctx.opts.json) print_json(ctx.out, verdicts, wrong);
  else print_text(ctx.out, verdicts, plan, wrong);
  bool incomplete = false;
  for (auto& ip : plan.interfaces)
    if (ip.present() && !ip.ignored && ip.state != EniMetadata::State::Complete) incomplete = true;
  if (verdicts.empty() && !incomplete) ctx.log.warn("no ENI of this host is managed here: nothing to check");
  return wrong || incomplete ? kExitRetry : kExitOk;
}

}  // namespace ec2nc
