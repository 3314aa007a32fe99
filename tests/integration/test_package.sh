#!/usr/bin/env bash
# The .deb as an image builder meets it: built from this tree (scripts/build-packages.sh),
# checked by lintian, installed with dpkg into a throwaway root of the Debian release this
# machine runs (12 or 13), removed and purged there. What is checked:
# - the build dependencies are complete: `apt-get build-dep -s` of the tree wants nothing
#   on this machine, which has only scripts/deps.txt (dpkg-buildpackage checks them too);
# - lintian: no error (the build script fails on one); every tag is printed;
# - install: every file in place where this release's systemd.pc and udev.pc say (the
#   build's EC2NC_*_DIR), the binary runs on a clean root of this release (its Depends are
#   enough), ec2-netcfg.service and ec2-netcfg-refresh.timer enabled, and nothing started:
#   the root pretends systemd runs (/run/systemd/system), so the maintainer scripts take
#   their "running system" branches, and a policy-rc.d records every start, stop and
#   restart that deb-systemd-invoke asks for (and refuses it);
# - reinstall (the upgrade path): only the timer is try-restarted, the boot service is not;
# - remove: the timer is stopped, nothing else; files the runs wrote under /run stay;
# - purge: what ec2-netcfg wrote at run time goes (state, networkd files, the drop-in, the
#   configuration file), others' files stay, `dpkg -S` knows none of the package's paths,
#   and the root's file list is what it was before the install;
# - where /dev/null cannot be opened (a root on a nodev mount), the package's own prerm
#   and postrm still do their part.
#
# The package is built once per source tree (keyed by its hash, in $EC2NC_BUILD/packages,
# or taken from dist/ when scripts/build-packages.sh built this very tree there); the root
# is lib_boot.sh's, debootstrap'ed once into /var/cache/ec2nc-boot (boot_root) and copied
# per run.
source "$(dirname "$0")/lib.sh"
: "${EC2NC_BUILD:?EC2NC_BUILD must point at the build directory (ctest sets it)}"

[ "$(id -u)" = 0 ] || skip "needs root (chroot, debootstrap)"
for c in dpkg-buildpackage dh lintian debootstrap chroot systemctl flock apt-get; do
  command -v "$c" >/dev/null || skip "needs $c (scripts/deps.txt lists the packages)"
done
T0=$SECONDS

# The root: lib_boot.sh's, of the release this machine runs (the package is built here and
# needs its libc), debootstrap'ed once into /var/cache/ec2nc-boot (boot_root) and copied
# per run. lib_boot.sh skips where no root can be built for this release.
source "$(dirname "$0")/lib_boot.sh"
RELEASE="Debian $(cat /etc/debian_version 2>/dev/null) ($BOOT_SUITE)"

ROOT=""
package_cleanup() {
  local rc=$?
  set +e
  if [ -n "$ROOT" ]; then unmount_under "$ROOT"; rm -rf --one-file-system "$ROOT"; fi
  return "$rc"
}
# lib_boot.sh's cleanup (a root build in progress, then lib.sh's, which removes $TMP) runs
# after ours.
trap 'package_cleanup; boot_cleanup' EXIT
trap 'exit 130' INT TERM

# 1. Build dependencies: nothing the tree's debian/control asks for is missing here.
if out=$(cd "$EC2NC_SRC" && apt-get build-dep -s -q ./ 2>&1); then
  missing=$(sed -n 's/^Inst \([^ ]*\).*/\1/p' <<< "$out" | tr '\n' ' ')
  [ -z "$missing" ] && pass "apt-get build-dep -s ./: nothing missing" || fail "build dependencies not installed by scripts/deps.txt: $missing"
else
  fail "apt-get build-dep -s ./ failed: $(tail -3 <<< "$out")"
fi

# 2. The package, built once per source tree; lintian (errors fail the build script).
hash=$(bash "$EC2NC_SRC/scripts/build-packages.sh" --print-hash)
PKGDIR=$EC2NC_BUILD/packages
if [ "$(cat "$EC2NC_SRC/dist/source.sha256" 2>/dev/null)" = "$hash" ] && ls "$EC2NC_SRC"/dist/ec2-netcfg_*.deb >/dev/null 2>&1; then
  PKGDIR=$EC2NC_SRC/dist
fi
t=$SECONDS
mkdir -p "$PKGDIR" "$TMP/pkg"
# Built, and what this test uses copied out, under the lock test_boot takes too.
flock "$PKGDIR.lock" sh -c 'bash "$1/scripts/build-packages.sh" --deb --nocheck "$2" &&
  cp "$2"/*.deb "$2"/lintian.txt "$3/"' sh "$EC2NC_SRC" "$PKGDIR" "$TMP/pkg" > "$TMP/build.log" 2>&1 ||
  { cat "$TMP/build.log" >&2; die "scripts/build-packages.sh --deb failed"; }
echo "package from $PKGDIR ($((SECONDS - t)) s):"
sed 's/^/  /' "$TMP/build.log"
DEB=$(ls "$TMP"/pkg/ec2-netcfg_*_*.deb | grep -v dbgsym | head -1)
[ -f "$DEB" ] || die "no .deb in $PKGDIR"
grep -q '^E:' "$TMP/pkg/lintian.txt" && fail "lintian errors" || pass "lintian: no errors ($(grep -c '^[WIPX]:' "$TMP/pkg/lintian.txt") other tags, $(grep -c '^O:' "$TMP/pkg/lintian.txt") overridden)"
echo "$(basename "$DEB"): $(stat -c %s "$DEB") bytes, Installed-Size $(dpkg-deb -f "$DEB" Installed-Size) KiB, Built-Using: $(dpkg-deb -f "$DEB" Built-Using)"
dpkg-deb -c "$DEB" | awk '{ printf "  %s %8s %s\n", $1, $3, $6 }'

# 3. A copy of the cached root, made to look like a running systemd host to the
#    maintainer scripts, with a policy-rc.d that logs and refuses every action.
boot_root
ROOT=$TMP/root
t=$SECONDS
cp -a --reflink=auto "$BOOT_ROOT" "$ROOT"
echo "root: copy of $BOOT_ROOT, $RELEASE ($((SECONDS - t)) s)"
# /proc, for systemd-tmpfiles in the postinst (package_cleanup unmounts it and the nodes).
mount -t proc proc "$ROOT/proc"
# Device nodes that open under a nodev /tmp too (lib_boot.sh, chroot_devices).
chroot_devices "$ROOT"
mkdir -p "$ROOT/run/systemd/system"
cat > "$ROOT/usr/sbin/policy-rc.d" <<'EOF'
#!/bin/sh
echo "$*" >> /policy-rc.d.log
exit 101
EOF
chmod 755 "$ROOT/usr/sbin/policy-rc.d"
: > "$ROOT/policy-rc.d.log"
# Someone else's files where ec2-netcfg writes: they must survive the purge.
mkdir -p "$ROOT/run/systemd/network" "$ROOT/etc/systemd/network"
echo "[Match]" > "$ROOT/run/systemd/network/10-netplan-ens5.network"
cp "$DEB" "$ROOT/tmp/"
in_root() { chroot "$ROOT" env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C "$@"; }
listing() {  # every path of the root with its type, minus what dpkg itself keeps and logs
  (cd "$ROOT" && find . -xdev \( -path ./proc -o -path ./sys -o -path ./dev -o -path ./tmp \) -prune -o -printf '%p %y\n') |
    grep -vE '^\./(var/lib/dpkg/(status|status-old|available|available-old|lock.*|triggers/.*|diversions-old|statoverride-old) |var/log/|var/cache/debconf/.*-old |policy-rc\.d\.log )' |
    LC_ALL=C sort
}
listing > "$TMP/before"
actions() { cat "$ROOT/policy-rc.d.log"; : > "$ROOT/policy-rc.d.log"; }

# 4. Install.
if in_root dpkg -i "/tmp/$(basename "$DEB")" > "$TMP/install.log" 2>&1; then
  pass "dpkg -i: maintainer scripts succeed in a root without a running systemd"
else
  cat "$TMP/install.log" >&2
  die "dpkg -i failed"
fi
grep -iE 'warning|error' "$TMP/install.log" && fail "dpkg -i printed warnings" || true
in_root dpkg -L ec2-netcfg | sort > "$TMP/paths"
while read -r f; do [ -d "$ROOT$f" ] || echo "$f"; done < "$TMP/paths" > "$TMP/files"  # not directories
# Where this release puts them: what pkg-config said to the build of this tree (the package
# build asks the same pkg-config).
cache_var() { sed -n "s/^$1:[A-Z]*=//p" "$EC2NC_BUILD/CMakeCache.txt"; }
UNITDIR=$(cache_var EC2NC_SYSTEMD_UNIT_DIR)
RULESDIR=$(cache_var EC2NC_UDEV_RULES_DIR)
NETWORKD_CONF_DIR=$(cache_var EC2NC_NETWORKD_CONF_DIR)
TMPFILES_DIR=$(cache_var EC2NC_TMPFILES_DIR)
[ -n "$UNITDIR" ] && [ -n "$RULESDIR" ] && [ -n "$NETWORKD_CONF_DIR" ] && [ -n "$TMPFILES_DIR" ] ||
  die "no EC2NC_*_DIR in $EC2NC_BUILD/CMakeCache.txt"
echo "expected: units in $UNITDIR, udev rule in $RULESDIR, networkd drop-in in $NETWORKD_CONF_DIR"
for f in /usr/sbin/ec2-netcfg "$UNITDIR/ec2-netcfg.service" "$UNITDIR/ec2-netcfg@.service" \
         "$UNITDIR/ec2-netcfg-refresh.service" "$UNITDIR/ec2-netcfg-refresh.timer" \
         "$RULESDIR/90-ec2-netcfg.rules" "$TMPFILES_DIR/ec2-netcfg.conf" \
         "$NETWORKD_CONF_DIR/ec2-netcfg.conf" /usr/share/man/man8/ec2-netcfg.8.gz \
         /usr/share/man/man5/ec2-netcfg.conf.5.gz /usr/share/doc/ec2-netcfg/examples/ec2-netcfg.conf; do
  if grep -qx "$f" "$TMP/files" && [ -f "$ROOT$f" ]; then pass "installed $f"; else fail "not installed: $f"; fi
done
[ ! -e "$ROOT/etc/ec2-netcfg" ] && pass "no configuration file installed (absent = defaults)" || fail "/etc/ec2-netcfg exists after install"
v=$(in_root /usr/sbin/ec2-netcfg --version 2>&1) && pass "runs on a clean $RELEASE: $v" || fail "ec2-netcfg --version in the root: $v"
enabled=$(systemctl --root="$ROOT" is-enabled ec2-netcfg.service ec2-netcfg-refresh.timer 2>&1 | tr '\n' ' ') || true  # its words, not a silent exit
[ "$enabled" = "enabled enabled " ] && pass "ec2-netcfg.service and ec2-netcfg-refresh.timer enabled" || fail "is-enabled says: $enabled"
[ -L "$ROOT/etc/systemd/system/timers.target.wants/ec2-netcfg-refresh.timer" ] && pass "timer wanted by timers.target" || fail "no timers.target.wants link"
a=$(actions)
[ -z "$a" ] && pass "install started nothing (no start, restart or stop asked of systemd)" || fail "install asked systemd for: $a"
[ -d "$ROOT/run/ec2-netcfg" ] && [ -d "$ROOT/run/systemd/network" ] &&
  pass "tmpfiles.d: /run/ec2-netcfg and /run/systemd/network created at install" || fail "tmpfiles.d snippet not applied at install"

# 5. Reinstall: the upgrade path of the maintainer scripts.
in_root dpkg -i "/tmp/$(basename "$DEB")" > "$TMP/reinstall.log" 2>&1 || { cat "$TMP/reinstall.log" >&2; die "reinstall failed"; }
a=$(actions | tr '\n' ';')
[ "$a" = "ec2-netcfg-refresh.timer try-restart;" ] && pass "upgrade: only the timer is try-restarted" || fail "upgrade asked systemd for: $a"

# What runs of ec2-netcfg and an image builder leave behind (so purge has something to do).
mkdir -p "$ROOT/run/ec2-netcfg" "$ROOT/run/systemd/networkd.conf.d" "$ROOT/etc/ec2-netcfg"
echo '{}' > "$ROOT/run/ec2-netcfg/state.json"
: > "$ROOT/run/ec2-netcfg/lock"
echo "[Match]" > "$ROOT/run/systemd/network/05-ec2-netcfg-ens5.network"
echo "[Match]" > "$ROOT/run/systemd/network/05-ec2-netcfg-ens6.network"
echo "[Network]" > "$ROOT/run/systemd/networkd.conf.d/ec2-netcfg.conf"  # what earlier builds wrote
printf '[main]\nignore = ens7\n' > "$ROOT/etc/ec2-netcfg/ec2-netcfg.conf"

# 6. Remove: the timer is stopped; the run-time files stay with the kernel state.
in_root dpkg --remove ec2-netcfg > "$TMP/remove.log" 2>&1 || { cat "$TMP/remove.log" >&2; die "dpkg --remove failed"; }
a=$(actions | tr '\n' ';')
[ "$a" = "ec2-netcfg-refresh.timer stop;" ] && pass "remove stops the timer, nothing else" || fail "remove asked systemd for: $a"
[ -f "$ROOT/run/ec2-netcfg/state.json" ] && [ -f "$ROOT/run/systemd/network/05-ec2-netcfg-ens5.network" ] &&
  pass "remove keeps the run-time files (they describe the kernel state that stays until reboot)" || fail "remove deleted run-time files"
[ ! -e "$ROOT/usr/sbin/ec2-netcfg" ] && pass "remove: binary gone" || fail "remove left the binary"

# 7. Purge: nothing of the package is left.
in_root dpkg --purge ec2-netcfg > "$TMP/purge.log" 2>&1 || { cat "$TMP/purge.log" >&2; die "dpkg --purge failed"; }
# e.g. "directory '/lib/udev/rules.d' not empty so not removed": a path the package ships
# through a /lib alias of merged /usr.
if grep -ih 'warning' "$TMP/remove.log" "$TMP/purge.log" >&2; then fail "dpkg --remove/--purge printed warnings"
else pass "remove and purge printed no warning"; fi
a=$(actions | tr '\n' ';')
[ -z "$a" ] && pass "purge asked systemd for nothing" || fail "purge asked systemd for: $a"
for f in /run/ec2-netcfg /run/systemd/network/05-ec2-netcfg-ens5.network /run/systemd/network/05-ec2-netcfg-ens6.network \
         /run/systemd/networkd.conf.d/ec2-netcfg.conf /etc/ec2-netcfg; do
  [ ! -e "$ROOT$f" ] && pass "purge removed $f" || fail "purge left $f"
done
[ -f "$ROOT/run/systemd/network/10-netplan-ens5.network" ] && pass "purge kept others' files in /run/systemd/network" || fail "purge removed a foreign file"
left=""
while read -r f; do
  if in_root dpkg -S "$f" >/dev/null 2>&1 || [ -e "$ROOT$f" ]; then left="$left $f"; fi
done < "$TMP/files"
[ -z "$left" ] && pass "none of the package's $(wc -l < "$TMP/files") files is left or known to dpkg -S" || fail "left after purge:$left"
in_root dpkg -s ec2-netcfg >/dev/null 2>&1 && fail "dpkg -s still knows ec2-netcfg" || pass "dpkg: ec2-netcfg not installed"
listing > "$TMP/after"
if diff -u "$TMP/before" "$TMP/after" > "$TMP/diff"; then
  pass "the root's file list after purge is the one before install"
else
  fail "the root changed between install and purge:"; sed 's/^/  /' "$TMP/diff" >&2
fi

# 8. The package's own maintainer scripts where /dev/null cannot be opened (a root copied to
#    a nodev mount without chroot_devices; here /dev/null is a directory, which fails every
#    redirection to it as a nodev mount does): prerm still stops the timer and postrm's purge
#    still removes what ec2-netcfg wrote. debhelper's own snippets redirect to /dev/null and
#    do nothing there (README.md, "Image builders", says so); they are not checked here.
chroot_devices_release "$ROOT"
rm -f "$ROOT/dev/null" && mkdir "$ROOT/dev/null"
in_root dpkg -i "/tmp/$(basename "$DEB")" > "$TMP/nodev-install.log" 2>&1 || { cat "$TMP/nodev-install.log" >&2; die "dpkg -i without /dev/null failed"; }
mkdir -p "$ROOT/run/ec2-netcfg" "$ROOT/etc/ec2-netcfg"
echo '{}' > "$ROOT/run/ec2-netcfg/state.json"
echo "[Match]" > "$ROOT/run/systemd/network/05-ec2-netcfg-ens5.network"
printf '[main]\nignore = ens7\n' > "$ROOT/etc/ec2-netcfg/ec2-netcfg.conf"
: > "$ROOT/policy-rc.d.log"
in_root dpkg --purge ec2-netcfg > "$TMP/nodev-purge.log" 2>&1 || { cat "$TMP/nodev-purge.log" >&2; die "dpkg --purge without /dev/null failed"; }
a=$(actions | tr '\n' ';')
[ "$a" = "ec2-netcfg-refresh.timer stop;" ] && pass "no /dev/null: remove still stops the timer" || fail "no /dev/null: remove asked systemd for: $a"
left=""
for f in /run/ec2-netcfg /run/systemd/network/05-ec2-netcfg-ens5.network /etc/ec2-netcfg; do
  [ ! -e "$ROOT$f" ] || left="$left $f"
done
[ -z "$left" ] && pass "no /dev/null: purge still removes what ec2-netcfg wrote" || fail "no /dev/null: purge left$left"

echo "test_package: $((SECONDS - T0)) s"
[ "$FAILURES" = 0 ] || die "$FAILURES check(s) failed"
