#!/bin/bash
# IMDS answers caught mid-update (issue 26, items 1 and 3), on the real kernel, each
# starting from an instance ec2-netcfg has fully configured (netlink backend): two
# dual-stack ENIs in one subnet, ens6 with a delegated IPv4 prefix. Each read below is a
# snapshot IMDS can give while it changes, never an instruction to remove: the run
# leaves everything as it was and exits 1 (the wait bound is 3 s here).
#  a. ens6's ipv6s listed with an empty body (it used to take every IPv6 address and rule)
#  b. ens6's ipv4-prefix listed with an empty body (it used to take the prefix's rule)
#  c. 10.0.0.35 listed on ens5 and ens6 at once (a move with --allow-reassignment caught
#     half-way); once IMDS lists it on ens6 alone, it moves
#  d. ens6's listing without either IPv4 key (it used to be read as IPv6-only)
set -uo pipefail
source "${EC2NC_SRC:?}/tests/integration/lib.sh"
setup_instance

P=02:86:10:7b:e4:f5 S=02:86:10:7b:e4:f6
NET6=2600:1f18:aaaa:bb00
add_eni 0 ens5 $P 10.0.0.1/24 "$NET6::1/64"
add_eni 1 ens6 $S 10.0.0.2/24 "$NET6::2/64"
# DHCP's part: each ENI's primary address.
ip -n "$INST" addr add 10.0.0.34/24 dev ens5
ip -n "$INST" addr add 10.0.0.40/24 dev ens6
ip -n "$INST" route add default via 10.0.0.1 dev ens5
ip -n "$INST" addr add "$NET6::10/128" dev ens5 nodad
ip -n "$INST" addr add "$NET6::20/128" dev ens6 nodad

# cap OUT A5 A6 [EDIT...]: a capture: ens5's and ens6's IPv4 addresses (comma-separated),
# then edits of ens6's directory: KEY=BODY sets a key's body (listed), -KEY unlists it.
cap() {
  python3 - "$EC2NC_SRC/tests/tools" "$@" <<'EOF'
import json, sys
sys.path.insert(0, sys.argv[1])
import scenario
out, a5, a6, edits = sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5:]
n6 = "2600:1f18:aaaa:bb00"
enis = [scenario.eni("02:86:10:7b:e4:f5", 0, a5.split(","), "10.0.0.0/24", ipv6s=[n6 + "::10", n6 + "::11"],
                     subnet6=[n6 + "::/64"], vpc6=["2600:1f18:aaaa:bb00::/56"]),
        scenario.eni("02:86:10:7b:e4:f6", 1, a6.split(","), "10.0.0.0/24", ipv6s=[n6 + "::20", n6 + "::21"],
                     subnet6=[n6 + "::/64"], v4prefix=["10.0.0.64/28"], vpc6=["2600:1f18:aaaa:bb00::/56"])]
d = scenario.build(enis, "02:86:10:7b:e4:f5")
base = scenario.MACS + "02:86:10:7b:e4:f6/"
for e in edits:
    keys = d["paths"][base].split("\n")
    if e.startswith("-"):
        d["paths"][base] = "\n".join(k for k in keys if k != e[1:])
        d["paths"].pop(base + e[1:], None)
    else:
        k, body = e.split("=", 1)
        d["paths"][base + k] = body
        if k not in keys: d["paths"][base] = "\n".join(keys + [k])
json.dump(d, open(out, "w"), indent=1)
EOF
}

snapshot() {
  {
    ip -n "$INST" rule
    ip -n "$INST" -6 rule
    ip -n "$INST" route show table all | grep -v 'proto kernel\|^local\|^broadcast\|^multicast\|fe80::/64' || true
    ip -n "$INST" -6 route show table all | grep -v 'proto kernel\|^local\|^multicast\|^anycast\|fe80::/64' || true
    ip -n "$INST" -o addr | awk '$4 !~ /^fe80/ {print $2, $3, $4}'
  } | sort
}
same_as() {  # LABEL FILE
  local now; now=$(snapshot)
  if [ "$now" = "$(cat "$2")" ]; then pass "$1: nothing changed"
  else fail "$1: changed: $(diff "$2" <(echo "$now") | head -12 | tr '\n' ';')"; fi
}
mkdir -p "$TMP/conf"
printf '[main]\nwait-timeout = 3\n' > "$TMP/conf/short.conf"
nl() { nc --backend netlink --config "$TMP/conf/short.conf" "$@"; }

cap "$TMP/good.json" 10.0.0.34,10.0.0.35 10.0.0.40,10.0.0.41
start_imds "$TMP/good.json"
expect_status 0 "apply (a fully configured instance to start from)" nl apply
expect_route 10.0.0.41 1.1.1.1 ens6
expect_route "$NET6::21" "$NET6::99" ens6
expect_route 10.0.0.70 1.1.1.1 ens6 lo
snapshot > "$TMP/base"

# a. ipv6s listed, empty body.
for body in "" $'\n'; do
  cap "$TMP/a.json" 10.0.0.34,10.0.0.35 10.0.0.40,10.0.0.41 "ipv6s=$body"
  set_imds "$TMP/a.json"
  expect_status 1 "a: apply with ens6's ipv6s listed but empty ($(printf %q "$body"))" nl -q apply
  grep -q "$S/ipv6s: listed but empty (caught mid-update; not propagated yet)" "$TMP/err" \
    && pass "a: the error names the IMDS path and why" || fail "a: $(cat "$TMP/err")"
  same_as "a: ipv6s empty" "$TMP/base"
  expect_route "$NET6::21" "$NET6::99" ens6
done

# b. ipv4-prefix listed, empty body.
cap "$TMP/b.json" 10.0.0.34,10.0.0.35 10.0.0.40,10.0.0.41 "ipv4-prefix="
set_imds "$TMP/b.json"
expect_status 1 "b: apply with ens6's ipv4-prefix listed but empty" nl -q apply
grep -q "$S/ipv4-prefix: listed but empty" "$TMP/err" && pass "b: the error names ipv4-prefix" || fail "b: $(cat "$TMP/err")"
same_as "b: ipv4-prefix empty" "$TMP/base"
expect_route 10.0.0.70 1.1.1.1 ens6 lo

# c. 10.0.0.35 on both ENIs, then on ens6 alone.
cap "$TMP/c.json" 10.0.0.34,10.0.0.35 10.0.0.40,10.0.0.41,10.0.0.35
set_imds "$TMP/c.json"
expect_status 1 "c: apply with 10.0.0.35 listed on ens5 and ens6" nl -q apply
grep -q "10.0.0.35/32 is also listed on" "$TMP/err" && pass "c: the error says the address is listed twice" \
  || fail "c: $(cat "$TMP/err")"
same_as "c: address on two ENIs" "$TMP/base"
expect_route 10.0.0.35 1.1.1.1 ens5
cap "$TMP/c2.json" 10.0.0.34 10.0.0.40,10.0.0.41,10.0.0.35
set_imds "$TMP/c2.json"
expect_status 0 "c: apply once IMDS lists 10.0.0.35 on ens6 alone" nl apply
has_addr ens5 10.0.0.35 && fail "c: 10.0.0.35 still on ens5" || pass "c: 10.0.0.35 left ens5"
has_addr ens6 10.0.0.35 && pass "c: 10.0.0.35 on ens6" || fail "c: 10.0.0.35 not on ens6"
expect_route 10.0.0.35 1.1.1.1 ens6
set_imds "$TMP/good.json"
expect_status 0 "c: and back (the instance to start from again)" nl apply
same_as "c: back to the start" "$TMP/base"

# d. ens6's listing without its IPv4 keys: read as IPv6-only, it would lose all its IPv4.
cap "$TMP/d.json" 10.0.0.34,10.0.0.35 10.0.0.40,10.0.0.41 -local-ipv4s -subnet-ipv4-cidr-block -ipv4-prefix
set_imds "$TMP/d.json"
expect_status 1 "d: apply with ens6 listed without local-ipv4s and subnet-ipv4-cidr-block" nl -q apply
grep -q "$S/: lists neither local-ipv4s nor subnet-ipv4-cidr-block, but ec2-netcfg configured IPv4 on it" "$TMP/err" \
  && pass "d: the error says why it is not read as IPv6-only" || fail "d: $(cat "$TMP/err")"
same_as "d: IPv4 keys gone" "$TMP/base"
expect_route 10.0.0.41 1.1.1.1 ens6
finish
