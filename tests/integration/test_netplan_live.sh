#!/usr/bin/env bash
# ec2-netcfg on Ubuntu's stack (issue 17): real netplan, real systemd-networkd on a private
# D-Bus, and the /etc/netplan/50-cloud-init.yaml cloud-init writes for the instance, in two
# variants run in parallel:
#   policy        cloud-init's full IMDS configuration: every ENI, its secondary addresses
#                 at the subnet's prefix length, tables 101+ and rules without a priority
#   primary-only  apply_full_imds_network_config: false (cloud-init/99-ec2-netcfg.cfg): only
#                 the primary ENI; the others are unknown to netplan
# netplan's generator runs before networkd starts, as at boot; ec2-netcfg runs with its
# default backend (detected: netplan) in networkd's namespaces, and systemd's part (what
# ec2-netcfg asks about networkd) is played by lib_networkd.sh's systemctl shim. Checked:
# 1. first apply: one `networkctl reload`, no restart (the DHCP addresses networkd
#    re-acquires when an ENI moves to its new file are printed); every ENI is managed
#    with netplan's 10-netplan-ID.network; ec2-netcfg's YAML (0600) and drop-ins in place;
#    every address routes out of its own ENI (internet, its subnet, another subnet);
#    main's defaults at the merged metrics; cloud-init's rules untouched and after ours.
# 2. a refresh adding an address, UDP flowing from every address at 200/s: 0 lost, 0
#    misrouted, no reload, no file written (YAML and netplan's generated file unchanged).
# 3. a no-change apply: no file touched, no netlink event, nothing changed.
# 4. `netplan apply` as an administrator runs it: everything of ec2-netcfg's and of others
#    (a rule, a route, an address) is there afterwards (traffic figures printed).
# 5. a hotplug of an ENI netplan does not know: its own definition, 0 lost, 0 misrouted;
#    then `remove` of it takes its files away.
# 6. a reboot (kernel state and /run gone, netplan generate, networkd, ec2-netcfg): the same.
#
#   test_netplan_live.sh            both variants, in parallel processes
#   test_netplan_live.sh VARIANT    one
set -euo pipefail

VARIANTS=(policy primary-only)
if [ $# -eq 0 ]; then
  out=$(mktemp -d /tmp/ec2nc-np-live.XXXXXX)
  pids=()
  stop_variants() {
    local rc=$?
    set +e
    [ ${#pids[@]} -eq 0 ] || kill "${pids[@]}" 2>/dev/null
    wait
    rm -rf "$out"
    exit "$rc"
  }
  trap stop_variants EXIT
  trap 'exit 130' INT TERM
  for i in "${!VARIANTS[@]}"; do
    bash "$0" "${VARIANTS[$i]}" > "$out/$i" 2>&1 &
    pids[$i]=$!
  done
  rc=0 skipped=0
  for i in "${!VARIANTS[@]}"; do
    wait "${pids[$i]}" && r=0 || r=$?
    echo "=== netplan live: ${VARIANTS[$i]}"
    cat "$out/$i"
    if [ "$r" = 77 ]; then skipped=1; elif [ "$r" != 0 ]; then echo "=== FAILED: ${VARIANTS[$i]}"; rc=1; fi
  done
  pids=()
  [ "$rc" = 0 ] && [ "$skipped" = 1 ] && exit 77
  exit "$rc"
fi
VARIANT=$1

source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/lib_networkd.sh"
source "$(dirname "$0")/lib_live.sh"
source "$(dirname "$0")/lib_netplan.sh"

setup_instance
require_networkd
use_netplan
command -v dnsmasq >/dev/null || skip "needs dnsmasq"
[ -x "$EC2NC_BIN" ] || die "no ec2-netcfg binary at $EC2NC_BIN"

# ENIs 0-2 from the start (ens5 primary); ENI 3 (ens8) hot-plugged in part 5.
MAC=(02:86:10:7b:e4:f5 02:86:10:7b:e4:f6 02:86:10:7b:e4:f7 02:86:10:7b:e4:f8)
IFN=(ens5 ens6 ens7 ens8)
DEV=(0 1 2 3)
NAMES="${MAC[0]}=ens5,${MAC[1]}=ens6,${MAC[2]}=ens7,${MAC[3]}=ens8"

# ec2-netcfg as the service runs it (no --backend: the default must find netplan).
ec() { ndsys "$EC2NC_BIN" --imds-endpoint "$IMDS_URL" "$@" 2> "$TMP/ec.err"; }
ec_ok() {
  local rc=0
  ec "$@" || rc=$?
  cat "$TMP/ec.err" >> "$TMP/ec.log"
  [ "$rc" = 0 ] || { cat "$TMP/ec.err" >&2; fail "ec2-netcfg $* exited $rc"; }
}
start_nd() {
  start_networkd
  use_systemctl_shim
  mkdir -p "$TMP/ec2nc-run"
  nd sh -c 'mkdir -p /run/ec2-netcfg && mount --bind "$1" /run/ec2-netcfg' sh "$TMP/ec2nc-run"
}
table_of() { echo $((10000 + ${DEV[$1]})); }
n_of() { local i; for i in "${!IFN[@]}"; do [ "${IFN[$i]}" = "$1" ] && { echo "$i"; return; }; done; }

# own_subnet_errors: each address to a host in its own subnet leaves via its ENI.
own_subnet_errors() {
  local spec ifname a got
  for spec in $EXPECT; do
    ifname=${spec%%=*}
    for a in $(tr , ' ' <<< "${spec#*=}"); do
      got=$(route_dev "$a" "10.0.$(n_of "$ifname").100")
      [ "$got" = "$ifname" ] || echo "from $a to its own subnet leaves via $got, not $ifname"
    done
  done
}
# rules_errors: ec2-netcfg's rule per address at its table's priority, and the host-wide one.
rules_errors() {
  local rules spec ifname a t
  rules=$(ip -n "$INST" rule)
  for spec in $EXPECT; do
    ifname=${spec%%=*}
    t=$(table_of "$(n_of "$ifname")")
    for a in $(tr , ' ' <<< "${spec#*=}"); do
      grep -q "^$t:	from $a lookup $t" <<< "$rules" || echo "no rule from $a lookup $t priority $t"
    done
  done
  grep -q "^9999:	from all lookup main suppress_prefixlength 0 suppress_ifgroup 10000" <<< "$rules" \
    || echo "no host-wide rule at 9999"
}
check_all() {  # LABEL [SECONDS]
  check_state "$1" "${2:-0}"
  local e
  e=$(own_subnet_errors; rules_errors)
  if [ -z "$e" ]; then pass "$1: own-subnet routes and ec2-netcfg's rules hold"
  else while read -r l; do fail "$1: $l"; done <<< "$e"; fi
}
# files_are_netplans IFACE...: networkd applies netplan's generated file to each.
files_are_netplans() {
  local l f
  for l in "$@"; do
    f=$(network_file "$l")
    [ "$f" = "/run/systemd/network/10-netplan-$l.network" ] && pass "networkd manages $l with $f" \
      || fail "networkd applies '$f' to $l, not netplan's 10-netplan-$l.network"
  done
}
# The defaults in main: "IFACE:METRIC ..." expected.
defaults_are() {
  local want=$1 got
  got=$(ip -n "$INST" -4 route show default |
        awk '{ m = ""; for (i = 1; i < NF; i++) { if ($i == "metric") m = $(i + 1); if ($i == "dev") d = $(i + 1) } print d ":" m }' |
        sort | xargs)
  [ "$got" = "$want" ]
}
wait_defaults() {  # LABEL WANT
  local end=$((SECONDS + 10))
  until defaults_are "$2" || [ $SECONDS -ge $end ]; do sleep 0.2; done
  defaults_are "$2" && pass "$1: main's defaults $2" \
    || fail "$1: main's defaults: $(ip -n "$INST" -4 route show default | tr '\n' ';') (want $2)"
}
# cloud-init's own rules (policy variant): present, after ec2-netcfg's, counted.
cloud_init_rules() {
  ip -n "$INST" rule | grep -E "lookup 10[1-9]( |\$)" || true
}
check_cloud_init_rules() {  # LABEL
  [ "$VARIANT" = policy ] || return 0
  local r a missing=""
  r=$(cloud_init_rules)
  for a in 10.0.1.20 10.0.1.21 10.0.2.20 10.0.2.21; do
    grep -Eq "from $a lookup 10[12]( |\$)" <<< "$r" || missing="$missing $a"
  done
  [ -z "$missing" ] && pass "$1: cloud-init's rules are still there" || fail "$1: cloud-init's rules gone for:$missing"
  local low
  low=$(awk -F: '{ print $1 }' <<< "$r" | sort -n | head -1)
  [ -n "$low" ] && [ "$low" -gt 10002 ] && pass "$1: cloud-init's rules sit after ec2-netcfg's (lowest priority $low)" \
    || fail "$1: a cloud-init rule at priority $low, before ec2-netcfg's"
  echo "FIGURES cloud-init rules $1: $(grep -c . <<< "$r") (priorities $(awk -F: '{ print $1 }' <<< "$r" | sort -n | xargs))"
}
snap() {
  find "$ND_DIR/run-network" "$ND_DIR/run-netplan" "$ND_DIR/networkd.conf.d" "$TMP/ec2nc-run/state.json" \
    -exec stat -c '%n %i %Y %y %a' {} + | sort
}
assert_flow() {  # LABEL: nothing lost or misrouted from addresses that existed before
  local m l
  m=$(tot old misrouted) l=$(tot old lost)
  [ "$m" = 0 ] && pass "$1: no packet from an existing address misrouted" \
    || fail "$1: $m packet(s) from existing addresses left through the wrong ENI"
  [ "$l" = 0 ] && pass "$1: no packet from an existing address lost" \
    || fail "$1: $l packet(s) from existing addresses lost"
  [ "$(tot old sent)" -ge $((RATE * 2)) ] || fail "$1: sender sent only $(tot old sent) packets"
}
FIG=()

# --- boot: the VPC, cloud-init's YAML, the package's networkd drop-in, generate, networkd --
for n in 0 1 2; do new_eni "$n"; done
mkcap "$TMP/s0.json" 0=10.0.0.20,10.0.0.21 1=10.0.1.20,10.0.1.21 2=10.0.2.20,10.0.2.21
CI_ARGS=(--names "$NAMES")
[ "$VARIANT" = primary-only ] && CI_ARGS+=(--primary-only)
cloud_init_yaml "$TMP/s0.json" "$ND_DIR/etc-netplan/50-cloud-init.yaml" "${CI_ARGS[@]}"
cp "$EC2NC_SRC/units/ec2-netcfg-networkd.conf" "$ND_DIR/networkd.conf.d/ec2-netcfg.conf"
start_nd
if [ "$VARIANT" = policy ]; then
  wait_for "DHCP on every ENI (cloud-init's YAML)" 30 sh -c "ip -n $INST -4 -o addr | grep -q ' 10.0.0.20/' &&
    ip -n $INST -4 -o addr | grep -q ' 10.0.1.20/' && ip -n $INST -4 -o addr | grep -q ' 10.0.2.20/'"
  wait_for "cloud-init's secondary addresses and rules" 20 sh -c "ip -n $INST -4 -o addr | grep -q ' 10.0.1.21/24' &&
    ip -n $INST rule | grep -q 'from 10.0.2.21 lookup 102'"
  check_cloud_init_rules "at boot, before ec2-netcfg"
else
  wait_for "DHCP on the primary ENI" 30 sh -c "ip -n $INST -4 -o addr | grep -q ' 10.0.0.20/'"
fi
start_imds "$TMP/s0.json"

# --- 1. first apply -----------------------------------------------------------------------
ip -n "$INST" monitor address > "$TMP/mon-first" 2>&1 &
MON=$!
PIDS+=("$MON")
sleep 0.3
ec_ok apply
sed 's/^/  first apply: /' "$TMP/ec.err" | grep -Ei "restart|netplan|backend|warn" || true
[ "$(grep -c "networkctl reload" "$TMP/ec.err")" = 1 ] && pass "first apply reloaded networkd once (new ENI definitions)" \
  || fail "first apply: $(grep -c "networkctl reload" "$TMP/ec.err") networkctl reload(s), not one"
no_restart "first apply"
EXPECT="ens5=10.0.0.20,10.0.0.21 ens6=10.0.1.20,10.0.1.21 ens7=10.0.2.20,10.0.2.21"
wait_links "after ec2-netcfg's reload" ens5 ens6 ens7
check_all "first apply" 10
sleep 1
kill "$MON" 2>/dev/null; wait "$MON" 2>/dev/null || true
# Moving an ENI to its new file makes networkd re-acquire its DHCP address there: printed.
echo "FIGURES netplan $VARIANT first apply: DHCP addresses re-acquired at the reload: $(grep '^Deleted' "$TMP/mon-first" | grep -cE ' 10\.0\.[0-9]+\.20/' || true)"
files_are_netplans ens5 ens6 ens7
for l in ens5 ens6 ens7; do
  y=$ND_DIR/run-netplan/90-ec2-netcfg-$l.yaml
  [ "$(stat -c %a "$y" 2>/dev/null)" = 600 ] && pass "$y is there, mode 0600" || fail "$y: missing or not 0600"
  [ -f "$ND_DIR/run-network/10-netplan-$l.network.d/ec2-netcfg-$l.conf" ] && pass "drop-in for $l beside netplan's file" \
    || fail "no drop-in 10-netplan-$l.network.d/ec2-netcfg-$l.conf"
done
grep -q "Table=10001" "$ND_DIR/run-network/10-netplan-ens6.network" && pass "netplan's file for ens6 has ec2-netcfg's table" \
  || fail "10-netplan-ens6.network lacks ec2-netcfg's routes"
if [ "$VARIANT" = policy ]; then
  grep -q "match:" "$ND_DIR/run-netplan/90-ec2-netcfg-ens6.yaml" && fail "ens6 got a definition of its own, not cloud-init's" \
    || pass "ens6's YAML merges into cloud-init's definition"
else
  grep -q "macaddress: \"${MAC[1]}\"" "$ND_DIR/run-netplan/90-ec2-netcfg-ens6.yaml" \
    && pass "ens6 (unknown to netplan) got a definition of its own" || fail "ens6's YAML has no match of its own"
fi
# The primary at netplan's DHCP metric (cloud-init's 100, or netplan's own default 100), the
# others at their table numbers (networkd's routes at cloud-init's 200, 300 are gone).
wait_defaults "first apply" "ens5:100 ens6:10001 ens7:10002"
got=$(ip -n "$INST" route get 1.1.1.1 | sed -n 's/.* dev \([^ ]*\).*/\1/p')
[ "$got" = ens5 ] && pass "unsourced traffic leaves through the primary ENI" || fail "unsourced traffic via $got"
check_cloud_init_rules "first apply"
nd netplan get > "$TMP/netplan-get.yaml" 2>&1 || fail "netplan get failed: $(cat "$TMP/netplan-get.yaml")"
grep -q "route-metric: 10001" "$TMP/netplan-get.yaml" && grep -q "table: 10001" "$TMP/netplan-get.yaml" \
  && pass "netplan get shows ec2-netcfg's configuration merged in" || fail "netplan get lacks ec2-netcfg's settings"
echo "--- netplan get (ens6) after the first apply:"
python3 - "$TMP/netplan-get.yaml" <<'EOF'
import sys, yaml
doc = yaml.safe_load(open(sys.argv[1]))
print(yaml.safe_dump({"ens6": doc["network"]["ethernets"]["ens6"]}, sort_keys=False).rstrip())
EOF

# --- 2. refresh adding an address, traffic flowing ----------------------------------------
add_foreign_state
check_state "foreign state added"
OLD=$(addrs_of)
mkcap "$TMP/s1.json" 0=10.0.0.20,10.0.0.21 1=10.0.1.20,10.0.1.21,10.0.1.22 2=10.0.2.20,10.0.2.21
set_imds "$TMP/s1.json"
echo "--- refresh adding 10.0.1.22 to ens6"
run_traffic refresh "$OLD" "10.0.1.22" ec_ok apply
FIG+=("$(figure refresh shipped)")
assert_flow refresh
grep -Eqi "restart|reload" "$TMP/ec.err" && fail "refresh: ec2-netcfg restarted or reloaded networkd: $(grep -Ei 'restart|reload' "$TMP/ec.err")" \
  || pass "refresh: no networkd restart or reload"
grep -Eq "(create|update|remove) " "$TMP/ec.err" && fail "refresh: files written: $(grep -E '(create|update|remove) ' "$TMP/ec.err")" \
  || pass "refresh: no file written (ec2-netcfg's YAML and netplan's networkd files stay as they are)"
grep -q "netplan generate" "$TMP/ec.err" && fail "refresh ran netplan generate" || pass "refresh ran no netplan generate"
EXPECT="ens5=10.0.0.20,10.0.0.21 ens6=10.0.1.20,10.0.1.21,10.0.1.22 ens7=10.0.2.20,10.0.2.21"
check_all "refresh"

# --- 3. no-change apply --------------------------------------------------------------------
snap > "$TMP/snap.before"
ip -n "$INST" monitor address route rule link > "$TMP/monitor.out" 2>&1 &
mpid=$!
PIDS+=("$mpid")
sleep 0.5
ec_ok -v apply
sleep 1
kill "$mpid"; wait "$mpid" 2>/dev/null || true
snap > "$TMP/snap.after"
if diff "$TMP/snap.before" "$TMP/snap.after" >&2; then pass "no-change apply touched no file"
else fail "no-change apply touched files (above)"; fi
changes=$(events_beyond_kernel "$TMP/monitor.out")
if [ -n "$changes" ]; then echo "$changes" >&2; fail "no-change apply caused netlink events (above)"
else pass "no netlink event during a no-change apply"; fi
grep -q "0 file(s) changed, 0 kernel change(s)" "$TMP/ec.err" && pass "ec2-netcfg: 0 files, 0 kernel changes" \
  || fail "ec2-netcfg -v summary: $(grep 'done in' "$TMP/ec.err")"
grep -q "netplan generate" "$TMP/ec.err" && fail "no-change apply ran netplan generate" || pass "no-change apply ran no netplan generate"

# --- 4. netplan apply by an administrator ------------------------------------------------
echo "--- netplan apply (generate, networkctl reload, reconfigure every link), traffic flowing"
run_traffic netplan-apply "$(addrs_of)" "" netplan_apply_as_admin || fail "netplan apply failed"
FIG+=("$(figure "netplan apply" "(admin)")")
wait_links "after netplan apply" ens5 ens6 ens7
check_all "after netplan apply" 15
check_cloud_init_rules "after netplan apply"
files_are_netplans ens5 ens6 ens7
ec_ok -v apply
echo "  apply after netplan apply: $(grep 'done in' "$TMP/ec.err" | sed 's/^ec2-netcfg: //')"
check_all "apply after netplan apply"

# --- 5. hotplug of an ENI netplan does not know -------------------------------------------
mkcap "$TMP/s2.json" 0=10.0.0.20,10.0.0.21 1=10.0.1.20,10.0.1.21,10.0.1.22 2=10.0.2.20,10.0.2.21 3=10.0.3.20,10.0.3.21
hotplug() {
  set_imds "$TMP/s2.json"
  new_eni 3
  ec_ok apply ens8
}
echo "--- hotplug of ens8"
run_traffic hotplug "$(addrs_of)" "10.0.3.20 10.0.3.21" hotplug
FIG+=("$(figure hotplug shipped)")
assert_flow hotplug
grep -q "networkctl reload" "$TMP/ec.err" && pass "hotplug: networkd reloaded for ens8's new definition" \
  || fail "hotplug: networkd not reloaded"
no_restart "hotplug"
grep -q "macaddress: \"${MAC[3]}\"" "$ND_DIR/run-netplan/90-ec2-netcfg-ens8.yaml" \
  && pass "hotplug: ens8 got a definition of its own" || fail "hotplug: no own definition for ens8"
EXPECT="$EXPECT ens8=10.0.3.20,10.0.3.21"
wait_links "after the hotplug" ens5 ens6 ens7 ens8
check_all "hotplug" 15
files_are_netplans ens8
check_cloud_init_rules "after the hotplug"

# ... and its detach: `remove` (the per-interface unit's ExecStop) takes its files away too.
ec_ok remove ens8
[ ! -e "$ND_DIR/run-netplan/90-ec2-netcfg-ens8.yaml" ] && [ ! -e "$ND_DIR/run-network/10-netplan-ens8.network.d" ] \
  && pass "remove ens8: its YAML and drop-in directory are gone" || fail "remove ens8 left its YAML or drop-in"
[ ! -e "$ND_DIR/run-network/10-netplan-ens8.network" ] && pass "remove ens8: netplan generate dropped 10-netplan-ens8.network" \
  || fail "remove ens8: 10-netplan-ens8.network still generated"
grep -q "lookup 10003" <<< "$(ip -n "$INST" rule)" && fail "remove ens8: rules of table 10003 left" \
  || pass "remove ens8: no rule of its table left"
EXPECT=${EXPECT% ens8=*}
check_all "after remove ens8"

# --- 6. reboot ------------------------------------------------------------------------------
echo "--- reboot: networkd stops, the kernel's state and /run go, netplan generate, networkd, ec2-netcfg"
stop_networkd
for l in ens5 ens6 ens7 ens8; do
  ip -n "$INST" link set "$l" down
  ip -n "$INST" addr flush dev "$l"
  ip -n "$INST" route flush dev "$l" table all 2>/dev/null || true
  ip -n "$INST" link set "$l" group 0
done
for fam in -4 -6; do
  ip -n "$INST" $fam rule | awk -F: '$1 != 0 && $1 != 32766 && $1 != 32767 { print $1 }' | sort -u |
    while read -r p; do while ip -n "$INST" $fam rule del priority "$p" 2>/dev/null; do :; done; done
done
ip -n "$INST" route flush table 500 2>/dev/null || true
for l in ens5 ens6 ens7 ens8; do ip -n "$INST" link set "$l" up; done
find "$ND_DIR/run-network" "$ND_DIR/run-netplan" -mindepth 1 -delete
rm -rf "$TMP/ec2nc-run"
FOREIGN=0
start_nd
wait_for "DHCP on the primary after the reboot" 30 sh -c "ip -n $INST -4 -o addr | grep -q ' 10.0.0.20/'"
EXPECT="$EXPECT ens8=10.0.3.20,10.0.3.21"  # still attached, still in IMDS
ec_ok apply
[ "$(grep -c "networkctl reload" "$TMP/ec.err")" = 1 ] && pass "reboot: ec2-netcfg reloaded networkd once" \
  || fail "reboot: $(grep -c "networkctl reload" "$TMP/ec.err") networkctl reload(s), not one"
no_restart "reboot"
wait_links "after the reboot" ens5 ens6 ens7 ens8
check_all "after the reboot" 15
files_are_netplans ens5 ens6 ens7 ens8
wait_defaults "after the reboot" "ens5:100 ens6:10001 ens7:10002 ens8:10003"
check_cloud_init_rules "after the reboot"

problems=$(networkd_log_problems)
[ -z "$problems" ] || { echo "networkd log problems (not asserted):"; echo "$problems" | sort | uniq -c | head -8; }
echo "=== packets from addresses that existed before the change ($RATE/s per address)"
printf '%s\n' "${FIG[@]}"
stop_networkd
finish
