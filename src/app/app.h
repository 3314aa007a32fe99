// The commands of ec2-netcfg (apply, remove, show, diff, dump-metadata) as a
// function of parsed options, so tests can drive them without a process.
#pragma once

#include "app/cli.h"
#include "edge/out.h"

namespace ec2nc {

/// Runs one command. Output for the user goes to `out`; log lines to `err`.
int run(const Options& opts, Out& out, Out& err);

}  // namespace ec2nc
