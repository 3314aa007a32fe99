#include "app/app.h"

#include "app/backend.h"
#include "app/commands.h"
#include "app/context.h"
#include "app/imds_path.h"
#include "app/log.h"

namespace ec2nc {

int run(const Options& opts, Out& out, Out& err) {
  Log log(err, opts.verbosity);
  if (opts.command == "help") {
    out << usage_text();
    return kExitOk;
  }
  if (opts.command == "version") {
    out << "ec2-netcfg " << EC2NC_VERSION << "\n";
    return kExitOk;
  }
  Context ctx(opts, log, out);
  int rc = load_config(ctx);
  if (rc) return rc;
  if (opts.command == "apply" || opts.command == "diff" || opts.command == "check") apply_vpc_cni_policy(ctx);
  ctx.deadline = Clock::now() + std::chrono::seconds(ctx.cfg.wait_timeout_s);
  if (opts.command != "dump-metadata" && (rc = choose_backend(ctx))) return rc;
  if (opts.command != "remove" && (rc = open_source(ctx))) return rc;
  if (opts.command == "apply") {
    rc = cmd_apply(ctx, true);
    restore_imds_path(ctx);
    return rc;
  }
  if (opts.command == "diff") return cmd_apply(ctx, false);
  if (opts.command == "show") return cmd_show(ctx);
  if (opts.command == "check") return cmd_check(ctx);
  if (opts.command == "remove") return cmd_remove(ctx);
  if (opts.command == "dump-metadata") return cmd_dump(ctx);
  log.error("unknown command \"" + opts.command + "\"");
  return kExitUsage;
}

}  // namespace ec2nc
