#!/usr/bin/env bash
# The .rpm (issue 25): rpmbuild -bb of rpm/ec2-netcfg.spec from this tree (as
# scripts/build-packages.sh --rpm does it; on Debian with --nodeps) must succeed, with
# every installed file packaged (rpmbuild fails on an unpackaged one), and the package
# must hold exactly the expected files and conflict with amazon-ec2-net-utils.
source "$(dirname "$0")/lib.sh"
command -v rpmbuild >/dev/null || skip "needs rpmbuild (package rpm, listed in scripts/deps.txt)"
command -v rpm >/dev/null || skip "needs rpm"

OUT=$TMP/out
bash "$EC2NC_SRC/scripts/build-packages.sh" --rpm --nocheck "$OUT" > "$TMP/build.log" 2>&1 \
  || { tail -40 "$TMP/build.log" >&2; die "scripts/build-packages.sh --rpm failed"; }
RPM=$(ls "$OUT"/ec2-netcfg-[0-9]*.rpm 2>/dev/null | grep -v debug | head -1)
[ -f "$RPM" ] && pass "rpmbuild -bb built $(basename "$RPM")" || die "no .rpm in $OUT: $(ls "$OUT")"

rpm -qpl "$RPM" 2>/dev/null | sort > "$TMP/files"
for f in /usr/sbin/ec2-netcfg \
         /usr/lib/systemd/system/ec2-netcfg.service /usr/lib/systemd/system/ec2-netcfg@.service \
         /usr/lib/systemd/system/ec2-netcfg-refresh.service /usr/lib/systemd/system/ec2-netcfg-refresh.timer \
         /usr/lib/systemd/system-preset/80-ec2-netcfg.preset /usr/lib/udev/rules.d/90-ec2-netcfg.rules \
         /usr/lib/tmpfiles.d/ec2-netcfg.conf /usr/lib/systemd/networkd.conf.d/ec2-netcfg.conf \
         /usr/lib/systemd/network/99-ec2-netcfg-dhcp.network \
         /usr/share/bash-completion/completions/ec2-netcfg /usr/lib/NetworkManager/dispatcher.d/90-ec2-netcfg; do
  grep -qx "$f" "$TMP/files" && pass "the rpm holds $f" || fail "the rpm lacks $f"
done
grep -q '^/usr/share/man/man8/ec2-netcfg.8' "$TMP/files" && pass "the rpm holds ec2-netcfg(8)" || fail "no ec2-netcfg(8)"
grep -q '^/usr/share/man/man5/ec2-netcfg.conf.5' "$TMP/files" && pass "the rpm holds ec2-netcfg.conf(5)" || fail "no ec2-netcfg.conf(5)"
# Nothing outside the usual places (a stray /usr/local or /lib path means a wrong prefix).
stray=$(grep -vE '^/usr/(sbin|lib/systemd|lib/udev|lib/tmpfiles.d|lib/.build-id|lib/NetworkManager/dispatcher.d|share/(man|doc|bash-completion))' "$TMP/files" || true)
[ -z "$stray" ] && pass "no file outside the distribution's directories" || fail "unexpected paths: $(paste -sd ' ' <<< "$stray")"
conflicts=$(rpm -qp --conflicts "$RPM" 2>/dev/null)
grep -q '^amazon-ec2-net-utils' <<< "$conflicts" && pass "the rpm conflicts with amazon-ec2-net-utils" \
  || fail "no conflict with amazon-ec2-net-utils: $conflicts"
finish
