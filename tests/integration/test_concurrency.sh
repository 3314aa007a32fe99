#!/usr/bin/env bash
# Concurrent runs (udev fires for every ENI at once at boot; refresh and hotplug overlap):
# - 16 runs started at once on a fresh instance with three ENIs (plain `apply`,
#   `apply ens5`, `apply ens6`, `apply ens7`) all exit 0 and end in exactly the state one
#   single apply gives on an identical fresh instance (built beside it);
# - 8 runs at once mixing applies and a `remove ens6`, then one final apply, end in
#   that same state.
# Runs are serialized only by the binary's own lock (a private /run per instance).
source "$(dirname "$0")/lib.sh"
# A python3 found first on PATH may be a version-manager shim costing ~1 s per start.
PY=python3; [ -x /usr/bin/python3 ] && PY=/usr/bin/python3


CAPTURE=$TMP/three.json
"$PY" - "$CAPTURE" "$EC2NC_SRC/tests/tools" <<'PY'
import json, sys
sys.path.insert(0, sys.argv[2])
import scenario as s
e5 = s.eni("02:86:10:7b:e4:f5", 0, ["10.0.0.34", "10.0.0.35", "10.0.0.36"], "10.0.0.0/24")
e6 = s.eni("02:86:10:7b:e4:f6", 1, ["10.0.1.20", "10.0.1.21"], "10.0.1.0/24")
e7 = s.eni("02:86:10:7b:e4:f7", 2, ["10.0.2.20", "10.0.2.21"], "10.0.2.0/24")
json.dump(s.build([e5, e6, e7], e5["mac"]), open(sys.argv[1], "w"))
PY

# build_instance RTR_BASE: a fresh instance namespace $INST with ens5..ens7, DHCP's part
# on the primary (its first address and the default route), and its own IMDS emulator.
build_instance() {
  local b=$1
  setup_instance
  add_eni $((b + 5)) ens5 02:86:10:7b:e4:f5 10.0.0.1/24
  add_eni $((b + 6)) ens6 02:86:10:7b:e4:f6 10.0.1.1/24
  add_eni $((b + 7)) ens7 02:86:10:7b:e4:f7 10.0.2.1/24
  ip -n "$INST" addr add 10.0.0.34/24 dev ens5
  ip -n "$INST" route add default via 10.0.0.1 dev ens5
  start_imds "$CAPTURE"
}

ncn() { nc --backend netlink "$@"; }

# The state ec2-netcfg is responsible for, normalised (sorted, no ifindex or timers):
# every rule, every route with protocol 236, every address with IFA_PROTO 236, link groups.
snapshot() {
  ip netns exec "$INST" "$PY" - <<'PY'
import json, subprocess
def ipj(*args):
    return json.loads(subprocess.run(["ip", "-j"] + list(args), check=True, capture_output=True, text=True).stdout or "[]")
out = []
for r in ipj("rule", "show"):
    out.append("rule " + json.dumps(r, sort_keys=True))
for fam in ("-4", "-6"):
    for r in ipj(fam, "route", "show", "table", "all", "proto", "236"):
        r.pop("expires", None)
        out.append("route " + json.dumps(r, sort_keys=True))
for l in ipj("-d", "link", "show"):
    if l["ifname"].startswith("ens"):
        out.append("link %s group %s" % (l["ifname"], l.get("group")))
print("\n".join(sorted(out)))
PY
  own_addresses --detail
}

# run_many NAME CMDLINE...: starts every command line (words of an nc invocation) at
# once behind a barrier, waits for all; sets WALL (seconds) and BAD (failed runs).
run_many() {
  local name=$1; shift
  local i=0 pids=() args
  rm -f "$TMP/go.$name"
  for args in "$@"; do
    i=$((i + 1))
    (
      while [ ! -e "$TMP/go.$name" ]; do sleep 0.01; done
      rc=0
      # shellcheck disable=SC2086
      ncn -v $args > "$TMP/$name.$i.out" 2>&1 || rc=$?
      echo "$rc" > "$TMP/$name.$i.rc"
    ) &
    pids+=($!)
    PIDS+=($!)
  done
  sleep 0.3   # every runner is polling the barrier
  local t0 t1
  t0=$(date +%s.%N)
  touch "$TMP/go.$name"
  for p in "${pids[@]}"; do wait "$p" || true; done
  t1=$(date +%s.%N)
  WALL=$("$PY" -c 'import sys; print("%.2f" % (float(sys.argv[2]) - float(sys.argv[1])))' "$t0" "$t1")
  BAD=0
  i=0
  for args in "$@"; do
    i=$((i + 1))
    local rc
    rc=$(cat "$TMP/$name.$i.rc" 2>/dev/null || echo missing)
    if [ "$rc" != 0 ]; then
      BAD=$((BAD + 1))
      fail "$name run $i ($args): exit $rc: $(head -c 600 "$TMP/$name.$i.out")"
    fi
  done
}

compare() {  # compare DESC FILE
  if diff "$TMP/reference.state" "$2" > "$TMP/diff.out"; then pass "$1"
  else fail "$1: differs from one single apply:"; cat "$TMP/diff.out" >&2; fi
}

# --- the reference: one single apply on a fresh instance ---
MAIN_INST=$INST
INST=ref-$ID
build_instance 10
t0=$SECONDS
rc=0
ncn apply > "$TMP/ref.out" 2>&1 || rc=$?
[ $rc = 0 ] && pass "reference: single apply exit 0" || die "reference apply: exit $rc: $(cat "$TMP/ref.out")"
snapshot > "$TMP/reference.state"
grep -q '^rule .*"table": "10002"' "$TMP/reference.state" && grep -q "^addr ens7 10.0.2.21/32 " "$TMP/reference.state" \
  && pass "reference state has every ENI's rules and addresses" || { cat "$TMP/reference.state"; die "reference state incomplete"; }
# The reference instance is kept apart: its namespaces go at exit with the others.
kill "${PIDS[-1]}" 2>/dev/null || true     # its IMDS emulator

# --- 16 runs at once on a fresh instance ---
INST=$MAIN_INST
build_instance 0
RUNS=()
for i in $(seq 16); do
  case $((i % 4)) in
    0) RUNS+=("apply") ;;
    1) RUNS+=("apply ens5") ;;
    2) RUNS+=("apply ens6") ;;
    3) RUNS+=("apply ens7") ;;
  esac
done
run_many c16 "${RUNS[@]}"
[ "$BAD" = 0 ] && pass "16 concurrent runs: all exit 0"
echo "FIGURE concurrent-16-wall: $WALL s"
grep -h "done in" "$TMP"/c16.*.out | sed 's/.*done in \([0-9]*\) ms.*kernel change(s).*/\1/' | sort -n | tr '\n' ' ' \
  | sed 's/^/  per-run time under the lock (ms): /'; echo
changed=$(grep -h "done in" "$TMP"/c16.*.out | grep -vc ' 0 kernel change(s)' || true)
echo "  runs that changed the kernel: $changed of 16"
snapshot > "$TMP/c16.state"
compare "16 concurrent runs end in the one-run state" "$TMP/c16.state"
for a in 10.0.0.34 10.0.0.36; do expect_route "$a" 1.1.1.1 ens5; done
for a in 10.0.1.20 10.0.1.21; do expect_route "$a" 10.0.0.99 ens6; done
for a in 10.0.2.20 10.0.2.21; do expect_route "$a" 1.1.1.1 ens7; done
[ -z "$(ip -n "$INST" rule show | grep -v 'proto 236' | grep -v '^0:\|^32766:\|^32767:')" ] \
  && pass "no stray rules" || fail "unexpected rules: $(ip -n "$INST" rule show)"

# --- 8 runs at once mixing applies and a remove of ens6, then one final apply ---
run_many mix8 "apply" "apply ens6" "remove ens6" "apply ens5" "apply" "apply ens6" "apply ens7" "apply"
[ "$BAD" = 0 ] && pass "8 concurrent runs with a remove: all exit 0"
echo "  8 mixed runs took $WALL s"
rc=0
ncn apply > "$TMP/final.out" 2>&1 || rc=$?
[ $rc = 0 ] && pass "final apply: exit 0" || fail "final apply: exit $rc: $(cat "$TMP/final.out")"
snapshot > "$TMP/mix8.state"
compare "mixed runs + final apply end in the one-run state" "$TMP/mix8.state"
expect_route 10.0.1.21 1.1.1.1 ens6

# The same with the remove last in line: a remove taking the lock after every apply.
run_many mix8b "apply" "apply ens5" "apply ens6" "apply ens7" "apply" "apply ens6" "apply" "remove ens6"
[ "$BAD" = 0 ] && pass "8 more concurrent runs with a remove: all exit 0"
rc=0
ncn apply > "$TMP/final2.out" 2>&1 || rc=$?
[ $rc = 0 ] && pass "second final apply: exit 0" || fail "second final apply: exit $rc: $(cat "$TMP/final2.out")"
snapshot > "$TMP/mix8b.state"
compare "second mixed round + final apply end in the one-run state" "$TMP/mix8b.state"
finish
