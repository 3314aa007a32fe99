# Helpers for the live tests (real networkd on D-Bus, traffic flowing): an emulated VPC
# of ENIs N = 0, 1, ... (veth IFN[N] with MAC[N] and device number DEV[N], subnet
# 10.0.N.0/24, router 10.0.N.1, DHCP for 10.0.N.20; arrays the test defines), captures
# for them, the state ec2-netcfg must hold (EXPECT) and others' state beside it (FOREIGN),
# and UDP from every address counted per source in each router namespace. Source after
# lib.sh and lib_networkd.sh.

# A version manager's python3 shim (pyenv) costs about a second a start: the receivers and
# senders must start fast, and `ip netns exec` does not see shell functions.
PY=python3
if [ -x /usr/bin/python3 ]; then PY=/usr/bin/python3; python3() { /usr/bin/python3 "$@"; }; fi

TRAFFIC=$EC2NC_SRC/tests/tools/traffic_udp.py
DEST=203.0.113.10
PORT=5005
RATE=200

# mkcap OUT N=ADDR,ADDR... : a capture listing ENIs N (primary: N=0) with these addresses.
mkcap() {
  local out=$1; shift
  python3 - "$EC2NC_SRC/tests/tools" "$out" "${MAC[*]}" "${DEV[*]}" "$@" <<'EOF'
import json, sys
sys.path.insert(0, sys.argv[1])
import scenario
macs, devs = sys.argv[3].split(), [int(d) for d in sys.argv[4].split()]
enis = []
for spec in sys.argv[5:]:
    n, addrs = spec.split("=")
    n = int(n)
    enis.append(scenario.eni(macs[n], devs[n], addrs.split(","), "10.0.%d.0/24" % n))
json.dump(scenario.build(enis, macs[0]), open(sys.argv[2], "w"), indent=1)
EOF
}

# A router namespace's far side: rp_filter off (so a packet that left through the wrong
# ENI is delivered and counted, not dropped), the destination on lo, a receiver.
setup_far_side() {
  local n=$1 rtr=rtr$1-$ID
  ip netns exec "$rtr" sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0 \
    net.ipv4.conf.gw.rp_filter=0
  ip -n "$rtr" addr add "$DEST/32" dev lo
  ip netns exec "$rtr" "$PY" "$TRAFFIC" recv --bind "$DEST" --port "$PORT" --out "$TMP/recv$n.json" &
  PIDS+=($!)
}

# new_eni N: veth + router namespace + DHCP + receiver.
new_eni() {
  local n=$1
  add_eni "$n" "${IFN[$n]}" "${MAC[$n]}" "10.0.$n.1/24"
  start_dhcp "$n" "${MAC[$n]}" "10.0.$n.20"
  setup_far_side "$n"
}

# EXPECT: "IFACE=ADDR,ADDR ..." what ec2-netcfg must hold. other_host IFACE: a host in
# another ENI's subnet.
EXPECT=""
other_host() { [ "$1" = ens5 ] && echo 10.0.1.100 || echo 10.0.0.100; }

# add_foreign_state: another program's rule (priority 600, table 500), a route in its table
# through ens6 and an address on ens6; from then on state_errors checks they survive.
add_foreign_state() {
  ip -n "$INST" rule add from 192.0.2.0/24 lookup 500 priority 600
  ip -n "$INST" route add 198.51.100.0/24 via 10.0.1.1 dev ens6 table 500
  ip -n "$INST" addr add 10.0.1.99/32 dev ens6
  FOREIGN=1
}

# state_errors: prints what is wrong (empty = ec2-netcfg's state and the foreign state hold).
FOREIGN=0
state_errors() {
  local spec ifname a got
  for spec in $EXPECT; do
    ifname=${spec%%=*}
    for a in $(tr , ' ' <<< "${spec#*=}"); do
      has_addr "$ifname" "$a" || echo "$a missing on $ifname"
      got=$(route_dev "$a" 1.1.1.1); [ "$got" = "$ifname" ] || echo "from $a to 1.1.1.1 leaves via $got, not $ifname"
      got=$(route_dev "$a" "$(other_host "$ifname")")
      [ "$got" = "$ifname" ] || echo "from $a to $(other_host "$ifname") leaves via $got, not $ifname"
    done
  done
  if [ "$FOREIGN" = 1 ]; then
    local o
    o=$(ip -n "$INST" rule show priority 600)
    grep -q "from 192.0.2.0/24 lookup 500" <<< "$o" || echo "foreign rule gone"
    o=$(ip -n "$INST" route show table 500)
    grep -q "198.51.100.0/24 via 10.0.1.1 dev ens6" <<< "$o" || echo "foreign route gone"
    has_addr ens6 10.0.1.99 || echo "foreign address 10.0.1.99 gone from ens6"
  fi
}

# check_state LABEL [SECONDS]: the state holds (waiting up to SECONDS for networkd to settle).
check_state() {
  local label=$1 secs=${2:-0} errs end=$((SECONDS + ${2:-0}))
  while :; do
    errs=$(state_errors)
    [ -z "$errs" ] || [ $SECONDS -ge $end ] && break
    sleep 0.2
  done
  if [ -z "$errs" ]; then pass "$label: foreign rule/route/address and ec2-netcfg's state hold"
  else
    while read -r l; do fail "$label: $l"; done <<< "$errs"
    ip -n "$INST" -4 addr >&2; ip -n "$INST" rule >&2
  fi
}

# ndt CMD...: nd with a bound (a networkd that stops answering must not hang the test).
ndt() { timeout 10 nsenter -t "$ND_HOLDER" -m -n "$@"; }
# links_configured IFACE...: networkd says configured for each (after a restart/reconfigure).
# networkctl is bounded: a networkd that stops answering must not hang the test.
links_configured() {
  local l out
  out=$(ndt networkctl list --no-legend --no-pager 2>/dev/null) || return 1
  for l in "$@"; do [ "$(awk -v l="$l" '$2 == l { print $5 }' <<< "$out")" = configured ] || return 1; done
}
# networkd_version: systemd-networkd's major version (252 on Debian 12, 257 on Debian 13).
networkd_version() { "$NETWORKD" --version 2>/dev/null | awk 'NR == 1 { print $2 + 0 }'; }
# wait_links DESC IFACE...: links_configured within 20 s, else what networkd says, and fail.
# networkd 257 with KeepConfiguration=yes leaves the running DHCPv4 client of a link an
# administrator reconfigured (networkctl reconfigure, netplan apply) alone and says
# "configuring" until the lease's next renewal, everything in place meanwhile (test_boot
# checks that); after 5 s `networkctl renew` ends it, once, and says so.
wait_links() {
  local desc=$1 end=$((SECONDS + 20)) renew_at=$((SECONDS + 5)) renewed=0; shift
  until links_configured "$@"; do
    if [ $renewed = 0 ] && [ $SECONDS -ge $renew_at ] && [ "$(networkd_version)" -ge 257 ]; then
      echo "  ($desc) networkd $(networkd_version) says 'configuring' after the reconfigure (KeepConfiguration=yes): networkctl renew $*"
      ndt networkctl renew "$@" || true
      renewed=1
    fi
    if [ $SECONDS -ge $end ]; then
      ndt networkctl list --no-pager >&2 || true
      for l in "$@"; do ndt networkctl status --no-pager "$l" >&2 || true; done
      fail "networkd did not get $* configured within 20 s ($desc)"
      return 1
    fi
    sleep 0.2
  done
}
# network_file IFACE: the .network file networkd applies to IFACE (bounded networkctl).
network_file() { ndt networkctl status --no-pager "$1" 2>/dev/null | sed -n 's/^ *Network File: //p' || true; }
# Without pipes into grep -q: with pipefail, ip's SIGPIPE would make a present object "missing".
has_addr() { local o; o=$(ip -n "$INST" -o addr show dev "$1" 2>&1); grep -q " $2/" <<< "$o"; }

# run_traffic LABEL "OLD-ADDRS" "NEW-ADDRS" CMD...: sender from OLD (and NEW once they
# exist) ~1 s before, during CMD, ~2 s after; prints the per-source report; sets TOT (JSON).
owner_of() {  # ADDR -> router number (10.0.N.x is ENI N's)
  local x=${1#10.0.}; echo "${x%%.*}"
}
run_traffic() {
  local label=$1 old=$2 new=$3; shift 3
  local args=() a maps=() recvs=() n spid rc=0
  for a in $old; do args+=(--src "$a"); done
  for a in $new; do args+=(--new-src "$a"); done
  for a in $old $new; do maps+=(--map "$a=r$(owner_of "$a")"); done
  for f in "$TMP"/recv*.json; do n=${f##*/recv}; n=${n%.json}; recvs+=(--recv "r$n=$f"); done
  rm -f "$TMP/ready-$label" "$TMP/sent-$label.json"
  ip netns exec "$INST" "$PY" "$TRAFFIC" send --run "$label" --dest "$DEST" --port "$PORT" --rate "$RATE" \
    --out "$TMP/sent-$label.json" --ready "$TMP/ready-$label" "${args[@]}" &
  spid=$!
  PIDS+=("$spid")
  wait_for "traffic sender ready" 10 test -f "$TMP/ready-$label"
  sleep 1
  local t0=$EPOCHREALTIME
  "$@" || rc=$?
  local t1=$EPOCHREALTIME
  sleep 2
  kill -TERM "$spid"; wait "$spid" || true
  sleep 0.5  # in-flight packets, receivers rewrite their files every 100 ms
  # Receivers started during CMD (hotplug) are only now in the list.
  recvs=(); for f in "$TMP"/recv*.json; do n=${f##*/recv}; n=${n%.json}; recvs+=(--recv "r$n=$f"); done
  python3 "$TRAFFIC" report --run "$label" --sent "$TMP/sent-$label.json" "${maps[@]}" "${recvs[@]}" \
    > "$TMP/report-$label"
  sed '$d' "$TMP/report-$label"
  TOT=$(tail -1 "$TMP/report-$label")
  printf '  change took %s ms, exit %s\n' "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", (b - a) * 1000 }')" "$rc"
  return "$rc"
}
figure() {  # figure KIND LABEL: the FIGURES line from $TOT
  python3 - "$1" "$2" "$TOT" <<'EOF'
import json, sys
kind, label, t = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
o, n = t["old"], t["new"]
line = "FIGURES %-22s sent=%d right=%d misrouted=%d lost=%d send-errors=%d" % (
    kind + " " + label + ":", o["sent"], o["right"], o["misrouted"], o["lost"], o["errors"])
if n["sent"]:
    line += " | new address(es): sent=%d misrouted=%d lost=%d" % (n["sent"], n["misrouted"], n["lost"])
print(line)
EOF
}
tot() { python3 -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]][sys.argv[3]])' "$TOT" "$1" "$2"; }
addrs_of() { local s; for s in $EXPECT; do tr , ' ' <<< "${s#*=}"; done | xargs; }
