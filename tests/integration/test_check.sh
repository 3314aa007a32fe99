#!/bin/bash
# ec2-netcfg check on the real kernel: all right after apply (exit 0), then routing broken
# on purpose one way at a time, each wrong answer named with its cause (exit 1), and put
# right again: an address missing, the ENI's rule missing, someone else's rule at a
# higher priority capturing the source, the table's default missing, the IPv6 default not
# learned yet, forwarding off for a delegated prefix, a specific main route through a bridge.
set -uo pipefail
source "${EC2NC_SRC:?}/tests/integration/lib.sh"
setup_instance
ip netns exec "$INST" sysctl -qw net.ipv6.conf.all.forwarding=1

CAPTURE=$(scenario dual-stack-prefixes)
add_eni 0 ens5 02:86:10:7b:e4:f5 10.0.0.1/24 2600:1f18:aaaa:bb00::1/64
add_eni 1 ens6 02:86:10:7b:e4:f6 10.0.1.1/24 2600:1f18:aaaa:bb01::1/64
ip -n "$INST" addr add 10.0.0.34/24 dev ens5
ip -n "$INST" route add default via 10.0.0.1 dev ens5
# The RA-learned IPv6 defaults (as the kernel would install them; no RA timing).
ip -n "$INST" -6 route add default via fe80::5:1 dev ens5 proto ra metric 1024
ip -n "$INST" -6 route add default via fe80::6:1 dev ens6 proto ra metric 10001
start_imds "$CAPTURE"
ncx() { nc --backend netlink "$@"; }
expect_status 0 "apply" ncx apply

# check_ok LABEL: exit 0, "0 wrong".
check_ok() {
  expect_status 0 "$1: check" ncx check
  grep -q " 0 wrong$" "$TMP/out" && pass "$1: 0 wrong" || { cat "$TMP/out"; fail "$1: check not all right"; }
}
# check_wrong LABEL CAUSE-REGEX: exit 1 and a WRONG line whose cause matches.
check_wrong() {
  expect_status 1 "$1: check" ncx check
  if grep -A1 "WRONG" "$TMP/out" | grep -Eq "cause: $2"; then pass "$1: cause named: $(grep -m1 -o "cause: .*" "$TMP/out")"
  else cat "$TMP/out"; fail "$1: no WRONG line with cause /$2/"; fi
}

check_ok "after apply"
n=$(grep -c '^  ok' "$TMP/out")
[ "$n" -ge 20 ] && pass "after apply: $n answers checked" || fail "only $n answers checked"
expect_status 0 "check --json" ncx check --json
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if d["wrong"] == 0 and d["checked"] > 0 and all(r["right"] for r in d["results"]) else 1)' \
  "$TMP/out" && pass "check --json: all right" || fail "check --json: $(head -c 300 "$TMP/out")"

# 1. an address missing
ip -n "$INST" addr del 10.0.1.21/32 dev ens6
check_wrong "address gone" "address missing: 10.0.1.21 is not on ens6"
expect_status 0 "apply puts it back" ncx apply

# 2. the ENI's rule missing
ip -n "$INST" rule del from 10.0.1.21 lookup 10001 priority 10001
check_wrong "rule gone" "missing rule: no \`from 10.0.1.21/32 lookup 10001\`"
expect_status 0 "apply puts it back" ncx apply

# 3. someone else's rule first
ip -n "$INST" route add default via 10.0.0.1 dev ens5 table 100
ip -n "$INST" rule add from 10.0.1.20 lookup 100 priority 500
check_wrong "foreign rule" "rule 500: from 10.0.1.20/32 lookup 100 comes before ens6's rule \(10001\) and captures the source"
ip -n "$INST" rule del from 10.0.1.20 lookup 100 priority 500
check_ok "foreign rule removed"

# 4. the table's default missing
ip -n "$INST" route del default table 10001
check_wrong "table default gone" "missing table route: table 10001 has no default route"
expect_status 0 "apply puts it back" ncx apply

# 5. the IPv6 default not learned yet (no RA on ens6)
ip -n "$INST" -6 route del default via fe80::6:1 dev ens6
ip -n "$INST" -6 route del default table 10001
check_wrong "no RA on ens6" "IPv6 default not learned yet"
ip -n "$INST" -6 route add default via fe80::6:1 dev ens6 proto ra metric 10001
expect_status 0 "apply after the RA" ncx apply
check_ok "after the RA"

# 6. forwarding off: delegated prefixes go nowhere
ip netns exec "$INST" sysctl -qw net.ipv4.ip_forward=0
check_wrong "forwarding off" "forwarding is off \(net.ipv4.ip_forward = 0\)"
ip netns exec "$INST" sysctl -qw net.ipv4.ip_forward=1

# 7. a specific main route through a bridge (by design it wins: named, not hidden)
ip -n "$INST" link add br-test type veth peer name br-peer
ip -n "$INST" link set br-test up; ip -n "$INST" link set br-peer up
ip -n "$INST" addr add 172.31.0.1/24 dev br-test
ip -n "$INST" route add 1.1.1.1/32 via 172.31.0.2 dev br-test
check_wrong "bridge route" "a specific route in main through br-test wins"
ip -n "$INST" route del 1.1.1.1/32
check_ok "bridge route removed"

# check IFACE and an unknown interface
expect_status 0 "check ens6" ncx check ens6
grep -q "^ens5 " "$TMP/out" && fail "check ens6 showed ens5" || pass "check ens6 shows ens6 only"
expect_status 2 "check no-such-if" ncx check nosuch0
finish
