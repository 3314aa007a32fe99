#!/bin/bash
# The netplan backend's files against real netplan and real systemd-networkd.
# 1. Every scenario: `ec2-netcfg --root ROOT --backend netplan apply` beside the
#    50-cloud-init.yaml cloud-init writes for it (tests/data/netplan/SCENARIO/) writes
#    exactly the golden files (tests/data/golden/netplan/SCENARIO/), `netplan generate
#    --root-dir` accepts them, and every drop-in sits beside a file netplan generated.
#    Also: an administrator's file with a folded scalar (read with libyaml, as netplan),
#    a configuration netplan refuses (nothing installed, exit 1), and the default backend
#    (netplan; netlink with a message for NetworkManager; networkd without netplan YAML).
# 2. Those files given to networkd at its start (the state after a reboot: netplan
#    generate, then networkd) reproduce the desired state: for every address of every ENI
#    the kernel routes traffic out of that ENI (to the internet, its own subnet, every
#    other ENI's subnet, another VPC subnet), the primary's default stays the system
#    default, a bridge route in main still wins, delegated prefixes are forwarded out of
#    their ENI, and networkd manages each ENI with netplan's 10-netplan-ID.network.
#    Cases: cloud-init's YAML with its multi-NIC policy routing, cloud-init's primary-only
#    YAML (apply_full_imds_network_config: false), and no netplan YAML at all. Not the
#    IPv6-only scenario: cloud-init gives that ENI dhcp4: true, so networkd never calls it
#    configured without a DHCPv4 server (test_networkd_render.sh leaves it out too).
#
#   test_netplan_render.sh                     every case, in parallel processes
#   test_netplan_render.sh SCENARIO [MODE]     one networkd case (MODE: policy, primary-only, none,
#                                              admin: policy + an administrator's MTU, DNS and route)
#   test_netplan_render.sh goldens             part 1 only
set -euo pipefail

CASES=(
  "goldens"
  "one-eni-three-ips policy"
  "two-enis-same-subnet policy"
  "two-enis-two-subnets policy"
  "four-enis-two-cards policy"
  "dual-stack-prefixes policy"
  "dual-stack-prefixes primary-only"
  "two-enis-two-subnets none"
  "dual-stack-prefixes admin"
)

if [ $# -eq 0 ]; then
  out=$(mktemp -d /tmp/ec2nc-np-render.XXXXXX)
  pids=()
  stop_cases() {
    local rc=$?
    set +e
    [ ${#pids[@]} -eq 0 ] || kill "${pids[@]}" 2>/dev/null
    wait
    rm -rf "$out"
    exit "$rc"
  }
  trap stop_cases EXIT
  trap 'exit 130' INT TERM
  for i in "${!CASES[@]}"; do
    # shellcheck disable=SC2086
    bash "$0" ${CASES[$i]} > "$out/$i" 2>&1 &
    pids[$i]=$!
  done
  rc=0 skipped=0
  for i in "${!CASES[@]}"; do
    wait "${pids[$i]}" && r=0 || r=$?
    echo "=== netplan render: ${CASES[$i]}"
    cat "$out/$i"
    if [ "$r" = 77 ]; then skipped=1; elif [ "$r" != 0 ]; then echo "=== FAILED: ${CASES[$i]}"; rc=1; fi
  done
  pids=()
  [ "$rc" = 0 ] && [ "$skipped" = 1 ] && exit 77
  exit "$rc"
fi

. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_networkd.sh"
. "$(dirname "$0")/lib_netplan.sh"
. "$(dirname "$0")/lib_render.sh"

require_netns
require_netplan
[ -x "$EC2NC_BIN" ] || die "no ec2-netcfg binary at $EC2NC_BIN"

# render SCENARIO ROOT [OPTION...]: links ens5... with the scenario's MACs in a namespace
# of their own (ec2-netcfg matches ENIs to links by MAC), then ec2-netcfg --root ROOT.
RENDERS=0
render() {
  local scn=$1 root=$2 ns=rnd$RENDERS-$ID capture rc=0
  shift 2
  RENDERS=$((RENDERS + 1))
  capture=$(scenario "$scn")
  new_ns "$ns"
  while read -r ifname mac rest; do
    ip -n "$ns" link add "$ifname" address "$mac" type veth peer name "p-$ifname"
  done < <(enis_of "$capture")
  ip netns exec "$ns" "$EC2NC_BIN" --root "$root" --backend netplan --metadata-file "$capture" "$@" apply \
    > "$TMP/apply-$scn.out" 2>&1 || rc=$?
  ip netns del "$ns"
  [ "$rc" = 0 ] || { cat "$TMP/apply-$scn.out" >&2; return 1; }
}

# our_files ROOT: ec2-netcfg's YAML and drop-ins under ROOT, relative.
our_files() {
  (cd "$1" && find run/netplan run/systemd/network -type f \( -name '90-ec2-netcfg-*.yaml' -o -path '*.network.d/ec2-netcfg-*.conf' \) | sort)
}

if [ "$1" = goldens ]; then
  for f in "$EC2NC_SRC"/tests/data/scenarios/*.json; do
    scn=$(basename "$f" .json)
    root=$TMP/$scn
    mkdir -p "$root/etc/netplan"
    cp "$EC2NC_SRC/tests/data/netplan/$scn/50-cloud-init.yaml" "$root/etc/netplan/"
    chmod 600 "$root/etc/netplan/50-cloud-init.yaml"
    render "$scn" "$root" || { fail "$scn: ec2-netcfg --root apply failed"; continue; }
    golden=$EC2NC_SRC/tests/data/golden/netplan/$scn
    if diff <(our_files "$root") <(cd "$golden" && find run -type f | sort) >&2; then
      pass "$scn: the files are the golden set"
      for rel in $(our_files "$root"); do
        cmp -s "$root/$rel" "$golden/$rel" || { diff "$golden/$rel" "$root/$rel" >&2; fail "$scn: $rel differs from the golden"; }
      done
    else
      fail "$scn: ec2-netcfg's files differ from the golden set (above)"
    fi
    bad=$(find "$root/run/netplan" -name '90-ec2-netcfg-*.yaml' ! -perm 600)
    [ -z "$bad" ] && pass "$scn: YAML mode 0600" || fail "$scn: not mode 0600: $bad"
    # netplan itself, from scratch, on cloud-init's file plus the goldens.
    check=$TMP/check-$scn
    mkdir -p "$check/etc/netplan"
    cp "$root/etc/netplan/50-cloud-init.yaml" "$check/etc/netplan/"
    cp -r "$golden/run" "$check/"
    chmod 600 "$check"/etc/netplan/* "$check"/run/netplan/*
    if netplan generate --root-dir "$check" > "$TMP/generate-$scn.log" 2>&1; then
      pass "$scn: netplan generate --root-dir accepts the golden YAML"
    else
      fail "$scn: netplan generate refuses the golden YAML: $(cat "$TMP/generate-$scn.log")"
    fi
    [ -s "$TMP/generate-$scn.log" ] && { echo "  netplan generate said:"; sed 's/^/    /' "$TMP/generate-$scn.log" | head -5; }
    for d in "$check"/run/systemd/network/*.network.d; do
      base=${d##*/}
      [ -f "${d%.d}" ] && pass "$scn: $base sits beside netplan's ${base%.d}" || fail "$scn: $base has no generated ${base%.d}"
    done
    n_gen=$(ls "$check"/run/systemd/network/10-netplan-*.network | wc -l)
    n_eni=$(enis_of "$(scenario "$scn")" | wc -l)
    [ "$n_gen" = "$n_eni" ] && pass "$scn: netplan generated a .network for each of the $n_eni ENIs" \
      || fail "$scn: $n_gen generated .network files for $n_eni ENIs"
  done

  # An administrator's file with a folded scalar, which ec2-netcfg's hand-written reader
  # once refused (it then asked `netplan get`): libyaml reads it, as netplan, and the
  # YAML is the same, comments aside.
  scn=dual-stack-prefixes root=$TMP/admin
  mkdir -p "$root/etc/netplan"
  cp "$EC2NC_SRC/tests/data/netplan/$scn/50-cloud-init.yaml" "$EC2NC_SRC/tests/data/netplan/admin/60-admin.yaml" \
    "$root/etc/netplan/"
  chmod 600 "$root"/etc/netplan/*
  if render "$scn" "$root" -v; then
    ! grep -q "asking .netplan get. instead" "$TMP/apply-$scn.out" && pass "admin file: ec2-netcfg read it itself" \
      || fail "admin file: read through netplan get: $(cat "$TMP/apply-$scn.out")"
    same=1
    for rel in $(our_files "$root"); do
      cmp -s <(grep -v '^#' "$root/$rel") <(grep -v '^#' "$EC2NC_SRC/tests/data/golden/netplan/$scn/$rel") || same=0
    done
    [ "$same" = 1 ] && pass "admin file: the same YAML and drop-ins as without it" || fail "admin file: files differ from the golden"
    grep -q "^MTUBytes=9001" "$root/run/systemd/network/10-netplan-ens6.network" \
      && grep -q "^Destination=192.168.77.0/24" "$root/run/systemd/network/10-netplan-ens6.network" \
      && pass "admin file: its MTU and route are in netplan's file for ens6" || fail "admin file: its settings are lost"
  else
    fail "admin file: ec2-netcfg --root apply failed"
  fi

  # A configuration netplan refuses: nothing of ec2-netcfg's is installed, exit 1.
  root=$TMP/broken
  mkdir -p "$root/etc/netplan"
  cp "$EC2NC_SRC/tests/data/netplan/$scn/50-cloud-init.yaml" "$EC2NC_SRC/tests/data/netplan/admin/70-broken.yaml" \
    "$root/etc/netplan/"
  chmod 600 "$root"/etc/netplan/*
  rc=0
  render "$scn" "$root" 2>/dev/null || rc=$?
  grep -q "netplan generate refuses" "$TMP/apply-$scn.out" && pass "netplan refuses the host's YAML: ec2-netcfg says so" \
    || fail "no refusal message: $(cat "$TMP/apply-$scn.out")"
  [ -z "$(our_files "$root" 2>/dev/null)" ] && pass "netplan refuses the host's YAML: nothing of ec2-netcfg's installed" \
    || fail "ec2-netcfg installed files netplan refuses: $(our_files "$root")"
  [ "$rc" != 0 ] && pass "netplan refuses the host's YAML: ec2-netcfg fails (exit status 1)" || fail "ec2-netcfg exited 0"

  # YAML that libyaml, and so netplan, cannot read (an unclosed flow sequence on line 4):
  # the run names the file and line, installs nothing, exit 1.
  root=$TMP/unreadable
  mkdir -p "$root/etc/netplan"
  cp "$EC2NC_SRC/tests/data/netplan/$scn/50-cloud-init.yaml" "$root/etc/netplan/"
  printf 'network:\n  version: 2\n  ethernets:\n    ens9: {dhcp4: [true}\n' > "$root/etc/netplan/60-typo.yaml"
  chmod 600 "$root"/etc/netplan/*
  rc=0
  render "$scn" "$root" 2>/dev/null || rc=$?
  grep -q "cannot read /etc/netplan/60-typo.yaml: line 4" "$TMP/apply-$scn.out" \
    && pass "unreadable YAML: the file and line are named" || fail "unreadable YAML: $(cat "$TMP/apply-$scn.out")"
  [ -z "$(our_files "$root" 2>/dev/null)" ] && [ "$rc" = 1 ] \
    && pass "unreadable YAML: nothing of ec2-netcfg's installed, exit status 1" \
    || fail "unreadable YAML: exit $rc, installed: $(our_files "$root" 2>/dev/null)"

  # The default backend: netplan where netplan's YAML renders for networkd (and the networkd
  # backend's own files, which would shadow netplan's, go); the netlink backend, with a
  # message, where it renders for NetworkManager; networkd without netplan YAML.
  detect() {  # ROOT [OPTION...]: ec2-netcfg apply without --backend (unless given)
    local root=$1 ns=det$RENDERS-$ID capture
    shift
    RENDERS=$((RENDERS + 1))
    capture=$(scenario two-enis-two-subnets)
    new_ns "$ns"
    ip -n "$ns" link add ens5 address 02:86:10:7b:e4:f5 type veth peer name p5
    ip -n "$ns" link add ens6 address 02:86:10:7b:e4:f6 type veth peer name p6
    ip netns exec "$ns" "$EC2NC_BIN" --root "$root" --metadata-file "$capture" "$@" apply > "$TMP/detect.out" 2>&1 \
      || fail "detect: ec2-netcfg $* apply failed: $(cat "$TMP/detect.out")"
    ip netns del "$ns"
  }
  root=$TMP/detect-netplan
  mkdir -p "$root/etc/netplan" "$root/run/systemd/network"
  cp "$EC2NC_SRC/tests/data/netplan/two-enis-two-subnets/50-cloud-init.yaml" "$root/etc/netplan/"
  chmod 600 "$root/etc/netplan/50-cloud-init.yaml"
  printf '[Match]\nMACAddress=02:86:10:7b:e4:f6\n' > "$root/run/systemd/network/05-ec2-netcfg-ens6.network"
  detect "$root"
  [ -f "$root/run/netplan/90-ec2-netcfg-ens6.yaml" ] && pass "default backend with cloud-init's netplan YAML: netplan" \
    || fail "default backend did not write netplan YAML: $(cat "$TMP/detect.out")"
  [ ! -e "$root/run/systemd/network/05-ec2-netcfg-ens6.network" ] \
    && pass "the networkd backend's own file of ens6 is gone (it would shadow netplan's)" \
    || fail "05-ec2-netcfg-ens6.network left beside the netplan backend's files"
  for opt in "" "--backend netplan"; do
    root=$TMP/detect-nm$RENDERS
    mkdir -p "$root/etc/netplan"
    printf 'network:\n  version: 2\n  renderer: NetworkManager\n' > "$root/etc/netplan/01-network-manager-all.yaml"
    chmod 600 "$root"/etc/netplan/*
    # shellcheck disable=SC2086
    detect "$root" $opt
    grep -q "netplan renders for NetworkManager here: ec2-netcfg uses the netlink backend" "$TMP/detect.out" \
      && pass "NetworkManager renders (${opt:-default}): says so, netlink backend" \
      || fail "NetworkManager (${opt:-default}): no message: $(cat "$TMP/detect.out")"
    [ -z "$(find "$root/run" -name '*.yaml' -o -name '*.network' 2>/dev/null)" ] \
      && pass "NetworkManager renders (${opt:-default}): no netplan or networkd files" || fail "files written for NetworkManager"
  done
  root=$TMP/detect-none
  mkdir -p "$root"
  detect "$root"
  if [ -x /lib/systemd/systemd-networkd ] || [ -x /usr/lib/systemd/systemd-networkd ]; then
    [ -f "$root/run/systemd/network/05-ec2-netcfg-ens6.network" ] && pass "no netplan YAML: the networkd backend" \
      || fail "no netplan YAML: not the networkd backend: $(cat "$TMP/detect.out")"
  fi
  finish
  exit 0
fi

SCENARIO=$1
MODE=${2:-policy}
setup_instance
require_networkd
use_netplan
command -v dnsmasq >/dev/null || skip "needs dnsmasq"
CAPTURE=$(scenario "$SCENARIO")
ENIS=$(enis_of "$CAPTURE")
vpc_for "$ENIS"

# ec2-netcfg renders into ROOT beside cloud-init's YAML (the links it reads are the test's).
ROOT=$TMP/root
mkdir -p "$ROOT/etc/netplan"
case $MODE in
  policy) cp "$EC2NC_SRC/tests/data/netplan/$SCENARIO/50-cloud-init.yaml" "$ROOT/etc/netplan/" ;;
  primary-only) cloud_init_yaml "$CAPTURE" "$ROOT/etc/netplan/50-cloud-init.yaml" --primary-only ;;
  none) ;;
  admin) cp "$EC2NC_SRC/tests/data/netplan/$SCENARIO/50-cloud-init.yaml" "$EC2NC_SRC/tests/data/netplan/admin/60-admin.yaml" \
            "$ROOT/etc/netplan/" ;;
  *) die "unknown mode $MODE" ;;
esac
chmod 600 "$ROOT"/etc/netplan/* 2>/dev/null || true
ip netns exec "$INST" "$EC2NC_BIN" --root "$ROOT" --backend netplan --metadata-file "$CAPTURE" apply \
  > "$TMP/apply.out" 2>&1 || { cat "$TMP/apply.out" >&2; die "ec2-netcfg --root apply failed"; }
[ ! -e "$ROOT/run/systemd/networkd.conf.d/ec2-netcfg.conf" ] || die "ec2-netcfg wrote a networkd.conf.d drop-in (the package installs it; runs never do)"

# The boot: netplan's generator (the wrapped one of the test) on those files, then networkd.
cp "$ROOT"/etc/netplan/*.yaml "$ND_DIR/etc-netplan/" 2>/dev/null || true
cp "$ROOT"/run/netplan/*.yaml "$ND_DIR/run-netplan/"
cp -r "$ROOT"/run/systemd/network/*.network.d "$ND_DIR/run-network/"
# The drop-in the package installs, read when networkd starts.
cp "$EC2NC_SRC/units/ec2-netcfg-networkd.conf" "$ND_DIR/networkd.conf.d/ec2-netcfg.conf"
start_networkd
grep -v '^$' "$ND_DIR/generate-boot.log" | sed 's/^/  generate: /' || true

apply_kernel_part netplan
wait_plan_state "$ENIS" "netplan's files and ec2-netcfg's drop-ins"

while read -r ifname rest; do
  got=$(networkd_network_file "$ifname")
  if [ "$got" = "/run/systemd/network/10-netplan-$ifname.network" ]; then pass "$ifname uses $got"
  else fail "$ifname: networkd applied '$got', not netplan's file"; fi
  grp=$(ip -n "$INST" -d link show "$ifname" 2>/dev/null | sed -n 's/.* group \([^ ]*\) .*/\1/p' | head -1)
  [ "$grp" = 10000 ] && pass "$ifname in link group 10000 (drop-in)" || fail "$ifname: link group '$grp'"
done <<< "$ENIS"
problems=$(networkd_log_problems)
if [ -z "$problems" ]; then pass "networkd logged no unknown key, parse error or failure"
else echo "$problems" >&2; fail "networkd complained (above)"; fi

check_plan_routing "$ENIS"

if [ "$MODE" = admin ]; then
  # The administrator's settings still apply to the ENI: MTU and route (DNS needs resolved).
  mtu=$(ip -n "$INST" -o link show ens6 2>/dev/null | sed -n 's/.* mtu \([0-9]*\) .*/\1/p')
  [ "$mtu" = 9001 ] && pass "admin's mtu: 9001 applies to ens6" || fail "ens6 mtu $mtu, not the admin's 9001"
  r=$(ip -n "$INST" route show 192.168.77.0/24)
  grep -q "via 10.0.1.1 dev ens6" <<< "$r" && pass "admin's route to 192.168.77.0/24 via ens6 is there" \
    || fail "admin's route missing: '$r'"
fi

stop_networkd
finish
