#!/usr/bin/env bash
# Runs the whole test suite: unit tests, then integration tests against the real
# kernel and systemd-networkd in network namespaces of their own (these need
# root; without it they report SKIP). Build first with scripts/quickstart.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x build/ec2-netcfg ] || { echo "build/ec2-netcfg missing: run scripts/quickstart.sh first" >&2; exit 2; }
cmake --build build -j"$(nproc)" >/dev/null
exec ctest --test-dir build --output-on-failure "$@"
