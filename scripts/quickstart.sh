#!/usr/bin/env bash
# Installs the build and test dependencies (Debian 12), builds ec2-netcfg in ./build,
# and shows what it would configure for a capture of a real two-ENI instance.
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=
[ "$(id -u)" = 0 ] || SUDO=sudo
if [ -z "${EC2NC_SKIP_APT:-}" ]; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $(grep -v '^#' scripts/deps.txt) >/dev/null
fi
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)"
echo
echo "\$ build/ec2-netcfg show --metadata-file examples/dual-stack-two-enis.json"
build/ec2-netcfg show --metadata-file examples/dual-stack-two-enis.json
