# shellcheck shell=bash
# Real boots for integration tests: systemd as PID 1 of a minimal Debian root of the
# release this machine runs (Debian 12 "bookworm", systemd 252; Debian 13 "trixie", systemd
# 257; EC2NC_BOOT_SUITE chooses another), booted with systemd-nspawn inside the test's
# instance namespace $INST (NETNS-TESTING.md, "Booting a real systemd as PID 1 in the test's
# namespaces"). Source after lib.sh.
#
#   boot_root               the cached root (debootstrap), built once per package list
#   boot_prepare NAME       a fresh copy $TMP/NAME/root with the product installed and enabled
#   boot_start NAME         boots it in the background; sets CPID (the container's PID 1)
#   cx CMD...               runs CMD in the container (all its namespaces), bounded
#   boot_wait_running SECS  `systemctl is-system-running --wait`, bounded; sets BOOT_STATE
#   boot_stop               powers the container off (SIGTERM to nspawn), bounded
#
# The emulated VPC around it is lib.sh's: a router namespace per ENI with dnsmasq. IMDS is
# where EC2 has it: boot_start_imds serves 169.254.169.254:80 on lo of the primary ENI's
# router namespace, so the instance reaches it only through the primary ENI and only once
# that ENI has its DHCP address.
#
# Everything started here is stopped in the EXIT trap (boot_cleanup, which then runs
# lib.sh's cleanup): the container (SIGTERM, then SIGKILL after a deadline), a root build
# in progress (its half-built directory is removed), nspawn's per-machine directories.

: "${EC2NC_BUILD:?EC2NC_BUILD must point at the build directory (ctest sets it)}"

# Boot-test namespaces carry their own prefix, so leftovers of a killed boot test (ctest
# kills with SIGKILL on timeout: no trap runs) can be recognised and swept (boot_sweep).
ID=e2nb$$
INST=inst-$ID

BOOT_CACHE=${EC2NC_BOOT_CACHE:-/var/cache/ec2nc-boot}
# The releases a root can be built for, oldest first.
BOOT_SUITES=(bookworm trixie)
# boot_suite_rank SUITE: its index in BOOT_SUITES, empty for another.
boot_suite_rank() {
  local i
  for i in "${!BOOT_SUITES[@]}"; do [ "${BOOT_SUITES[$i]}" != "$1" ] || { echo "$i"; return; }; done
}
HOST_SUITE=$(. /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-}") || HOST_SUITE=""
BOOT_SUITE=${EC2NC_BOOT_SUITE:-$HOST_SUITE}
[ -n "$(boot_suite_rank "$BOOT_SUITE")" ] || skip "boot roots are built for ${BOOT_SUITES[*]}; this machine is ${HOST_SUITE:-not Debian}: EC2NC_BOOT_SUITE chooses one"
# The binary and the .deb are built on this machine: they need its glibc, which an older
# release's root does not have.
if [ -n "$(boot_suite_rank "$HOST_SUITE")" ] && [ "$(boot_suite_rank "$BOOT_SUITE")" -lt "$(boot_suite_rank "$HOST_SUITE")" ]; then
  skip "a binary built on $HOST_SUITE does not run in a $BOOT_SUITE root (older glibc): boot the release it is built on"
fi
# The test variants that boot one more release (test_boot_trixie, test_boot_nm_trixie) say
# EC2NC_BOOT_EXTRA=1: on a machine of that release the plain variant boots it already.
if [ -n "${EC2NC_BOOT_EXTRA:-}" ] && [ "$BOOT_SUITE" = "$HOST_SUITE" ]; then
  skip "this machine runs $HOST_SUITE: the variant without _$BOOT_SUITE boots a $BOOT_SUITE root already"
fi
BOOT_VARIANT=minbase
case $BOOT_SUITE in
  bookworm) BOOT_PACKAGES=systemd,systemd-sysv,dbus,iproute2,libcurl4,libmnl0 ;;
  # Debian 13: libcurl4 became libcurl4t64 (64-bit time_t).
  trixie) BOOT_PACKAGES=systemd,systemd-sysv,dbus,iproute2,libmnl0,udev,libcurl4t64 ;;
esac
# EC2NC_BOOT_MANAGER=nm: NetworkManager manages every ENI (DHCP profiles "Wired connection
# N", as on RHEL-family images); systemd-networkd is installed but disabled.
BOOT_MANAGER=${EC2NC_BOOT_MANAGER:-networkd}
case $BOOT_MANAGER in
  networkd) ;;
  nm) BOOT_PACKAGES=$BOOT_PACKAGES,network-manager,libpam-systemd ;;
  *) die "EC2NC_BOOT_MANAGER=$BOOT_MANAGER: networkd (the default) or nm" ;;
esac
# Bump when the recipe in boot_build changes: the cache key is a hash of all of these.
BOOT_RECIPE=2
BOOT_ROOT=""
BOOT_BUILD_PID=""
BOOT_BUILD_TMP=""
NSPAWN_PID=""
CPID=""
BOOT_NAME=""
BOOT_COPY=""
BOOT_MACHINES=()
trap boot_cleanup EXIT

require_boot() {
  require_netns
  local c
  for c in debootstrap systemd-nspawn nsenter systemctl cmake flock dnsmasq python3 timeout findmnt; do
    command -v "$c" >/dev/null || skip "needs $c (scripts/deps.txt lists the packages)"
  done
  [ -x "$EC2NC_BIN" ] || die "no ec2-netcfg binary at $EC2NC_BIN"
  [ -f "$EC2NC_BUILD/cmake_install.cmake" ] || die "no cmake_install.cmake in $EC2NC_BUILD"
  boot_sweep
}

# boot_mirror: the Debian mirror this machine's apt uses (EC2NC_BOOT_MIRROR overrides).
boot_mirror() { bash "$EC2NC_SRC/scripts/debian-mirror.sh"; }

# unmount_under DIR: lazily unmount whatever is mounted at or below DIR, deepest first
# (debootstrap mounts proc and sys inside its target; a killed build can leave them).
unmount_under() {
  local d=$1 m
  findmnt -rn -o TARGET 2>/dev/null | awk -v d="$d" 'index($0, d) == 1' | sort -r | while read -r m; do
    umount -l "$m" 2>/dev/null || true
  done
}

# chroot_devices ROOT: binds this system's /dev/null, zero, full, random and urandom over
# ROOT's, for maintainer scripts run in it with chroot. A root copied to /tmp has device
# nodes that cannot be opened where /tmp is mounted nodev (a tmpfs /tmp: Debian 13's
# default, and systemd-nspawn's in a container), and every `deb-systemd-helper ... >/dev/null
# || true` of debhelper's snippets then fails silently: nothing enabled, nothing purged.
# unmount_under ROOT (or chroot_devices_release) takes them away.
CHROOT_DEVICES=(null zero full random urandom)
chroot_devices() {
  local n
  for n in "${CHROOT_DEVICES[@]}"; do
    [ -e "$1/dev/$n" ] || : > "$1/dev/$n"
    mount --bind "/dev/$n" "$1/dev/$n" || die "cannot bind /dev/$n into $1"
  done
}
chroot_devices_release() {
  local n
  for n in "${CHROOT_DEVICES[@]}"; do umount "$1/dev/$n" 2>/dev/null || true; done
}

# boot_root: sets BOOT_ROOT to the cached root for this recipe, building it if needed.
# Built under a lock (parallel tests wait for one build) into a temporary directory that is
# renamed into place only when complete, so a killed build never leaves a root that later
# runs would trust.
boot_root() {
  local key t0=$SECONDS
  key=$(printf '%s\n' "$BOOT_RECIPE" "$BOOT_SUITE" "$BOOT_VARIANT" "$BOOT_PACKAGES" | sha256sum | cut -c1-16)
  BOOT_ROOT=$BOOT_CACHE/root-$key
  if [ -f "$BOOT_ROOT/.ec2nc-complete" ]; then
    echo "boot root: $BOOT_ROOT (cached)"
    return
  fi
  mkdir -p "$BOOT_CACHE"
  exec 8>"$BOOT_CACHE/lock"
  flock -w 600 8 || die "could not lock $BOOT_CACHE/lock within 600 s"
  if [ ! -f "$BOOT_ROOT/.ec2nc-complete" ]; then
    boot_build "$key"
  fi
  flock -u 8
  exec 8>&-
  echo "boot root: $BOOT_ROOT (built in $((SECONDS - t0)) s)"
}

boot_build() {
  local key=$1 d mirror
  mirror=$(boot_mirror)
  # We hold the lock: anything half-built here is a killed build's.
  for d in "$BOOT_CACHE"/tmp-* "$BOOT_ROOT"; do
    [ -e "$d" ] || continue
    unmount_under "$d"
    rm -rf --one-file-system "$d"
  done
  BOOT_BUILD_TMP=$BOOT_CACHE/tmp-$key.$$
  echo "building the boot root with debootstrap from $mirror (about a minute)"
  # In the background, so that a signal to the test is handled at once (boot_cleanup), and
  # in a process group of its own, so that boot_cleanup stops all of it (debootstrap's
  # shell finishes its current dpkg step before it acts on a signal of its own).
  setsid debootstrap --variant="$BOOT_VARIANT" --include="$BOOT_PACKAGES" "$BOOT_SUITE" "$BOOT_BUILD_TMP" "$mirror" \
    > "$TMP/debootstrap.log" 2>&1 &
  BOOT_BUILD_PID=$!
  local rc=0
  wait "$BOOT_BUILD_PID" || rc=$?
  BOOT_BUILD_PID=""
  if [ "$rc" != 0 ]; then
    # Unreachable mirror (or no such suite there): one line says it, not a log tail.
    grep -qE "^E: (Failed getting release file|Couldn't download)" "$TMP/debootstrap.log" \
      && die "debootstrap cannot reach the mirror $mirror for $BOOT_SUITE ($(grep -m1 '^E: ' "$TMP/debootstrap.log" | cut -c4-); EC2NC_BOOT_MIRROR overrides it)"
    tail -20 "$TMP/debootstrap.log" >&2
    die "debootstrap failed (exit $rc; suite $BOOT_SUITE; mirror $mirror; EC2NC_BOOT_MIRROR overrides it)"
  fi
  if [ "$BOOT_MANAGER" = nm ]; then
    systemctl --root="$BOOT_BUILD_TMP" enable NetworkManager.service > "$TMP/root-enable.log" 2>&1 \
      || die "systemctl --root enable NetworkManager: $(cat "$TMP/root-enable.log")"
    systemctl --root="$BOOT_BUILD_TMP" disable systemd-networkd.service systemd-networkd.socket \
      >> "$TMP/root-enable.log" 2>&1 || true
    # Every Ethernet link gets a DHCP profile of its own ("Wired connection N").
    mkdir -p "$BOOT_BUILD_TMP/etc/NetworkManager/conf.d"
    printf '[main]\nno-auto-default=\n' > "$BOOT_BUILD_TMP/etc/NetworkManager/conf.d/90-every-ethernet.conf"
  else
    systemctl --root="$BOOT_BUILD_TMP" enable systemd-networkd.service > "$TMP/root-enable.log" 2>&1 \
      || die "systemctl --root enable systemd-networkd: $(cat "$TMP/root-enable.log")"
  fi
  # No terminal in the container: a getty there only spins.
  systemctl --root="$BOOT_BUILD_TMP" mask console-getty.service >> "$TMP/root-enable.log" 2>&1 \
    || die "systemctl --root mask console-getty: $(cat "$TMP/root-enable.log")"
  # The host's hostname means nothing inside. Nothing installs packages in a copy, and
  # documentation is not read there: half the size, so each boot's copy is quicker.
  echo ec2nc-boot > "$BOOT_BUILD_TMP/etc/hostname"
  rm -rf "$BOOT_BUILD_TMP"/var/cache/apt/archives/*.deb "$BOOT_BUILD_TMP"/var/cache/apt/*.bin \
    "$BOOT_BUILD_TMP"/var/lib/apt/lists/* "$BOOT_BUILD_TMP"/usr/share/doc/* "$BOOT_BUILD_TMP"/usr/share/man/* \
    "$BOOT_BUILD_TMP"/usr/share/locale/* "$BOOT_BUILD_TMP"/usr/share/info/*
  printf '%s\n' "suite=$BOOT_SUITE variant=$BOOT_VARIANT packages=$BOOT_PACKAGES recipe=$BOOT_RECIPE" \
    "mirror=$mirror built=$(date -u +%FT%TZ)" > "$BOOT_BUILD_TMP/.ec2nc-complete"
  unmount_under "$BOOT_BUILD_TMP"
  mv -T "$BOOT_BUILD_TMP" "$BOOT_ROOT"
  BOOT_BUILD_TMP=""
}

# boot_sweep: what a boot test killed without its trap left behind: namespaces whose
# owner (the PID in their name) is gone, with the processes in them, and nspawn's
# per-machine directories of such runs. Nothing of a running test is touched.
boot_sweep() {
  local ns pid
  for ns in $(ip netns list 2>/dev/null | awk '{ print $1 }'); do
    [[ $ns =~ ^(inst|rtr[0-9]+)-e2nb([0-9]+)[a-z]*$ ]] || continue
    pid=${BASH_REMATCH[2]}
    [ "$pid" != "$$" ] || continue
    kill -0 "$pid" 2>/dev/null && continue
    echo "sweeping $ns (left by boot test $pid, which is gone)"
    ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
    ip netns del "$ns" 2>/dev/null || true
  done
  for ns in /run/systemd/nspawn/propagate/ec2nc-e2nb*; do
    [ -e "$ns" ] || continue
    [[ $ns =~ ec2nc-e2nb([0-9]+) ]] || continue
    kill -0 "${BASH_REMATCH[1]}" 2>/dev/null || rm -rf --one-file-system "$ns"
  done
}

# boot_reset_vpc: stops every process and deletes every namespace of the previous
# scenario, so the next one starts from nothing (its names get a new suffix).
boot_reset_vpc() {
  local suffix=$1 pid ns
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  for ns in "${NAMESPACES[@]}"; do ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null || true; done
  for ns in "${NAMESPACES[@]}"; do ip netns del "$ns" 2>/dev/null || true; done
  PIDS=()
  NAMESPACES=()
  ID=e2nb$$$suffix
  INST=inst-$ID
}

# boot_package: sets BOOT_DEB to the .deb of this tree (scripts/build-packages.sh, built
# once per source tree into $EC2NC_BUILD/packages, shared with test_package under a lock),
# or leaves it empty where the Debian packaging tools are missing (then cmake --install).
boot_package() {
  BOOT_DEB=""
  [ "${EC2NC_BOOT_INSTALL:-deb}" = deb ] || return 0
  command -v dpkg-buildpackage >/dev/null && command -v dh >/dev/null || return 0
  local dir=$EC2NC_BUILD/packages
  mkdir -p "$dir"
  # Built and copied out under the lock, so a concurrent build (test_package) cannot
  # replace the file while it is taken.
  mkdir -p "$TMP/deb"
  flock "$dir.lock" sh -c 'bash "$1/scripts/build-packages.sh" --deb --nocheck "$2" &&
    cp $(ls "$2"/ec2-netcfg_*_*.deb | grep -v dbgsym | head -1) "$3/"' sh "$EC2NC_SRC" "$dir" "$TMP/deb" \
    > "$TMP/package-build.log" 2>&1 || { cat "$TMP/package-build.log" >&2; die "scripts/build-packages.sh --deb failed"; }
  BOOT_DEB=$(ls "$TMP"/deb/ec2-netcfg_*_*.deb 2>/dev/null | head -1)
  [ -f "$BOOT_DEB" ] || die "no .deb from $dir"
}

# boot_prepare NAME: $TMP/NAME/root, a copy of the cached root with the product installed
# (the .deb with dpkg when boot_package found one, else cmake --install), its units enabled, and an Amazon-Linux-style distribution
# file that matches every ENI with one route metric. Sets BOOT_COPY.
boot_prepare() {
  local name=$1 copy=$TMP/$1/root u bin unitdir
  BOOT_NAME=$name
  mkdir -p "$TMP/$name"
  cp -a "$BOOT_ROOT" "$copy"
  BOOT_COPY=$copy
  if [ -n "${BOOT_DEB:-}" ]; then
    # As an image builder installs it: the .deb with dpkg inside the root.
    cp "$BOOT_DEB" "$copy/tmp/"
    chroot_devices "$copy"
    chroot "$copy" dpkg -i "/tmp/$(basename "$BOOT_DEB")" > "$TMP/$name/install.log" 2>&1 \
      || { chroot_devices_release "$copy"; die "dpkg -i in the root: $(cat "$TMP/$name/install.log")"; }
    chroot_devices_release "$copy"
    rm -f "$copy/tmp/$(basename "$BOOT_DEB")"
    unitdir=/lib/systemd/system
    [ -d "$copy/usr/lib/systemd/system" ] && [ -f "$copy/usr/lib/systemd/system/ec2-netcfg.service" ] && unitdir=/usr/lib/systemd/system
  else
    DESTDIR=$copy cmake --install "$EC2NC_BUILD" --prefix /usr > "$TMP/$name/install.log" 2>&1 \
      || die "cmake --install into the root: $(cat "$TMP/$name/install.log")"
    unitdir=$(sed -n 's/^EC2NC_SYSTEMD_UNIT_DIR:[A-Z]*=//p' "$EC2NC_BUILD/CMakeCache.txt")
  fi
  for u in ec2-netcfg.service ec2-netcfg@.service ec2-netcfg-refresh.service ec2-netcfg-refresh.timer; do
    [ -f "$copy$unitdir/$u" ] || die "cmake --install put no $unitdir/$u into the root"
  done
  # Every program a unit runs must exist in the root (a unit configured for another prefix
  # than the binary was installed to fails at boot with 203/EXEC).
  for bin in $(sed -n 's/^Exec[A-Za-z]*=[-@:+!]*\([^ ]*\).*/\1/p' "$copy$unitdir"/ec2-netcfg*.service | sort -u); do
    [ -x "$copy$bin" ] || die "a unit runs $bin, which is not installed in the root (see $TMP/$name/install.log)"
  done
  systemctl --root="$copy" enable ec2-netcfg.service ec2-netcfg-refresh.timer > "$TMP/$name/enable.log" 2>&1 \
    || die "systemctl --root enable: $(cat "$TMP/$name/enable.log")"
  # What Amazon Linux ships (amazon-ec2-net-utils' 80-ec2.network), matched by name here:
  # a veth has no driver for Driver=ena to match.
  cat > "$copy/etc/systemd/network/80-ec2.network" <<'EOF'
[Match]
Name=ens*

[Network]
DHCP=yes

[DHCPv4]
RouteMetric=512
UseHostname=no

[DHCPv6]
UseHostname=no

[IPv6AcceptRA]
RouteMetric=512
EOF
}

# boot_start_imds CAPTURE: the IMDSv2 emulator on 169.254.169.254:80, on lo of the primary
# ENI's router namespace (rtr0-$ID). $TMP/imds.json is what it serves (lib.sh's set_imds).
boot_start_imds() {
  local rtr=rtr0-$ID
  cp "$1" "$TMP/imds.json"
  rm -f "$TMP/imds.port" "$TMP/imds.log"
  ip -n "$rtr" addr add 169.254.169.254/32 dev lo
  ip netns exec "$rtr" python3 "$EC2NC_SRC/tests/tools/imds_emulator.py" --capture "$TMP/imds.json" \
    --address 169.254.169.254 --port 80 --port-file "$TMP/imds.port" --log "$TMP/imds.log" \
    --max-seconds 900 &
  PIDS+=($!)
  local i
  for i in $(seq 100); do [ -f "$TMP/imds.port" ] && return; sleep 0.05; done
  die "IMDS emulator did not start on 169.254.169.254 in $rtr"
}

# boot_start: boots $BOOT_COPY in the instance namespace; returns once the container's
# PID 1 exists (CPID). The console goes to $TMP/NAME/console.log.
# SYSTEMD_NSPAWN_API_VFS_WRITABLE=network: /proc/sys/net writable, as on an instance (nspawn
# keeps it read-only for a namespace it did not create itself; ec2-netcfg and networkd write
# per-interface IPv6 settings there). /sys stays read-only.
boot_start() {
  local machine=ec2nc-$ID-$BOOT_NAME end
  BOOT_MACHINES+=("$machine")
  BOOT_T0=$EPOCHREALTIME
  SYSTEMD_NSPAWN_API_VFS_WRITABLE=network systemd-nspawn --quiet --register=no --keep-unit \
    --machine="$machine" -D "$BOOT_COPY" -b --console=read-only --capability=CAP_NET_ADMIN \
    --network-namespace-path="/run/netns/$INST" > "$TMP/$BOOT_NAME/console.log" 2>&1 &
  NSPAWN_PID=$!
  CPID=""
  end=$((SECONDS + 30))
  while [ -z "$CPID" ]; do
    kill -0 "$NSPAWN_PID" 2>/dev/null || { tail -20 "$TMP/$BOOT_NAME/console.log" >&2; die "systemd-nspawn exited"; }
    [ $SECONDS -lt $end ] || die "no systemd under systemd-nspawn ($NSPAWN_PID) after 30 s"
    local p
    for p in $(ps -o pid= --ppid "$NSPAWN_PID" 2>/dev/null); do
      [ "$(cat "/proc/$p/comm" 2>/dev/null)" = systemd ] && CPID=$p
    done
    [ -n "$CPID" ] || sleep 0.05
  done
}

# cx [-t SECS] CMD...: CMD inside the container, killed after SECS (default 30). Run in the
# background and waited for, so that a signal to the test is handled at once.
cx() {
  local secs=30
  if [ "$1" = -t ]; then secs=$2; shift 2; fi
  [ -n "$CPID" ] || { echo "cx: no container" >&2; return 1; }
  timeout -k 5 "$secs" nsenter -t "$CPID" -a "$@" &
  local p=$! rc=0
  wait "$p" || rc=$?
  return "$rc"
}

# boot_wait_running SECS: waits for the boot to finish; BOOT_STATE is what
# `systemctl is-system-running` said (running, degraded, starting...), BOOT_SECS how long
# the boot took from nspawn's start.
boot_wait_running() {
  local end=$((SECONDS + $1)) left st
  # Until PID 1 has set up its private socket, systemctl cannot connect at all (it prints
  # nothing, or "offline"); `--wait` would give up at once.
  while :; do
    st=$(cx -t 5 systemctl is-system-running 2>/dev/null) || true
    [ -n "$st" ] && [ "$st" != offline ] && break
    kill -0 "$NSPAWN_PID" 2>/dev/null || break
    [ $SECONDS -lt $end ] || break
    sleep 0.1
  done
  left=$((end - SECONDS))
  [ "$left" -gt 1 ] || left=1
  BOOT_STATE=$(cx -t "$left" systemctl is-system-running --wait 2>/dev/null) || true
  [ -n "$BOOT_STATE" ] || BOOT_STATE=$(cx systemctl is-system-running 2>/dev/null) || true
  BOOT_SECS=$(awk -v a="$EPOCHREALTIME" -v b="$BOOT_T0" 'BEGIN { printf "%.1f", a - b }')
}

# boot_stop: poweroff (SIGTERM to nspawn), SIGKILL after 30 s; then the copy is removed.
boot_stop() {
  [ -n "$NSPAWN_PID" ] || return 0
  kill -TERM "$NSPAWN_PID" 2>/dev/null || true
  local end=$((SECONDS + 30)) t0=$EPOCHREALTIME
  while kill -0 "$NSPAWN_PID" 2>/dev/null && [ $SECONDS -lt $end ]; do sleep 0.1; done
  awk -v a="$EPOCHREALTIME" -v b="$t0" 'BEGIN { printf "  poweroff took %.1f s\n", a - b }'
  if kill -0 "$NSPAWN_PID" 2>/dev/null; then
    echo "systemd-nspawn $NSPAWN_PID did not power off within 30 s: SIGKILL" >&2
    kill -KILL "$NSPAWN_PID" 2>/dev/null || true
    [ -z "$CPID" ] || kill -KILL "$CPID" 2>/dev/null || true
  fi
  wait "$NSPAWN_PID" 2>/dev/null || true
  NSPAWN_PID=""
  CPID=""
  local m
  for m in "${BOOT_MACHINES[@]}"; do rm -rf --one-file-system "/run/systemd/nspawn/propagate/$m" 2>/dev/null || true; done
  if [ -n "$BOOT_COPY" ]; then
    unmount_under "$BOOT_COPY"
    rm -rf --one-file-system "$BOOT_COPY"
    BOOT_COPY=""
  fi
}

boot_cleanup() {
  local rc=$?
  set +e
  boot_stop
  if [ -n "$BOOT_BUILD_PID" ]; then
    local pgid
    pgid=$(ps -o pgid= -p "$BOOT_BUILD_PID" 2>/dev/null | tr -d ' ')
    if [ "$pgid" = "$BOOT_BUILD_PID" ]; then kill -TERM -- "-$pgid" 2>/dev/null
    else kill -TERM "$BOOT_BUILD_PID" 2>/dev/null; fi
    wait "$BOOT_BUILD_PID" 2>/dev/null
  fi
  if [ -n "$BOOT_BUILD_TMP" ] && [ -e "$BOOT_BUILD_TMP" ]; then
    unmount_under "$BOOT_BUILD_TMP"
    rm -rf --one-file-system "$BOOT_BUILD_TMP"
  fi
  unmount_under "$TMP"
  (exit "$rc")
  cleanup
}

# boot_journal UNIT...: the container's journal of these units (monotonic time stamps).
boot_journal() {
  local args=() u
  for u in "$@"; do args+=(-u "$u"); done
  cx journalctl --no-pager -o short-monotonic "${args[@]}" 2>&1 || true
}

# unit_prop UNIT PROP: one property of a unit in the container.
unit_prop() { cx systemctl show -P "$2" "$1" 2>/dev/null || true; }

# nd_setup_state IFACE: networkd's setup state of IFACE (configured, configuring, ...).
nd_setup_state() {
  cx networkctl list --no-legend --no-pager 2>/dev/null | awk -v l="$1" '$2 == l { print $5 }' || true
}
# nd_network_file IFACE: the .network file networkd applies to IFACE.
nd_network_file() {
  cx networkctl status --no-pager "$1" 2>/dev/null | sed -n 's/^ *Network File: //p' || true
}
# nd_links_configured IFACE...: networkd says configured for each.
nd_links_configured() {
  local out l
  out=$(cx networkctl list --no-legend --no-pager 2>/dev/null) || return 1
  for l in "$@"; do [ "$(awk -v l="$l" '$2 == l { print $5 }' <<< "$out")" = configured ] || return 1; done
}
