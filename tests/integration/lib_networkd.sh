# Real systemd-networkd for integration tests. Source after lib.sh.
#
# networkd runs inside the instance namespace $INST, in a private mount namespace
# with its own /run, its own system D-Bus and a read-only /sys (so it does not wait
# for udev), as on a booted instance (NETNS-TESTING.md in the shared notes). A holder
# process keeps that mount namespace alive; `nd CMD...` runs CMD inside it, so
# `nd networkctl reload` and `nd ec2-netcfg apply` see what networkd sees.
#
# The directories networkd reads are bind mounts of host directories under
# $ND_DIR, so a test fills them from outside:
#   $ND_DIR/run-network      -> /run/systemd/network
#   $ND_DIR/networkd.conf.d  -> /run/systemd/networkd.conf.d
#   $ND_DIR/etc-network      -> /etc/systemd/network (distribution files; empty by default)
# networkd logs to $ND_DIR/networkd.log. Its pid, dbus's and the holder's go to
# $TMP/*.pid, which lib.sh's cleanup kills.
# With ND_NETPLAN=GENERATOR (lib_netplan.sh's use_netplan) netplan's directories are bind mounts
# too ($ND_DIR/etc-netplan, run-netplan, lib-netplan), its generator is lib_netplan.sh's
# wrapper, and the generator runs before networkd starts, as netplan's systemd generator
# does at boot.

NETWORKD=/lib/systemd/systemd-networkd
ND_DIR=""
ND_HOLDER=""
ND_NETPLAN=""

require_networkd() {
  [ -x "$NETWORKD" ] || skip "needs systemd-networkd ($NETWORKD)"
  networkd_caps_missing
  command -v dbus-daemon >/dev/null || skip "needs dbus-daemon"
  command -v busctl >/dev/null || skip "needs busctl"
  command -v networkctl >/dev/null || skip "needs networkctl"
  command -v nsenter >/dev/null || skip "needs nsenter"
  command -v unshare >/dev/null || skip "needs unshare"
  id systemd-network >/dev/null 2>&1 || skip "needs the systemd-network user"
  ND_DIR=$TMP/nd
  mkdir -p "$ND_DIR/run-network" "$ND_DIR/networkd.conf.d" "$ND_DIR/etc-network"
}

# networkd_caps_missing: skips (one line) when this machine's capability bounding set lacks
# a capability that systemd-networkd.service grants networkd (its CapabilityBoundingSet=):
# networkd 257 needs CAP_BPF and CAP_SYS_ADMIN, which a container may not grant, and without
# them it never configures a link (the test would only wait out its deadlines).
networkd_caps_missing() {
  local unit="" d want have c missing=()
  for d in /etc/systemd/system /usr/lib/systemd/system /lib/systemd/system; do
    [ -f "$d/systemd-networkd.service" ] && { unit=$d/systemd-networkd.service; break; }
  done
  [ -n "$unit" ] || return 0
  want=$(sed -n 's/^CapabilityBoundingSet=//p' "$unit" | tail -1)
  [[ $want != "~"* ]] || return 0   # a deny list: nothing to compare
  command -v setpriv >/dev/null || skip "needs setpriv (util-linux) to check networkd's capabilities"
  have=,$(setpriv -d | sed -n 's/^Capability bounding set: //p'),
  for c in $want; do
    c=${c#CAP_}
    [[ $have == *,${c,,},* ]] || missing+=("CAP_$c")
  done
  [ ${#missing[@]} = 0 ] ||
    skip "systemd-networkd ($(networkctl --version 2>/dev/null | head -1)) needs ${missing[*]}, which this machine does not grant (a container without it?): networkd cannot run here"
}

# nd CMD...: run CMD in networkd's namespaces (network and mount).
nd() {
  [ -n "$ND_HOLDER" ] || die "nd: networkd is not running"
  nsenter -t "$ND_HOLDER" -m -n "$@"
}

# start_networkd: dbus + networkd in a private mount namespace of $INST, returns once
# org.freedesktop.network1 is on the bus (dies after 20 s).
start_networkd() {
  [ -n "$ND_DIR" ] || require_networkd
  [ -z "$ND_HOLDER" ] || die "start_networkd: already running"
  rm -f "$TMP/networkd.pid" "$TMP/dbus.pid" "$TMP/nd-holder.pid"
  # The holder: `ip netns exec` and `unshare` exec, so $! ends up being `sleep` in
  # the new mount namespace; the pid file says so only once the mounts are done.
  ip netns exec "$INST" unshare -m --propagation private sh -c '
    set -e
    nd=$1 tmp=$2 networkd=$3 netplan=$4
    mount -t tmpfs tmpfs /run
    mkdir -p /run/dbus /run/systemd/network /run/systemd/networkd.conf.d \
             /run/systemd/netif/links /run/systemd/netif/leases /run/systemd/netif/lldp
    mount --bind "$nd/run-network" /run/systemd/network
    mount --bind "$nd/networkd.conf.d" /run/systemd/networkd.conf.d
    mount --bind "$nd/etc-network" /etc/systemd/network
    if [ -n "$netplan" ]; then
      mkdir -p /run/netplan
      mount --bind "$nd/run-netplan" /run/netplan
      mount --bind "$nd/etc-netplan" /etc/netplan
      mount --bind "$nd/lib-netplan" /lib/netplan
      mount --bind "$nd/netplan-generate" "$netplan"
      /lib/netplan/generate > "$nd/generate-boot.log" 2>&1
    fi
    chown -R systemd-network:systemd-network /run/systemd/netif
    mount -o remount,ro /sys
    dbus-daemon --system --fork --print-pid > "$tmp/dbus.pid"
    SYSTEMD_LOG_TARGET=console SYSTEMD_LOG_LEVEL=${ND_LOG_LEVEL:-info} \
      "$networkd" > "$nd/networkd.log" 2>&1 &
    echo $! > "$tmp/networkd.pid"
    echo $$ > "$tmp/nd-holder.pid"
    exec sleep infinity' sh "$ND_DIR" "$TMP" "$NETWORKD" "$ND_NETPLAN" &
  ND_HOLDER=$!
  PIDS+=("$ND_HOLDER")
  local end=$((SECONDS + 20))
  until [ -s "$TMP/nd-holder.pid" ]; do
    kill -0 "$ND_HOLDER" 2>/dev/null || die "networkd's namespace holder exited (mount failed?)"
    [ $SECONDS -lt $end ] || die "networkd's namespace holder did not get ready"
    sleep 0.05
  done
  until nd busctl --system list 2>/dev/null | grep '^org\.freedesktop\.network1 ' >/dev/null; do
    if ! kill -0 "$(cat "$TMP/networkd.pid")" 2>/dev/null; then
      cat "$ND_DIR/networkd.log" >&2
      die "systemd-networkd exited"
    fi
    [ $SECONDS -lt $end ] || { cat "$ND_DIR/networkd.log" >&2; die "org.freedesktop.network1 not on the bus after 20 s"; }
    sleep 0.1
  done
}

# use_systemctl_shim: make networkd's namespace look booted by systemd (/run/systemd/system)
# and put a `systemctl` in place of the system's (a bind mount in networkd's mount
# namespace) that answers for this hand-started networkd what systemd answers for systemd-networkd.service: `show -p ActiveState -p
# ExecMainStartTimestampMonotonic` (what ec2-netcfg asks before `networkctl reload`), and,
# for the tests' own use as an administrator, `is-active` and `try-restart` (by its
# RestartKillSignal, SIGUSR2, then a new networkd in the same namespaces). Every call is
# logged to $ND_DIR/systemctl.log, so a test can tell that ec2-netcfg restarted nothing.
use_systemctl_shim() {
  mkdir -p "$ND_DIR/bin"
  cat > "$ND_DIR/bin/systemctl" <<SHIM
#!/bin/sh
# systemctl shim for tests (lib_networkd.sh): systemd-networkd.service only.
pidf=$TMP/networkd.pid
# Running: not gone and not a zombie (the first networkd's parent is the holder's sleep,
# which never reaps it).
alive() { [ -r /proc/\$1/stat ] && [ "\$(cut -d' ' -f3 /proc/\$1/stat)" != Z ]; }
echo "\$*" >> $ND_DIR/systemctl.log
case "\$*" in
  "is-active --quiet systemd-networkd.service") alive "\$(cat \$pidf)" ;;
  "show -p ActiveState -p ExecMainStartTimestampMonotonic systemd-networkd.service")
    pid=\$(cat \$pidf)
    if alive "\$pid"; then
      # Its start in clock ticks after boot, as microseconds of CLOCK_MONOTONIC (no suspend here).
      echo ActiveState=active
      echo ExecMainStartTimestampMonotonic=\$(( \$(cut -d' ' -f22 /proc/\$pid/stat) * 1000000 / \$(getconf CLK_TCK) ))
    else
      echo ActiveState=inactive
      echo ExecMainStartTimestampMonotonic=0
    fi ;;
  "try-restart systemd-networkd.service")
    pid=\$(cat \$pidf); alive "\$pid" || exit 0
    echo "systemctl shim: restart (SIGUSR2 to \$pid)" >> $ND_DIR/networkd.log
    kill -USR2 "\$pid"
    i=0; while alive "\$pid"; do i=\$((i+1)); [ \$i -lt 200 ] || exit 1; sleep 0.05; done
    SYSTEMD_LOG_TARGET=console SYSTEMD_LOG_LEVEL=\${ND_LOG_LEVEL:-info} setsid $NETWORKD >> $ND_DIR/networkd.log 2>&1 < /dev/null &
    echo \$! > \$pidf
    i=0; until busctl --system list 2>/dev/null | grep -q '^org\.freedesktop\.network1 '; do
      i=\$((i+1)); [ \$i -lt 200 ] || exit 1; sleep 0.05; done ;;
  *) echo "systemctl shim: unsupported: \$*" >&2; exit 1 ;;
esac
SHIM
  chmod +x "$ND_DIR/bin/systemctl"
  nd mkdir -p /run/systemd/system
  # ec2-netcfg runs programs from the system's directories only (never from $PATH): the
  # shim takes systemctl's place there, in networkd's mount namespace only.
  local real
  real=$(readlink -f "$(command -v systemctl)") || die "systemctl not found"
  nd mount --bind "$ND_DIR/bin/systemctl" "$real" || die "cannot bind the systemctl shim over $real"
}

# no_restart LABEL: ec2-netcfg asked systemd to (re)start nothing (the shim's log).
no_restart() {
  if grep -Eq "restart|start systemd-networkd|stop" "$ND_DIR/systemctl.log" 2>/dev/null; then
    fail "$1: ec2-netcfg asked systemctl: $(grep -E "restart|start systemd-networkd|stop" "$ND_DIR/systemctl.log" | sort -u | paste -sd ';')"
  else
    pass "$1: ec2-netcfg restarted nothing (systemctl asked only: $(sort -u "$ND_DIR/systemctl.log" 2>/dev/null | cut -d' ' -f1 | sort -u | paste -sd ' '))"
  fi
}

# ndsys CMD...: nd, where systemctl is the shim (use_systemctl_shim).
ndsys() { nd "$@"; }

# stop_networkd: networkd, dbus and the holder, in that order (they outlive the holder).
stop_networkd() {
  local f pid
  for f in networkd dbus nd-holder; do
    [ -f "$TMP/$f.pid" ] || continue
    pid=$(cat "$TMP/$f.pid")
    kill "$pid" 2>/dev/null || true
    local end=$((SECONDS + 5))
    while kill -0 "$pid" 2>/dev/null && [ $SECONDS -lt $end ]; do sleep 0.05; done
    rm -f "$TMP/$f.pid"
  done
  [ -z "$ND_HOLDER" ] || wait "$ND_HOLDER" 2>/dev/null || true
  ND_HOLDER=""
}

# networkd_log_problems: prints the log lines that mean a file or a setting was not
# taken as written (unknown keys, parse errors, links that failed); empty = none.
# "Could not set hostname" is the test's environment: no systemd-hostnamed on the
# private bus to take the primary's DHCP hostname. So is networkd 257's "Failed to get
# cgroup path, ignoring" where no cgroup2 hierarchy is mounted at /sys/fs/cgroup (a
# container on a host with hybrid cgroups): it concerns its sysctl monitor, not a file.
networkd_log_problems() {
  grep -Ei 'unknown (key|section)|failed to parse|ignoring|invalid|not supported|could not|failed' \
    "$ND_DIR/networkd.log" | grep -v -e '^Could not set hostname: ' -e '^Failed to get cgroup path, ignoring: ' || true
}

# networkd_setup_state IFNAME: networkctl's SETUP column (configured, configuring, failed...).
networkd_setup_state() {
  nd networkctl list --no-legend --no-pager 2>/dev/null | awk -v l="$1" '$2 == l { print $5 }'
}

# networkd_network_file IFNAME: the .network file networkd applied to IFNAME.
networkd_network_file() {
  nd networkctl status --no-pager "$1" 2>/dev/null | sed -n 's/^ *Network File: //p'
}
