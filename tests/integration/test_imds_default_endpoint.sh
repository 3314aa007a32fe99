#!/usr/bin/env bash
# The binary's default IMDS endpoints, used with no --imds-endpoint: the emulator serves
# 169.254.169.254:80 and [fd00:ec2::254]:80 on lo of this test's own instance namespace
# (which has no other interface, so nothing can leave it), and dump-metadata must read
# exactly what it serves. AWS_EC2_METADATA_DISABLED=true is a usage error (exit 2).
source "$(dirname "$0")/lib.sh"
setup_instance
B=$EC2NC_BIN
CAP=$(scenario two-enis-two-subnets)
mkdir -p "$TMP/root"

# run OUT ENV... -- ARGS...: ec2-netcfg in the instance namespace with a clean IMDS
# environment plus ENV; sets RC.
run() {
  local out=$1; shift
  local envs=()
  while [ "$1" != "--" ]; do envs+=("$1"); shift; done
  shift
  RC=0
  ip netns exec "$INST" timeout 120 env -u AWS_EC2_METADATA_SERVICE_ENDPOINT \
    -u AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE -u AWS_EC2_METADATA_DISABLED "${envs[@]}" \
    "$B" --root "$TMP/root" "$@" >"$out" 2>"$out.err" || RC=$?
}

# serve ADDR TAG: the emulator on ADDR port 80 inside the instance namespace.
serve() {
  local addr=$1 tag=$2
  ip netns exec "$INST" python3 "$EC2NC_SRC/tests/tools/imds_emulator.py" --capture "$CAP" \
    --address "$addr" --port 80 --port-file "$TMP/$tag.port" --log "$TMP/$tag.log" \
    --faults "$TMP/$tag.faults.json" --max-seconds 280 &
  PIDS+=($!)
  local i
  for i in $(seq 200); do [ -f "$TMP/$tag.port" ] && return; sleep 0.05; done
  die "IMDS emulator on $addr did not start"
}

log_count() { local n; n=$(grep -c "\"method\": \"$2\"" "$TMP/$1.log" 2>/dev/null) || true; echo "${n:-0}"; }
log_conns() { local n; n=$( (grep -o '"connection": [0-9]*' "$TMP/$1.log" 2>/dev/null || true) | sort -u | wc -l); echo "$n"; }

# dump_equals DUMP: every path in DUMP has the capture's value, and the dump holds the
# root of the tree and every ENI's directory; it also equals, byte for byte, the dump
# of the same capture read with --metadata-file.
dump_equals() {
  python3 - "$1" "$CAP" <<'PY' || return 1
import json, sys
got = json.load(open(sys.argv[1]))["paths"]
want = json.load(open(sys.argv[2]))["paths"]
assert got == {k: v for k, v in want.items() if k in got}, set(got) - set(want)
macs = "meta-data/network/interfaces/macs/"
assert "meta-data/mac" in got and macs in got
for entry in want[macs].split("\n"):
    assert macs + entry in got, entry
    assert macs + entry + "local-ipv4s" in got, entry
PY
  cmp -s "$1" "$TMP/reference.json"
}

run "$TMP/reference.json" -- --metadata-file "$CAP" dump-metadata
[ "$RC" = 0 ] || die "dump-metadata --metadata-file: exit $RC: $(head -c 400 "$TMP/reference.json.err")"
run "$TMP/reference.show" -- --metadata-file "$CAP" show
[ "$RC" = 0 ] || die "show --metadata-file: exit $RC"

if [ "$(ip netns exec "$INST" cat /proc/sys/net/ipv6/conf/lo/disable_ipv6 2>/dev/null || echo 1)" = 0 ]; then
  ip -n "$INST" addr add fd00:ec2::254/128 dev lo nodad
  HAVE_V6=1
else
  HAVE_V6=
fi
if [ -n "$HAVE_V6" ]; then serve fd00:ec2::254 v6; fi

# An IPv6-only instance: no route to 169.254.169.254 at all, one to fd00:ec2::254. With
# nothing choosing the endpoint, ec2-netcfg reads IMDS over IPv6.
if [ -n "$HAVE_V6" ]; then
  run "$TMP/dump6only.json" -- dump-metadata
  if [ "$RC" = 0 ] && dump_equals "$TMP/dump6only.json"; then
    pass "IPv6 only (no route to 169.254.169.254): the default endpoint is http://[fd00:ec2::254]"
  else
    fail "IPv6 only: dump-metadata exit $RC: $(head -c 400 "$TMP/dump6only.json.err")"
  fi
  run "$TMP/show6only" -- show
  [ "$RC" = 0 ] && cmp -s "$TMP/show6only" "$TMP/reference.show" && pass "IPv6 only: show equals show of the capture" ||
    fail "IPv6 only: show exit $RC: $(head -c 400 "$TMP/show6only.err")"
  v6gets=$(log_count v6 GET)
fi

ip -n "$INST" addr add 169.254.169.254/32 dev lo
serve 169.254.169.254 v4

# IPv4 default endpoint; a proxy in the environment is ignored (nothing listens there).
run "$TMP/dump4.json" http_proxy=http://127.0.0.1:9 -- dump-metadata
if [ "$RC" = 0 ]; then pass "dump-metadata on http://169.254.169.254: exit 0"
else fail "dump-metadata on the default endpoint: exit $RC: $(head -c 400 "$TMP/dump4.json.err")"; fi
dump_equals "$TMP/dump4.json" && pass "dump via 169.254.169.254 equals the capture" || fail "dump via 169.254.169.254 differs"
puts=$(log_count v4 PUT) gets=$(log_count v4 GET) conns=$(log_conns v4)
echo "IPv4 endpoint: $puts token PUT(s), $gets GETs, $conns connection(s)"
[ "$puts" = 1 ] && pass "one token for the whole run" || fail "$puts token PUTs"
[ "$conns" = 1 ] && pass "one connection for the whole run" || fail "$conns connections"
# show reads in rounds, several requests in flight over several connections.
run "$TMP/show4" -- show
[ "$RC" = 0 ] && cmp -s "$TMP/show4" "$TMP/reference.show" && pass "show on http://169.254.169.254 equals show of the capture" ||
  fail "show on the default endpoint: exit $RC: $(head -c 400 "$TMP/show4.err")"

# An explicit environment endpoint equal to the default, with a trailing '/'.
run "$TMP/dump4e.json" AWS_EC2_METADATA_SERVICE_ENDPOINT=http://169.254.169.254:80/ -- dump-metadata
[ "$RC" = 0 ] && cmp -s "$TMP/dump4e.json" "$TMP/reference.json" && pass "AWS_EC2_METADATA_SERVICE_ENDPOINT" ||
  fail "AWS_EC2_METADATA_SERVICE_ENDPOINT: exit $RC: $(head -c 400 "$TMP/dump4e.json.err")"

# IPv6 endpoint.
if [ -n "$HAVE_V6" ]; then
  before=$(log_count v4 GET)
  run "$TMP/dump6.json" AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE=IPv6 -- dump-metadata
  if [ "$RC" = 0 ]; then pass "dump-metadata on http://[fd00:ec2::254]: exit 0"
  else fail "dump-metadata with ENDPOINT_MODE=IPv6: exit $RC: $(head -c 400 "$TMP/dump6.json.err")"; fi
  dump_equals "$TMP/dump6.json" && pass "dump via fd00:ec2::254 equals the capture" || fail "dump via fd00:ec2::254 differs"
  [ "$(log_count v6 GET)" -gt "$v6gets" ] && [ "$(log_count v4 GET)" = "$before" ] &&
    pass "IPv6 mode asked fd00:ec2::254 only" || fail "IPv6 mode: v6 GETs $(log_count v6 GET), v4 GETs grew"
  run "$TMP/show6" AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE=IPv6 -- show
  [ "$RC" = 0 ] && cmp -s "$TMP/show6" "$TMP/reference.show" && pass "show on http://[fd00:ec2::254] equals show of the capture" ||
    fail "show with ENDPOINT_MODE=IPv6: exit $RC: $(head -c 400 "$TMP/show6.err")"
  run "$TMP/show6p" -- --imds-endpoint "http://[fd00:ec2::254]:80" show
  [ "$RC" = 0 ] && cmp -s "$TMP/show6p" "$TMP/reference.show" && pass "show on --imds-endpoint http://[fd00:ec2::254]:80" ||
    fail "show on an IPv6 literal with a port: exit $RC: $(head -c 400 "$TMP/show6p.err")"
else
  echo "note: IPv6 disabled on lo in this kernel; IPv6 endpoint not tested"
fi

# Usage errors: exit 2 and no request sent.
total() { echo $(( $(log_count v4 PUT) + $(log_count v4 GET) + $(log_count v6 PUT) + $(log_count v6 GET) )); }
before=$(total)
for v in true TRUE; do
  run "$TMP/off.json" AWS_EC2_METADATA_DISABLED=$v -- dump-metadata
  [ "$RC" = 2 ] && pass "AWS_EC2_METADATA_DISABLED=$v: exit 2" || fail "AWS_EC2_METADATA_DISABLED=$v: exit $RC"
  grep -q AWS_EC2_METADATA_DISABLED "$TMP/off.json.err" && pass "error names AWS_EC2_METADATA_DISABLED" ||
    fail "stderr: $(head -c 400 "$TMP/off.json.err")"
done
run "$TMP/off.json" AWS_EC2_METADATA_DISABLED=true -- --imds-endpoint http://169.254.169.254 dump-metadata
[ "$RC" = 2 ] && pass "AWS_EC2_METADATA_DISABLED=true with --imds-endpoint: exit 2" || fail "disabled + endpoint: exit $RC"
run "$TMP/off.json" AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE=IPv5 -- dump-metadata
[ "$RC" = 2 ] && pass "bad ENDPOINT_MODE: exit 2" || fail "bad ENDPOINT_MODE: exit $RC"
run "$TMP/off.json" AWS_EC2_METADATA_SERVICE_ENDPOINT=https://169.254.169.254 -- dump-metadata
[ "$RC" = 2 ] && pass "https endpoint: exit 2" || fail "https endpoint: exit $RC"
[ "$(total)" = "$before" ] && pass "no request sent on usage errors" || fail "requests sent on usage errors"
run "$TMP/off.json" AWS_EC2_METADATA_DISABLED=true -- --metadata-file "$CAP" dump-metadata
[ "$RC" = 0 ] && pass "AWS_EC2_METADATA_DISABLED=true with --metadata-file: exit 0" || fail "disabled + --metadata-file: exit $RC"

finish
