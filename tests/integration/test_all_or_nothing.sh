#!/bin/bash
# A run brings each interface fully to its new state or leaves it exactly as it was, on
# the real kernel; and an interface with IPv6 turned off gets its IPv4 in full.
#  1. ens6 with net.ipv6.conf.ens6.disable_ipv6=1 while IMDS gives it IPv6 addresses and
#     a prefix: apply configures its IPv4 (addresses, table, rules), leaves its IPv6 out
#     with a warning, exit 0 (as networkd leaves out IPv6 on such a link).
#  2. The kernel refusing ens6's last change (its ra_defrtr_metric sysctl, read-only as
#     under ProtectKernelTunables= or in a container): ec2-netcfg undoes what it had done
#     on ens6 (addresses, rules, table routes, link group) in reverse order, keeps ens6's
#     .network file and state record as they were, configures ens5 in full and exits 1
#     naming the refused change. The next unhindered run configures ens6; foreign state
#     on ens6 and in its table survives all of it.
set -uo pipefail
source "${EC2NC_SRC:?}/tests/integration/lib.sh"
setup_instance

CAPTURE=$(scenario dual-stack-prefixes)
add_eni 0 ens5 02:86:10:7b:e4:f5 10.0.0.1/24 2600:1f18:aaaa:bb00::1/64
add_eni 1 ens6 02:86:10:7b:e4:f6 10.0.1.1/24 2600:1f18:aaaa:bb01::1/64
METRIC=/proc/sys/net/ipv6/conf/ens6/ra_defrtr_metric
ip netns exec "$INST" test -f $METRIC || skip "kernel without ra_defrtr_metric (before 5.14)"
# The RA-learned IPv6 defaults (as the kernel would install them).
ip -n "$INST" -6 route add default via fe80::5:1 dev ens5 proto ra metric 1024
start_imds "$CAPTURE"

# Something else's state on ens6 and in its table, which must not move.
ip -n "$INST" addr add 192.0.2.9/32 dev ens6
ip -n "$INST" rule add from 192.0.2.9 lookup 10001 priority 10001
ip -n "$INST" link set ens6 group 7

# --- 1. IPv6 off on ens6 ---
ip netns exec "$INST" sysctl -qw net.ipv6.conf.ens6.disable_ipv6=1
expect_status 0 "apply with IPv6 off on ens6" nc --backend netlink apply
grep -q "ens6: IPv6 is off on this link" "$TMP/err" && pass "warns that ens6's IPv6 is left out" ||
  fail "no warning: $(head -c 400 "$TMP/err")"
for a in 10.0.1.20 10.0.1.21; do has_addr ens6 $a && pass "ens6 has $a" || fail "ens6 lacks $a"; done
expect_route 10.0.1.21 1.1.1.1 ens6
expect_route 10.0.1.21 10.0.0.50 ens6
expect_route 10.0.1.70 1.1.1.1 ens6 lo   # delegated IPv4 prefix, forwarded
[ -z "$(ip -n "$INST" -6 rule | grep 'lookup 10001')" ] && pass "no IPv6 rules for ens6" || fail "IPv6 rules for ens6"
expect_route 2600:1f18:aaaa:bb00::11 2001:db8::1 ens5
expect_status 0 "remove ens6" nc --backend netlink remove ens6
ip -n "$INST" link set ens6 group 7

# --- 2. the kernel refuses ens6's last change ---
ip netns exec "$INST" sysctl -qw net.ipv6.conf.ens6.disable_ipv6=0
ip -n "$INST" -6 route replace default via fe80::6:1 dev ens6 proto ra metric 1024
ip netns exec "$INST" sysctl -qw net.ipv6.conf.ens6.ra_defrtr_metric=1024

snapshot() {  # everything about ens6 that a run could change
  {
    ip -n "$INST" -o link show dev ens6 | sed 's/.*<\([^>]*\)>.* group \([^ ]*\).*/flags=\1 group=\2/'
    ip -n "$INST" -o addr show dev ens6 | awk '$3 != "inet6" || $4 !~ /^fe80/ {print $2, $3, $4}'
    ip -n "$INST" rule | grep -E 'lookup 10001' || true
    ip -n "$INST" -6 rule | grep -E 'lookup 10001' || true
    ip -n "$INST" route show table 10001 2>/dev/null || true
    ip -n "$INST" -6 route show table 10001 2>/dev/null || true
    ip netns exec "$INST" cat $METRIC
  } | sort
}
before=$(snapshot)
mkdir -p "$TMP/run/systemd/network"
echo "# an older file of ec2-netcfg's" > "$TMP/run/systemd/network/05-ec2-netcfg-ens6.network"

# ec2-netcfg with ens6's ra_defrtr_metric read-only (a private mount namespace).
nc_readonly_metric() {
  ip netns exec "$INST" unshare -m --propagation private sh -c '
    mount --bind "$1" /run && mount --bind "$2" "$2" && mount -o remount,bind,ro "$2" "$2" && shift 2 && exec "$@"' \
    sh "$TMP/run" $METRIC "$EC2NC_BIN" --imds-endpoint "$IMDS_URL" "$@"
}
expect_status 1 "apply with the kernel refusing ens6's last change" nc_readonly_metric --backend networkd -v apply
grep -E "ens6|error" "$TMP/err" | sed 's/^/  | /'
grep -q "error: .*ens6: set sysctl net/ipv6/conf/ens6/ra_defrtr_metric=10001: .*Read-only" "$TMP/err" &&
  pass "the error names ens6's refused change and why" || fail "error does not name the change"
grep -q "ens6: left as it was" "$TMP/err" && pass "says ens6 was left as it was" || fail "no 'left as it was' for ens6"
for undo in "del address 10.0.1.21/32" "del rule from 10.0.1.21/32 lookup 10001" "del route default via 10.0.1.1 table 10001" \
            "set group 7"; do
  grep -q "undone: ens6: $undo" "$TMP/err" && pass "undone: $undo" || fail "not undone: $undo"
done
after=$(snapshot)
if [ "$before" = "$after" ]; then pass "ens6 is exactly as it was (addresses, group, rules, table 10001, sysctl)"
else fail "ens6 changed: $(diff <(echo "$before") <(echo "$after") | head -20)"; fi
[ "$(cat "$TMP/run/systemd/network/05-ec2-netcfg-ens6.network")" = "# an older file of ec2-netcfg's" ] &&
  pass "ens6's .network file left as it was" || fail "ens6's file was rewritten"
[ -s "$TMP/run/systemd/network/05-ec2-netcfg-ens5.network" ] && pass "ens5's file written" || fail "no file for ens5"
for a in 10.0.0.34 10.0.0.35; do expect_route "$a" 1.1.1.1 ens5; done
expect_route 10.0.0.35 10.0.1.50 ens5
expect_route 2600:1f18:aaaa:bb00::11 2001:db8::1 ens5
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if [i["name"] for i in d["interfaces"]] == ["ens5"] else 1)' \
  "$TMP/run/ec2-netcfg/state.json" && pass "state records ens5 only" || fail "state: $(cat "$TMP/run/ec2-netcfg/state.json")"

expect_status 0 "the next run, unhindered" nc --backend networkd apply
for a in 10.0.1.20 10.0.1.21; do expect_route "$a" 1.1.1.1 ens6; done
expect_route 2600:1f18:aaaa:bb01::20 2001:db8::1 ens6
[ "$(ip netns exec "$INST" cat $METRIC)" = 10001 ] && pass "ens6's ra_defrtr_metric set" || fail "metric not set"
grep -q "MACAddress=02:86:10:7b:e4:f6" "$TMP/run/systemd/network/05-ec2-netcfg-ens6.network" && pass "ens6's file written" ||
  fail "ens6's file not rewritten"
has_addr ens6 192.0.2.9 && pass "foreign address on ens6 kept" || fail "foreign address on ens6 gone"
rules=$(ip -n "$INST" rule)
grep -q "from 192.0.2.9 lookup 10001" <<< "$rules" && pass "foreign rule kept" || fail "foreign rule gone"
finish
