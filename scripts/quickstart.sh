#!/usr/bin/env bash
# Installs the build and test dependencies (Debian 12 or 13: scripts/deps.txt), builds
# ec2-netcfg in ./build, and shows what it would configure for a capture of a real two-ENI
# instance.
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=
[ "$(id -u)" = 0 ] || SUDO=sudo
# deps_for CODENAME: the packages of scripts/deps.txt for that release (a line's
# `[codename...]` names the only releases it is for, `[!codename...]` those it is not for).
deps_for() {
  awk -v rel="$1" '
    { sub(/#.*/, "") }
    NF == 0 { next }
    NF == 1 { print $1; next }
    {
      line = $0; sub(/^[^[]*\[/, "", line); sub(/\].*/, "", line)
      neg = (substr(line, 1, 1) == "!"); if (neg) line = substr(line, 2)
      hit = 0; n = split(line, r, /[ \t]+/)
      for (i = 1; i <= n; i++) if (r[i] == rel) hit = 1
      if (hit != neg) print $1
    }' scripts/deps.txt
}
if [ -z "${EC2NC_SKIP_APT:-}" ]; then
  codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
  [ -n "$codename" ] || { echo "quickstart.sh: no VERSION_CODENAME in /etc/os-release (a Debian release is needed)" >&2; exit 2; }
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $(deps_for "$codename") >/dev/null
fi
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)"
echo
echo "\$ build/ec2-netcfg show --metadata-file examples/dual-stack-two-enis.json"
build/ec2-netcfg show --metadata-file examples/dual-stack-two-enis.json
