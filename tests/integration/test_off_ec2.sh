#!/usr/bin/env bash
# What a newcomer sees off EC2 (issue 27, item 5): every run that cannot do what was asked
# says what happened and what to do instead, with the status of the contract.
#  1. diff, apply --dry-run and check with a capture none of whose ENIs (by MAC) is on this
#     host: exit 2, naming the capture's ENIs and `show`; an IFACE whose MAC the capture
#     lacks: exit 2 (no 60 s wait for a capture that cannot change).
#  2. show and check with no IMDS: exit 1, naming the endpoint and why, and --metadata-file
#     with an example shipped in examples/.
#  3. dump-metadata with no IMDS: one error saying the endpoint is unreachable, then stop.
#  4. apply with no IMDS: connections refused for a few seconds end the wait (exit 1, long
#     before the 60 s bound, saying so); no route to IMDS while the host has addresses is
#     waited for (the boot path) with a message saying what for and why, and the final
#     error says what was tried. The boot path itself still works: a route that comes late
#     and an IMDS that starts listening late are waited for.
# Everything runs in this test's own namespaces: the default endpoint 169.254.169.254 is
# asked only inside the instance namespace, which has no route out, or where this test's
# emulator serves it from a router namespace of its own.
source "$(dirname "$0")/lib.sh"
setup_instance
B=$EC2NC_BIN
CAP=$(scenario two-enis-two-subnets)
EXAMPLE=examples/dual-stack-two-enis.json

# inst ARGS...: ec2-netcfg in the instance namespace, default endpoint (a clean IMDS
# environment), a private /run; stdout $TMP/out, stderr $TMP/err, status in RC, seconds in TOOK.
inst() {
  mkdir -p "$TMP/run"
  local t0=$SECONDS
  RC=0
  ip netns exec "$INST" timeout 120 unshare -m --propagation private \
    sh -c 'mount --bind "$1" /run && shift && exec "$@"' sh "$TMP/run" \
    env -u AWS_EC2_METADATA_SERVICE_ENDPOINT -u AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE \
    -u AWS_EC2_METADATA_DISABLED "$B" "$@" >"$TMP/out" 2>"$TMP/err" || RC=$?
  TOOK=$((SECONDS - t0))
}
status_is() {  # WANT DESC
  [ "$RC" = "$1" ] && pass "$2: exit $RC" || fail "$2: exit $RC, expected $1; stderr: $(head -c 800 "$TMP/err")"
}
says() {  # TEXT DESC: stderr holds TEXT (fixed string)
  grep -qF -- "$1" "$TMP/err" && pass "$2" || fail "$2: stderr lacks '$1': $(head -c 800 "$TMP/err")"
}
never_says() {
  grep -qF -- "$1" "$TMP/err" && fail "$2: stderr has '$1': $(head -c 800 "$TMP/err")" || pass "$2"
}

echo "--- 1. a capture whose ENIs are not on this host"
[ -f "$EC2NC_SRC/$EXAMPLE" ] || die "$EXAMPLE is not shipped (the messages name it)"
for cmd in diff "--dry-run apply" check; do
  # shellcheck disable=SC2086
  inst --metadata-file "$CAP" $cmd
  status_is 2 "$cmd with a capture from another instance"
  says "none of its ENIs is on this host" "$cmd: says none of the capture's ENIs is here"
  says "02:86:10:7b:e4:f5 (eni-" "$cmd: names the capture's first ENI by MAC and id"
  says "02:86:10:7b:e4:f6" "$cmd: names the second ENI"
  says "--metadata-file $CAP show" "$cmd: says show prints the plan of a capture"
  [ ! -s "$TMP/out" ] && pass "$cmd: nothing on stdout" || fail "$cmd stdout: $(head -c 300 "$TMP/out")"
done
# (The far ends of this test's links sit in a namespace of their own: not links of the instance.)
new_ns "far-$ID"
ip -n "$INST" link add ens9 address 02:00:00:00:09:09 type veth peer name p9 netns "far-$ID"
ip -n "$INST" link set ens9 up
inst --metadata-file "$CAP" diff ens9
status_is 2 "diff IFACE whose MAC the capture lacks"
says "ens9 (02:00:00:00:09:09): no ENI with that MAC in $CAP" "diff IFACE: says the capture has no such ENI"
never_says "waited" "diff IFACE: does not claim to have waited"
# An ENI of the capture present: diff works as before (and the others are left out).
ip -n "$INST" link add ens5 address 02:86:10:7b:e4:f5 type veth peer name p5 netns "far-$ID"
ip -n "$INST" link set ens5 up
inst --metadata-file "$CAP" diff
status_is 0 "diff with one of the capture's ENIs here"
grep -q "10.0.0.35" "$TMP/out" && pass "diff shows what apply would add to ens5" || fail "diff output: $(head -c 300 "$TMP/out")"
# diff covers every ENI of the metadata: the one with no interface here is named, on stderr.
says "- 02:86:10:7b:e4:f6 eni-" "diff names the capture's ENI that is not on this host"
says "not present on this host): nothing to change for it" "diff says it is not present"
grep -q "02:86:10:7b:e4:f6" "$TMP/out" && fail "diff stdout names the absent ENI (stdout is the changes)" || pass "diff stdout: changes only"
inst --metadata-file "$CAP" --json diff
status_is 0 "diff --json with one of the capture's ENIs here"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["not_present"]==["02:86:10:7b:e4:f6"], d["not_present"]; assert d["changes"]' "$TMP/out" \
  && pass "diff --json: not_present lists the absent ENI" || fail "diff --json: $(head -c 400 "$TMP/out")"
ip -n "$INST" link del ens5

echo "--- 2. show and check with no IMDS"
# The instance namespace has no route out: the default endpoint has no route.
for cmd in show check; do
  inst "$cmd"
  status_is 1 "$cmd with no route to IMDS"
  says "IMDS (http://169.254.169.254) could not be reached" "$cmd: names the endpoint"
  says "Network is unreachable" "$cmd: says why (no route)"
  says "--metadata-file FILE ($EXAMPLE" "$cmd: points to --metadata-file and a shipped example"
  never_says "nothing changed" "$cmd: no word of changing anything (it never does)"
done
inst --imds-endpoint http://127.0.0.1:1 show
status_is 1 "show with the endpoint refusing"
says "IMDS (http://127.0.0.1:1) could not be reached" "show: names the endpoint given"
says "Connection refused" "show: says why (refused)"
says "--metadata-file FILE" "show: points to --metadata-file"

echo "--- 3. dump-metadata with no IMDS"
inst --imds-endpoint http://127.0.0.1:1 dump-metadata
status_is 1 "dump-metadata with the endpoint refusing"
[ "$(grep -c 'error:' "$TMP/err")" = 1 ] && pass "dump-metadata: one error, not one per path" \
  || fail "dump-metadata errors: $(cat "$TMP/err")"
says "IMDS (http://127.0.0.1:1) could not be reached" "dump-metadata: says the endpoint is unreachable"
says "Connection refused" "dump-metadata: says why"
says "nothing captured" "dump-metadata: says it stopped with nothing captured"
[ ! -s "$TMP/out" ] && pass "dump-metadata: nothing on stdout" || fail "dump-metadata stdout: $(head -c 300 "$TMP/out")"

echo "--- 4. apply with no IMDS"
# Refused: positive evidence that nothing listens there; the 60 s bound is not waited out.
inst --imds-endpoint http://127.0.0.1:1 apply
status_is 1 "apply with the endpoint refusing"
[ "$TOOK" -le 20 ] && pass "apply ended in ${TOOK}s, not after the 60 s bound" || fail "apply took ${TOOK}s"
says "every connection refused for" "apply: says every connection was refused"
says "not waiting out the 60 s wait bound" "apply: says it did not wait out the bound"
says "nothing changed" "apply: says nothing changed"
# No route to IMDS, though an interface that could be an ENI has an address: waited for
# (at boot the route comes with the primary's DHCP lease), saying what for and why.
ip -n "$INST" addr add 192.0.2.10/24 dev ens9
printf '[main]\nwait-timeout = 3\n' > "$TMP/short.conf"
inst --config "$TMP/short.conf" apply
status_is 1 "apply with no route to IMDS"
says "waiting for a route to IMDS (169.254.169.254)" "apply: says it waits for a route to IMDS"
says "ens9 192.0.2.10/24" "apply: names the interface that has an address"
says "no default route" "apply: says there is no default route"
never_says "the primary ENI has no address yet" "apply: does not blame the primary ENI's address"
says "could not be reached: the kernel had no route to 169.254.169.254 for the whole wait" \
  "apply: the final error says what was waited for"
ip -n "$INST" addr del 192.0.2.10/24 dev ens9
inst --config "$TMP/short.conf" apply
says "no interface that can be an ENI has an IPv4 address yet (ens9)" "apply, no address: says so, naming the interface"

echo "--- 4b. the boot path: a route that comes late, an IMDS that listens late"
# The primary ENI (the capture's MAC) without an address, its router in rtr5, IMDS on
# 169.254.169.254:80 in rtr5, as on an instance.
ip -n "$INST" link del ens9
add_eni 5 ens5 02:86:10:7b:e4:f5 10.0.0.1/24
ip -n "rtr5-$ID" addr add 169.254.169.254/32 dev lo
serve_imds() {
  ip netns exec "rtr5-$ID" python3 "$EC2NC_SRC/tests/tools/imds_emulator.py" --capture "$CAP" \
    --address 169.254.169.254 --port 80 --port-file "$TMP/imds.port" --log "$TMP/imds.log" --max-seconds 200 &
  PIDS+=($!)
}
serve_imds
wait_for "IMDS emulator" 10 test -f "$TMP/imds.port"
( sleep 2; ip -n "$INST" addr add 10.0.0.34/24 dev ens5; ip -n "$INST" route add default via 10.0.0.1 ) &
PIDS+=($!)
inst --backend netlink apply
status_is 0 "apply: the primary's address and route come 2 s late"
says "waiting for a route to IMDS (169.254.169.254)" "apply: waited for the route"
says "no interface that can be an ENI has an IPv4 address yet (ens5)" "apply: says the ENI has no address yet"
says "route to IMDS there after" "apply: says when the route came"
has_addr ens5 10.0.0.35 && pass "apply configured ens5 after the wait" || fail "ens5 lacks 10.0.0.35"
# IMDS refusing for a moment (not listening yet) is waited for.
kill "${PIDS[-2]}" 2>/dev/null; wait "${PIDS[-2]}" 2>/dev/null || true
rm -f "$TMP/imds.port"
( sleep 1; serve_imds; wait ) &
PIDS+=($!)
ip -n "$INST" addr del 10.0.0.35/32 dev ens5 2>/dev/null || ip -n "$INST" addr del 10.0.0.35/24 dev ens5 2>/dev/null || true
inst --backend netlink apply
status_is 0 "apply: IMDS refuses for a moment, then answers"
has_addr ens5 10.0.0.35 && pass "apply configured ens5 after IMDS came" || fail "ens5 lacks 10.0.0.35 after IMDS came"
finish
