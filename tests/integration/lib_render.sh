# Helpers for the render tests (a backend's files given to networkd at its start must
# reproduce the plan). Source after lib.sh and lib_networkd.sh.
#
# ENIS, one line per ENI of a scenario capture (tests/tools/enis_of.py), named ens5, ens6,
# ... in (network card, device number) order:
#   IFNAME MAC PRIMARY ROUTER4/LEN SUBNET4 V4,... ROUTER6/LEN SUBNET6 V6,... PREFIX4,... PREFIX6,... TABLE

# A version manager's python3 shim (pyenv) costs about a second a call; the checks below
# (and lib.sh's route_dev) call python3 hundreds of times.
if [ -x /usr/bin/python3 ]; then python3() { /usr/bin/python3 "$@"; }; fi

# enis_of CAPTURE: the ENIS lines of a capture.
enis_of() { python3 "$EC2NC_SRC/tests/tools/enis_of.py" "$1"; }

# host_in PREFIX OFFSET: the OFFSET-th address of PREFIX.
host_in() { python3 -c 'import ipaddress,sys; print(ipaddress.ip_network(sys.argv[1])[int(sys.argv[2])])' "$1" "$2"; }

# vpc_for ENIS: one router namespace per ENI, DHCP(v6) for each ENI's first addresses; and a
# container bridge's route in main (not an ENI), which must still win from every address.
vpc_for() {
  local n=0 ifname mac primary r4 s4 v4s r6 s6 v6s p4 p6 table first4 first6
  while read -r ifname mac primary r4 s4 v4s r6 s6 v6s p4 p6 table; do
    add_eni "$n" "$ifname" "$mac" "$([ "$r4" != - ] && echo "$r4")" "$([ "$r6" != - ] && echo "$r6")"
    first4=${v4s%%,*} first6=${v6s%%,*}
    [ "$first6" = - ] && first6=""
    [ "$first4" != - ] && start_dhcp "$n" "$mac" "$first4" "$first6"
    n=$((n + 1))
  done <<< "$1"
  ip -n "$INST" link add br-test type veth peer name br-peer
  ip -n "$INST" addr add 172.17.0.1/16 dev br-test
  ip -n "$INST" addr add fd17::1/64 dev br-test nodad
  ip -n "$INST" link set br-peer up
  ip -n "$INST" link set br-test up
  ip netns exec "$INST" sysctl -qw net.ipv6.conf.all.forwarding=1
}

# plan_state_reached ENIS: networkd calls every ENI configured, holds every address (not
# tentative) and its rule at the table's priority, an IPv6 default in each dual-stack
# ENI's table (from RAs), and the host-wide rule.
plan_state_reached() {
  local ifname mac primary r4 s4 v4s r6 s6 v6s p4 p6 table a rules
  rules=$(ip -n "$INST" rule; ip -n "$INST" -6 rule)
  while read -r ifname mac primary r4 s4 v4s r6 s6 v6s p4 p6 table; do
    [ "$(networkd_setup_state "$ifname")" = configured ] || return 1
    for a in ${v4s//,/ } ${v6s//,/ }; do
      [ "$a" = - ] && continue
      ip -n "$INST" -o addr show dev "$ifname" | grep -v tentative | grep " $a/" >/dev/null || return 1
      grep -q "^$table:	from $a lookup $table" <<< "$rules" || return 1
    done
    if [ "$r6" != - ]; then
      ip -n "$INST" -6 route show table "$table" default | grep via >/dev/null || return 1
    fi
  done <<< "$1"
  grep -q "^9999:	from all lookup main suppress_prefixlength 0 suppress_ifgroup 10000" <<< "$rules" || return 1
}

# apply_kernel_part BACKEND: the files say only what networkd does (DHCP, metrics, the
# tables' routes); addresses and rules are ec2-netcfg's over netlink. So, networkd running
# on the rendered files, ec2-netcfg applies the same capture in networkd's namespaces: its
# files come out identical (nothing is written, networkd is not reloaded) and the kernel
# gets the rest.
apply_kernel_part() {
  nd sh -c 'mkdir -p /run/ec2-netcfg' || true
  nd "$EC2NC_BIN" --backend "$1" --metadata-file "$CAPTURE" apply > "$TMP/apply-live.out" 2>&1 \
    || { cat "$TMP/apply-live.out" >&2; die "ec2-netcfg apply beside networkd failed"; }
  if grep -Eq "(create|update|remove) /run/systemd/network|networkctl reload" "$TMP/apply-live.out"; then
    fail "the live apply rewrote the rendered files or reloaded networkd: $(grep -E 'create|update|remove|reload' "$TMP/apply-live.out" | paste -sd ';')"
  else
    pass "the live apply found the rendered files as they should be (no file written, no reload)"
  fi
}

# wait_plan_state ENIS WHAT: plan_state_reached within 40 s, else everything networkd and
# the kernel say, and die.
wait_plan_state() {
  local end=$((SECONDS + 40))
  until plan_state_reached "$1"; do
    if [ $SECONDS -ge $end ]; then
      nd networkctl list --no-pager >&2 || true
      ip -n "$INST" addr >&2; ip -n "$INST" rule >&2; ip -n "$INST" -6 rule >&2
      ip -n "$INST" route show table all >&2
      cat "$ND_DIR/networkd.log" >&2
      die "networkd did not reach the desired state within 40 s"
    fi
    sleep 0.2
  done
  pass "every address, rule and route is there ($2 and ec2-netcfg's netlink changes)"
}

# check_plan_routing ENIS: the primary's default stays the system default; every address
# routes out of its own ENI to the internet, to every ENI's subnet and to another VPC
# subnet, a bridge route in main still wins, and traffic forwarded from a delegated
# prefix leaves through its ENI.
check_plan_routing() {
  local enis=$1 got main_default subnets4 subnets6 s a p
  local ifname mac primary r4 s4 v4s r6 s6 v6s p4 p6 table
  got=$(ip -n "$INST" -j route get 1.1.1.1 | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["dev"])')
  if [ "$got" = ens5 ]; then pass "system default (no source) leaves via the primary ens5"
  else fail "system default leaves via $got, not ens5"; fi
  main_default=$(ip -n "$INST" route show default | sed -n 1p)
  case "$main_default" in
    *"dev ens5 "*) pass "lowest-metric default in main is the primary's: $main_default" ;;
    *) fail "lowest-metric default in main is not ens5's: $main_default" ;;
  esac
  if [ -n "$(awk '$1 == "ens5" && $7 != "-"' <<< "$enis")" ]; then
    got=$(ip -n "$INST" -j -6 route get 2606:4700:4700::1111 | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["dev"])')
    if [ "$got" = ens5 ]; then pass "IPv6 system default leaves via the primary ens5"
    else fail "IPv6 system default leaves via $got, not ens5"; fi
  fi
  subnets4=$(awk '$5 != "-" { print $5 }' <<< "$enis" | sort -u)
  subnets6=$(awk '$8 != "-" { print $8 }' <<< "$enis" | sort -u)
  while read -r ifname mac primary r4 s4 v4s r6 s6 v6s p4 p6 table; do
    for a in ${v4s//,/ }; do
      [ "$a" = - ] && continue
      expect_route "$a" 1.1.1.1 "$ifname"
      for s in $subnets4; do expect_route "$a" "$(host_in "$s" 100)" "$ifname"; done
      expect_route "$a" 10.0.200.5 "$ifname"
      expect_route "$a" 172.17.0.5 br-test
    done
    for a in ${v6s//,/ }; do
      [ "$a" = - ] && continue
      expect_route "$a" 2606:4700:4700::1111 "$ifname"
      for s in $subnets6; do expect_route "$a" "$(host_in "$s" 100)" "$ifname"; done
      expect_route "$a" fd17::5 br-test
    done
    for p in ${p4//,/ }; do
      [ "$p" = - ] && continue
      expect_route "$(host_in "$p" 5)" 1.1.1.1 "$ifname" br-test
    done
    for p in ${p6//,/ }; do
      [ "$p" = - ] && continue
      expect_route "$(host_in "$p" 5)" 2606:4700:4700::1111 "$ifname" br-test
    done
  done <<< "$enis"
}
