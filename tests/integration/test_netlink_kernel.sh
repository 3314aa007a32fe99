#!/bin/bash
# The netlink backend against the real kernel, one bundled scenario per child run (own
# namespaces, own cleanup): every address routes out of its ENI (internet, own subnet,
# other subnets), the primary's default stays the system default, a bridge route in main
# wins, delegated prefixes are forwarded out of their ENI, foreign state survives apply
# and remove, a second apply changes nothing (no netlink event), IMDS changes between
# applies are followed, remove leaves nothing of ec2-netcfg's (proto 236).
set -uo pipefail

SCENARIOS=(one-eni-three-ips two-enis-same-subnet two-enis-two-subnets four-enis-two-cards
           dual-stack-prefixes ipv6-only-secondary largest)

if [ -z "${EC2NC_SCENARIO:-}" ]; then
  # Scenarios are independent (namespaces named after each child's PID): run them side
  # by side, then report each in order.
  out=$(mktemp -d /tmp/ec2nc-nlk.XXXXXX)
  trap 'rm -rf "$out"' EXIT
  pids=()
  for s in "${SCENARIOS[@]}"; do
    EC2NC_SCENARIO=$s bash "$0" > "$out/$s.log" 2>&1 &
    pids+=($!)
  done
  rc=0 i=0
  for s in "${SCENARIOS[@]}"; do
    wait "${pids[$i]}"
    r=$?
    i=$((i + 1))
    echo "=== scenario $s"
    cat "$out/$s.log"
    [ $r = 77 ] && rc=77 && continue
    [ $r = 0 ] || { echo "scenario $s FAILED"; [ $rc = 77 ] || rc=1; }
  done
  exit $rc
fi

source "${EC2NC_SRC:?}/tests/integration/lib.sh"
SCEN=$EC2NC_SCENARIO
setup_instance
ip netns exec "$INST" sysctl -qw net.ipv6.conf.all.forwarding=1

# The ENIs of the capture, one line each:
# IFNAME MAC ROUTER4/LEN ROUTER6/LEN IPV4S IPV6S SUBNET4 V4PREFIX-HOSTS V6PREFIX-HOSTS PRIMARY
# (lists: commas, "-" = none; a host inside each delegated prefix; PRIMARY: 1 or 0)
CAPTURE=$(scenario "$SCEN")
python3 - "$CAPTURE" > "$TMP/enis" <<'EOF'
import ipaddress, json, sys
p = json.load(open(sys.argv[1]))["paths"]
base = "meta-data/network/interfaces/macs/"
enis = []
for mac in [m.rstrip("/") for m in p[base].split("\n")]:
    g = lambda k: p.get(base + mac + "/" + k, "")
    enis.append((int(g("network-card") or 0), int(g("device-number")), mac, g))
enis.sort()
lst = lambda s: ",".join(x for x in s.split("\n") if x) or "-"
hosts = lambda s, n: ",".join(str(ipaddress.ip_network(x)[n]) for x in s.split("\n") if x) or "-"
for i, (card, dev, mac, g) in enumerate(enis):
    s4, s6 = g("subnet-ipv4-cidr-block"), g("subnet-ipv6-cidr-blocks").split("\n")[0]
    r4 = "%s/%d" % (ipaddress.ip_network(s4)[1], ipaddress.ip_network(s4).prefixlen) if s4 else "-"
    r6 = "%s/%d" % (ipaddress.ip_network(s6)[1], ipaddress.ip_network(s6).prefixlen) if s6 else "-"
    print("ens%d" % (5 + i), mac, r4, r6, lst(g("local-ipv4s")), lst(g("ipv6s")), s4 or "-",
          hosts(g("ipv4-prefix"), 1), hosts(g("ipv6-prefix"), 5), int(mac == p["meta-data/mac"]))
EOF

# ec2-netcfg in the instance namespace, with /run private to this test (state, lock).
mkdir -p "$TMP/run"
ncx() {
  ip netns exec "$INST" unshare -m sh -c 'mount --bind "$0" /run && exec "$@"' "$TMP/run" \
    "$EC2NC_BIN" --backend netlink --imds-endpoint "$IMDS_URL" "$@"
}

v6_router_ll() { echo "fe80::${1#ens}:1"; }

# --- the emulated VPC ---
n=0
while read -r ifname mac r4 r6 _; do
  add_eni "$n" "$ifname" "$mac" "$([ "$r4" = - ] || echo "$r4")" "$([ "$r6" = - ] || echo "$r6")"
  if [ "$r6" != - ]; then
    # The router's link-local address, and the default route the kernel would learn from
    # its router advertisements (added by hand: deterministic, no RA timing).
    ip -n "rtr$n-$ID" addr add "$(v6_router_ll "$ifname")/64" dev gw nodad
    ip -n "$INST" -6 route add default via "$(v6_router_ll "$ifname")" dev "$ifname" proto ra metric $((1024 + n))
  fi
  n=$((n + 1))
done < "$TMP/enis"
read -r PIF _ PR4 _ PV4S _ PS4 _ < <(grep ' 1$' "$TMP/enis")
# DHCP's part on the primary: its first address and the system default route.
if [ "$PR4" != - ]; then
  ip -n "$INST" addr add "${PV4S%%,*}/${PS4#*/}" dev "$PIF"
  ip -n "$INST" route add default via "${PR4%/*}" dev "$PIF"
fi
# DHCPv6's part: the lease of one of the ENI's IPv6 addresses, the last IMDS lists (IMDS
# does not promise the first line is DHCPv6's).
read -r _ _ _ _ _ PV6S _ < <(grep ' 1$' "$TMP/enis")
DHCP6=-
if [ "$PV6S" != - ]; then
  DHCP6=${PV6S##*,}
  ip -n "$INST" addr add "$DHCP6/128" dev "$PIF" valid_lft 3600 preferred_lft 1800 nodad
fi
# A container bridge with its route in main, and foreign state that must survive.
ip -n "$INST" link add br-test type veth peer name br-peer
ip -n "$INST" addr add 172.17.0.1/16 dev br-test
ip -n "$INST" link set br-test up
ip -n "$INST" link set br-peer up
LAST_IF=$(tail -1 "$TMP/enis" | cut -d' ' -f1)
ip -n "$INST" rule add from 10.0.0.99 lookup 100 priority 512
ip -n "$INST" rule add fwmark 0x80 lookup main priority 1024
ip -n "$INST" rule add iif docker0 lookup 10001 priority 10001
ip -n "$INST" route add 192.168.77.0/24 dev "$LAST_IF" table 10001 proto static
ip -n "$INST" route add 10.99.0.0/16 dev "$PIF" proto boot
ip -n "$INST" addr add 192.168.55.5/32 dev "$LAST_IF"
foreign_state() {
  {
    ip -n "$INST" rule show | grep -v 'proto 236'
    ip -n "$INST" route show table all | grep -v 'proto 236' | grep -v '^local\|^broadcast\|^multicast\|fe80::/64\|ff00::/8\|proto kernel'
    ip -n "$INST" -o addr show | grep 192.168.55.5 | awk '{print $2, $4}'
  } | sort
}
# A BGP speaker's large table of its own (one scenario): never ec2-netcfg's, so never read.
BIG_TABLE=0
if [ "$SCEN" = two-enis-two-subnets ]; then
  BIG_TABLE=3000
  for i in $(seq 0 $((BIG_TABLE - 1))); do
    echo "route add 100.$((64 + i / 256)).$((i % 256)).0/24 via ${PR4%/*} dev $PIF table 500 proto bird"
  done > "$TMP/bgp.batch"
  ip -n "$INST" -batch "$TMP/bgp.batch" || die "cannot add the BGP table"
fi
foreign_state > "$TMP/foreign.before"

start_imds "$CAPTURE"

# --- apply ---
ncx -v apply > "$TMP/apply1.out" 2>&1 || { cat "$TMP/apply1.out"; die "apply failed"; }
grep -h "done in" "$TMP/apply1.out" | sed 's/^/first apply: /'
if [ "$BIG_TABLE" != 0 ]; then
  read_routes=$(sed -n 's/.*host: .* address(es), \([0-9]*\) route(s).*/\1/p' "$TMP/apply1.out" | sort -n | tail -1)
  if [ -n "$read_routes" ] && [ "$read_routes" -lt "$BIG_TABLE" ]; then
    pass "a foreign table of $BIG_TABLE routes is not read (at most $read_routes routes read a pass)"
  else
    fail "apply read ${read_routes:-?} routes a pass, the foreign table of $BIG_TABLE included: $(grep 'host: ' "$TMP/apply1.out" | head -2)"
  fi
fi
[ "$(foreign_state)" = "$(cat "$TMP/foreign.before")" ] && pass "foreign state survived apply" \
  || { diff "$TMP/foreign.before" <(foreign_state); fail "foreign state changed by apply"; }

# IPv6: every address ec2-netcfg added is deprecated (a source only where nothing else
# is); the one DHCPv6 leased stays as its lease says, preferred.
v6_flags_ok=1
while read -r ifname _ _ _ _ v6s _; do
  [ "$v6s" = - ] && continue
  for a in ${v6s//,/ }; do
    line=$(ip -n "$INST" -6 -o addr show dev "$ifname" | grep -F " $a/128 " || true)
    if [ "$a" = "$DHCP6" ]; then
      case "$line" in *deprecated*|"") v6_flags_ok=0; echo "DHCPv6's $a on $ifname: ${line:-missing}" ;; esac
    else
      case "$line" in *deprecated*) ;; *) v6_flags_ok=0; echo "$a on $ifname not deprecated: ${line:-missing}" ;; esac
    fi
  done
done < "$TMP/enis"
[ $v6_flags_ok = 1 ] && pass "IPv6: ec2-netcfg's addresses deprecated, DHCPv6's lease left preferred" \
  || fail "IPv6 addresses: preferred/deprecated not as DHCPv6 and ec2-netcfg each left them"

# --- where packets leave ---
check_routes() {
  local ifname mac r4 r6 v4s v6s s4 p4 p6 a other
  while read -r ifname mac r4 r6 v4s v6s s4 p4 p6 _; do
    local addrs=() n6=()
    [ "$v4s" = - ] || IFS=, read -ra addrs <<< "$v4s"
    [ "$v6s" = - ] || IFS=, read -ra n6 <<< "$v6s"
    [ "$SCEN" = largest ] && addrs=("${addrs[0]}" "${addrs[-1]}") && n6=("${n6[0]}" "${n6[-1]}")
    for a in "${addrs[@]}"; do
      [ -n "$a" ] || continue
      expect_route "$a" 1.1.1.1 "$ifname"
      expect_route "$a" "${r4%.*}.99" "$ifname"              # its own subnet
      expect_route "$a" 10.0.250.7 "$ifname"                 # a VPC subnet without an ENI here
      while read -r other _ o4 _; do                         # every other ENI's subnet
        [ "$o4" = - ] || [ "$other" = "$ifname" ] || expect_route "$a" "${o4%.*}.99" "$ifname"
      done < <(if [ "$SCEN" = largest ]; then grep -v "^$ifname " "$TMP/enis" | sed -n 1,2p; else cat "$TMP/enis"; fi)
      expect_route "$a" 172.17.0.5 br-test                   # the bridge route in main wins
    done
    for a in "${n6[@]}"; do
      [ -n "$a" ] || continue
      expect_route "$a" 2001:db8::1 "$ifname"
      expect_route "$a" "${r6%::*}::99" "$ifname"
    done
    if [ "$p4" != - ]; then
      for a in ${p4//,/ }; do
        expect_route "$a" 1.1.1.1 "$ifname" br-test            # forwarded from a container
        expect_route "$a" 10.0.250.7 "$ifname" br-test
      done
    fi
    if [ "$p6" != - ]; then
      for a in ${p6//,/ }; do expect_route "$a" 2001:db8::1 "$ifname" br-test; done
    fi
  done < "$TMP/enis"
  if [ "$PR4" != - ]; then
    local got
    got=$(ip -n "$INST" route get 1.1.1.1 | sed -n 's/.* dev \([^ ]*\).*/\1/p')
    [ "$got" = "$PIF" ] && pass "system default still via $PIF" || fail "system default via $got, not $PIF"
  fi
}
check_routes

# --- a second apply changes nothing: not one netlink event ---
ip netns exec "$INST" ip monitor address route rule > "$TMP/monitor" 2> "$TMP/monitor.err" &
MON=$!
PIDS+=("$MON")
sleep 0.3
ncx -v apply > "$TMP/apply2.out" 2>&1 || { cat "$TMP/apply2.out"; fail "second apply failed"; }
sleep 0.3
kill "$MON" 2>/dev/null || true
wait "$MON" 2>/dev/null || true
grep -h "done in" "$TMP/apply2.out" | sed 's/^/no-change apply: /'
# The kernel's own events (IPv6 link-local DAD finishing, its proto kernel routes) may
# land in the window at any time; any other event is a change (events_beyond_kernel).
changes=$(events_beyond_kernel "$TMP/monitor")
if [ -n "$changes" ]; then fail "second apply caused netlink events:"; echo "$changes"
else pass "second apply: no netlink event beyond the kernel's own"; fi
ncx diff > "$TMP/diff.out" 2>&1 || fail "diff failed"
[ -z "$(grep -v '^$' "$TMP/diff.out" | grep -iv 'no change' || true)" ] && pass "diff is empty after apply" \
  || { cat "$TMP/diff.out"; fail "diff not empty after apply"; }

# --- IMDS changes between applies: one IPv4 added to and one removed from the last ENI ---
read -r LIF LMAC LR4 _ LV4S _ < <(tail -1 "$TMP/enis")
if [ "$LV4S" != - ] && [ "${LV4S#*,}" != "$LV4S" ]; then
  GONE=${LV4S##*,}
  NEW="${LR4%.*}.$(( (${GONE##*.} + 100) % 200 + 20 ))"
  python3 - "$TMP/imds.json" "$TMP/imds.edit" "$LMAC" "$GONE" "$NEW" <<'EOF'
import json, sys
src, dst, mac, gone, new = sys.argv[1:]
d = json.load(open(src))
k = "meta-data/network/interfaces/macs/%s/local-ipv4s" % mac
ips = [x for x in d["paths"][k].split("\n") if x != gone] + [new]
d["paths"][k] = "\n".join(ips)
json.dump(d, open(dst, "w"))
EOF
  set_imds "$TMP/imds.edit"
  ncx -v apply > "$TMP/apply3.out" 2>&1 || { cat "$TMP/apply3.out"; fail "apply after IMDS change failed"; }
  has_addr "$LIF" "$NEW" && pass "$NEW added to $LIF" || fail "$NEW not on $LIF"
  has_addr "$LIF" "$GONE" && fail "$GONE still on $LIF" || pass "$GONE removed from $LIF"
  rules=$(ip -n "$INST" rule show)
  grep -q "from $GONE " <<< "$rules" && fail "rule for $GONE remains" || pass "rule for $GONE removed"
  expect_route "$NEW" 1.1.1.1 "$LIF"
  expect_route "$NEW" 172.17.0.5 br-test
  expect_route "${LV4S%%,*}" 1.1.1.1 "$LIF"
fi

# --- remove every ENI: nothing of ec2-netcfg's is left but its host-wide rules ---
IFS=' ' read -ra ALL_IFS <<< "$(cut -d' ' -f1 "$TMP/enis" | tr '\n' ' ')"
ncx -v remove "${ALL_IFS[@]}" > "$TMP/remove.out" 2>&1 || { cat "$TMP/remove.out"; fail "remove failed"; }
left_rules=$(ip -n "$INST" rule show | grep 'proto 236' | grep -v '^9999:' || true)
[ -z "$left_rules" ] && pass "no per-ENI rule of ours left" || fail "rules left: $left_rules"
left_routes=$(ip -n "$INST" route show table all proto 236)
[ -z "$left_routes" ] && pass "no route of ours left" || fail "routes left: $left_routes"
left_addrs=$(own_addresses)
[ -z "$left_addrs" ] && pass "no address of ours left" || fail "addresses left: $left_addrs"
[ "$(foreign_state | grep -v '^9999:')" = "$(grep -v '^9999:' "$TMP/foreign.before")" ] \
  && pass "foreign state survived remove" || { diff "$TMP/foreign.before" <(foreign_state); fail "foreign state changed by remove"; }
for ifname in "${ALL_IFS[@]}"; do
  linkinfo=$(ip -n "$INST" -d link show "$ifname")
  grep -q "group 10000" <<< "$linkinfo" && fail "$ifname still in group 10000"
done
pass "groups reset"
finish
