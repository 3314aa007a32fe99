#!/usr/bin/env bash
# The systemd units, drop-ins and example configuration as installed: `cmake --install`
# into a scratch root, then checked offline (systemd is not PID 1 here; NETNS-TESTING.md):
# - `systemd-analyze verify --root` of every unit says nothing at all (an unknown key, a
#   bad dependency or an ExecStart= binary missing under the root would be printed);
# - `systemd-analyze security --offline=yes` exposure of every service stays at or below
#   5.0 (the scores are printed);
# - the networkd and tmpfiles drop-ins and the udev rule land where pkg-config says;
# - the example configuration lists every key `ec2-netcfg --help` lists, with its default,
#   and is accepted by ec2-netcfg both as shipped and with every key uncommented.
source "$(dirname "$0")/lib.sh"
: "${EC2NC_BUILD:?EC2NC_BUILD must point at the build directory (ctest sets it)}"

[ "$(id -u)" = 0 ] || skip "needs root (systemd-analyze verify reads the whole unit tree)"
command -v systemd-analyze >/dev/null || skip "needs systemd-analyze"
command -v cmake >/dev/null || skip "needs cmake (cmake --install)"

MAX_EXPOSURE=5.0
ROOT=$TMP/root

cache_var() {  # cache_var NAME: a variable from the build's CMakeCache.txt
  sed -n "s/^$1:[A-Z]*=//p" "$EC2NC_BUILD/CMakeCache.txt"
}

DESTDIR=$ROOT cmake --install "$EC2NC_BUILD" >"$TMP/install.log" 2>&1 || die "cmake --install failed: $(cat "$TMP/install.log")"
UNITDIR=$(cache_var EC2NC_SYSTEMD_UNIT_DIR)
RULESDIR=$(cache_var EC2NC_UDEV_RULES_DIR)
NETWORKD_CONF_DIR=$(cache_var EC2NC_NETWORKD_CONF_DIR)
TMPFILES_DIR=$(cache_var EC2NC_TMPFILES_DIR)
CONFIG_DIR=$(cache_var EC2NC_CONFIG_DIR)
PREFIX=$(cache_var CMAKE_INSTALL_PREFIX)
SBIN=$(cache_var CMAKE_INSTALL_SBINDIR)
case $SBIN in /*) ;; *) SBIN=$PREFIX/$SBIN ;; esac
[ -n "$UNITDIR" ] || die "EC2NC_SYSTEMD_UNIT_DIR not in $EC2NC_BUILD/CMakeCache.txt (units/ not configured?)"
BIN=$ROOT$SBIN/ec2-netcfg
[ -x "$BIN" ] || die "binary not installed at $BIN"

SERVICES=(ec2-netcfg.service ec2-netcfg@.service ec2-netcfg-refresh.service)
UNITS=("${SERVICES[@]}" ec2-netcfg-refresh.timer)
for u in "${UNITS[@]}"; do
  [ -f "$ROOT$UNITDIR/$u" ] && pass "installed $UNITDIR/$u" || fail "missing $UNITDIR/$u"
done
for f in "$RULESDIR/90-ec2-netcfg.rules" "$NETWORKD_CONF_DIR/ec2-netcfg.conf" \
         "$TMPFILES_DIR/ec2-netcfg.conf" "$CONFIG_DIR/ec2-netcfg.conf"; do
  [ -f "$ROOT$f" ] && pass "installed $f" || fail "missing $f"
done

# ExecStart=/ExecStop= name the installed binary and the documented commands.
grep -qx "ExecStart=$SBIN/ec2-netcfg apply" "$ROOT$UNITDIR/ec2-netcfg.service" \
  && pass "boot unit runs $SBIN/ec2-netcfg apply" || fail "boot unit ExecStart"
grep -qx "ExecStart=$SBIN/ec2-netcfg apply %i" "$ROOT$UNITDIR/ec2-netcfg@.service" \
  && grep -qx "ExecStop=$SBIN/ec2-netcfg remove %i" "$ROOT$UNITDIR/ec2-netcfg@.service" \
  && pass "per-interface unit runs apply %i / remove %i" || fail "per-interface unit Exec lines"
for u in ec2-netcfg.service ec2-netcfg@.service; do
  grep -qx "RestartPreventExitStatus=2" "$ROOT$UNITDIR/$u" && grep -qx "Restart=on-failure" "$ROOT$UNITDIR/$u" \
    && pass "$u: retries status 1, never 2" || fail "$u: restart policy"
done
if grep -q "@[A-Z_]*@" "$ROOT$UNITDIR"/ec2-netcfg*; then fail "unsubstituted @VAR@ in units"; else pass "units fully configured"; fi

# The networkd drop-in keeps networkd's hands off others' rules and routes.
for key in ManageForeignRoutingPolicyRules=no ManageForeignRoutes=no; do
  grep -qx "$key" "$ROOT$NETWORKD_CONF_DIR/ec2-netcfg.conf" && pass "networkd drop-in: $key" || fail "networkd drop-in lacks $key"
done

# tmpfiles.d: valid, and it creates the directories the sandbox needs to exist.
if out=$(systemd-tmpfiles --root="$ROOT" --create "$ROOT$TMPFILES_DIR/ec2-netcfg.conf" 2>&1) && [ -z "$out" ]; then
  pass "tmpfiles.d snippet applies cleanly"
else
  fail "systemd-tmpfiles: $out"
fi
for d in run/ec2-netcfg run/systemd/network run/netplan; do
  [ -d "$ROOT/$d" ] && pass "tmpfiles creates /$d" || fail "tmpfiles did not create /$d"
done

# systemd-analyze verify needs the standard units (sysinit.target...) under the root too,
# where this systemd looks for them: its systemd.pc's unit directory (Debian 12:
# /lib/systemd/system; Debian 13: /usr/lib/systemd/system, and 257 no longer looks in /lib).
HOST_UNITS=$(pkg-config --variable=systemdsystemunitdir systemd 2>/dev/null) || HOST_UNITS=""
if [ -z "$HOST_UNITS" ]; then
  HOST_UNITS=/lib/systemd/system
  [ ! -L /lib ] || HOST_UNITS=/usr/lib/systemd/system
fi
[ -f "$HOST_UNITS/sysinit.target" ] || die "no sysinit.target in $HOST_UNITS (this systemd's unit directory)"
mkdir -p "$ROOT$HOST_UNITS"
cp -rn "$HOST_UNITS/." "$ROOT$HOST_UNITS/"
for u in ec2-netcfg.service ec2-netcfg@ens5.service ec2-netcfg-refresh.service ec2-netcfg-refresh.timer; do
  rc=0
  out=$(systemd-analyze verify --root="$ROOT" "$u" 2>&1) || rc=$?
  if [ "$rc" = 0 ] && [ -z "$out" ]; then pass "systemd-analyze verify $u: clean"
  else fail "systemd-analyze verify $u (exit $rc): $out"; fi
done

# Exposure scores.
for u in "${SERVICES[@]}"; do
  out=$(systemd-analyze security --offline=yes --root="$ROOT" --no-pager "$ROOT$UNITDIR/$u" 2>&1) || true
  score=$(sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p' <<<"$out")
  if [ -z "$score" ]; then fail "systemd-analyze security $u: no score: $(tail -3 <<<"$out")"; continue; fi
  echo "exposure $u: $score"
  if awk -v s="$score" -v m="$MAX_EXPOSURE" 'BEGIN { exit !(s <= m) }'; then pass "$u exposure $score <= $MAX_EXPOSURE"
  else fail "$u exposure $score > $MAX_EXPOSURE"; fi
done

# The example configuration documents every key of `--help` with its default...
EXAMPLE=$ROOT$CONFIG_DIR/ec2-netcfg.conf
"$BIN" --help >"$TMP/help" || die "ec2-netcfg --help failed"
python3 - "$TMP/help" "$EXAMPLE" <<'PY' && pass "example config lists every key with its default" || fail "example config out of step with --help"
import re, sys
help_keys = re.findall(r"^  \[(\w+)\] ([\w-]+) \(default (.*)\)$", open(sys.argv[1]).read(), re.M)
assert help_keys, "no keys in --help"
section, found = None, {}
for line in open(sys.argv[2]):
    m = re.match(r"^\[(\w+)\]\s*$", line)
    if m:
        section = m.group(1)
        continue
    m = re.match(r"^#([\w-]+) = ?(.*)$", line.rstrip("\n"))
    if m:
        found[(section, m.group(1))] = m.group(2)
ok = True
for sec, key, default in help_keys:
    if (sec, key) not in found:
        print(f"missing [{sec}] {key}"); ok = False
    elif not default.startswith("(") and found[(sec, key)] != default:
        print(f"[{sec}] {key}: example says {found[(sec, key)]!r}, --help default {default!r}"); ok = False
extra = set(found) - {(s, k) for s, k, _ in help_keys}
if extra:
    print(f"keys --help does not know: {sorted(extra)}"); ok = False
sys.exit(0 if ok else 1)
PY
# ...and ec2-netcfg accepts it as shipped and with every key uncommented.
CAP=$(scenario two-enis-two-subnets)
sed -E 's/^#([a-z-]+ = )/\1/' "$EXAMPLE" >"$TMP/uncommented.conf"
for conf in "$EXAMPLE" "$TMP/uncommented.conf"; do
  rc=0
  "$BIN" --config "$conf" --metadata-file "$CAP" dump-metadata >/dev/null 2>"$TMP/err" || rc=$?
  [ "$rc" = 0 ] && pass "ec2-netcfg accepts $(basename "$conf")" || fail "ec2-netcfg rejects $conf (exit $rc): $(cat "$TMP/err")"
done

finish
