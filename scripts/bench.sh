#!/bin/bash
# Benchmark: apply of the largest bundled shape (15 ENIs x 50 IPv4 + 10 IPv6) with the
# netlink backend against the real kernel in network namespaces of its own, IMDS
# emulated on 127.0.0.1 inside them; then a no-change apply. Prints wall time, peak
# RSS, IMDS requests, netlink messages and kernel changes of each run (best of N).
# Figures, not assertions: the machine is shared. Needs root.
#
#   scripts/bench.sh [BUILD_DIR] [RUNS]      (default: build, 5)
set -uo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-build}
RUNS=${2:-5}
export EC2NC_BIN=$(cd "$BUILD" && pwd)/ec2-netcfg EC2NC_SRC=$SRC
[ -x "$EC2NC_BIN" ] || { echo "no binary at $EC2NC_BIN (build first)" >&2; exit 2; }
source "$SRC/tests/integration/lib.sh"
setup_instance

CAPTURE=$(scenario largest)
# One line per ENI, in table order, from ec2-netcfg's own plan: IFNAME MAC ROUTER/LEN.
"$EC2NC_BIN" --metadata-file "$CAPTURE" show --json | python3 -c '
import ipaddress, json, sys
for i, e in enumerate(json.load(sys.stdin)["interfaces"]):
    gw = next(r["gateway"] for r in e["routes"] if r["dst"] == "default" and "." in r.get("gateway", ""))
    net = next(r["dst"] for r in e["routes"] if r["scope"] == "link" and "." in r["dst"])
    print("ens%d" % (5 + i), e["mac"], "%s/%d" % (gw, ipaddress.ip_network(net).prefixlen))' > "$TMP/enis"
n=0
while read -r ifname mac r4; do add_eni "$n" "$ifname" "$mac" "$r4"; n=$((n + 1)); done < "$TMP/enis"
start_imds "$CAPTURE"

# One measured run: "wall_s rss_kb imds_requests netlink_messages kernel_changes".
measure() {
  mkdir -p "$TMP/run"
  ip netns exec "$INST" unshare -m --propagation private sh -c 'mount --bind "$1" /run && shift && exec "$@"' \
    sh "$TMP/run" /usr/bin/time -f "%e %M" -o "$TMP/time" \
    "$EC2NC_BIN" --imds-endpoint "$IMDS_URL" --backend netlink -vv apply 2> "$TMP/log" || {
    echo "apply failed: $(tail -3 "$TMP/log")" >&2; exit 1; }
  local done_line
  done_line=$(grep "done in" "$TMP/log" | tail -1)
  echo "$(cat "$TMP/time") $(sed -E 's/.* ([0-9]+) kernel change.*, ([0-9]+) IMDS request.*, ([0-9]+) netlink message.*/\2 \3 \1/' <<< "$done_line")"
}
best() { sort -n | head -1; }

first=() again=()
for i in $(seq "$RUNS"); do
  [ "$i" = 1 ] || nc --backend netlink remove $(cut -d' ' -f1 "$TMP/enis") >/dev/null 2>&1
  first+=("$(measure)")
  again+=("$(measure)")
done
report() {
  local what=$1; shift
  local line
  line=$(printf '%s\n' "$@" | best)
  read -r wall rss reqs msgs changes <<< "$line"
  printf '%-32s wall %5.2f s (best of %d)  peak RSS %6.1f MB  %4d IMDS requests  %5d netlink messages  %5d kernel changes\n' \
    "$what" "$wall" "$RUNS" "$(awk -v k="$rss" 'BEGIN { print k / 1024 }')" "$reqs" "$msgs" "$changes"
}
echo "largest shape: $(wc -l < "$TMP/enis") ENIs, $(grep -c . <<< "$(python3 -c "
import json,sys; p=json.load(open(sys.argv[1]))['paths']
print('\n'.join(v for k,v in p.items() if k.endswith('/local-ipv4s') or k.endswith('/ipv6s')))" "$CAPTURE")") addresses"
report "apply (everything new)" "${first[@]}"
report "apply (nothing changed)" "${again[@]}"
