# Shared helpers for integration tests. Each test script sources this, builds an
# emulated instance in network namespaces of its own (unique names with $$), and
# everything it starts is stopped and deleted on exit, also when it fails.
#
# Layout: namespace $INST is the instance (its ENIs are veths carrying the ENI's
# MAC); each ENI's far end sits in a router namespace of its own, rtr<N>-$ID, that
# holds the subnet router's address, so where a packet left is visible per ENI.
set -euo pipefail

: "${EC2NC_BIN:?EC2NC_BIN must point at the ec2-netcfg binary (ctest sets it)}"
: "${EC2NC_SRC:?EC2NC_SRC must point at the source tree (ctest sets it)}"

# Debian's python3 first: a version manager's shim found earlier on PATH costs ~1 s a start.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin:$PATH

ID=e2n$$
INST=inst-$ID
TMP=$(mktemp -d /tmp/ec2nc-test.XXXXXX)
NAMESPACES=()
PIDS=()
FAILURES=0

skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*" >&2; FAILURES=$((FAILURES + 1)); }
die() { echo "FAIL: $*" >&2; exit 1; }
pass() { echo "ok: $*"; }

cleanup() {
  local rc=$?
  set +e
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null; done
  for f in "$TMP"/*.pid; do [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null; done
  for ns in "${NAMESPACES[@]}"; do ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null; done
  for ns in "${NAMESPACES[@]}"; do ip netns del "$ns" 2>/dev/null; done
  if [ "$rc" != 0 ] && [ "$rc" != 77 ] && [ -n "${KEEP_TMP:-}" ]; then echo "kept $TMP"; else rm -rf "$TMP"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

require_netns() {
  [ "$(id -u)" = 0 ] || skip "needs root (network namespaces)"
  command -v ip >/dev/null || skip "needs iproute2"
  # A chroot or a container without /proc, /sys or mount rights can create a namespace
  # name but not use it: probe the whole path the tests take (add, exec with a private
  # mount namespace, a veth), and skip with the reason when any step is missing.
  [ -e /proc/self/ns/net ] || skip "no /proc here (a chroot?): network namespaces cannot be used"
  ip netns add "probe-$ID" 2>/dev/null || skip "cannot create network namespaces here"
  local ok=1
  ip netns exec "probe-$ID" unshare -m --propagation private true 2>/dev/null || ok=0
  ip -n "probe-$ID" link add p0 type veth peer name p1 2>/dev/null || ok=0
  ip netns del "probe-$ID"
  [ $ok = 1 ] || skip "network namespaces cannot be entered with a private mount namespace, or veths made, here"
}

new_ns() {
  ip netns add "$1"
  NAMESPACES+=("$1")
  ip -n "$1" link set lo up
}

# The instance namespace, with forwarding on (delegated prefixes are forwarded).
setup_instance() {
  require_netns
  new_ns "$INST"
  ip netns exec "$INST" sysctl -qw net.ipv4.ip_forward=1
}

# add_eni N IFNAME MAC [ROUTER4/LEN] [ROUTER6/LEN]
# An ENI: veth IFNAME (MAC) in the instance, peer "gw" in router namespace rtrN-$ID
# holding the router addresses (the subnet's first host, as in a VPC).
add_eni() {
  local n=$1 ifname=$2 mac=$3 r4=${4:-} r6=${5:-}
  local rtr=rtr$n-$ID
  new_ns "$rtr"
  ip link add "$ifname" netns "$INST" address "$mac" type veth peer name gw netns "$rtr"
  ip -n "$rtr" link set gw up
  ip netns exec "$rtr" sysctl -qw net.ipv4.ip_forward=1
  [ -n "$r4" ] && ip -n "$rtr" addr add "$r4" dev gw
  if [ -n "$r6" ]; then
    ip netns exec "$rtr" sysctl -qw net.ipv6.conf.all.forwarding=1
    ip -n "$rtr" addr add "$r6" dev gw nodad
  fi
  ip -n "$INST" link set "$ifname" up
}

# start_dhcp N MAC IPV4 [IPV6]: dnsmasq in router namespace N handing out the ENI's
# primary address (and DHCPv6 + RAs with the M flag when IPV6 is given), as EC2 does.
start_dhcp() {
  local n=$1 mac=$2 v4=$3 v6=${4:-}
  local rtr=rtr$n-$ID net4=${3%.*}
  local args=(--no-daemon --port=0 --interface=gw --bind-interfaces --conf-file=/dev/null
              --dhcp-leasefile="$TMP/leases$n" --pid-file= --log-facility="$TMP/dnsmasq$n.log"
              --dhcp-range="$net4.200,$net4.250,255.255.255.0,1h")
  if [ -n "$v6" ]; then
    args+=(--dhcp-range="${v6%::*}::,static,64,1h" --enable-ra --ra-param=gw,10,600
           --dhcp-host="$mac,$v4,[$v6]")
  else
    args+=(--dhcp-host="$mac,$v4")
  fi
  ip netns exec "$rtr" dnsmasq "${args[@]}" &
  PIDS+=($!)
}

# start_imds CAPTURE [extra emulator args]: the IMDSv2 emulator on 127.0.0.1 inside the
# instance namespace; sets IMDS_URL. CAPTURE is copied to $TMP/imds.json, which a test
# rewrites (set_imds) to change what IMDS says.
start_imds() {
  cp "$1" "$TMP/imds.json"
  shift
  rm -f "$TMP/imds.port"
  ip netns exec "$INST" python3 "$EC2NC_SRC/tests/tools/imds_emulator.py" --capture "$TMP/imds.json" \
    --port-file "$TMP/imds.port" --log "$TMP/imds.log" --faults "$TMP/faults.json" "$@" &
  PIDS+=($!)
  local i
  for i in $(seq 100); do [ -f "$TMP/imds.port" ] && break; sleep 0.05; done
  [ -f "$TMP/imds.port" ] || die "IMDS emulator did not start"
  IMDS_URL="http://127.0.0.1:$(cat "$TMP/imds.port")"
}

# set_imds CAPTURE: atomically replace what the emulator serves.
set_imds() { cp "$1" "$TMP/imds.next" && mv "$TMP/imds.next" "$TMP/imds.json"; }

# scenario NAME [OUT]: write a bundled scenario capture; prints its path.
scenario() {
  local out=${2:-$TMP/$1.json}
  cp "$EC2NC_SRC/tests/data/scenarios/$1.json" "$out"
  echo "$out"
}

# nc ARGS...: run ec2-netcfg inside the instance namespace against the emulator, with
# a private /run ($TMP/run, kept between runs of one test) so no test writes the host's
# /run or shares its state file and lock with another test.
nc() {
  mkdir -p "$TMP/run"
  ip netns exec "$INST" unshare -m --propagation private \
    sh -c 'mount --bind "$1" /run && shift && exec "$@"' sh "$TMP/run" \
    "$EC2NC_BIN" --imds-endpoint "$IMDS_URL" "$@"
}

# route_dev SRC DEST [IIF]: the interface the kernel would send DEST from SRC out of
# (its real routing decision, `ip route get`; no packet is sent).
route_dev() {
  local out
  out=$(ip -n "$INST" route get "$2" from "$1" ${3:+iif "$3"} 2>&1) || { echo "error:$out"; return; }
  sed -n 's/.* dev \([^ ]*\).*/\1/p' <<< "$out" | head -1
}

# expect_route SRC DEST DEV [IIF]
expect_route() {
  local got
  got=$(route_dev "$1" "$2" "${4:-}")
  if [ "$got" = "$3" ]; then pass "from $1 to $2${4:+ iif $4} leaves via $3"
  else fail "from $1 to $2${4:+ iif $4}: expected dev $3, got $got"; fi
}

# wait_for DESC SECONDS CMD...: poll until CMD succeeds.
wait_for() {
  local desc=$1 secs=$2; shift 2
  local end=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $end ] || die "timed out after ${secs}s waiting for: $desc"
    sleep 0.1
  done
}

# has_addr IFNAME ADDR (output captured first: `cmd | grep -q` under pipefail fails
# at random when grep exits before the writer).
has_addr() { local a; a=$(ip -n "$INST" -o addr show dev "$1"); grep -q " $2/" <<< "$a"; }

# own_addresses [--detail]: addresses carrying ec2-netcfg's IFA_PROTO 236 mark.
own_addresses() { ip netns exec "$INST" python3 "$EC2NC_SRC/tests/tools/own_addresses.py" "$@"; }

# events_beyond_kernel FILE: the events in FILE, the output of `ip monitor` (address,
# route, rule, link), that are not the kernel's own bookkeeping; prints them with their
# continuation lines, nothing when ec2-netcfg (or anyone else) changed nothing.
# ip's own complaint about a netns that another test deletes as it starts is dropped too.
# The kernel's own, dropped whenever they happen to arrive: IPv6 link-local addresses
# appearing or finishing DAD ("N: IF    inet6 fe80::.../64 scope link" and its
# "valid_lft" line) and the routes it adds for its addresses ("local|anycast|multicast
# ... proto kernel", "fe80::/64 ... proto kernel"). Everything else is printed: any
# other address (ec2-netcfg's included), any route not proto kernel (proto 236), any
# rule, any link, and every deleted object (a "Deleted" line, whatever it is).
events_beyond_kernel() {
  awk '
    { sub(/^\[[A-Z0-9_]+\] */, "") }          # an "ip monitor label" prefix, if any
    /^[ \t]*$/ { next }
    # ip itself, not an event: at start it asks the kernel for the id of every named netns,
    # and one that another test is deleting at that moment makes it say this.
    /^Error: Peer netns reference is invalid\.$/ { next }
    /^[ \t]/ { if (!own) print; next }         # continuation of the event above
    { own = 0 }
    /^Deleted / { print; next }
    /^[0-9]+: [^ ]+ +inet6 fe80:[0-9a-f:]*\/[0-9]+ .*scope link/ { own = 1; next }
    # A route (address, link and rule events start "N: " or "N:<tab>").
    !/^[0-9]+:[ \t]/ && / proto kernel( |$)/ { own = 1; next }
    { print }
  ' "$1"
}

# expect_status WANT DESC CMD...: run CMD (stdout to $TMP/out, stderr to $TMP/err).
expect_status() {
  local want=$1 desc=$2; shift 2
  local rc=0
  "$@" >"$TMP/out" 2>"$TMP/err" || rc=$?
  if [ "$rc" = "$want" ]; then pass "$desc: exit $rc"
  else fail "$desc: exit $rc, expected $want; stderr: $(head -c 600 "$TMP/err")"; fi
}

finish() {
  if [ "$FAILURES" -gt 0 ]; then echo "$FAILURES check(s) failed"; exit 1; fi
  echo "all checks passed"
}
