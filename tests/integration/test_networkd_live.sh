#!/usr/bin/env bash
# ec2-netcfg on a running instance with real systemd-networkd (issue 11): networkd on a
# private D-Bus in the instance namespace, DHCP from dnsmasq per ENI, distribution-style
# DHCP .network files matching every ENI, and the package's networkd.conf.d drop-in
# present when networkd starts. ec2-netcfg runs in networkd's namespaces (`nd`).
#
# 1. Foreign state (a CNI's rule, a route in its table, an address on ens6), added after
#    networkd is up, survives (a) a refresh that adds an address (no file written, no
#    reload), (b) a remove of
#    another ENI, (c) a networkd restart, (d) `networkctl reconfigure ens6` (before and
#    after the restart); after each, every ec2-netcfg address still routes out of its own
#    ENI. Traffic runs over the restarts; their figures are printed, not asserted.
# 2. UDP from every configured address at 200/s to 203.0.113.10 (on lo of every router
#    namespace), counted per source by a receiver in each router namespace, during
#    (i) a refresh that adds an address to ens6 and (ii) a hotplug of another ENI, for
#    "files + reload" (the predecessor: render, copy changed .network files, networkctl
#    reload) and for what ec2-netcfg ships. Shipped: none misrouted, none lost from the
#    addresses that existed before the change. files+reload figures are printed only
#    (lines "FIGURES ...").
# 3. A no-change apply writes no file, reloads nothing, sends no netlink change.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/lib_networkd.sh"
source "$(dirname "$0")/lib_live.sh"

setup_instance
require_networkd
command -v dnsmasq >/dev/null || skip "needs dnsmasq"
[ -x "$EC2NC_BIN" ] || die "no ec2-netcfg binary at $EC2NC_BIN"

# ENIs: N IFNAME MAC DEVICE-NUMBER SUBNET (router = .1). The first three exist from the
# start (ens7 is the one removed in 1b); the last two are hot-plugged in part 2.
MAC=(02:86:10:7b:e4:f5 02:86:10:7b:e4:f6 02:86:10:7b:e4:f7 02:86:10:7b:e4:f8 02:86:10:7b:e4:f9)
IFN=(ens5 ens6 ens7 ens7 ens8)
DEV=(0 1 2 2 3)

# ec2-netcfg as the service runs it, in networkd's namespaces; stderr to $TMP/ec.err.
# systemd's part (what ec2-netcfg asks about networkd before `networkctl reload`) is played
# by the systemctl shim of lib_networkd.sh, so ec2-netcfg's hand-off runs as on a booted
# instance.
ec() { ndsys "$EC2NC_BIN" --backend networkd --imds-endpoint "$IMDS_URL" "$@" 2> "$TMP/ec.err"; }
ec_ok() {
  local rc=0
  ec "$@" || rc=$?
  cat "$TMP/ec.err" >> "$TMP/ec.log"
  [ "$rc" = 0 ] || { cat "$TMP/ec.err" >&2; fail "ec2-netcfg $* exited $rc"; }
}

# After every (re)start: ec2-netcfg's /run/ec2-netcfg lives on across networkd restarts,
# as on a real host (the private /run of networkd's namespace is new at each start).
start_nd() {
  start_networkd
  use_systemctl_shim
  mkdir -p "$TMP/ec2nc-run"
  nd sh -c 'mkdir -p /run/ec2-netcfg && mount --bind "$1" /run/ec2-netcfg' sh "$TMP/ec2nc-run"
}

FIG=()

# --- the emulated VPC, distribution files, the package's drop-in, networkd ---------------
for n in 0 1 2; do new_eni "$n"; done
printf '[Match]\nName=%s\n\n[Network]\nDHCP=ipv4\n\n[DHCPv4]\nRouteMetric=%s\n' ens5 100 \
  > "$ND_DIR/etc-network/10-netplan-ens5.network"
printf '[Match]\nName=%s\n\n[Network]\nDHCP=ipv4\n\n[DHCPv4]\nRouteMetric=%s\n' ens6 200 \
  > "$ND_DIR/etc-network/10-netplan-ens6.network"
printf '[Match]\nName=en*\n\n[Network]\nDHCP=yes\n\n[DHCPv4]\nUseHostname=no\n' \
  > "$ND_DIR/etc-network/80-ec2.network"
# What the package installs (as networkd.conf.d/ec2-netcfg.conf), present at networkd's start.
cp "$EC2NC_SRC/units/ec2-netcfg-networkd.conf" "$ND_DIR/networkd.conf.d/ec2-netcfg.conf"
start_nd

wait_for "DHCP addresses from the distribution files" 30 \
  sh -c "ip -n $INST -4 -o addr | grep -q ' 10.0.0.20/' && ip -n $INST -4 -o addr | grep -q ' 10.0.1.20/' \
         && ip -n $INST -4 -o addr | grep -q ' 10.0.2.20/'"

mkcap "$TMP/s0.json" 0=10.0.0.20,10.0.0.21 1=10.0.1.20,10.0.1.21 2=10.0.2.20,10.0.2.21
start_imds "$TMP/s0.json"
# The first apply as at boot: networkd runs on the distribution's files, every ENI has its
# DHCP address. The one reload moves each ENI to ec2-netcfg's file, where networkd
# re-acquires its DHCP address (printed); everything else stays.
ip -n "$INST" monitor address > "$TMP/mon-first" 2> "$TMP/mon-first.err" &
MON=$!
PIDS+=("$MON")
sleep 0.3
ec_ok apply
EXPECT="ens5=10.0.0.20,10.0.0.21 ens6=10.0.1.20,10.0.1.21 ens7=10.0.2.20,10.0.2.21"
check_state "first apply"
grep -E "restart|reload" "$TMP/ec.err" | sed 's/^/  first apply: /' || true
[ "$(grep -c "networkctl reload" "$TMP/ec.err")" = 1 ] && pass "first apply reloaded networkd once (new ENI files)" \
  || fail "first apply: not one networkctl reload: $(cat "$TMP/ec.err")"
no_restart "first apply"
wait_links "after ec2-netcfg's reload" ens5 ens6 ens7
check_state "first apply, networkd settled" 10
sleep 1
kill "$MON" 2>/dev/null; wait "$MON" 2>/dev/null || true
echo "FIGURES networkd first apply: DHCP addresses re-acquired at the reload: $(grep '^Deleted' "$TMP/mon-first" | grep -cE ' 10\.0\.[0-9]+\.20/' || true)"
for l in ens5 ens6 ens7; do
  f=$(network_file "$l")
  [ "$f" = "/run/systemd/network/05-ec2-netcfg-$l.network" ] && pass "networkd manages $l with $f" \
    || fail "networkd applies '$f' to $l, not ec2-netcfg's file"
done
# networkd's defaults from the distribution files (metrics 100, 200, 1024) are gone; its
# own under ec2-netcfg's files are the primary's (100) and the table numbers.
wait_defaults() {
  local d
  d=$(ip -n "$INST" -4 route show default |
      awk '{ m = ""; for (i = 1; i < NF; i++) if ($i == "metric") m = $(i + 1); print $1, $2, $3, $4, $5, "metric", m }' | sort)
  [ "$d" = "$(printf '%s\n' 'default via 10.0.0.1 dev ens5 metric 100' 'default via 10.0.1.1 dev ens6 metric 10001' \
                                'default via 10.0.2.1 dev ens7 metric 10002' | sort)" ]
}
end=$((SECONDS + 10))
until wait_defaults || [ $SECONDS -ge $end ]; do sleep 0.2; done
wait_defaults && pass "main's defaults: primary 100, secondaries at their table numbers" \
  || fail "main's defaults: $(ip -n "$INST" -4 route show default | tr '\n' ';')"
got=$(ip -n "$INST" route get 1.1.1.1 | sed -n 's/.* dev \([^ ]*\).*/\1/p')
[ "$got" = ens5 ] && pass "unsourced traffic leaves through the primary ENI" || fail "unsourced traffic via $got"

# --- 1. foreign state survives ------------------------------------------------------------
add_foreign_state
check_state "foreign state added"

# (a) a refresh that adds an address to ens6.
mkcap "$TMP/s1.json" 0=10.0.0.20,10.0.0.21 1=10.0.1.20,10.0.1.21,10.0.1.22 2=10.0.2.20,10.0.2.21
set_imds "$TMP/s1.json"
cp "$ND_DIR/run-network/05-ec2-netcfg-ens6.network" "$TMP/ens6.before"
ec_ok apply
# An address is the kernel's alone: the file stays as it is and networkd is not reloaded.
cmp -s "$TMP/ens6.before" "$ND_DIR/run-network/05-ec2-netcfg-ens6.network" \
  && pass "(a) the refresh left 05-ec2-netcfg-ens6.network as it was" \
  || fail "(a) the refresh rewrote 05-ec2-netcfg-ens6.network"
grep -q "networkctl reload" "$TMP/ec.err" && fail "(a) the refresh reloaded networkd" || pass "(a) the refresh did not reload networkd"
EXPECT="ens5=10.0.0.20,10.0.0.21 ens6=10.0.1.20,10.0.1.21,10.0.1.22 ens7=10.0.2.20,10.0.2.21"
check_state "(a) refresh adding 10.0.1.22"

# (b) remove of another ENI (ens7), then its detach (link gone, IMDS no longer lists it).
ec_ok remove ens7
EXPECT="ens5=10.0.0.20,10.0.0.21 ens6=10.0.1.20,10.0.1.21,10.0.1.22"
check_state "(b) remove ens7"
[ ! -e "$ND_DIR/run-network/05-ec2-netcfg-ens7.network" ] && pass "(b) remove ens7 took its .network away" \
  || fail "(b) 05-ec2-netcfg-ens7.network still there after remove"
rules=$(ip -n "$INST" rule)
grep -q "lookup 10002" <<< "$rules" && fail "(b) rules of ens7's table 10002 left after remove" \
  || pass "(b) no rule of ens7's table left"
mkcap "$TMP/s2.json" 0=10.0.0.20,10.0.0.21 1=10.0.1.20,10.0.1.21,10.0.1.22
set_imds "$TMP/s2.json"
ip -n "$INST" link del ens7
ec_ok apply
check_state "(b) apply after ens7 detached"

# (d) networkctl reconfigure ens6: the state of a booted instance (networkd reloaded by
# ec2-netcfg's first apply onto its files, which say KeepConfiguration=static): networkd must
# not drop ec2-netcfg's state or others' when it reconfigures the ENI.
echo "  ens6 is managed by networkd with: $(network_file ens6)"
reconfigure_and_check() {  # LABEL IFACE
  ndt networkctl reconfigure "$2"
  sleep 1.5
  wait_links "after reconfigure" "$2"
  check_state "$1" 5
}
reconfigure_and_check "(d) networkctl reconfigure ens6 (networkd on ec2-netcfg's files)" ens6
# Whatever happened, put the state back for what follows.
ec_ok apply
ip -n "$INST" addr replace 10.0.1.99/32 dev ens6
ip -n "$INST" route replace 198.51.100.0/24 via 10.0.1.1 dev ens6 table 500
rules=$(ip -n "$INST" rule show priority 600)
[ -n "$rules" ] || ip -n "$INST" rule add from 192.0.2.0/24 lookup 500 priority 600

# (c) a networkd restart, traffic flowing (figures printed: does a restart open a gap?),
# then (d) again, then a second restart: networkd now runs on ec2-netcfg's files.
restart_networkd() { stop_networkd; start_nd; }
echo "--- (c) networkd restart, traffic from: $(addrs_of)"
run_traffic restart1 "$(addrs_of)" "" restart_networkd || fail "(c) restart failed"
FIG+=("$(figure restart "first")")
wait_links "after the restart" ens5 ens6
check_state "(c) networkd restart" 10
for l in ens5 ens6; do
  f=$(network_file "$l")
  [ "$f" = "/run/systemd/network/05-ec2-netcfg-$l.network" ] && pass "(c) after the restart $l uses $f" \
    || fail "(c) after the restart networkd applies '$f' to $l, not ec2-netcfg's file"
done
reconfigure_and_check "(d) networkctl reconfigure ens6 (after the restart)" ens6
echo "--- (c) second networkd restart (networkd on ec2-netcfg's files)"
run_traffic restart2 "$(addrs_of)" "" restart_networkd || fail "(c) second restart failed"
FIG+=("$(figure restart "second")")
wait_links "after the second restart" ens5 ens6
check_state "(c) second networkd restart" 10

# --- 2. traffic during a refresh and a hotplug: shipped vs files + reload ----------------
# files_reload CAPTURE: the predecessor: render every file, copy those that changed (a
# careful predecessor: an unchanged file keeps its mtime, so networkd leaves its link
# alone), networkctl reload.
files_reload() {
  rm -rf "$TMP/r"
  ip netns exec "$INST" "$EC2NC_BIN" --root "$TMP/r" --backend networkd --metadata-file "$1" apply \
    > "$TMP/r.out" 2>&1 || { cat "$TMP/r.out" >&2; return 1; }
  local f
  for f in "$TMP"/r/run/systemd/network/*.network; do
    cmp -s "$f" "$ND_DIR/run-network/${f##*/}" || cp "$f" "$ND_DIR/run-network/"
  done
  ndt networkctl reload
}
shipped_apply() { ec_ok apply "$@"; }
assert_shipped() {  # LABEL
  local m l
  m=$(tot old misrouted) l=$(tot old lost)
  [ "$m" = 0 ] && pass "$1 shipped: no packet from an existing address misrouted" \
    || fail "$1 shipped: $m packet(s) from existing addresses left through the wrong ENI"
  [ "$l" = 0 ] && pass "$1 shipped: no packet from an existing address lost" \
    || fail "$1 shipped: $l packet(s) from existing addresses lost"
  [ "$(tot old sent)" -ge $((RATE * 2)) ] || fail "$1: sender sent only $(tot old sent) packets"
}

# (i) refresh adding one address to ens6: shipped adds 10.0.1.23, files+reload 10.0.1.24.
OLD=$(addrs_of)
mkcap "$TMP/s3.json" 0=10.0.0.20,10.0.0.21 1=10.0.1.20,10.0.1.21,10.0.1.22,10.0.1.23
set_imds "$TMP/s3.json"
echo "--- refresh, shipped (nd ec2-netcfg apply)"
run_traffic refresh-shipped "$OLD" "10.0.1.23" shipped_apply
FIG+=("$(figure refresh shipped)")
assert_shipped refresh
grep -i reload "$TMP/ec.err" && fail "refresh shipped: ec2-netcfg reloaded networkd" || true
EXPECT="ens5=10.0.0.20,10.0.0.21 ens6=10.0.1.20,10.0.1.21,10.0.1.22,10.0.1.23"
check_state "refresh shipped"

OLD=$(addrs_of)
mkcap "$TMP/s4.json" 0=10.0.0.20,10.0.0.21 1=10.0.1.20,10.0.1.21,10.0.1.22,10.0.1.23,10.0.1.24
set_imds "$TMP/s4.json"
echo "--- refresh, files + reload"
run_traffic refresh-files "$OLD" "10.0.1.24" files_reload "$TMP/s4.json" || fail "files+reload failed"
FIG+=("$(figure refresh files+reload)")
EXPECT="ens5=10.0.0.20,10.0.0.21 ens6=10.0.1.20,10.0.1.21,10.0.1.22,10.0.1.23,10.0.1.24"
wait_links "after the reload" ens6
ec_ok apply
check_state "after refresh files+reload and an apply" 10

# (ii) hotplug: shipped plugs ens7 (ENI 3, device 2), files+reload ens8 (ENI 4, device 3).
hotplug_shipped() {
  set_imds "$TMP/s5.json"
  new_eni 3
  ec_ok apply ens7
}
hotplug_files() {
  set_imds "$TMP/s6.json"
  new_eni 4
  files_reload "$TMP/s6.json"
}
OLD=$(addrs_of)
S4SPEC="0=10.0.0.20,10.0.0.21 1=10.0.1.20,10.0.1.21,10.0.1.22,10.0.1.23,10.0.1.24"
# shellcheck disable=SC2086
mkcap "$TMP/s5.json" $S4SPEC 3=10.0.3.20,10.0.3.21
echo "--- hotplug, shipped (new ENI ens7, nd ec2-netcfg apply ens7)"
run_traffic hotplug-shipped "$OLD" "10.0.3.20 10.0.3.21" hotplug_shipped
FIG+=("$(figure hotplug shipped)")
assert_shipped hotplug
grep -i reload "$TMP/ec.err" | sed 's/^/  apply ens7: /' || true
EXPECT="$EXPECT ens7=10.0.3.20,10.0.3.21"
check_state "hotplug shipped: ens7 configured, nothing else disturbed" 15

OLD=$(addrs_of)
# shellcheck disable=SC2086
mkcap "$TMP/s6.json" $S4SPEC 3=10.0.3.20,10.0.3.21 4=10.0.4.20,10.0.4.21
echo "--- hotplug, files + reload (new ENI ens8)"
run_traffic hotplug-files "$OLD" "10.0.4.20 10.0.4.21" hotplug_files || fail "hotplug files+reload failed"
FIG+=("$(figure hotplug files+reload)")
EXPECT="$EXPECT ens8=10.0.4.20,10.0.4.21"
wait_links "hotplug" ens8
ec_ok apply
check_state "after hotplug files+reload and an apply" 10

# The hot-plugged ENI survives networkd reconfiguring it (whichever .network networkd uses).
ndt networkctl reconfigure ens7
sleep 1.5
wait_links "after reconfigure" ens7
check_state "networkctl reconfigure of the hot-plugged ens7" 5
echo "  ens7 is managed by networkd with: $(network_file ens7)"

# --- 3. a no-change apply: no file, no reload, no netlink change -------------------------
ec_ok apply
snap() { stat -c '%n %i %Y %y' "$ND_DIR"/run-network/* "$ND_DIR"/networkd.conf.d/* "$TMP"/ec2nc-run/state.json; }
snap > "$TMP/snap.before"
log_lines=$(wc -l < "$ND_DIR/networkd.log")
ip -n "$INST" monitor address route rule link > "$TMP/monitor.out" 2> "$TMP/monitor.err" &
mpid=$!
PIDS+=("$mpid")
sleep 0.5
ec_ok -v apply
sleep 1
kill "$mpid"; wait "$mpid" 2>/dev/null || true
snap > "$TMP/snap.after"
if diff "$TMP/snap.before" "$TMP/snap.after" >&2; then pass "no-change apply wrote no file"
else fail "no-change apply wrote files (above)"; fi
if tail -n +"$((log_lines + 1))" "$ND_DIR/networkd.log" | grep -i reload >&2; then
  fail "networkd reloaded during a no-change apply"
else pass "networkd did not reload"; fi
if grep -iq reload "$TMP/ec.err"; then fail "ec2-netcfg says: $(grep -i reload "$TMP/ec.err")"
else pass "ec2-netcfg did not reload networkd"; fi
changes=$(events_beyond_kernel "$TMP/monitor.out")
if [ -n "$changes" ]; then echo "$changes" >&2; fail "no-change apply caused netlink events (above)"
else pass "no netlink event during a no-change apply (beyond the kernel's own)"; fi
grep -q "0 file(s) changed, 0 kernel change(s)" "$TMP/ec.err" && pass "ec2-netcfg: 0 files, 0 kernel changes" \
  || fail "ec2-netcfg -v summary: $(grep 'done in' "$TMP/ec.err")"

problems=$(networkd_log_problems)
[ -z "$problems" ] || { echo "networkd log problems (not asserted):"; echo "$problems" | head -5; }

echo "=== packets from addresses that existed before the change ($RATE/s per address)"
printf '%s\n' "${FIG[@]}"
stop_networkd
finish
