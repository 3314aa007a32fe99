#!/bin/bash
# The largest bundled shape's benchmark (15 ENIs x 50 IPv4 + 10 IPv6): bench/run.sh for
# that one scenario (first apply and no-change apply, netlink backend, real kernel in
# namespaces of its own, IMDS emulated with 0 and 1 ms latency). Needs root.
#
#   scripts/bench.sh [BUILD_DIR] [RUNS]      (default: build, 5)
#
# The whole series: sudo bench/run.sh (see README, "Measured").
SRC=$(cd "$(dirname "$0")/.." && pwd)
exec bash "$SRC/bench/run.sh" --bin "${1:-build}/ec2-netcfg" --runs "${2:-5}" --scenarios 15x50+10
