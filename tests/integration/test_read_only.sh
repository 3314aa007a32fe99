#!/bin/bash
# Commands that only read (issue 26, item 3): show, diff, check, dump-metadata and
# apply --dry-run change neither the kernel nor any file, on the first run of a boot too,
# where apply pins IMDS to the ENI that answers. The instance: two ENIs whose DHCP
# defaults tie (metric 512 each, as at boot on Amazon Linux), IMDS at 169.254.169.254 on
# lo of the primary's router namespace (this test's own), so only ens5 reaches it. No
# state file yet: the first run of a boot.
set -uo pipefail
source "${EC2NC_SRC:?}/tests/integration/lib.sh"
setup_instance

P=02:86:10:7b:e4:f5 S=02:86:10:7b:e4:f6
add_eni 0 ens5 $P 10.0.0.1/24
add_eni 1 ens6 $S 10.0.1.1/24
ip -n "$INST" addr add 10.0.0.34/24 dev ens5
ip -n "$INST" addr add 10.0.1.20/24 dev ens6
ip -n "$INST" route add default via 10.0.0.1 dev ens5 metric 512
ip -n "$INST" route append default via 10.0.1.1 dev ens6 metric 512
ip -n "rtr0-$ID" addr add 169.254.169.254/32 dev lo
CAP=$(scenario two-enis-two-subnets)
ip netns exec "rtr0-$ID" python3 "$EC2NC_SRC/tests/tools/imds_emulator.py" --capture "$CAP" \
  --address 169.254.169.254 --port 80 --port-file "$TMP/imds.port" --log "$TMP/imds.log" --max-seconds 280 &
PIDS+=($!)
for i in $(seq 100); do [ -f "$TMP/imds.port" ] && break; sleep 0.05; done
[ -f "$TMP/imds.port" ] || die "IMDS emulator did not start on 169.254.169.254 in rtr0-$ID"
IMDS_URL=http://169.254.169.254   # inside this test's namespaces only

files() { find "$TMP/run" -printf '%P %s %T@\n' 2>/dev/null | sort; }

# read_only LABEL ARGS...: the command succeeds (exit 0 or, for check, 0 or 1) and
# changes nothing: no netlink event in the instance namespace, no file under /run.
read_only() {
  local label=$1; shift
  files > "$TMP/files.before"
  ip -n "$INST" monitor address route rule link > "$TMP/mon" 2>&1 &
  local mon=$! rc=0
  sleep 0.3
  nc "$@" > "$TMP/out" 2> "$TMP/err" || rc=$?
  sleep 0.5
  kill "$mon"; wait "$mon" 2>/dev/null || true
  case "$label:$rc" in
    *:0 | check:1) pass "$label: exit $rc" ;;
    *) fail "$label: exit $rc: $(head -5 "$TMP/err")" ;;
  esac
  local ev; ev=$(events_beyond_kernel "$TMP/mon")
  if [ -z "$ev" ]; then pass "$label: no change to the kernel"
  else fail "$label: changed the kernel: $(head -6 <<< "$ev" | paste -sd ';')"; fi
  if diff -q "$TMP/files.before" <(files) >/dev/null; then pass "$label: no file written"
  else fail "$label: files changed: $(diff "$TMP/files.before" <(files) | head -6 | paste -sd ';')"; fi
}

mkdir -p "$TMP/run"
read_only diff diff
read_only "apply --dry-run" --dry-run apply
read_only show show
read_only check check
read_only dump-metadata dump-metadata
[ ! -e "$TMP/run/ec2-netcfg/state.json" ] && pass "still no state file (the next run is a boot's first)" \
  || fail "a read-only command wrote state.json"

# The control: apply, on the same first run of a boot, does pin IMDS for its run (so the
# checks above could see it) and takes the pin away at its end.
ip -n "$INST" monitor route > "$TMP/mon-apply" 2>&1 &
MON=$!
sleep 0.3
expect_status 0 "apply (the control)" nc apply
sleep 0.5
kill "$MON"; wait "$MON" 2>/dev/null || true
grep -q "^169.254.169.254 .*proto 236" "$TMP/mon-apply" && grep -q "^Deleted 169.254.169.254 .*proto 236" "$TMP/mon-apply" \
  && pass "apply pinned IMDS for its run and removed the pin" \
  || fail "apply did not pin IMDS (the read-only checks prove nothing): $(head -5 "$TMP/mon-apply" | paste -sd ';')"
ip -n "$INST" route show table main | grep -q "^169.254.169.254" && fail "apply left its IMDS pin" || pass "no IMDS pin left"
finish
