#!/usr/bin/env bash
# ec2-netcfg on a really booted instance: systemd as PID 1 of a minimal Debian root of the
# release this machine runs (252 on Debian 12, 257 on Debian 13; EC2NC_BOOT_SUITE=trixie
# boots Debian 13 from Debian 12)
# (debootstrap, cached under /var/cache/ec2nc-boot), booted with systemd-nspawn inside the
# test's instance namespace, the product installed as a package installs it (cmake
# --install, units enabled) beside an Amazon-Linux-style 80-ec2.network that matches every
# ENI with one route metric. The VPC is emulated around it: a router namespace per ENI
# with dnsmasq (DHCP; DHCPv6 and router advertisements for dual stack) and IMDS on
# 169.254.169.254:80 reachable only through the primary ENI, as on EC2.
#
# Scenarios, each its own boot: (a) ipv4: two ENIs in two subnets with secondary
# addresses; (b) dual: the same with IPv6 (DHCPv6 for the first address, RAs from each
# router). Each asserts:
#   boot      ec2-netcfg.service Result=success, `systemctl is-system-running` = running;
#             every address of every ENI routes out of its ENI (internet, own subnet, the
#             other ENI's subnet), ec2-netcfg's rules and table routes exist, unsourced
#             traffic leaves through the primary ENI; networkd manages every ENI with
#             ec2-netcfg's .network file (configured), taken up by one `networkctl
#             reload`: networkd was never restarted (its process predates ec2-netcfg's
#             run). The DHCP addresses the reload's file switch re-acquires are printed.
#   foreign   another program's rule, route and address (added after the boot) survive:
#             (i) a refresh (`systemctl start ec2-netcfg-refresh.service`) adding an address
#             to ENI 2 while UDP flows at 200/s from every address: none lost or misrouted;
#             (ii) `networkctl reconfigure` of every ENI; (iii) `systemctl restart
#             systemd-networkd`: afterwards everything of ec2-netcfg's and the foreign
#             state are there and every address still routes out of its ENI.
#   burst     5 ENIs attached 0.5 s apart, each followed by `systemctl start --no-block
#             ec2-netcfg@IFACE.service` as udev asks for it, while UDP flows at 200/s from
#             every address of the ENIs already there: none lost or misrouted, no address
#             of theirs deleted (`ip monitor address`), every unit succeeded, networkd
#             active and not restarted, every new ENI's addresses routed out of it; after
#             the veths are deleted and the units stopped, no rule or route of their
#             tables remains.
# EC2NC_BOOT_MANAGER=nm boots a root where NetworkManager manages every ENI (systemd-
# networkd installed but disabled, as on RHEL-family images). There the boot asserts that
# ec2-netcfg chose the netlink backend because NetworkManager runs (show says so) and wrote
# no networkd file, and (ii)-(v) are NetworkManager's: `nmcli device reapply ens6`,
# `nmcli connection up`, down and up, and `systemctl restart NetworkManager`, each followed
# by every address of ec2-netcfg's back within 2 s (its dispatcher hook) and routed out of
# its ENI. NetworkManager also removes other software's addresses and routes on the link
# on those: printed, not asserted (not ec2-netcfg's to keep).
# Printed, not asserted: the boot timeline (lines "FIGURES boot"), traffic figures, the
# journal's warnings of ec2-netcfg's units.
# Checks of final states poll with deadlines; nothing depends on when the kernel's own
# events (DAD, RAs, DHCP) happen.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/lib_boot.sh"
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3

require_boot
T_START=$SECONDS
boot_root
T_ROOT=$((SECONDS - T_START))
# The product as an image builder installs it: the .deb built from this tree (dpkg -i in
# the root); cmake --install where the Debian packaging tools are missing.
boot_package
if [ -n "$BOOT_DEB" ]; then echo "installing $(basename "$BOOT_DEB") with dpkg -i"; else echo "installing with cmake --install"; fi

TRAFFIC=$EC2NC_SRC/tests/tools/traffic_udp.py
DEST4=203.0.113.10
DEST6=2001:db8:ffff::10
PORT=5005
RATE=200

# ENI n: interface, MAC, device number (network card 0: table 10000 + n), IPv6 subnet.
# ENIs 0 and 1 are there at boot; 2..6 are the hotplug burst.
IFN=() MAC=() DEV=() V6NET=()
for n in 0 1 2 3 4 5 6; do
  IFN[n]=ens$((5 + n)) MAC[n]=02:86:10:7b:e4:$(printf %02x $((0xf5 + n))) DEV[n]=$n V6NET[n]=2600:1f18:aaaa:bb0$n
done
BURST="2 3 4 5 6"
# What IMDS says, per ENI (the first of each family is the one DHCP/DHCPv6 hands out).
A4=() A6=()
ENIS=""      # ENIs attached now
V6=0         # dual stack
FOREIGN=0    # the foreign rule, route and address are in place

table_of() { echo $((10000 + DEV[$1])); }
other_of() { [ "$1" = 0 ] && echo 1 || echo 0; }
host4() { echo "10.0.$1.100"; }
host6() { echo "${V6NET[$1]}::100"; }
owner_of() {  # ADDR -> ENI index
  case $1 in
    *:*) local x=${1#2600:1f18:aaaa:bb0}; echo "${x%%:*}" ;;
    *) local x=${1#10.0.}; echo "${x%%.*}" ;;
  esac
}
addrs_of() { local n; for n in $ENIS; do echo ${A4[$n]} ${A6[$n]:-}; done | xargs; }

# mkcap OUT: the capture IMDS serves for the ENIs in $ENIS with A4/A6.
mkcap() {
  local out=$1 n specs=()
  for n in $ENIS; do specs+=("${MAC[$n]}|${DEV[$n]}|10.0.$n.0/24|${A4[$n]// /,}|${V6NET[$n]}::/64|${A6[$n]:-}"); done
  "$PY" - "$EC2NC_SRC/tests/tools" "$out" "${MAC[0]}" "${specs[@]}" <<'EOF'
import json, sys
sys.path.insert(0, sys.argv[1])
import scenario
enis = []
for spec in sys.argv[4:]:
    mac, dev, sub4, v4, sub6, v6 = spec.split("|")
    v6 = v6.split() if v6 else []
    enis.append(scenario.eni(mac, int(dev), v4.split(","), sub4, ipv6s=v6, subnet6=[sub6] if v6 else [],
                             vpc6=["2600:1f18:aaaa:bb00::/56"] if v6 else []))
json.dump(scenario.build(enis, sys.argv[3]), open(sys.argv[2], "w"), indent=1)
EOF
}
publish() { mkcap "$TMP/cap.json"; set_imds "$TMP/cap.json"; }

# new_eni n: veth (down, as an ENI is before the OS brings it up), router namespace with
# DHCP (and DHCPv6 + RAs), and the far side of the traffic test: the destinations on lo of
# the router, a receiver per family, rp_filter off (a packet that left through the wrong
# ENI is delivered and counted as misrouted, not dropped).
new_eni() {
  local n=$1 rtr=rtr$1-$ID first6=""
  if [ "$V6" = 1 ]; then
    add_eni "$n" "${IFN[$n]}" "${MAC[$n]}" "10.0.$n.1/24" "${V6NET[$n]}::1/64"
    first6=${A6[$n]%% *}
  else
    add_eni "$n" "${IFN[$n]}" "${MAC[$n]}" "10.0.$n.1/24"
  fi
  ip -n "$INST" link set "${IFN[$n]}" down
  # dnsmasq --no-daemon also logs to stderr: keep it in a file (it logs to $TMP/dnsmasqN.log).
  start_dhcp "$n" "${MAC[$n]}" "${A4[$n]%% *}" $first6 2>> "$TMP/dnsmasq.stderr"
  ip netns exec "$rtr" sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0 \
    net.ipv4.conf.gw.rp_filter=0
  ip -n "$rtr" addr add "$DEST4/32" dev lo
  ip netns exec "$rtr" "$PY" "$TRAFFIC" recv --bind "$DEST4" --port "$PORT" --out "$TMP/recv4-$n.json" &
  PIDS+=($!)
  if [ "$V6" = 1 ]; then
    ip -n "$rtr" addr add "$DEST6/128" dev lo nodad
    ip netns exec "$rtr" "$PY" "$TRAFFIC" recv --bind "$DEST6" --port "$PORT" --out "$TMP/recv6-$n.json" &
    PIDS+=($!)
  fi
}

# dev_of OUT: the "dev X" of `ip route get` output.
dev_of() { sed -n 's/.* dev \([^ ]*\).*/\1/p' <<< "$1" | head -1; }

# route_errors SRC IFACE DEST...: one line naming the DESTs that SRC does not reach via IFACE.
route_errors() {
  local a=$1 ifn=$2 d got bad=(); shift 2
  for d in "$@"; do
    got=$(route_dev "$a" "$d")
    case $got in
      "$ifn") ;;
      error:*) bad+=("to $d: ${got#error:RTNETLINK answers: }") ;;
      *) bad+=("to $d via ${got:-?}") ;;
    esac
  done
  [ ${#bad[@]} = 0 ] || echo "from $a (not via $ifn): $(IFS=,; echo "${bad[*]}" | sed 's/,/, /g')"
}

# best_default_errors 4|6: the main table's best default route (lowest metric) must be the
# primary's alone. Equal metrics leave the choice to the kernel (IPv4 picks one of them,
# IPv6 merges them into one multipath route), so `ip route get` alone would pass by luck.
best_default_errors() {
  ip -n "$INST" -"$1" -j route show table main default 2>/dev/null | "$PY" -c '
import json, sys
fam = sys.argv[1]
routes = json.loads(sys.stdin.read() or "[]")
if not routes:
    print("main table: no IPv%s default route" % fam); sys.exit()
best = min(r.get("metric", 0) for r in routes)
devs = set()
for r in routes:
    if r.get("metric", 0) == best:
        devs.update([r["dev"]] if "dev" in r else [h.get("dev") for h in r.get("nexthops", [])])
if devs != {"ens5"}:
    print("main table: the best IPv%s default route (metric %d) goes via %s, not via the primary ens5 alone"
          % (fam, best, " and ".join(sorted(d or "?" for d in devs))))' "$1" || true
}

# state_errors: prints what is wrong with ec2-netcfg's state (and the foreign state once
# it is in place); empty = all holds.
state_errors() {
  local n ifn t a d got r4 r6 rules4 rules6
  rules4=$(ip -n "$INST" -4 rule 2>&1)
  grep -q '^9999:.*from all lookup main suppress_prefixlength 0' <<< "$rules4" \
    || echo "no IPv4 rule 9999 'from all lookup main suppress_prefixlength 0'"
  if [ "$V6" = 1 ]; then
    rules6=$(ip -n "$INST" -6 rule 2>&1)
    grep -q '^9999:.*from all lookup main suppress_prefixlength 0' <<< "$rules6" \
      || echo "no IPv6 rule 9999 'from all lookup main suppress_prefixlength 0'"
  fi
  for n in $ENIS; do
    ifn=${IFN[$n]} t=$(table_of "$n")
    r4=$(ip -n "$INST" -4 route show table "$t" 2>&1)
    grep -q "^default via 10.0.$n.1 dev $ifn" <<< "$r4" || echo "table $t: no 'default via 10.0.$n.1 dev $ifn'"
    grep -q "^10.0.$n.0/24 dev $ifn" <<< "$r4" || echo "table $t: no '10.0.$n.0/24 dev $ifn'"
    for a in ${A4[$n]}; do
      has_addr "$ifn" "$a" || echo "$a missing on $ifn"
      grep -qE "from $a lookup $t( |$)" <<< "$rules4" || echo "no rule 'from $a lookup $t'"
      route_errors "$a" "$ifn" 1.1.1.1 "$(host4 "$n")" "$(host4 "$(other_of "$n")")"
    done
    [ -n "${A6[$n]:-}" ] || continue
    r6=$(ip -n "$INST" -6 route show table "$t" 2>&1)
    grep -q "^${V6NET[$n]}::/64 dev $ifn" <<< "$r6" || echo "table $t: no '${V6NET[$n]}::/64 dev $ifn'"
    # networkd 257 adds its routes through nexthop objects: "default nhid N via fe80:...".
    grep -qE "^default (nhid [0-9]+ )?via fe80:[0-9a-f:]* dev $ifn" <<< "$r6" || echo "table $t: no IPv6 'default via fe80:... dev $ifn'"
    for a in ${A6[$n]}; do
      has_addr "$ifn" "$a" || echo "$a missing on $ifn"
      grep -qE "from $a lookup $t( |$)" <<< "$rules6" || echo "no rule 'from $a lookup $t'"
      route_errors "$a" "$ifn" 2001:db8::1 "$(host6 "$n")" "$(host6 "$(other_of "$n")")"
    done
  done
  best_default_errors 4
  [ "$V6" = 0 ] || best_default_errors 6
  got=$(dev_of "$(ip -n "$INST" route get 1.1.1.1 2>&1)")
  [ "$got" = ens5 ] || echo "unsourced traffic to 1.1.1.1 leaves via ${got:-?}, not the primary ens5"
  if [ "$V6" = 1 ]; then
    got=$(dev_of "$(ip -n "$INST" -6 route get 2001:db8::1 2>&1)")
    [ "$got" = ens5 ] || echo "unsourced traffic to 2001:db8::1 leaves via ${got:-?}, not the primary ens5"
  fi
  if [ "$FOREIGN" = 1 ]; then
    grep -q "^600:.*from 192.0.2.0/24 lookup 500" <<< "$rules4" || echo "foreign rule 'from 192.0.2.0/24 lookup 500 priority 600' gone"
    r4=$(ip -n "$INST" -4 route show table 500 2>&1)
    grep -q "^198.51.100.0/24 via 10.0.1.1 dev ens6" <<< "$r4" || echo "foreign route '198.51.100.0/24 via 10.0.1.1 dev ens6 table 500' gone"
    has_addr ens6 10.0.1.99 || echo "foreign address 10.0.1.99/32 gone from ens6"
  fi
}

dump_state() {
  {
    echo "--- ip -br addr"; ip -n "$INST" -br addr
    echo "--- ip rule"; ip -n "$INST" -4 rule; [ "$V6" = 0 ] || ip -n "$INST" -6 rule
    echo "--- routes (all tables but local)"
    ip -n "$INST" -4 route show table all | grep -v '^local \|^broadcast ' || true
    [ "$V6" = 0 ] || ip -n "$INST" -6 route show table all | grep -v '^local \|^multicast \|^anycast ' || true
  } >&2
}

# check_state LABEL SECS: the state holds, waiting up to SECS for it to settle.
check_state() {
  local label=$1 end=$((SECONDS + $2)) errs
  while :; do
    errs=$(state_errors)
    { [ -z "$errs" ] || [ $SECONDS -ge $end ]; } && break
    sleep 0.3
  done
  if [ -z "$errs" ]; then
    local also=""
    [ "$FOREIGN" = 0 ] || also=" and the foreign rule, route and address"
    pass "$label: every address of every ENI routes out of its ENI; ec2-netcfg's rules and table routes$also are there"
    return
  fi
  local l
  while read -r l; do fail "$label: $l"; done <<< "$errs"
  dump_state
}

# boot_traffic LABEL "OLD" "NEW" CMD...: UDP at $RATE/s from every OLD address (and from
# every NEW one once it exists) from ~1 s before CMD to ~2 s after; per-source report;
# sets TOT (JSON totals) and TRAFFIC_RC (CMD's exit status).
boot_traffic() {
  local label=$1 old=$2 new=$3; shift 3
  local args=() maps=() recvs=() a f n spid
  for a in $old; do args+=(--src "$a"); done
  for a in $new; do args+=(--new-src "$a"); done
  for a in $old $new; do maps+=(--map "$a=r$(owner_of "$a")"); done
  rm -f "$TMP/ready-$label" "$TMP/sent-$label.json"
  ip netns exec "$INST" "$PY" "$TRAFFIC" send --run "$label" --dest "$DEST4" --dest6 "$DEST6" --port "$PORT" \
    --rate "$RATE" --out "$TMP/sent-$label.json" --ready "$TMP/ready-$label" "${args[@]}" &
  spid=$!
  PIDS+=("$spid")
  wait_for "traffic sender ready" 30 test -f "$TMP/ready-$label"
  sleep 1
  local t0=$EPOCHREALTIME
  TRAFFIC_RC=0
  "$@" || TRAFFIC_RC=$?
  local t1=$EPOCHREALTIME
  sleep 2
  kill -TERM "$spid"; wait "$spid" || true
  sleep 0.5  # in-flight packets; the receivers rewrite their files every 100 ms
  for f in "$TMP"/recv[46]-*.json; do n=${f##*-}; n=${n%.json}; recvs+=(--recv "r$n=$f"); done
  "$PY" "$TRAFFIC" report --run "$label" --sent "$TMP/sent-$label.json" "${maps[@]}" "${recvs[@]}" \
    > "$TMP/report-$label"
  sed '$d' "$TMP/report-$label"
  TOT=$(tail -1 "$TMP/report-$label")
  awk -v a="$t1" -v b="$t0" -v rc="$TRAFFIC_RC" 'BEGIN { printf "  the change took %.0f ms, exit %s\n", (a - b) * 1000, rc }'
}
tot() { "$PY" -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]][sys.argv[3]])' "$TOT" "$1" "$2"; }

# flow_figures: the old addresses' totals of the last boot_traffic, for a FIGURES line.
flow_figures() { echo "sent=$(tot old sent) misrouted=$(tot old misrouted) lost=$(tot old lost) send-errors=$(tot old errors)"; }

# assert_old_flow LABEL WHEN: the last boot_traffic's packets from the addresses that
# existed before the change were all sent, none misrouted and none lost.
assert_old_flow() {
  local label=$1 when=$2 m l s
  m=$(tot old misrouted) l=$(tot old lost) s=$(tot old sent)
  [ "$s" -ge $((RATE * 2)) ] || fail "$label: the sender sent only $s packets"
  [ "$m" = 0 ] && pass "$label: no packet from an existing address misrouted $when" \
    || fail "$label: $m packet(s) from existing addresses left through the wrong ENI $when"
  [ "$l" = 0 ] && pass "$label: no packet from an existing address lost $when" \
    || fail "$label: $l packet(s) from existing addresses lost $when"
}

# wait_ra_defaults LABEL: with dual stack, until main has an RA-learned default through both
# ENIs (at most 30 s): IPv6 routing can only be right once the routers' advertisements were
# heard, after a boot and after networkd restarted (257 drops what it learned from RAs).
wait_ra_defaults() {
  [ "$V6" = 1 ] || return 0
  local end=$((SECONDS + 30)) ra
  while :; do
    ra=$(ip -n "$INST" -6 route show default proto ra 2>&1 || true)
    # Both ENIs' defaults, and the primary's the best: after networkd 257 restarts, the
    # kernel's own RA default of a secondary (at its table's metric) can be there alone
    # until the primary's next RA.
    grep -q ' dev ens5 ' <<< "$ra" && grep -q ' dev ens6 ' <<< "$ra" && [ -z "$(best_default_errors 6)" ] && return 0
    [ $SECONDS -lt $end ] || { fail "$1: no RA-learned default route on both ENIs, the primary's first, within 30 s: $ra"; return 1; }
    sleep 0.3
  done
}

# existing ADDR...: those of ADDR that are on their ENI now and usable as a source: not
# tentative. (After networkd restarted, 252 re-acquires its DHCPv6 addresses, which then go
# through DAD: a socket cannot bind one until that is over.) Waits up to 10 s for DAD to end.
existing() {
  local a out=() end=$((SECONDS + 10))
  while [ -n "$(ip -n "$INST" -6 addr show tentative 2>/dev/null)" ] && [ $SECONDS -lt $end ]; do sleep 0.2; done
  for a in "$@"; do has_addr "${IFN[$(owner_of "$a")]}" "$a" && out+=("$a"); done
  echo "${out[@]}"
}

# Primary (DHCP and DHCPv6) addresses, for the `ip monitor` check.
dhcp_addrs() {
  local n
  for n in $ENIS; do echo "${A4[$n]%% *}"; [ -z "${A6[$n]:-}" ] || echo "${A6[$n]%% *}"; done
}

# deleted_dhcp FROM-LINE: `ip monitor` lines (from FROM-LINE on) deleting a DHCP address.
deleted_dhcp() {
  local a pat=""
  for a in $(dhcp_addrs); do pat="$pat|inet6? ${a//./\\.}/"; done
  tail -n +"$1" "$MONITOR" | grep -E "Deleted .*(${pat#|})" || true
}

# timeline: FIGURES lines of the boot (realtime stamps turned into the monotonic clock
# systemd reports, which the container shares with the host).
timeline() {
  local label=$1 props
  props=$(cx systemctl show ec2-netcfg.service -p InactiveExitTimestampMonotonic \
      -p ExecMainStartTimestampMonotonic -p ExecMainExitTimestampMonotonic \
      -p ActiveEnterTimestampMonotonic -p NRestarts 2>/dev/null || true)
  props="$props
networkd=$(unit_prop systemd-networkd.service ActiveEnterTimestampMonotonic)"
  "$PY" - "$label" "$BOOT_T0" "$MONITOR" "${A4[0]%% *}" "$BOOT_SECS" "$props" "$TMP/imds.log" <<'EOF'
import datetime, json, re, sys, time
label, t0, monitor, primary, boot_secs, props, imds_log = sys.argv[1:8]
off = time.clock_gettime(time.CLOCK_REALTIME) - time.clock_gettime(time.CLOCK_MONOTONIC)
t0 = float(t0) - off
p = dict(l.split("=", 1) for l in props.splitlines() if "=" in l)
mono = lambda k: int(p.get(k, "0") or 0) / 1e6 or None
dhcp = None
for line in open(monitor):
    m = re.match(r"\[([0-9T:.-]+)\] (\S.*)", line)
    if m and not m.group(2).startswith("Deleted") and re.search(r"inet %s/" % re.escape(primary), m.group(2)):
        dhcp = datetime.datetime.fromisoformat(m.group(1)).timestamp() - off
        break
imds = None
try:
    for line in open(imds_log):
        imds = json.loads(line)["t"] - off
        break
except (OSError, ValueError, KeyError):
    pass
first, start, exit_, active, nd = (mono(k) for k in ("InactiveExitTimestampMonotonic",
    "ExecMainStartTimestampMonotonic", "ExecMainExitTimestampMonotonic", "ActiveEnterTimestampMonotonic", "networkd"))
f = lambda t: "+%.2f s" % (t - t0) if t else "never"
d = lambda a, b: "%.2f s" % (b - a) if a and b else "n/a"
print("FIGURES boot %s: from nspawn's start: networkd up %s, ec2-netcfg.service started %s, primary DHCP address %s (%s), "
      "first IMDS request answered %s, ec2-netcfg.service finished %s (%s restart(s)); boot finished after %s s"
      % (label, f(nd), f(first), f(dhcp), primary, f(imds), f(active), p.get("NRestarts", "?"), boot_secs))
print("FIGURES boot %s: ec2-netcfg.service start -> finished %s (last run %s); primary DHCP lease -> first IMDS answer %s, "
      "-> ec2-netcfg.service finished %s" % (label, d(first, active), d(start, exit_), d(dhcp, imds), d(dhcp, active)))
EOF
}

# networkd_actions LABEL: what an administrator may do to networkd; ec2-netcfg's state and
# the foreign state survive each.
networkd_actions() {
  local label=$1 mark n
  mark=$(($(wc -l < "$MONITOR") + 1))
  # (ii) networkctl reconfigure of every ENI.
  echo "--- [+$((SECONDS - T_START))s] (ii) networkctl reconfigure ens5 ens6"
  cx networkctl reconfigure ens5 ens6 || fail "$label (ii): networkctl reconfigure failed"
  sleep 1.5
  if [ "$BOOT_SUITE" = trixie ]; then
    # networkd 257 with KeepConfiguration=yes leaves a reconfigured link's running DHCPv4
    # client alone and says "configuring" until the lease's next renewal (everything stays
    # in place meanwhile, checked below); `networkctl renew` ends it at once.
    configured_within 5 ens5 ens6 || {
      echo "  (ii) networkd 257 says 'configuring' after the reconfigure (KeepConfiguration=yes); networkctl renew"
      cx networkctl renew ens5 ens6 || true
      wait_configured "$label (ii), after networkctl renew" ens5 ens6
    }
  else
    wait_configured "$label (ii)" ens5 ens6
  fi
  check_state "$label (ii) after networkctl reconfigure" 5
  echo "  (ii) DHCP addresses deleted by the reconfigure (not asserted): $(deleted_dhcp "$mark" | wc -l)"
  restore_state
  mark=$(($(wc -l < "$MONITOR") + 1))

  # (iii) systemctl restart systemd-networkd.
  echo "--- [+$((SECONDS - T_START))s] (iii) systemctl restart systemd-networkd"
  local ramon="" ramon_pid=""
  if [ "$V6" = 1 ] && [ "$BOOT_SUITE" = trixie ]; then
    # networkd 257 drops what it learned from RAs when it restarts, possibly only after the
    # old routes were seen here: wait for the defaults it learns anew (route events after
    # the restart), not for what is left of the old ones.
    ramon=$TMP/ra-monitor.$SECONDS.log
    ip -n "$INST" monitor route > "$ramon" 2>/dev/null &
    ramon_pid=$!
    PIDS+=("$ramon_pid")
    sleep 0.2
  fi
  cx systemctl restart systemd-networkd.service || fail "$label (iii): systemctl restart systemd-networkd failed"
  sleep 1
  wait_configured "$label (iii)" ens5 ens6
  if [ -n "$ramon" ]; then
    local end=$((SECONDS + 30)) i
    for i in ens5 ens6; do
      until grep -E "^default .* dev $i .*proto ra" "$ramon" >/dev/null; do
        [ $SECONDS -lt $end ] || { fail "$label (iii): networkd learned no IPv6 default on $i from an RA within 30 s of its restart"; break; }
        sleep 0.3
      done
    done
    kill "$ramon_pid" 2>/dev/null || true
    wait "$ramon_pid" 2>/dev/null || true
  fi
  wait_ra_defaults "$label (iii)"
  check_state "$label (iii) after systemctl restart systemd-networkd" 5
  echo "  (iii) DHCP addresses deleted by the restart (not asserted): $(deleted_dhcp "$mark" | wc -l)"
  for n in $ENIS; do echo "  (iii) networkd now applies $(nd_network_file "${IFN[$n]}") to ${IFN[$n]}"; done
  restore_state

}

# nm_actions LABEL: what NetworkManager does on its own or at an administrator's request,
# each followed by every address of ec2-netcfg's back within 2 s (its dispatcher hook).
nm_actions() {
  local label=$1 conn
  conn=$(nm_conn_of ens6)
  echo "--- [+$((SECONDS - T_START))s] (ii) nmcli device reapply ens6 (connection '$conn')"
  nm_action "$label (ii) nmcli device reapply ens6" nmcli device reapply ens6
  echo "--- [+$((SECONDS - T_START))s] (iii) nmcli connection up '$conn'"
  nm_action "$label (iii) nmcli connection up" nmcli connection up "$conn"
  echo "--- [+$((SECONDS - T_START))s] (iv) nmcli connection down + up '$conn'"
  nm_action "$label (iv) nmcli connection down + up" sh -c 'nmcli connection down "$1" && nmcli connection up "$1"' sh "$conn"
  echo "--- [+$((SECONDS - T_START))s] (v) systemctl restart NetworkManager"
  nm_action "$label (v) systemctl restart NetworkManager" systemctl restart NetworkManager.service
  restore_state
}

# networkd_boot_checks LABEL: networkd manages every ENI with ec2-netcfg's file, taken up
# with one reload, never a restart.
networkd_boot_checks() {
  # networkd takes ec2-netcfg's file for every ENI.
  local ifn f st end=$((SECONDS + 5)) wrong n
  while :; do
    wrong=""
    for n in $ENIS; do
      ifn=${IFN[$n]}
      f=$(nd_network_file "$ifn") st=$(nd_setup_state "$ifn")
      [ "$f" = "/run/systemd/network/05-ec2-netcfg-$ifn.network" ] && [ "$st" = configured ] || wrong="$wrong $ifn"
    done
    [ -z "$wrong" ] || [ $SECONDS -ge $end ] && break
    sleep 0.3
  done
  for n in $ENIS; do
    ifn=${IFN[$n]}
    f=$(nd_network_file "$ifn") st=$(nd_setup_state "$ifn")
    if [ "$f" = "/run/systemd/network/05-ec2-netcfg-$ifn.network" ] && [ "$st" = configured ]; then
      pass "$1 boot: networkd manages $ifn with $f ($st)"
    else
      fail "$1 boot: networkd manages $ifn with '${f:-?}' (${st:-?}), not /run/systemd/network/05-ec2-netcfg-$ifn.network (configured)"
    fi
  done

  # networkd took the files with one reload: it was never restarted (its process started
  # before ec2-netcfg's run), and ec2-netcfg's journal says reload, never restart.
  local nd_start ec_start journal
  nd_start=$(unit_prop systemd-networkd.service ExecMainStartTimestampMonotonic)
  ec_start=$(unit_prop ec2-netcfg.service ExecMainStartTimestampMonotonic)
  if [ -n "$nd_start" ] && [ -n "$ec_start" ] && [ "$nd_start" -gt 0 ] && [ "$nd_start" -lt "$ec_start" ]; then
    pass "$1 boot: systemd-networkd was not restarted (its process predates ec2-netcfg.service)"
  else
    fail "$1 boot: systemd-networkd started at $nd_start, ec2-netcfg.service at $ec_start: restarted?"
  fi
  journal=$(boot_journal ec2-netcfg.service)
  if grep -q "networkctl reload" <<< "$journal" && ! grep -qi "restart" <<< "$journal"; then
    pass "$1 boot: ec2-netcfg handed its files over with networkctl reload, no restart"
  else
    fail "$1 boot: no 'networkctl reload' (or a restart) in ec2-netcfg.service's journal"
  fi
}

# nm_boot_checks LABEL: NetworkManager manages the ENIs; ec2-netcfg chose the netlink
# backend (no networkd file, no networkd.conf.d), and networkd was left alone.
nm_boot_checks() {
  local label=$1 files journal
  files=$(cx sh -c 'ls /run/systemd/network/ 2>/dev/null' || true)
  [ -z "$files" ] && pass "$label boot: no networkd file written (NetworkManager manages the links)" \
    || fail "$label boot: networkd files written on a NetworkManager host: $files"
  journal=$(boot_journal ec2-netcfg.service)
  grep -qE "networkctl|systemd-networkd" <<< "$journal" && fail "$label boot: ec2-netcfg spoke of networkd: $(grep -E 'networkctl|systemd-networkd' <<< "$journal" | head -2)" \
    || pass "$label boot: ec2-netcfg left networkd alone"
  [ "$(unit_prop NetworkManager.service ActiveState)" = active ] && pass "$label boot: NetworkManager active" \
    || fail "$label boot: NetworkManager $(unit_prop NetworkManager.service ActiveState)"
  cx ec2-netcfg show --imds-endpoint http://169.254.169.254 > /dev/null 2> "$TMP/show.err" || true
  grep -q "backend netlink: NetworkManager manages the links" "$TMP/show.err" \
    && pass "$label boot: show says: $(grep -o 'backend netlink: NetworkManager manages the links[^)]*)' "$TMP/show.err")" \
    || fail "$label boot: show does not say NetworkManager chose the backend: $(head -3 "$TMP/show.err")"
}

# nm_conn_of IFACE: the NetworkManager connection active on IFACE.
nm_conn_of() { cx nmcli -g GENERAL.CONNECTION device show "$1" 2>/dev/null || true; }

# own_back_within LABEL SECS: every address ec2-netcfg adds (all but each ENI's first, DHCP's)
# is on its ENI within SECS of now; prints how long that took.
own_back_within() {
  local label=$1 secs=$2 t0=$EPOCHREALTIME n a missing
  while :; do
    missing=""
    for n in $ENIS; do
      for a in ${A4[$n]#* } ${A6[$n]:+${A6[$n]#* }}; do
        [ "$a" = "${A4[$n]%% *}" ] && continue
        has_addr "${IFN[$n]}" "$a" || missing="$missing $a"
      done
    done
    [ -z "$missing" ] && break
    awk -v a="$EPOCHREALTIME" -v b="$t0" -v s="$secs" 'BEGIN { exit !(a - b < s) }' || break
    sleep 0.05
  done
  local took
  took=$(awk -v a="$EPOCHREALTIME" -v b="$t0" 'BEGIN { printf "%.2f", a - b }')
  if [ -z "$missing" ]; then pass "$label: every address of ec2-netcfg's back within ${took} s"
  else fail "$label: not back within $secs s:$missing"; fi
  echo "FIGURES nm $label: ec2-netcfg's addresses back after ${took} s"
}

# nm_action LABEL CMD...: CMD in the container (a NetworkManager action on ens6), then
# ec2-netcfg's addresses must be back within 2 s (its dispatcher hook) and everything of
# ec2-netcfg's routed right.
nm_action() {
  local label=$1 foreign=$FOREIGN gone; shift
  cx "$@" > "$TMP/nm-action.out" 2>&1 || fail "$label: $* failed: $(head -3 "$TMP/nm-action.out")"
  own_back_within "$label" 2
  FOREIGN=0
  check_state "$label" 10
  FOREIGN=$foreign
  # NetworkManager removes other software's addresses and routes on the link too: not
  # ec2-netcfg's to keep. Noted, and put back for what follows.
  gone=$(state_errors | grep foreign || true)
  [ -z "$gone" ] || echo "  note: NetworkManager also removed others' state (not ec2-netcfg's): $(paste -sd ';' <<< "$gone")"
  restore_state
}

# scenario LABEL V6: one boot with all its checks.
run_scenario() {
  local label=$1 n rc out
  V6=$2
  FOREIGN=0
  echo "=== [+$((SECONDS - T_START))s] scenario $label: boot"
  T_SCEN=$SECONDS
  rm -f "$TMP"/recv[46]-*.json
  setup_instance
  A4=("10.0.0.20 10.0.0.21 10.0.0.22" "10.0.1.20 10.0.1.21 10.0.1.22") A6=("" "")
  [ "$V6" = 0 ] || A6=("${V6NET[0]}::10 ${V6NET[0]}::11" "${V6NET[1]}::20 ${V6NET[1]}::21")
  for n in $BURST; do
    A4[n]="10.0.$n.20 10.0.$n.21" A6[n]=""
    [ "$V6" = 0 ] || A6[n]="${V6NET[n]}::${n}0 ${V6NET[n]}::${n}1"
  done
  ENIS="0 1"
  for n in $ENIS; do new_eni "$n"; done
  mkcap "$TMP/cap.json"
  boot_start_imds "$TMP/cap.json"
  boot_prepare "$label"
  MONITOR=$TMP/$label/monitor.log
  ip -ts -n "$INST" monitor address > "$MONITOR" 2> "$MONITOR.err" &
  PIDS+=($!)
  sleep 0.2
  boot_start
  boot_wait_running 100
  echo "  boot: is-system-running says '$BOOT_STATE' after $BOOT_SECS s"
  local result status active
  result=$(unit_prop ec2-netcfg.service Result) status=$(unit_prop ec2-netcfg.service ExecMainStatus)
  active=$(unit_prop ec2-netcfg.service ActiveState)
  if [ "$result" = success ] && [ "$status" = 0 ] && [ "$active" = active ]; then
    pass "$label boot: ec2-netcfg.service Result=success ExecMainStatus=0 ($active)"
  else
    fail "$label boot: ec2-netcfg.service Result=$result ExecMainStatus=$status ActiveState=$active"
  fi
  if [ "$BOOT_STATE" = running ]; then pass "$label boot: systemctl is-system-running says running"
  else fail "$label boot: systemctl is-system-running says '$BOOT_STATE', not running"; fi
  if [ "$BOOT_STATE" != running ] || [ "$result" != success ]; then
    echo "--- systemctl --failed" >&2; cx systemctl --failed --no-pager >&2 || true
    echo "--- systemctl list-jobs" >&2; cx systemctl list-jobs --no-pager >&2 || true
  fi
  echo "--- journalctl -u ec2-netcfg.service"
  boot_journal ec2-netcfg.service | sed 's/^/  /'

  # IPv6: routing can only be right once the routers' advertisements were heard.
  wait_ra_defaults "$label"
  check_state "$label boot" 10

  if [ "$BOOT_MANAGER" = nm ]; then nm_boot_checks "$label"; else networkd_boot_checks "$label"; fi
  # The reload moves each ENI from the distribution's file to ec2-netcfg's: networkd
  # re-acquires its DHCP addresses there (figures, not asserted: DHCP's timing).
  out=$(deleted_dhcp 1)
  if [ -n "$out" ]; then
    echo "FIGURES boot $label: DHCP addresses re-acquired at the boot's reload (away for): $("$PY" "$EC2NC_SRC/tests/tools/address_gaps.py" "$MONITOR")"
  else
    echo "FIGURES boot $label: no DHCP address deleted during the boot"
  fi
  timeline "$label"
  local mark
  mark=$(($(wc -l < "$MONITOR") + 1))

  # The refresh timer (enabled by the package) would run ec2-netcfg by itself 60-70 s after
  # the boot, in the middle of what follows, and repair what a phase broke before it is
  # checked: from here on the test starts ec2-netcfg-refresh.service itself.
  local timer
  timer=$(cx systemctl is-active ec2-netcfg-refresh.timer 2>/dev/null || true)
  [ "$timer" = active ] && pass "$label boot: ec2-netcfg-refresh.timer is active" \
    || fail "$label boot: ec2-netcfg-refresh.timer is '$timer', not active"
  cx systemctl stop ec2-netcfg-refresh.timer || true
  echo "  (ec2-netcfg-refresh.timer stopped: the test starts ec2-netcfg-refresh.service itself from here on)"

  # Foreign state: another program's rule, route (in its own table) and address on ens6.
  echo "=== [+$((SECONDS - T_START))s] scenario $label: foreign state"
  ip -n "$INST" rule add from 192.0.2.0/24 lookup 500 priority 600
  ip -n "$INST" route add 198.51.100.0/24 via 10.0.1.1 dev ens6 table 500
  ip -n "$INST" addr add 10.0.1.99/32 dev ens6
  FOREIGN=1

  # (i) a refresh that adds an address to ENI 2, with traffic from every address.
  local old new
  # shellcheck disable=SC2046
  old=$(existing $(addrs_of))
  new=10.0.1.23
  A4[1]="${A4[1]} 10.0.1.23"
  if [ "$V6" = 1 ]; then A6[1]="${A6[1]} ${V6NET[1]}::23"; new="$new ${V6NET[1]}::23"; fi
  publish
  echo "--- [+$((SECONDS - T_START))s] (i) systemctl start ec2-netcfg-refresh.service (IMDS adds $new to ens6), UDP at $RATE/s from: $old"
  boot_traffic "refresh-$label" "$old" "$new" cx -t 100 systemctl start ec2-netcfg-refresh.service
  result=$(unit_prop ec2-netcfg-refresh.service Result)
  if [ "$TRAFFIC_RC" = 0 ] && [ "$result" = success ]; then pass "$label (i): ec2-netcfg-refresh.service ran (Result=success)"
  else
    fail "$label (i): systemctl start ec2-netcfg-refresh.service: exit $TRAFFIC_RC, Result=$result"
    boot_journal ec2-netcfg-refresh.service | tail -20 >&2
  fi
  echo "FIGURES traffic $label refresh: old addresses $(flow_figures) | new: sent=$(tot new sent) misrouted=$(tot new misrouted) lost=$(tot new lost)"
  assert_old_flow "$label (i)" "during the refresh"
  check_state "$label (i) after the refresh" 5
  echo "  (i) DHCP addresses deleted during the refresh: $(deleted_dhcp "$mark" | wc -l)"
  mark=$(($(wc -l < "$MONITOR") + 1))

  if [ "$BOOT_MANAGER" = nm ]; then
    nm_actions "$label"
  else
    networkd_actions "$label"
  fi

  burst "$label"

  echo "--- [+$((SECONDS - T_START))s] journal warnings of ec2-netcfg's units and networkd (not asserted)"
  cx journalctl --no-pager -o short-monotonic -p warning -u 'ec2-netcfg*' -u systemd-networkd.service 2>&1 \
    | grep -v -- '-- No entries --' | sed 's/^/  /' || true
  boot_stop
  echo "FIGURES boot $label: scenario took $((SECONDS - T_SCEN)) s"
}

# restore_state: after a phase that broke the state, puts it back for the next phase (the
# foreign objects re-added, ec2-netcfg-refresh.service run), so phases fail on their own.
restore_state() {
  local errs what="" gone='missing|gone|^no rule|^table '
  errs=$(state_errors)
  if grep -qE 'foreign' <<< "$errs"; then
    ip -n "$INST" addr replace 10.0.1.99/32 dev ens6 2>/dev/null || true
    ip -n "$INST" route replace 198.51.100.0/24 via 10.0.1.1 dev ens6 table 500 2>/dev/null || true
    [ -n "$(ip -n "$INST" rule show priority 600 2>/dev/null)" ] \
      || ip -n "$INST" rule add from 192.0.2.0/24 lookup 500 priority 600 2>/dev/null || true
    what="foreign objects re-added"
  fi
  local own
  own=$(grep -vE 'foreign' <<< "$errs" || true)
  if grep -qE "$gone" <<< "$own"; then
    cx -t 100 systemctl start ec2-netcfg-refresh.service 2>/dev/null || true
    what="${what:+$what, }ec2-netcfg-refresh.service run"
  fi
  [ -n "$what" ] || return 0
  errs=$(state_errors | grep -E "$gone" || true)
  if [ -z "$errs" ]; then echo "  (state put back for what follows: $what)"
  else echo "  note: ($what) still not back: $(head -3 <<< "$errs" | paste -sd ';')"; fi
}

# wait_configured LABEL IFACE...: networkd says configured for each within 20 s.
wait_configured() {
  local label=$1; shift
  configured_within 20 "$@" && return 0
  cx networkctl list --no-pager >&2 || true
  cx journalctl --no-pager -o short-monotonic -u systemd-networkd.service -n 40 >&2 || true
  fail "$label: networkd did not get $* configured within 20 s"
  return 1
}

# configured_within SECS IFACE...: networkd says configured for each within SECS (no verdict).
configured_within() {
  local end=$((SECONDS + $1)); shift
  until nd_links_configured "$@"; do
    [ $SECONDS -lt $end ] || return 1
    sleep 0.3
  done
}

# unit_without_device_binding: containers have no device units (read-only /sys: systemd
# reports them unsupported), so BindsTo=sys-subsystem-net-devices-%i.device would fail
# every start of ec2-netcfg@ with 'dependency'. On an instance udev makes the device unit
# active before it starts the service. The installed unit is used as is, minus that one
# line, from /etc (the stop on the device's removal is then the test's `systemctl stop`).
unit_without_device_binding() {
  local unitdir=/lib/systemd/system
  [ -f "$BOOT_COPY/usr/lib/systemd/system/ec2-netcfg@.service" ] && unitdir=/usr/lib/systemd/system
  grep -v '^BindsTo=sys-subsystem-net-devices-%i\.device$' "$BOOT_COPY$unitdir/ec2-netcfg@.service" \
    > "$BOOT_COPY/etc/systemd/system/ec2-netcfg@.service"
  cx systemctl daemon-reload
}

# attach_burst: the ENIs of $BURST attached 0.5 s apart, each then started as udev asks
# systemd to (--no-block: udev does not wait either); then waits (at most 120 s) until
# every unit is active (done) or failed. Sets T_ATTACH[n] (realtime of the veth's creation).
attach_burst() {
  local n end unit st
  for n in $BURST; do
    new_eni "$n"
    ENIS="$ENIS $n"
    publish
    T_ATTACH[n]=$EPOCHREALTIME
    cx systemctl start --no-block "ec2-netcfg@${IFN[n]}.service"
    sleep 0.5
  done
  end=$((SECONDS + 120))
  for n in $BURST; do
    unit=ec2-netcfg@${IFN[n]}.service
    while :; do
      st=$(unit_prop "$unit" ActiveState)
      [ "$st" = active ] || [ "$st" = failed ] && break
      [ $SECONDS -lt $end ] || break
      sleep 0.2
    done
  done
}

# burst LABEL: a hotplug burst while traffic flows from the ENIs already there.
burst() {
  local label=$1 n unit rc result active old mark deleted off
  echo "=== [+$((SECONDS - T_START))s] scenario $label: hotplug burst of $(for n in $BURST; do printf '%s ' "${IFN[n]}"; done)"
  unit_without_device_binding
  # networkd's process now (the test restarted it in (iii)): the burst must not change it.
  local mgr0=systemd-networkd.service
  [ "$BOOT_MANAGER" = nm ] && mgr0=NetworkManager.service
  ND_START=$(unit_prop $mgr0 ExecMainStartTimestampMonotonic)
  # shellcheck disable=SC2046
  old=$(existing $(addrs_of))
  mark=$(($(wc -l < "$MONITOR") + 1))
  T_ATTACH=()
  boot_traffic "burst-$label" "$old" "" attach_burst
  echo "FIGURES traffic $label burst: old addresses $(flow_figures)"
  assert_old_flow "$label burst" "during the burst"
  deleted=$(tail -n +"$mark" "$MONITOR" | grep -E "^(\[[^]]*\] )?Deleted [0-9]+: (ens5|ens6) " || true)
  if [ -z "$deleted" ]; then pass "$label burst: no address of ens5 or ens6 deleted (ip monitor address)"
  else fail "$label burst: addresses of the ENIs already there deleted:"; sed 's/^/    /' <<< "$deleted" >&2; fi
  off=$("$PY" -c 'import time; print(time.clock_gettime(time.CLOCK_REALTIME) - time.clock_gettime(time.CLOCK_MONOTONIC))')
  for n in $BURST; do
    unit=ec2-netcfg@${IFN[n]}.service
    result=$(unit_prop "$unit" Result) active=$(unit_prop "$unit" ActiveState)
    if [ "$result" = success ] && [ "$active" = active ]; then pass "$label burst: $unit succeeded"
    else
      fail "$label burst: $unit: Result=$result ActiveState=$active"
      boot_journal "$unit" | tail -20 >&2
    fi
    awk -v e="$(unit_prop "$unit" ExecMainExitTimestampMonotonic)" -v a="${T_ATTACH[n]}" -v o="$off" -v i="${IFN[n]}" \
      -v l="$label" 'BEGIN { if (e > 0) printf "FIGURES burst %s: %s configured %.2f s after its veth appeared\n", l, i, e / 1e6 - (a - o) }'
  done
  local mgr=systemd-networkd.service nd_state nd_start
  [ "$BOOT_MANAGER" = nm ] && mgr=NetworkManager.service
  nd_state=$(unit_prop $mgr ActiveState) nd_start=$(unit_prop $mgr ExecMainStartTimestampMonotonic)
  if [ "$nd_state" = active ] && [ "$nd_start" = "$ND_START" ]; then
    pass "$label burst: $mgr active and never restarted"
  else
    fail "$label burst: $mgr $nd_state, started at $nd_start (before the burst: $ND_START)"
    cx journalctl --no-pager -u $mgr | tail -20 >&2
  fi
  echo "  reloads during the burst: $(boot_journal 'ec2-netcfg@*' | grep -c 'networkctl reload' || true)"
  if [ "$V6" = 1 ]; then
    local end=$((SECONDS + 30)) ra missing
    while :; do
      ra=$(ip -n "$INST" -6 route show default proto ra 2>&1 || true) missing=""
      for n in $BURST; do grep -q " dev ${IFN[n]} " <<< "$ra" || missing="$missing ${IFN[n]}"; done
      [ -z "$missing" ] && break
      [ $SECONDS -lt $end ] || { fail "$label burst: no RA-learned default route on$missing within 30 s"; break; }
      sleep 0.3
    done
  fi
  check_state "$label burst: every new ENI configured, the ENIs already there untouched" 10

  # Detach: the links go, IMDS stops listing them, the units stop (ExecStop= remove IFACE).
  for n in $BURST; do ip -n "$INST" link del "${IFN[n]}"; done
  ENIS="0 1"
  publish
  for n in $BURST; do
    unit=ec2-netcfg@${IFN[n]}.service rc=0
    cx -t 60 systemctl stop "$unit" 2> "$TMP/hotplug.err" || rc=$?
    result=$(unit_prop "$unit" Result) active=$(unit_prop "$unit" ActiveState)
    [ "$rc" = 0 ] && [ "$active" = inactive ] && [ "$result" = success ] \
      || fail "$label burst: systemctl stop $unit: exit $rc, ActiveState=$active, Result=$result: $(head -c 300 "$TMP/hotplug.err")"
  done
  local end=$((SECONDS + 10)) left t
  while :; do
    left=""
    for n in $BURST; do
      t=$(table_of "$n")
      left="$left$( { ip -n "$INST" -4 rule; ip -n "$INST" -6 rule; } 2>&1 | grep -w "lookup $t" || true)"
      left="$left$(ip -n "$INST" -4 route show table "$t" 2>/dev/null || true)$(ip -n "$INST" -6 route show table "$t" 2>/dev/null || true)"
    done
    [ -z "$left" ] || [ $SECONDS -ge $end ] && break
    sleep 0.3
  done
  if [ -z "$left" ]; then pass "$label burst: units stopped, no rule or route of the detached ENIs' tables left"
  else fail "$label burst: left after the ENIs went away:"; echo "$left" | sed 's/^/    /' >&2; fi
  echo "--- journalctl -u ec2-netcfg@${IFN[2]}.service"
  boot_journal "ec2-netcfg@${IFN[2]}.service" | sed 's/^/  /'
  check_state "$label after the hot-plugged ENIs went away" 3
}

run_scenario ipv4 0
boot_reset_vpc b
run_scenario dual 1

echo "FIGURES boot test: root $([ "$T_ROOT" -gt 5 ] && echo "built in ${T_ROOT}s" || echo cached), whole test $((SECONDS - T_START)) s"
finish
