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

# A version manager's python3 shim (pyenv) costs about a second a call; the checks
# below (and lib.sh's route_dev) call python3 hundreds of times.
if [ -x /usr/bin/python3 ]; then python3() { /usr/bin/python3 "$@"; }; fi

setup_instance
require_networkd
command -v dnsmasq >/dev/null || skip "needs dnsmasq"
[ -x "$EC2NC_BIN" ] || die "no ec2-netcfg binary at $EC2NC_BIN"
CAPTURE=$(scenario "$SCENARIO")

# One line per ENI, in (network card, device number) order:
#   IFNAME MAC PRIMARY ROUTER4/LEN SUBNET4 V4,... ROUTER6/LEN SUBNET6 V6,... PREFIX4,... PREFIX6,...
# ("-" for none). ENIs are named ens5, ens6, ... in that order.
ENIS=$(python3 - "$CAPTURE" <<'EOF'
import ipaddress, json, sys
p = json.load(open(sys.argv[1]))["paths"]
root = "meta-data/network/interfaces/macs/"
primary = p["meta-data/mac"]
rows = []
for mac in (m.rstrip("/") for m in p[root].split("\n")):
    g = lambda k: p.get(root + mac + "/" + k, "")
    rows.append((int(g("network-card") or 0), int(g("device-number")), mac, g))
for i, (card, dev, mac, g) in enumerate(sorted(rows)):
    s4 = g("subnet-ipv4-cidr-block")
    s6 = g("subnet-ipv6-cidr-blocks").split("\n")[0]
    r4 = "%s/%d" % (ipaddress.ip_network(s4)[1], ipaddress.ip_network(s4).prefixlen) if s4 else "-"
    r6 = "%s/%d" % (ipaddress.ip_network(s6)[1], ipaddress.ip_network(s6).prefixlen) if s6 else "-"
    j = lambda k: ",".join(g(k).split("\n")) if g(k) else "-"
    print("ens%d" % (5 + i), mac, "yes" if mac == primary else "no", r4, s4 or "-", j("local-ipv4s"),
          r6, s6 or "-", j("ipv6s"), j("ipv4-prefix"), j("ipv6-prefix"))
EOF
)

# A host in PREFIX (its OFFSET-th address).
host_in() { python3 -c 'import ipaddress,sys; print(ipaddress.ip_network(sys.argv[1])[int(sys.argv[2])])' "$1" "$2"; }

# The emulated VPC: one router namespace per ENI, DHCP(v6) for each ENI's first addresses.
n=0
while read -r ifname mac primary r4 s4 v4s r6 s6 v6s p4 p6; do
  add_eni "$n" "$ifname" "$mac" "$([ "$r4" != - ] && echo "$r4")" "$([ "$r6" != - ] && echo "$r6")"
  first4=${v4s%%,*} first6=${v6s%%,*}
  [ "$first6" = - ] && first6=""
  [ "$first4" != - ] && start_dhcp "$n" "$mac" "$first4" "$first6"
  n=$((n + 1))
done <<< "$ENIS"

# A container bridge's route in main (not an ENI): it must still win from every address.
ip -n "$INST" link add br-test type veth peer name br-peer
ip -n "$INST" addr add 172.17.0.1/16 dev br-test
ip -n "$INST" addr add fd17::1/64 dev br-test nodad
ip -n "$INST" link set br-peer up
ip -n "$INST" link set br-test up
ip netns exec "$INST" sysctl -qw net.ipv6.conf.all.forwarding=1

# ec2-netcfg renders the files (links read over netlink in the instance namespace).
ROOT=$TMP/root
ip netns exec "$INST" "$EC2NC_BIN" --root "$ROOT" --backend networkd --metadata-file "$CAPTURE" apply \
  > "$TMP/apply.out" 2>&1 || { cat "$TMP/apply.out" >&2; die "ec2-netcfg --root apply failed"; }
ls "$ROOT"/run/systemd/network/05-ec2-netcfg-*.network >/dev/null 2>&1 || die "ec2-netcfg wrote no .network file"
[ -f "$ROOT/run/systemd/networkd.conf.d/ec2-netcfg.conf" ] || die "ec2-netcfg wrote no networkd.conf.d drop-in"
GOLDEN=$EC2NC_SRC/tests/data/golden/networkd/$SCENARIO
if diff -r "$GOLDEN" "$ROOT/run/systemd/network" > "$TMP/golden.diff"; then
  pass "the binary's files equal the golden files of $SCENARIO"
else
  cat "$TMP/golden.diff" >&2
  fail "the binary's files differ from $GOLDEN"
fi
cp "$ROOT"/run/systemd/network/* "$ND_DIR/run-network/"
cp "$ROOT"/run/systemd/networkd.conf.d/* "$ND_DIR/networkd.conf.d/"

if [ -n "$DISTRO" ]; then
  # What netplan/cloud-init and Amazon Linux put there: both match our interfaces.
  printf '[Match]\nName=ens5\n\n[Network]\nDHCP=yes\nLinkLocalAddressing=ipv6\n\n[DHCP]\nRouteMetric=100\nUseMTU=true\n' \
    > "$ND_DIR/etc-network/10-netplan-ens5.network"
  printf '[Match]\nName=en*\n\n[Network]\nDHCP=yes\n\n[DHCPv4]\nUseHostname=no\n' \
    > "$ND_DIR/etc-network/80-ec2.network"
fi

start_networkd

# Wait (bounded) until networkd holds every address (non-tentative) and every rule.
state_reached() {
  local ifname mac primary r4 s4 v4s r6 s6 v6s p4 p6 a rules
  rules=$(ip -n "$INST" rule; ip -n "$INST" -6 rule)
  while read -r ifname mac primary r4 s4 v4s r6 s6 v6s p4 p6; do
    [ "$(networkd_setup_state "$ifname")" = configured ] || return 1
    for a in ${v4s//,/ } ${v6s//,/ }; do
      [ "$a" = - ] && continue
      ip -n "$INST" -o addr show dev "$ifname" | grep -v tentative | grep " $a/" >/dev/null || return 1
      grep -q "from $a lookup" <<< "$rules" || return 1
    done
    if [ "$r6" != - ]; then
      # The per-ENI IPv6 default route comes from the RA (Gateway=_ipv6ra).
      local table
      table=$(awk '/^\[RoutingPolicyRule\]/{r=1} r && /^Table=[0-9]/{sub("Table=",""); print; exit}' \
        "$ND_DIR/run-network/05-ec2-netcfg-$ifname.network")
      ip -n "$INST" -6 route show table "$table" default | grep via >/dev/null || return 1
    fi
  done <<< "$ENIS"
  grep -q "lookup main suppress_prefixlength 0 suppress_ifgroup" <<< "$rules" || return 1
}
end=$((SECONDS + 40))
until state_reached; do
  if [ $SECONDS -ge $end ]; then
    nd networkctl list --no-pager >&2 || true
    ip -n "$INST" addr >&2; ip -n "$INST" rule >&2; ip -n "$INST" -6 rule >&2
    ip -n "$INST" route show table all >&2
    cat "$ND_DIR/networkd.log" >&2
    die "networkd did not reach the desired state within 40 s"
  fi
  sleep 0.2
done
pass "networkd configured every address and rule"

# Which file networkd used, and whether it complained about anything in it.
while read -r ifname rest; do
  got=$(networkd_network_file "$ifname")
  if [ "$got" = "/run/systemd/network/05-ec2-netcfg-$ifname.network" ]; then pass "$ifname uses $got"
  else fail "$ifname: networkd applied '$got', not ec2-netcfg's file"; fi
done <<< "$ENIS"
problems=$(networkd_log_problems)
if [ -z "$problems" ]; then pass "networkd logged no unknown key, parse error or failure"
else echo "$problems" >&2; fail "networkd complained (above)"; fi

# The primary's default route stays the system default.
got=$(ip -n "$INST" -j route get 1.1.1.1 | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["dev"])')
if [ "$got" = ens5 ]; then pass "system default (no source) leaves via the primary ens5"
else fail "system default leaves via $got, not ens5"; fi
main_default=$(ip -n "$INST" route show default | sed -n 1p)
case "$main_default" in
  *"dev ens5 "*) pass "lowest-metric default in main is the primary's: $main_default" ;;
  *) fail "lowest-metric default in main is not ens5's: $main_default" ;;
esac
if [ -n "$(awk '$1 == "ens5" && $7 != "-"' <<< "$ENIS")" ]; then
  got=$(ip -n "$INST" -j -6 route get 2606:4700:4700::1111 | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["dev"])')
  if [ "$got" = ens5 ]; then pass "IPv6 system default leaves via the primary ens5"
  else fail "IPv6 system default leaves via $got, not ens5"; fi
fi

# Every address: internet, own subnet, every other ENI's subnet, another VPC subnet,
# the bridge. Delegated prefixes: forwarded traffic from the bridge leaves via the ENI.
SUBNETS4=$(awk '$5 != "-" { print $5 }' <<< "$ENIS" | sort -u)
SUBNETS6=$(awk '$8 != "-" { print $8 }' <<< "$ENIS" | sort -u)
while read -r ifname mac primary r4 s4 v4s r6 s6 v6s p4 p6; do
  for a in ${v4s//,/ }; do
    [ "$a" = - ] && continue
    expect_route "$a" 1.1.1.1 "$ifname"
    for s in $SUBNETS4; do expect_route "$a" "$(host_in "$s" 100)" "$ifname"; done
    expect_route "$a" 10.0.200.5 "$ifname"
    expect_route "$a" 172.17.0.5 br-test
  done
  for a in ${v6s//,/ }; do
    [ "$a" = - ] && continue
    expect_route "$a" 2606:4700:4700::1111 "$ifname"
    for s in $SUBNETS6; do expect_route "$a" "$(host_in "$s" 100)" "$ifname"; done
    expect_route "$a" fd17::5 br-test
  done
  for p in ${p4//,/ }; do
    [ "$p" = - ] && continue
    expect_route "$(host_in "$p" 5)" 1.1.1.1 "$ifname" br-test
  done
  for p in ${p6//,/ }; do
    [ "$p" = - ] && continue
    expect_route "$(host_in "$p" 5)" 2606:4700:4700::1111 "$ifname" br-test
  done
done <<< "$ENIS"

stop_networkd
finish
