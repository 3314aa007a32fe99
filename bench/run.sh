#!/usr/bin/env bash
# ec2-netcfg's benchmark (figures, not assertions: the machine may be shared). For each
# scenario of bench/scenarios.py (1 ENI x 1 address up to 15 ENIs x 50 IPv4 + 10 IPv6)
# and each IMDS latency: an instance in network namespaces of its own (veths carrying the
# capture's MACs, each with a router namespace), an IMDSv2 server on 127.0.0.1 inside it
# answering after LATENCY ms, and the netlink backend against the real kernel; then a
# first apply (everything new) and a no-change apply, RUNS times each (a `remove` between
# first applies). Per figure, the median of the runs: wall and CPU time and peak RSS of
# the binary alone (bench/launch.c: vfork + wait4), IMDS requests and TCP connections
# (the server's log), the longest chain of requests that waited on each other (the
# binary's -v summary; a client without that figure sends one request at a time, so
# there it is the request count), netlink messages and kernel changes (the -v summary),
# files written under /run. Also `--help` and the stripped binary's size. Needs root.
#
# The IMDS server is bench/imds_server.c (compiled here, one thread, epoll): the answers
# of the tests' emulator, tests/tools/imds_emulator.py, every one LATENCY ms after its
# request, side by side across connections, as EC2's IMDS does whatever the concurrency.
# The Python emulator itself is slower than what it emulates (threads under one
# interpreter lock: 8 requests at once take it ~1 ms at 0 ms latency, ~2 ms at 1 ms), so
# against it the figures measure Python more than ec2-netcfg; `--emulator python` uses it
# anyway, for comparison. test_bench_imds_server checks both answer alike.
#
#   sudo bench/run.sh [--bin FILE] [--runs N] [--latency "0 1"] [--scenarios "NAME..."]
#                     [--out FILE] [--label TEXT] [--config FILE] [--emulator c|python]
#                     [--smoke] [--help]
#
#   --bin       the binary (default: build/ec2-netcfg)
#   --runs      runs per figure (default 5)
#   --out       also keep the raw results there, one JSON object a line
#   --label     names the binary in the raw results (e.g. before/after)
#   --config    ec2-netcfg's configuration file for the applies (e.g. [imds] connections)
#   --emulator  c (default): bench/imds_server.c; python: tests/tools/imds_emulator.py
#   --smoke     one scenario (2x2+dual-stack), one run, 1 ms: CI's check that it runs
# bench/report.py turns raw results into the README's table (and compares two).
set -uo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
BIN=$SRC/build/ec2-netcfg
RUNS=5
LATENCIES="0 1"
SCENARIOS=
OUT=
LABEL=
CONFIG=
EMULATOR=c
usage() {
  echo "usage: bench/run.sh [--bin FILE] [--runs N] [--latency \"MS...\"] [--scenarios \"NAME...\"] [--out FILE]"
  echo "                    [--label TEXT] [--config FILE] [--emulator c|python] [--smoke] [--help]"
  echo "  (IMDS: bench/imds_server.c, or with --emulator python tests/tools/imds_emulator.py)"
}
while [ $# -gt 0 ]; do
  case $1 in
    --bin) BIN=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    --latency) LATENCIES=$2; shift 2 ;;
    --scenarios) SCENARIOS=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --label) LABEL=$2; shift 2 ;;
    --config) CONFIG=$(cd "$(dirname "$2")" && pwd)/$(basename "$2"); shift 2 ;;
    --emulator) EMULATOR=$2; shift 2 ;;
    --smoke) SCENARIOS=2x2+dual-stack RUNS=1 LATENCIES=1; shift ;;
    --help|-h) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
  esac
done
case $EMULATOR in c|python) ;; *) echo "bench: --emulator c or python, not $EMULATOR" >&2; exit 2 ;; esac
[ -x "$BIN" ] || { echo "bench: no binary at $BIN (build first)" >&2; exit 2; }
BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")
[ -n "$OUT" ] && OUT=$(cd "$(dirname "$OUT")" && pwd)/$(basename "$OUT")
export EC2NC_BIN=$BIN EC2NC_SRC=$SRC
source "$SRC/tests/integration/lib.sh"
set +e
require_netns
# The private /run is a tmpfs, as /run is: a file written there costs what it costs on an
# instance (an fsync on a disk would dominate a first apply).
mkdir -p "$TMP/run"
mount -t tmpfs -o size=64m,mode=0755 ec2nc-bench "$TMP/run" || { echo "bench: cannot mount a tmpfs" >&2; exit 2; }
trap 'umount "$TMP/run" 2>/dev/null; cleanup' EXIT
cc -O2 -o "$TMP/launch" "$SRC/bench/launch.c" || { echo "bench: cannot compile bench/launch.c" >&2; exit 2; }
if [ "$EMULATOR" = c ]; then
  cc -O2 -o "$TMP/imds_server" "$SRC/bench/imds_server.c" || { echo "bench: cannot compile bench/imds_server.c" >&2; exit 2; }
fi
RESULTS=$TMP/results.jsonl
: > "$RESULTS"
BASE_INST=$INST

# result KEY=VALUE...: one raw result line.
result() {
  python3 - "$@" >> "$RESULTS" <<'PY'
import json, sys
r = {}
for kv in sys.argv[1:]:
    k, _, v = kv.partition("=")
    try:
        r[k] = int(v)
    except ValueError:
        r[k] = v
print(json.dumps(r))
PY
}

# The binary itself: stripped size, and `--help` (no network, no namespace).
strip -o "$TMP/stripped" "$BIN" 2>/dev/null && result label="$LABEL" kind=size bytes="$(stat -c %s "$TMP/stripped")"
for i in $(seq "$RUNS"); do
  "$TMP/launch" "$TMP/cost" "$BIN" --help >/dev/null 2>&1
  read -r wall user sys rss rc < "$TMP/cost"
  result label="$LABEL" kind=help run="$i" wall_us="$wall" user_us="$user" sys_us="$sys" rss_kb="$rss" status="$rc"
done

# files_snapshot: every file under the private /run with its inode and mtime (the run
# lock aside: opened, never written).
files_snapshot() { find "$TMP/run" -type f ! -name lock -printf '%p %i %T@\n' 2>/dev/null | sort; }

# measure SCENARIO LATENCY KIND RUN: one apply, measured; appends its result.
measure() {
  local scen=$1 lat=$2 kind=$3 run=$4
  mkdir -p "$TMP/run"
  local before_files lines_before
  before_files=$(files_snapshot)
  lines_before=0
  [ -f "$TMP/imds.log" ] && lines_before=$(wc -l < "$TMP/imds.log")
  ip netns exec "$INST" unshare -m --propagation private sh -c 'mount --bind "$1" /run && shift && exec "$@"' \
    sh "$TMP/run" timeout 60 "$TMP/launch" "$TMP/cost" "$BIN" ${CONFIG:+--config "$CONFIG"} --imds-endpoint "$IMDS_URL" --backend netlink -v apply \
    > /dev/null 2> "$TMP/apply.log"
  local rc=$?
  read -r wall user sys rss status < "$TMP/cost" || { wall=0 user=0 sys=0 rss=0 status=$rc; }
  [ "$rc" = 0 ] || echo "bench: $scen ${lat} ms $kind run $run: exit $rc: $(tail -2 "$TMP/apply.log")" >&2
  local written
  written=$(comm -13 <(echo "$before_files") <(files_snapshot) | grep -c . )
  # IMDS requests and connections of this run: the server's log lines it added.
  local imds
  imds=$(tail -n +"$((lines_before + 1))" "$TMP/imds.log" | python3 -c '
import json, sys
lines = [json.loads(l) for l in sys.stdin if l.strip()]
print(len(lines), len({l["connection"] for l in lines}))')
  read -r requests conns <<< "$imds"
  # The summary: "done in N ms: F file(s) changed, K kernel change(s), R IMDS request(s)
  # [in D round(s) over C connection(s)], M netlink message(s)".
  local done_line changes rounds msgs
  done_line=$(grep "done in" "$TMP/apply.log" | tail -1)
  changes=$(sed -nE 's/.* ([0-9]+) kernel change.*/\1/p' <<< "$done_line")
  msgs=$(sed -nE 's/.* ([0-9]+) netlink message.*/\1/p' <<< "$done_line")
  rounds=$(sed -nE 's/.* in ([0-9]+) round.*/\1/p' <<< "$done_line")
  [ -n "$rounds" ] || rounds=$requests  # a client that sends one request at a time
  result label="$LABEL" emulator="$EMULATOR" kind="$kind" scenario="$scen" enis="$ENIS" v4="$V4" v6="$V6" latency_ms="$lat" run="$run" \
    wall_us="$wall" user_us="$user" sys_us="$sys" rss_kb="$rss" status="$status" requests="${requests:-0}" \
    connections="${conns:-0}" rounds="${rounds:-0}" netlink="${msgs:-0}" changes="${changes:-0}" files="$written"
}

# An instance for a capture: ENIs as veths with its MACs (ens5, ens6, ...), each peer in
# a router namespace holding the subnet's router address.
setup_scenario() {
  local capture=$1 n=0 ifname mac r4
  INST=$BASE_INST-$2
  new_ns "$INST"
  ip netns exec "$INST" sysctl -qw net.ipv4.ip_forward=1
  "$BIN" --metadata-file "$capture" show --json | python3 -c '
import ipaddress, json, sys
for i, e in enumerate(json.load(sys.stdin)["interfaces"]):
    gw = next((r["gateway"] for r in e["routes"] if r["dst"] == "default" and "." in r.get("gateway", "")), "")
    net = next((r["dst"] for r in e["routes"] if r["scope"] == "link" and "." in r["dst"]), "")
    print("ens%d" % (5 + i), e["mac"], "%s/%d" % (gw, ipaddress.ip_network(net).prefixlen) if gw else "")' > "$TMP/enis"
  IFACES=()
  while read -r ifname mac r4; do
    add_eni "$((n + 100 * $2))" "$ifname" "$mac" "$r4"
    IFACES+=("$ifname")
    n=$((n + 1))
  done < "$TMP/enis"
}

teardown_scenario() {
  local ns
  for ns in $(ip netns list | awk '{print $1}' | grep -- "-$ID\$\|^$INST\$"); do
    [ "$ns" = "$BASE_INST" ] && continue
    ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null
    ip netns del "$ns" 2>/dev/null
  done
  find "$TMP/run" -mindepth 1 -delete
}

IMDS_PID=
# start_emulator CAPTURE LATENCY: the IMDS server (bench/imds_server.c, or the Python
# emulator) on 127.0.0.1 inside the instance namespace; sets IMDS_URL.
start_emulator() {
  rm -f "$TMP/imds.port" "$TMP/imds.log"
  cp "$1" "$TMP/imds.json"
  if [ "$EMULATOR" = c ]; then
    # The C server reads no JSON: the capture flattened into path/body pairs first.
    python3 "$SRC/bench/imds_paths.py" "$TMP/imds.json" "$TMP/imds.paths" || { echo "bench: bench/imds_paths.py failed" >&2; exit 1; }
    ip netns exec "$INST" "$TMP/imds_server" --paths "$TMP/imds.paths" \
      --port-file "$TMP/imds.port" --log "$TMP/imds.log" --latency-ms "$2" --max-seconds 600 &
  else
    ip netns exec "$INST" python3 "$SRC/tests/tools/imds_emulator.py" --capture "$TMP/imds.json" \
      --port-file "$TMP/imds.port" --log "$TMP/imds.log" --latency-ms "$2" --max-seconds 600 &
  fi
  IMDS_PID=$!
  PIDS+=("$IMDS_PID")
  local i
  for i in $(seq 200); do [ -f "$TMP/imds.port" ] && break; sleep 0.05; done
  [ -f "$TMP/imds.port" ] || { echo "bench: the IMDS server ($EMULATOR) did not start" >&2; exit 1; }
  IMDS_URL="http://127.0.0.1:$(cat "$TMP/imds.port")"
}
stop_emulator() { [ -n "$IMDS_PID" ] && kill "$IMDS_PID" 2>/dev/null && wait "$IMDS_PID" 2>/dev/null; IMDS_PID=; }

python3 "$SRC/bench/scenarios.py" "$TMP/scenarios" $SCENARIOS > "$TMP/series" || exit 2
k=0
while read -r scen ENIS V4 V6; do
  k=$((k + 1))
  setup_scenario "$TMP/scenarios/$scen.json" "$k"
  for lat in $LATENCIES; do
    start_emulator "$TMP/scenarios/$scen.json" "$lat"
    for i in $(seq "$RUNS"); do
      # A first apply finds nothing configured: what the last one did is taken away.
      nc ${CONFIG:+--config "$CONFIG"} --backend netlink remove "${IFACES[@]}" >/dev/null 2>&1
      rm -rf "$TMP/run/ec2-netcfg"
      measure "$scen" "$lat" first "$i"
      measure "$scen" "$lat" again "$i"
    done
    stop_emulator
  done
  teardown_scenario
  echo "bench: $scen done" >&2
done < "$TMP/series"

[ -n "$OUT" ] && cp "$RESULTS" "$OUT"
python3 "$SRC/bench/report.py" "$RESULTS"
