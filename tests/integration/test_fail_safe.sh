#!/bin/bash
# Fail safe (issue 16), on the real kernel: no wrong or partial IMDS answer takes
# configuration away, nothing that is not an ENI is touched, and configuration goes only
# on positive evidence (the link left the host, or a complete valid read without it).
# Each item reproduces what a review and a fault run found:
#  1. an empty ENI listing, one without meta-data/mac, one without a present ENI
#  2. remove of a detached ENI after another was attached at its device number
#  3. an all-zero MAC in the listing (it used to configure lo)
#  4. a delegated prefix outside its subnet; a subnet holding the IMDS address
#  5. table-base = 40000 (rule priorities behind main's)
#  6. a damaged state.json
#  7. one ENI whose data never completes does not hold back the others
#  8. networkd backend: other programs' proto static route and rule in an ENI's table
#  9. a kernel without IFA_PROTO (imitated): unassigned addresses still go, remove leaves none
set -uo pipefail
source "${EC2NC_SRC:?}/tests/integration/lib.sh"
setup_instance

P=02:86:10:7b:e4:f5 S=02:86:10:7b:e4:f6 T=02:86:10:7b:e4:f7
add_eni 0 ens5 $P 10.0.0.1/24
add_eni 1 ens6 $S 10.0.1.1/24
ip -n "$INST" addr add 10.0.0.34/24 dev ens5            # DHCP's part on the primary
ip -n "$INST" route add default via 10.0.0.1 dev ens5
ip -n "$INST" addr add 10.0.1.20/24 dev ens6

# cap OUT ARGS: a capture. ARGS: MAC:DEV:ADDR,ADDR:SUBNET[:V4PREFIX] per ENI; "primary=MAC"
# overrides meta-data/mac; "listing=TEXT" replaces the macs/ listing.
cap() {
  python3 - "$EC2NC_SRC/tests/tools" "$@" <<'EOF'
import json, sys
sys.path.insert(0, sys.argv[1])
import scenario
out, args = sys.argv[2], sys.argv[3:]
enis, primary, listing = [], None, None
for a in args:
    if a.startswith("primary="): primary = a[8:]; continue
    if a.startswith("listing="): listing = a[8:].replace("\\n", "\n"); continue
    f = a.split(":")
    mac = ":".join(f[:6]); dev, addrs, subnet = f[6], f[7], f[8]
    pfx = f[9].split(",") if len(f) > 9 and f[9] else ()
    enis.append(scenario.eni(mac, int(dev), addrs.split(","), subnet, v4prefix=pfx))
d = scenario.build(enis, primary or enis[0]["mac"])
if listing is not None: d["paths"]["meta-data/network/interfaces/macs/"] = listing
json.dump(d, open(out, "w"), indent=1)
EOF
}
E5="$P:0:10.0.0.34,10.0.0.35:10.0.0.0/24"
E6="$S:1:10.0.1.20,10.0.1.21,10.0.1.22:10.0.1.0/24"
cap "$TMP/good.json" "$E5" "$E6"
start_imds "$TMP/good.json"

# What a run could change: rules, routes (not the kernel's own), addresses, link groups.
snapshot() {
  {
    ip -n "$INST" rule
    ip -n "$INST" -6 rule
    ip -n "$INST" route show table all | grep -v 'proto kernel\|^local\|^broadcast\|^multicast\|fe80::/64' || true
    ip -n "$INST" -o addr | awk '$4 !~ /^fe80/ {print $2, $3, $4}'
    ip -n "$INST" -o -d link | sed -n 's/^[0-9]*: \([^:@]*\).* group \([^ ]*\).*/\1 group \2/p'
  } | sort
}
same_as() {  # LABEL FILE
  local now; now=$(snapshot)
  if [ "$now" = "$(cat "$2")" ]; then pass "$1: nothing changed"
  else fail "$1: changed: $(diff "$2" <(echo "$now") | head -12 | tr '\n' ';')"; fi
}
nl() { nc --backend netlink "$@"; }
# A read that fails as a whole is retried until the wait bound: keep it short here.
mkdir -p "$TMP/conf"
printf '[main]\nwait-timeout = 3\n' > "$TMP/conf/short.conf"
nls() { nc --backend netlink --config "$TMP/conf/short.conf" "$@"; }

expect_status 0 "apply (baseline)" nl apply
expect_route 10.0.1.21 1.1.1.1 ens6
snapshot > "$TMP/base"

# --- 1. reads IMDS cannot mean ---
cap "$TMP/empty.json" "$E5" "$E6" "listing="
set_imds "$TMP/empty.json"
expect_status 1 "1a: apply with an empty macs/ listing" nls -q apply
grep -q "listing is empty" "$TMP/err" && pass "1a: the error says the listing is empty" || fail "1a: $(cat "$TMP/err")"
same_as "1a: empty listing" "$TMP/base"
cap "$TMP/noprimary.json" "$E5" "$E6" "listing=$S/"
set_imds "$TMP/noprimary.json"
expect_status 1 "1b: apply with a listing without meta-data/mac" nls -q apply
grep -q "lacks meta-data/mac" "$TMP/err" && pass "1b: the error names meta-data/mac" || fail "1b: $(cat "$TMP/err")"
same_as "1b: listing without the primary" "$TMP/base"
cap "$TMP/partial.json" "$E5"
set_imds "$TMP/partial.json"
expect_status 0 "1c: apply with a listing that lacks ens6 (still on the host)" nl apply
grep -q "ens6 .*not listed by IMDS; left as it was" "$TMP/err" && pass "1c: warns ens6 is left as it was" \
  || fail "1c: no warning: $(cat "$TMP/err")"
same_as "1c: listing without ens6" "$TMP/base"
expect_route 10.0.1.21 1.1.1.1 ens6

# --- 3. an all-zero MAC ---
cap "$TMP/zero.json" "$E5" "$E6" "00:00:00:00:00:00:2:10.0.9.5:10.0.9.0/24"
set_imds "$TMP/zero.json"
lo_before=$(ip -n "$INST" -d -o link show lo; ip -n "$INST" -o addr show dev lo)
expect_status 1 "3: apply with 00:00:00:00:00:00 listed" nls -q apply
grep -q "unicast MAC address, not all-zero" "$TMP/err" && pass "3: the error names the MAC" || fail "3: $(cat "$TMP/err")"
[ "$(ip -n "$INST" -d -o link show lo; ip -n "$INST" -o addr show dev lo)" = "$lo_before" ] && pass "3: lo untouched" \
  || fail "3: lo changed"
same_as "3: zero MAC" "$TMP/base"

# --- 4. values IMDS never gives ---
cap "$TMP/prefix.json" "$E5" "$E6:10.0.0.0/8"
set_imds "$TMP/prefix.json"
expect_status 1 "4a: apply with ipv4-prefix 10.0.0.0/8 on ens6 (subnet 10.0.1.0/24)" nl -q apply
grep -q "ipv4-prefix: invalid value \"10.0.0.0/8\" (not inside subnet 10.0.1.0/24)" "$TMP/err" \
  && pass "4a: the error names the IMDS path and value" || fail "4a: $(cat "$TMP/err")"
same_as "4a: prefix outside its subnet" "$TMP/base"
cap "$TMP/imdsnet.json" "$E5" "$S:1:169.254.169.20,169.254.169.254:169.254.169.0/24"
set_imds "$TMP/imdsnet.json"
expect_status 1 "4b: apply with ens6 in 169.254.169.0/24 holding 169.254.169.254" nl -q apply
addrs=$(ip -n "$INST" -o addr)
grep -q 169.254.169.254 <<< "$addrs" && fail "4b: the IMDS address was made local" || pass "4b: IMDS address not made local"
same_as "4b: link-local subnet" "$TMP/base"
set_imds "$TMP/good.json"

# --- 5. a table-base that cannot route ---
printf '[main]\ntable-base = 40000\n' > "$TMP/conf/bad.conf"
expect_status 2 "5: table-base = 40000" nl --config "$TMP/conf/bad.conf" apply
grep -q "table-base = 40000: expected an integer from 1000 to 22766" "$TMP/err" && pass "5: names the key and the limit" \
  || fail "5: $(cat "$TMP/err")"
same_as "5: table-base refused" "$TMP/base"

# --- 6. a damaged state.json ---
echo '{"interfaces": [{"name": "ens6", "mac": ' > "$TMP/run/ec2-netcfg/state.json"
expect_status 1 "6a: remove ens6 with a damaged state.json" nl remove ens6
grep -q "state.json.*nothing is removed" "$TMP/err" && pass "6a: says nothing is removed" || fail "6a: $(cat "$TMP/err")"
same_as "6a: remove refused" "$TMP/base"
expect_status 0 "6b: apply with a damaged state.json" nl apply
grep -q "state.json.damaged" "$TMP/err" && pass "6b: the damaged file is kept aside" || fail "6b: $(cat "$TMP/err")"
same_as "6b: apply rebuilt the record, removed nothing" "$TMP/base"
[ -f "$TMP/run/ec2-netcfg/state.json.damaged" ] && pass "6b: state.json.damaged exists" || fail "6b: no state.json.damaged"

# --- 2. detach ens6, attach ens7 at the same device number; its unit runs before ens6's remove ---
ip -n "$INST" link del ens6
add_eni 2 ens7 $T 10.0.1.1/24
ip -n "$INST" addr add 10.0.1.30/24 dev ens7   # DHCP's part (its only address: the kernel
                                               # flushes a link's routes with its last one)
E7="$T:1:10.0.1.30,10.0.1.31:10.0.1.0/24"
cap "$TMP/swap.json" "$E5" "$E7"
set_imds "$TMP/swap.json"
expect_status 0 "2: apply ens7 (the new ENI's unit first)" nl apply ens7
expect_route 10.0.1.31 1.1.1.1 ens7
expect_status 0 "2: remove ens6 (the detached ENI's stop, after the lock)" nl remove ens6
expect_route 10.0.1.31 1.1.1.1 ens7
expect_route 10.0.1.30 10.0.0.77 ens7
rules=$(ip -n "$INST" rule)
grep -q "from 10.0.1.31 lookup 10001" <<< "$rules" && pass "2: ens7's rules in table 10001 kept" || fail "2: ens7's rules gone"
routes=$(ip -n "$INST" route show table 10001)
grep -q "default via 10.0.1.1 dev ens7" <<< "$routes" && pass "2: ens7's table kept" || fail "2: table 10001: $routes"

# --- 7. an ENI that never completes does not hold back the others ---
add_eni 3 ens8 02:86:10:7b:e4:f8 10.0.3.1/24
cap "$TMP/late.json" "$P:0:10.0.0.34,10.0.0.35,10.0.0.36:10.0.0.0/24" "$E7" "02:86:10:7b:e4:f8:2:10.0.3.20:10.0.3.0/24"
python3 - "$TMP/late.json" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
base = "meta-data/network/interfaces/macs/02:86:10:7b:e4:f8/"
d["paths"][base] = "\n".join(k for k in d["paths"][base].split("\n") if k != "subnet-ipv4-cidr-block")
json.dump(d, open(sys.argv[1], "w"))
EOF
set_imds "$TMP/late.json"
printf '[main]\nwait-timeout = 20\n' > "$TMP/conf/wait.conf"
nl --config "$TMP/conf/wait.conf" apply > "$TMP/late.out" 2>&1 &
LATE=$!
end=$((SECONDS + 10))
until has_addr ens5 10.0.0.36 || [ $SECONDS -ge $end ]; do sleep 0.1; done
if has_addr ens5 10.0.0.36 && kill -0 $LATE 2>/dev/null; then
  pass "7: ens5's new address configured while the run still waits for ens8"
else
  fail "7: ens5's new address not configured while ens8 was incomplete"
fi
cap "$TMP/late-done.json" "$P:0:10.0.0.34,10.0.0.35,10.0.0.36:10.0.0.0/24" "$E7" "02:86:10:7b:e4:f8:2:10.0.3.20:10.0.3.0/24"
set_imds "$TMP/late-done.json"
rc=0; wait $LATE || rc=$?
[ $rc = 0 ] && pass "7: the run ends with 0 once ens8 completes" || fail "7: exit $rc: $(tail -5 "$TMP/late.out")"
expect_route 10.0.3.20 1.1.1.1 ens8

# --- 8. networkd backend: others' proto static route and rule in an ENI's table survive ---
nd_apply() { nc --backend networkd "$@"; }
expect_status 0 "8: apply with the networkd backend" nd_apply apply
ip -n "$INST" route add 192.168.77.0/24 dev ens7 table 10001 proto static
ip -n "$INST" rule add from 192.0.2.7 lookup 10001 priority 10001 proto static
cap "$TMP/less.json" "$P:0:10.0.0.34,10.0.0.35,10.0.0.36:10.0.0.0/24" "$T:1:10.0.1.30:10.0.1.0/24" \
  "02:86:10:7b:e4:f8:2:10.0.3.20:10.0.3.0/24"
set_imds "$TMP/less.json"
expect_status 0 "8: apply after IMDS dropped 10.0.1.31" nd_apply apply
routes=$(ip -n "$INST" route show table 10001); rules=$(ip -n "$INST" rule)
grep -q "192.168.77.0/24 dev ens7 proto static" <<< "$routes" && pass "8: foreign proto static route kept" || fail "8: route gone"
grep -q "from 192.0.2.7 lookup 10001 proto static" <<< "$rules" && pass "8: foreign proto static rule kept" || fail "8: rule gone"
grep -q "from 10.0.1.31 " <<< "$rules" && fail "8: rule for 10.0.1.31 left" || pass "8: rule for the unassigned address gone"
expect_status 0 "8: remove ens7" nd_apply remove ens7
routes=$(ip -n "$INST" route show table 10001); rules=$(ip -n "$INST" rule)
grep -q "192.168.77.0/24" <<< "$routes" && pass "8: remove kept the foreign route" || fail "8: remove took the foreign route"
grep -q "from 192.0.2.7" <<< "$rules" && pass "8: remove kept the foreign rule" || fail "8: remove took the foreign rule"
ip -n "$INST" rule del from 192.0.2.7 lookup 10001 priority 10001
ip -n "$INST" route del 192.168.77.0/24 dev ens7 table 10001

# --- 9. a kernel without IFA_PROTO ---
old() { EC2NC_TEST_KERNEL_WITHOUT_IFA_PROTO=1 nl "$@"; }
cap "$TMP/v9.json" "$E5" "$T:1:10.0.1.30,10.0.1.41,10.0.1.42:10.0.1.0/24" "02:86:10:7b:e4:f8:2:10.0.3.20:10.0.3.0/24"
set_imds "$TMP/v9.json"
expect_status 0 "9: apply (kernel without IFA_PROTO)" old apply
for a in 10.0.1.41 10.0.1.42; do has_addr ens7 $a && pass "9: $a added" || fail "9: $a missing"; done
cap "$TMP/v9b.json" "$E5" "$T:1:10.0.1.30,10.0.1.41:10.0.1.0/24" "02:86:10:7b:e4:f8:2:10.0.3.20:10.0.3.0/24"
set_imds "$TMP/v9b.json"
expect_status 0 "9: apply after IMDS unassigned 10.0.1.42" old apply
has_addr ens7 10.0.1.42 && fail "9: 10.0.1.42 still on ens7" || pass "9: the unassigned address went"
ip -n "$INST" addr add 10.0.1.99/32 dev ens7   # someone else's
expect_status 0 "9: remove ens7" old remove ens7
has_addr ens7 10.0.1.41 && fail "9: remove left 10.0.1.41" || pass "9: remove took ec2-netcfg's addresses"
has_addr ens7 10.0.1.99 && pass "9: someone else's address kept" || fail "9: someone else's address taken"
finish
