#!/usr/bin/env bash
# Hotplug and detach with the netlink backend, as the udev-started units drive them:
# - an ENI attached while the instance runs, whose IMDS data appears only after the
#   interface (MAC not listed, then listed with keys missing and device-number 0, then
#   complete), is configured by `apply IFACE` once it is complete, without touching the
#   ENIs already configured; the time from the link appearing to traffic from its
#   addresses leaving through it is printed (FIGURE hotplug-configured-after);
# - a refresh with nothing changed sends no netlink change;
# - detach: `remove IFACE` after the link is gone leaves nothing of ours for its table;
#   an ENI that left without `remove` is cleaned by the next plain `apply`;
# - `remove` of an interface that was never configured changes nothing.
source "$(dirname "$0")/lib.sh"
setup_instance
# (With pipefail, `cmd | grep -q` fails when grep exits before cmd is done writing:
# checks grep a captured output instead.)
# A python3 found first on PATH may be a version-manager shim costing ~1 s per start.
PY=python3; [ -x /usr/bin/python3 ] && PY=/usr/bin/python3

MAC5=02:86:10:7b:e4:f5 MAC6=02:86:10:7b:e4:f6 MAC7=02:86:10:7b:e4:f7
MACS_DIR=meta-data/network/interfaces/macs

# IMDS contents: the instance before the attach (ens5+ens6), the hotplugged ENI not
# listed / listed but still propagating / complete, and after the detaches.
BEFORE=$(scenario two-enis-two-subnets)
"$PY" - "$TMP" "$EC2NC_SRC/tests/tools" <<'PY'
import json, sys
tmp, tools = sys.argv[1], sys.argv[2]
sys.path.insert(0, tools)
import scenario as s
e5 = s.eni("02:86:10:7b:e4:f5", 0, ["10.0.0.34", "10.0.0.35"], "10.0.0.0/24")
e6 = s.eni("02:86:10:7b:e4:f6", 1, ["10.0.1.20", "10.0.1.21"], "10.0.1.0/24")
e7 = s.eni("02:86:10:7b:e4:f7", 2, ["10.0.2.20", "10.0.2.21"], "10.0.2.0/24")
def dump(name, enis):
    json.dump(s.build(enis, e5["mac"]), open("%s/%s.json" % (tmp, name), "w"))
dump("full", [e5, e6, e7])
dump("only5", [e5])
# Listed, but not propagated: no IPv4 keys yet and device-number "0".
d = s.build([e5, e6, e7], e5["mac"])
p = d["paths"]
base = "meta-data/network/interfaces/macs/02:86:10:7b:e4:f7/"
p[base] = "\n".join(k for k in p[base].split("\n")
                    if k not in ("local-ipv4s", "subnet-ipv4-cidr-block", "local-hostname"))
for k in ("local-ipv4s", "subnet-ipv4-cidr-block", "local-hostname"):
    del p[base + k]
p[base + "device-number"] = "0"
json.dump(d, open(tmp + "/partial.json", "w"))
PY

# The emulated VPC: ens5 (primary, DHCP's address and default route), ens6.
add_eni 5 ens5 $MAC5 10.0.0.1/24
add_eni 6 ens6 $MAC6 10.0.1.1/24
ip -n "$INST" addr add 10.0.0.34/24 dev ens5
ip -n "$INST" route add default via 10.0.0.1 dev ens5
start_imds "$BEFORE"

ncn() { nc --backend netlink "$@"; }


# What an ENI already configured must keep: its addresses, its rules and its table.
eni_state() {  # eni_state IFNAME TABLE
  {
    ip -n "$INST" -o addr show dev "$1" | awk '{print $2, $3, $4}'
    ip -n "$INST" -j rule | "$PY" -c '
import json, sys
t = sys.argv[1]
for r in json.load(sys.stdin):
    if str(r.get("table")) == t:
        print(json.dumps(r, sort_keys=True))' "$2"
    ip -n "$INST" route show table "$2"
    ip -n "$INST" -d link show dev "$1" | grep -o 'group [^ ]*'
  } | sort
}

# Everything a `remove` could touch, for "changes nothing".
whole_state() {
  {
    ip -n "$INST" rule show
    ip -n "$INST" route show table all
    ip -n "$INST" -o addr show | awk '{print $2, $3, $4}'
    ip -n "$INST" -d -o link show | grep -o '^[0-9]*: [^:@]*\|group [^ ]*'
    own_addresses
  } | sort
}

# A monitor of address/route/rule/link events in the instance, around a command.
no_tentative() { [ -z "$(ip -n "$INST" -6 addr show tentative)" ]; }
monitor_start() {
  # The kernel's own IPv6 link-local addresses (and their local routes) of links brought
  # up shortly before appear when DAD ends: let that settle first, it is not ours.
  wait_for "IPv6 DAD to settle" 10 no_tentative
  MON_FILE=$TMP/monitor.$1
  ip netns exec "$INST" ip monitor address route rule link > "$MON_FILE" 2> "$MON_FILE.err" &
  MON=$!
  PIDS+=("$MON")
  sleep 0.3
}
monitor_stop() {
  sleep 0.3
  kill "$MON" 2>/dev/null || true
  wait "$MON" 2>/dev/null || true
}

# --- boot: ens5 and ens6 configured by a first apply ---
# A container runtime's veth pair is there too (random MACs, as Docker and CNI leave
# them): not an ENI, so its MACs are never asked of IMDS, not even as early listings.
ip -n "$INST" link add vethc0 type veth peer name vethc1
VETH_MACS=$(ip -n "$INST" -o link show type veth | grep -o 'vethc[01]@[^ ]* .*link/ether [0-9a-f:]*' | awk '{print $NF}')
expect_status 0 "first apply (ens5, ens6)" ncn apply
asked=""
for m in $VETH_MACS; do grep -q "$m" "$TMP/imds.log" && asked="$asked $m"; done
[ -n "$VETH_MACS" ] || fail "the container veths' MACs could not be read"
[ -z "$asked" ] && pass "a container's veths (random MACs) are not ENI candidates: IMDS never asked about them" \
  || fail "IMDS was asked about container veths:$asked"
ip -n "$INST" link del vethc0
expect_route 10.0.0.35 1.1.1.1 ens5
expect_route 10.0.1.21 1.1.1.1 ens6
eni_state ens5 10000 > "$TMP/ens5.before"
eni_state ens6 10001 > "$TMP/ens6.before"
grep -q "\"table\": \"10000\"" "$TMP/ens5.before" && grep -q "\"table\": \"10001\"" "$TMP/ens6.before" \
  && pass "rules of tables 10000/10001 recorded" || fail "no rules for 10000/10001 after the first apply"

# --- hotplug: ens7 appears before IMDS lists its MAC ---
# Poll the kernel's routing decision for both of ens7's addresses every 50 ms.
poll_configured() {
  local end=$((SECONDS + 40))
  while [ $SECONDS -lt $end ]; do
    if [ "$(route_dev 10.0.2.20 1.1.1.1)" = ens7 ] && [ "$(route_dev 10.0.2.21 1.1.1.1)" = ens7 ]; then
      date +%s.%N > "$TMP/t.configured"
      return 0
    fi
    sleep 0.05
  done
}
poll_configured &
PIDS+=($!)
monitor_start hotplug
add_eni 7 ens7 $MAC7 10.0.2.1/24
date +%s.%N > "$TMP/t.appeared"
# IMDS propagation, as seen right after an attach.
( sleep 1; set_imds "$TMP/partial.json"; sleep 2; set_imds "$TMP/full.json" ) &
PIDS+=($!)
# What the udev-started unit runs.
rc=0
ncn -v apply ens7 > "$TMP/hotplug.out" 2>&1 || rc=$?
[ $rc = 0 ] && pass "apply ens7 during propagation: exit 0" || { cat "$TMP/hotplug.out"; fail "apply ens7: exit $rc"; }
grep -q "not listed under macs/ yet" "$TMP/hotplug.out" && pass "waited while the MAC was not listed" \
  || fail "no wait for the unlisted MAC was logged"
waits=$(grep "02:86:10:7b:e4:f7: waiting for IMDS" "$TMP/hotplug.out" || true)
grep -v "not listed" <<< "$waits" | grep -q . \
  && pass "waited while the ENI was listed but incomplete" || fail "no wait for the incomplete ENI was logged"
wait_for "ens7 configured (poller)" 10 test -s "$TMP/t.configured"
monitor_stop
"$PY" -c 'import sys; a, b = (float(open(f).read()) for f in sys.argv[1:]); print("FIGURE hotplug-configured-after: %.2f s" % (b - a))' \
  "$TMP/t.appeared" "$TMP/t.configured"
grep -h "done in" "$TMP/hotplug.out" | sed 's/^/  hotplug apply: /' || true

for a in 10.0.2.20 10.0.2.21; do
  expect_route "$a" 1.1.1.1 ens7
  expect_route "$a" 10.0.0.99 ens7      # ens5's subnet
  expect_route "$a" 10.0.1.99 ens7      # ens6's subnet
  expect_route "$a" 10.0.2.99 ens7      # its own subnet
  expect_route "$a" 10.0.250.7 ens7     # a VPC subnet without an ENI here
done
expect_route 10.0.0.35 1.1.1.1 ens5
expect_route 10.0.1.21 1.1.1.1 ens6
t10002=$(ip -n "$INST" route show table 10002 proto 236)
grep -q '^default via 10.0.2.1 dev ens7' <<< "$t10002" && grep -q '^10.0.2.0/24 dev ens7' <<< "$t10002" \
  && pass "table 10002 holds ens7's default and subnet routes" || fail "table 10002: $t10002"
[ "$(ip -n "$INST" rule show proto 236 | grep -c 'lookup 10002')" = 2 ] && pass "two source rules for table 10002" \
  || fail "rules for 10002: $(ip -n "$INST" rule show proto 236 | grep 'lookup 10002')"
[ "$(own_addresses | grep -c '^ens7 ')" = 2 ] && pass "ens7's addresses carry IFA_PROTO 236" \
  || fail "own addresses on ens7: $(own_addresses | grep '^ens7 ' | tr '\n' ' ')"
grep -q 'group 10000' <<< "$(ip -n "$INST" -d link show dev ens7)" && pass "ens7 in link group 10000" || fail "ens7 not in group 10000"

# ens5 and ens6 untouched: same state, and not one event about them during the hotplug.
diff "$TMP/ens5.before" <(eni_state ens5 10000) && pass "ens5 unchanged by the hotplug" || fail "ens5 changed by the hotplug"
diff "$TMP/ens6.before" <(eni_state ens6 10001) && pass "ens6 unchanged by the hotplug" || fail "ens6 changed by the hotplug"
grep -q 'ens7' "$TMP/monitor.hotplug" && pass "the monitor saw ens7 being configured" \
  || fail "the monitor saw nothing of ens7 (is it working?)"
others=$(grep -E 'ens5|ens6|lookup 1000[01]|table 1000[01]|9999:' "$TMP/monitor.hotplug" || true)
[ -z "$others" ] && pass "no netlink event about ens5/ens6 during the hotplug" \
  || fail "events about other ENIs during the hotplug: $others"

# --- refresh with nothing changed: not one netlink change ---
# `apply ens7` left exactly what a full apply wants: the first refresh changes nothing either.
monitor_start refresh1
expect_status 0 "refresh after the hotplug" ncn apply
monitor_stop
if [ -s "$TMP/monitor.refresh1" ]; then fail "first refresh after the hotplug changed things: $(cat "$TMP/monitor.refresh1")"
else pass "first refresh after the hotplug: no netlink event"; fi
monitor_start refresh
expect_status 0 "refresh with nothing changed" ncn apply
monitor_stop
if [ -s "$TMP/monitor.refresh" ]; then fail "refresh with nothing changed caused netlink events: $(cat "$TMP/monitor.refresh")"
else pass "refresh with nothing changed: no netlink event"; fi

# --- detach ens7: link gone, IMDS drops it, the unit's ExecStop runs remove ---
ip -n "$INST" link del ens7
set_imds "$BEFORE"
expect_status 0 "remove ens7 after its link is gone" ncn remove ens7
left=$(ip -n "$INST" rule show proto 236 | grep -w 10002 || true)
[ -z "$left" ] && pass "no rule of ours for table 10002" || fail "rules left for 10002: $left"
left=$(ip -n "$INST" route show table 10002 proto 236)
[ -z "$left" ] && pass "no route of ours in table 10002" || fail "routes left in 10002: $left"
diff "$TMP/ens5.before" <(eni_state ens5 10000) && pass "ens5 unchanged by the detach" || fail "ens5 changed by the detach"
diff "$TMP/ens6.before" <(eni_state ens6 10001) && pass "ens6 unchanged by the detach" || fail "ens6 changed by the detach"
expect_route 10.0.0.35 1.1.1.1 ens5
expect_route 10.0.1.21 1.1.1.1 ens6

# --- remove of an interface that was never configured: exit 0, nothing changes ---
add_eni 9 ens9 02:86:10:7b:e4:f9 10.0.9.1/24     # a host interface IMDS does not list
wait_for "ens9's link-local address past DAD" 10 sh -c \
  "ip -n $INST -6 addr show dev ens9 | grep -q 'scope link' && ! ip -n $INST -6 addr show dev ens9 | grep -q tentative"
sleep 0.2
whole_state > "$TMP/whole.before"
monitor_start never
expect_status 0 "remove of a never-configured interface" ncn remove ens9
expect_status 0 "remove of an interface that does not exist (ExecStop after the link left)" ncn remove ens42
monitor_stop
diff "$TMP/whole.before" <(whole_state) && pass "never-configured remove changed nothing" || fail "never-configured remove changed state"
[ -s "$TMP/monitor.never" ] && fail "never-configured remove caused events: $(cat "$TMP/monitor.never")" \
  || pass "never-configured remove: no netlink event"

# --- detach without remove: ens6's link deleted, IMDS updated; the next apply cleans ---
ip -n "$INST" link del ens6
set_imds "$TMP/only5.json"
expect_status 0 "plain apply after ens6 left without remove" ncn apply
left=$(ip -n "$INST" rule show proto 236 | grep -w 10001 || true)
[ -z "$left" ] && pass "no rule of ours for table 10001" || fail "rules left for 10001: $left"
left=$(ip -n "$INST" route show table 10001 proto 236)
[ -z "$left" ] && pass "no route of ours in table 10001" || fail "routes left in 10001: $left"
diff "$TMP/ens5.before" <(eni_state ens5 10000) && pass "ens5 unchanged" || fail "ens5 changed by the cleanup"
expect_route 10.0.0.35 1.1.1.1 ens5
expect_route 10.0.0.34 10.0.1.99 ens5
grep -q '^9999:.*proto 236' <<< "$(ip -n "$INST" rule show)" && pass "host-wide rule kept while ENIs are managed" \
  || fail "host-wide rule 9999 gone"
monitor_start after
expect_status 0 "refresh after the cleanup" ncn apply
monitor_stop
[ -s "$TMP/monitor.after" ] && fail "refresh after the cleanup caused events: $(cat "$TMP/monitor.after")" \
  || pass "refresh after the cleanup: no netlink event"
finish
