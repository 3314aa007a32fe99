#!/usr/bin/env bash
# Try `ec2-netcfg apply` safely off EC2: a network namespace of its own, with one veth per
# ENI of a dump-metadata capture (carrying the ENI's MAC, named ens5, ens6, ...), then
# apply, check, and what the kernel now holds (ip rule, each ENI's table). Nothing on the
# host is touched; the namespace is deleted at the end (also on failure or Ctrl-C).
#
#   sudo scripts/try-in-netns.sh [CAPTURE.json] [BINARY]
#
# CAPTURE defaults to examples/dual-stack-two-enis.json, BINARY to build/ec2-netcfg.
set -euo pipefail
cd "$(dirname "$0")/.."
CAPTURE=${1:-examples/dual-stack-two-enis.json}
BIN=$(realpath "${2:-build/ec2-netcfg}")
[ "$(id -u)" = 0 ] || { echo "needs root (network namespaces): sudo $0 $*" >&2; exit 2; }
[ -x "$BIN" ] || { echo "$BIN missing: run scripts/quickstart.sh first" >&2; exit 2; }
NS=ec2nc-try-$$
RUN=$(mktemp -d /tmp/ec2nc-try.XXXXXX)
cleanup() { ip netns pids "$NS" 2>/dev/null | xargs -r kill 2>/dev/null; ip netns del "$NS" 2>/dev/null; rm -rf "$RUN"; }
trap cleanup EXIT
trap 'exit 130' INT TERM
ip netns add "$NS"
ip -n "$NS" link set lo up
ip netns exec "$NS" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
# The capture's ENIs in (network card, device number) order; the far end of each veth
# stays in the namespace too (its name: peerN).
n=5
while read -r mac v6; do
  ip -n "$NS" link add "ens$n" address "$mac" type veth peer name "peer$n"
  ip -n "$NS" link set "ens$n" up
  ip -n "$NS" link set "peer$n" up
  # The default route the kernel would learn from the VPC router's advertisements.
  if [ "$v6" = 1 ]; then
    ip -n "$NS" -6 route add default via fe80::1 dev "ens$n" proto ra metric $((1024 + n))
  fi
  n=$((n + 1))
done < <(python3 - "$CAPTURE" <<'PY'
import json, sys
p = json.load(open(sys.argv[1]))["paths"]
base = "meta-data/network/interfaces/macs/"
macs = [m.rstrip("/") for m in p[base].split("\n") if m]
key = lambda m: (int(p.get(base + m + "/network-card", "0") or 0), int(p.get(base + m + "/device-number", "0") or 0))
for m in sorted(macs, key=key):
    print(m, 1 if p.get(base + m + "/subnet-ipv6-cidr-blocks") else 0)
PY
)
# ec2-netcfg in the namespace with a private /run (its state, lock and files stay in $RUN).
ec() {
  ip netns exec "$NS" unshare -m --propagation private \
    sh -c 'mount --bind "$1" /run && shift && exec "$@"' sh "$RUN" "$BIN" --backend netlink --metadata-file "$CAPTURE" "$@"
}
echo "\$ ec2-netcfg apply"
ec apply
echo
echo "\$ ec2-netcfg check"
rc=0
ec check || rc=$?
echo
echo "\$ ip rule"
ip -n "$NS" rule
for t in $(ip -n "$NS" rule | sed -n 's/.*lookup \([0-9]\{5,\}\).*/\1/p' | sort -u); do
  echo
  echo "\$ ip route show table $t; ip -6 route show table $t"
  ip -n "$NS" route show table "$t"
  ip -n "$NS" -6 route show table "$t" 2>/dev/null || true
done
exit $rc
