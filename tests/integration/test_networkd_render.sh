#!/bin/bash
# The networkd backend's files, given to a real systemd-networkd at its start,
# reproduce the desired state: for every address of every ENI the kernel routes
# traffic out of that ENI (to the internet, to its own subnet, to another ENI's
# subnet), the primary's default route stays the system default, a bridge route
# in main still wins, and a distribution's .network files matching the same
# interfaces change nothing (ours sorts first). networkd must log no unknown key.
#
#   test_networkd_render.sh                     every case, in parallel processes
#   test_networkd_render.sh SCENARIO [distro]   one case
set -euo pipefail

CASES=(
  "one-eni-three-ips"
  "two-enis-same-subnet"
  "two-enis-two-subnets"
  "four-enis-two-cards"
  "dual-stack-prefixes"
  "two-enis-same-subnet distro"
  "dual-stack-prefixes distro"
)

if [ $# -eq 0 ]; then
  # Every case at once, each a process of its own (own namespaces, own networkd);
  # their outputs are printed one after the other.
  out=$(mktemp -d /tmp/ec2nc-nd-render.XXXXXX)
  pids=()
  stop_cases() {
    local rc=$?
    set +e
    [ ${#pids[@]} -eq 0 ] || kill "${pids[@]}" 2>/dev/null
    wait
    rm -rf "$out"
    exit "$rc"
  }
  trap stop_cases EXIT
  trap 'exit 130' INT TERM
  for i in "${!CASES[@]}"; do
    # shellcheck disable=SC2086
    bash "$0" ${CASES[$i]} > "$out/$i" 2>&1 &
    pids[$i]=$!
  done
  rc=0 skipped=0
  for i in "${!CASES[@]}"; do
    wait "${pids[$i]}" && r=0 || r=$?
    echo "=== networkd render: ${CASES[$i]}"
    cat "$out/$i"
    if [ "$r" = 77 ]; then skipped=1; elif [ "$r" != 0 ]; then echo "=== FAILED: ${CASES[$i]}"; rc=1; fi
  done
  pids=()
  [ "$rc" = 0 ] && [ "$skipped" = 1 ] && exit 77
  exit "$rc"
fi

SCENARIO=$1
DISTRO=${2:-}
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_networkd.sh"
. "$(dirname "$0")/lib_render.sh"

setup_instance
require_networkd
command -v dnsmasq >/dev/null || skip "needs dnsmasq"
[ -x "$EC2NC_BIN" ] || die "no ec2-netcfg binary at $EC2NC_BIN"
CAPTURE=$(scenario "$SCENARIO")
ENIS=$(enis_of "$CAPTURE")
vpc_for "$ENIS"

# ec2-netcfg renders the files (links read over netlink in the instance namespace).
ROOT=$TMP/root
ip netns exec "$INST" "$EC2NC_BIN" --root "$ROOT" --backend networkd --metadata-file "$CAPTURE" apply \
  > "$TMP/apply.out" 2>&1 || { cat "$TMP/apply.out" >&2; die "ec2-netcfg --root apply failed"; }
ls "$ROOT"/run/systemd/network/05-ec2-netcfg-*.network >/dev/null 2>&1 || die "ec2-netcfg wrote no .network file"
[ ! -e "$ROOT/run/systemd/networkd.conf.d/ec2-netcfg.conf" ] || die "ec2-netcfg wrote a networkd.conf.d drop-in (the package installs it; runs never do)"
GOLDEN=$EC2NC_SRC/tests/data/golden/networkd/$SCENARIO
if diff -r "$GOLDEN" "$ROOT/run/systemd/network" > "$TMP/golden.diff"; then
  pass "the binary's files equal the golden files of $SCENARIO"
else
  cat "$TMP/golden.diff" >&2
  fail "the binary's files differ from $GOLDEN"
fi
cp "$ROOT"/run/systemd/network/* "$ND_DIR/run-network/"
# The drop-in the package installs, read when networkd starts.
cp "$EC2NC_SRC/units/ec2-netcfg-networkd.conf" "$ND_DIR/networkd.conf.d/ec2-netcfg.conf"

if [ -n "$DISTRO" ]; then
  # What netplan/cloud-init and Amazon Linux put there: both match our interfaces.
  printf '[Match]\nName=ens5\n\n[Network]\nDHCP=yes\nLinkLocalAddressing=ipv6\n\n[DHCP]\nRouteMetric=100\nUseMTU=true\n' \
    > "$ND_DIR/etc-network/10-netplan-ens5.network"
  printf '[Match]\nName=en*\n\n[Network]\nDHCP=yes\n\n[DHCPv4]\nUseHostname=no\n' \
    > "$ND_DIR/etc-network/80-ec2.network"
fi

start_networkd
apply_kernel_part networkd
wait_plan_state "$ENIS" "ec2-netcfg's files"

# Which file networkd used, and whether it complained about anything in it.
while read -r ifname rest; do
  got=$(networkd_network_file "$ifname")
  if [ "$got" = "/run/systemd/network/05-ec2-netcfg-$ifname.network" ]; then pass "$ifname uses $got"
  else fail "$ifname: networkd applied '$got', not ec2-netcfg's file"; fi
done <<< "$ENIS"
problems=$(networkd_log_problems)
if [ -z "$problems" ]; then pass "networkd logged no unknown key, parse error or failure"
else echo "$problems" >&2; fail "networkd complained (above)"; fi

check_plan_routing "$ENIS"

stop_networkd
finish
