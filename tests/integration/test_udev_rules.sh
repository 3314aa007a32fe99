#!/usr/bin/env bash
# The udev rule (units/90-ec2-netcfg.rules): an ENI's `add` asks systemd for
# ec2-netcfg@IFACE.service, nothing else does.
#
# `udevadm test` simulates an event without acting on it, but it reads the rules from
# /etc, /run and /lib and writes udev's database under /run/udev: every run here happens in
# a private mount namespace with tmpfs over /run and the rules directories, so the host's
# rules and database are never touched. No EC2 driver exists on this machine (the host NIC
# is virtio_net, a veth has no driver at all), so the positive case uses a test copy of the
# rule whose driver list also names the host NIC's driver; the copy differs from the real
# file in that list only. The real file itself is parsed among the host's full rule set.
source "$(dirname "$0")/lib.sh"

[ "$(id -u)" = 0 ] || skip "needs root (mount namespaces)"
command -v udevadm >/dev/null || skip "needs udevadm (package udev)"
command -v unshare >/dev/null || skip "needs unshare (util-linux)"
require_netns

RULES=$EC2NC_SRC/units/90-ec2-netcfg.rules
NAME=$(basename "$RULES")
EC2_DRIVERS='ena|ixgbevf|vif'

# udev_sim NETNS|- ACTION DEVICE ISOLATION RULES...: `udevadm test` with RULES in
# /etc/udev/rules.d; ISOLATION "only" hides every other rule, "all" keeps the host's
# /lib/udev/rules.d. Properties land in $TMP/udev.out, the log in $TMP/udev.err.
udev_sim() {
  local ns=$1 action=$2 dev=$3 isolation=$4
  shift 4
  rm -rf "$TMP/stage" && mkdir "$TMP/stage" && cp "$@" "$TMP/stage/"
  local script='
    mount --make-rprivate /
    mount -t tmpfs tmpfs /run
    mkdir -p /run/udev
    mount -t tmpfs tmpfs /etc/udev/rules.d
    if [ "$ISOLATION" = only ]; then
      for d in /lib/udev/rules.d /usr/lib/udev/rules.d /usr/local/lib/udev/rules.d; do
        [ -d "$d" ] && mount -t tmpfs tmpfs "$d"
      done
    fi
    cp "$STAGE"/* /etc/udev/rules.d/
    exec udevadm test --action="$ACTION" "$DEV"'
  local cmd=(env STAGE="$TMP/stage" ISOLATION="$isolation" ACTION="$action" DEV="$dev" unshare -m sh -ec "$script")
  local rc=0
  if [ "$ns" = - ]; then "${cmd[@]}" >"$TMP/udev.out" 2>"$TMP/udev.err" || rc=$?
  else ip netns exec "$ns" "${cmd[@]}" >"$TMP/udev.out" 2>"$TMP/udev.err" || rc=$?; fi
  [ "$rc" = 0 ] || die "udevadm test $dev failed (exit $rc): $(tail -5 "$TMP/udev.err")"
  # systemd 252 prints the properties as KEY=VALUE lines; 257 indents them under a
  # "Properties:" heading (and lists tags again under "Tags:"): the KEY=VALUE lines, unindented.
  sed -n 's/^ *\([A-Z][A-Z0-9_]*=\)/\1/p' "$TMP/udev.out" > "$TMP/udev.props"
  mv "$TMP/udev.props" "$TMP/udev.out"
  grep -q "^DEVPATH=" "$TMP/udev.out" || die "udevadm test $dev printed no properties: $(tail -5 "$TMP/udev.err")"
}
wants() { sed -n 's/^SYSTEMD_WANTS=//p' "$TMP/udev.out"; }
expect_wants() {  # expect_wants DESC UNIT
  if wants | tr ' ' '\n' | grep -qx "$2"; then pass "$1: SYSTEMD_WANTS has $2"
  else fail "$1: SYSTEMD_WANTS='$(wants)', expected $2"; fi
  grep -q '^TAGS=.*:systemd:' "$TMP/udev.out" && pass "$1: tagged for systemd" || fail "$1: not tagged systemd"
}
expect_no_wants() {  # expect_no_wants DESC
  if wants | grep -q 'ec2-netcfg@'; then fail "$1: SYSTEMD_WANTS='$(wants)', expected no ec2-netcfg unit"
  else pass "$1: no ec2-netcfg unit wanted"; fi
}

# The real file: one driver list, numbered after 80-net-setup-link.rules (so $name is the
# final interface name), nothing long-running in RUN+=.
[ "$(grep -c 'DRIVERS==' "$RULES")" = 1 ] && grep -q "DRIVERS==\"$EC2_DRIVERS\"" "$RULES" \
  && pass "driver list ($EC2_DRIVERS) in one place" || fail "driver list is not exactly DRIVERS==\"$EC2_DRIVERS\" once"
if grep -q 'RUN' "$RULES"; then fail "$NAME uses RUN"; else pass "$NAME starts work through systemd only"; fi
[[ "$NAME" > "80-net-setup-link.rules" && "$NAME" < "99-systemd.rules" ]] \
  && pass "$NAME sorts after 80-net-setup-link.rules and before 99-systemd.rules" || fail "$NAME sorts wrongly"

# A namespace of our own with things that are not ENIs: a veth named and addressed like
# one, and a bridge.
NS=udev-$ID
new_ns "$NS"
ip -n "$NS" link add ens5 address 02:86:10:7b:e4:f5 type veth peer name gw5
HAVE_BRIDGE=0
ip -n "$NS" link add br-test type bridge 2>/dev/null && HAVE_BRIDGE=1

# The real file parses cleanly among the host's full rule set (run against the veth in our
# namespace, so whatever the other rules do stays there) and does not fire for a veth.
udev_sim "$NS" add /sys/class/net/ens5 all "$RULES"
grep -q "Reading rules file: /etc/udev/rules.d/$NAME" "$TMP/udev.err" && pass "udevadm read $NAME" || fail "udevadm did not read $NAME"
if grep -E "$NAME:[0-9]+" "$TMP/udev.err" >"$TMP/parse"; then fail "$NAME does not parse cleanly: $(cat "$TMP/parse")"
else pass "$NAME parses without a warning"; fi
expect_no_wants "veth ens5 (real rule, full rule set)"

# The positive case on the host NIC, with the test copy naming its driver.
HOSTNIC= HOSTDRV=
for n in /sys/class/net/*; do
  if [ -e "$n/device/driver" ]; then HOSTNIC=${n##*/}; HOSTDRV=$(basename "$(readlink -f "$n/device/driver")"); break; fi
done
if [ -z "$HOSTNIC" ]; then
  echo "note: no network interface with a device driver here: the positive case cannot be simulated"
else
  echo "host NIC $HOSTNIC, driver $HOSTDRV"
  sed "s/DRIVERS==\"$EC2_DRIVERS\"/DRIVERS==\"$EC2_DRIVERS|$HOSTDRV\"/" "$RULES" >"$TMP/$NAME"
  changed=$(diff "$RULES" "$TMP/$NAME" | grep -c '^>' || true)
  [ "$changed" = 1 ] && pass "test copy differs in the driver list only" || die "test copy: $changed lines changed"

  udev_sim - add "/sys/class/net/$HOSTNIC" only "$TMP/$NAME"
  expect_wants "add $HOSTNIC ($HOSTDRV in the list)" "ec2-netcfg@$HOSTNIC.service"

  # An image's own earlier rule opts the interface out.
  printf 'SUBSYSTEM=="net", ACTION=="add", ENV{EC2_NETCFG_IGNORE}="1"\n' >"$TMP/85-image-optout.rules"
  udev_sim - add "/sys/class/net/$HOSTNIC" only "$TMP/85-image-optout.rules" "$TMP/$NAME"
  grep -qx "EC2_NETCFG_IGNORE=1" "$TMP/udev.out" || fail "opt-out rule did not set EC2_NETCFG_IGNORE"
  expect_no_wants "add $HOSTNIC with EC2_NETCFG_IGNORE=1"

  # Only add: a change or move event starts nothing.
  for action in change move; do
    udev_sim - "$action" "/sys/class/net/$HOSTNIC" only "$TMP/$NAME"
    expect_no_wants "$action $HOSTNIC"
  done

  # The real list does not name the host's driver (unless this is an EC2 instance).
  udev_sim - add "/sys/class/net/$HOSTNIC" only "$RULES"
  if [[ "|$EC2_DRIVERS|" == *"|$HOSTDRV|"* ]]; then expect_wants "add $HOSTNIC (EC2 driver $HOSTDRV)" "ec2-netcfg@$HOSTNIC.service"
  else expect_no_wants "add $HOSTNIC ($HOSTDRV, real rule)"; fi

  # Not a veth or a bridge, even with the host's driver in the list.
  udev_sim "$NS" add /sys/class/net/ens5 only "$TMP/$NAME"
  expect_no_wants "veth ens5 (test copy)"
  if [ "$HAVE_BRIDGE" = 1 ]; then
    udev_sim "$NS" add /sys/class/net/br-test only "$TMP/$NAME"
    expect_no_wants "bridge br-test (test copy)"
  fi
fi
if [ "$HAVE_BRIDGE" = 1 ]; then
  udev_sim "$NS" add /sys/class/net/br-test only "$RULES"
  expect_no_wants "bridge br-test (real rule)"
else
  echo "note: cannot create a bridge here: bridge case not run"
fi

finish
