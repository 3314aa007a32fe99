#!/usr/bin/env bash
# Builds the Debian package and the RPM from a tarball of this checkout into dist/:
#
#   scripts/build-packages.sh [--deb] [--rpm] [--no-lintian] [--nocheck] [OUTDIR]
#   scripts/build-packages.sh --print-hash
#
# (default: both packages, lintian on the .deb and .changes, OUTDIR dist/; --nocheck skips
# the unit tests in the package builds; --print-hash prints the source tree's hash). Needs the
# packages of scripts/deps.txt (devscripts, debhelper, lintian, rpm and the build
# dependencies); runs as any user (the builds need no root).
#
# The tarball holds the files git tracks plus untracked files that are not ignored, as
# they are in the working tree (so it builds what you see, committed or not). Its
# contents are hashed: OUTDIR/source.sha256 says which tree the packages were built
# from, and a second run on the same tree builds nothing (tests/integration/test_package.sh
# relies on that).
set -euo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
want_deb=0 want_rpm=0 lintian=1 nocheck=0 out="" print_hash=0
for a in "$@"; do
  case $a in
    --deb) want_deb=1 ;;
    --rpm) want_rpm=1 ;;
    --no-lintian) lintian=0 ;;
    --nocheck) nocheck=1 ;;
    --print-hash) print_hash=1 ;;
    -h|--help) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "unknown option $a" >&2; exit 2 ;;
    *) out=$a ;;
  esac
done
[ "$want_deb$want_rpm" != 00 ] || { want_deb=1 want_rpm=1; }
out=${out:-$SRC/dist}

NAME=ec2-netcfg
VERSION=$(sed -n 's/^project(ec2-netcfg VERSION \([0-9.]*\).*/\1/p' "$SRC/CMakeLists.txt")
[ -n "$VERSION" ] || { echo "no project VERSION in CMakeLists.txt" >&2; exit 1; }
# One version, three places: CMakeLists.txt says it, debian/changelog and the spec repeat it.
# (Read without dpkg-parsechangelog, so that the script also runs on an RPM distribution.)
deb_version=$(sed -n '1s/^[^ ]* (\([^)]*\)).*/\1/p' "$SRC/debian/changelog")
# The tarball's file times: the changelog entry's date (deterministic, as SOURCE_DATE_EPOCH is).
epoch=$(date -d "$(sed -n 's/^ -- .*>  //p' "$SRC/debian/changelog" | head -1)" +%s)
rpm_version=$(sed -n 's/^Version:[[:space:]]*//p' "$SRC/rpm/$NAME.spec")
[ "$deb_version" = "$VERSION" ] || { echo "debian/changelog says $deb_version, CMakeLists.txt $VERSION" >&2; exit 1; }
[ "$rpm_version" = "$VERSION" ] || { echo "rpm/$NAME.spec says $rpm_version, CMakeLists.txt $VERSION" >&2; exit 1; }

# The tree: an uncompressed tar that depends only on file names, contents and modes.
files() {
  cd "$SRC"
  if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    # (dist/ is ignored by .gitignore; left out here too, for checkouts that predate that)
    git ls-files -z --cached --others --exclude-standard | while IFS= read -r -d '' f; do
      case $f in dist/*) continue ;; esac
      if [ -e "$f" ] || [ -L "$f" ]; then printf '%s\0' "$f"; fi
    done
  else
    find . \( -path ./dist -o -path './build*' -o -path ./.git \) -prune -o \( -type f -o -type l \) -print0 |
      sed -z 's|^\./||'
  fi
}
work=$(mktemp -d "${TMPDIR:-/tmp}/ec2nc-pkg.XXXXXX")
trap 'rm -rf "$work"' EXIT
files | LC_ALL=C sort -z > "$work/files"
tar -C "$SRC" --null -T "$work/files" --transform "s|^|$NAME-$VERSION/|" --sort=name \
  --mtime=@"$epoch" --owner=0 --group=0 --numeric-owner --mode=u+w,go-w -cf "$work/$NAME-$VERSION.tar"
hash=$(sha256sum < "$work/$NAME-$VERSION.tar" | cut -c1-64)
if [ "$print_hash" = 1 ]; then echo "$hash"; exit 0; fi
mkdir -p "$out"
out=$(cd "$out" && pwd)
echo "source tree $hash ($(tr -cd '\0' < "$work/files" | wc -c) files, version $VERSION)"
if [ "$(cat "$out/source.sha256" 2>/dev/null)" != "$hash" ]; then
  rm -f "$out"/*.deb "$out"/*.rpm "$out"/*.changes "$out"/*.buildinfo "$out"/*.log "$out/source.sha256" \
        "$out"/lintian.txt "$out"/lintian.done
fi
gzip -n -9 < "$work/$NAME-$VERSION.tar" > "$work/$NAME-$VERSION.tar.gz"
cp "$work/$NAME-$VERSION.tar.gz" "$out/"

if [ "$want_deb" = 1 ]; then
  if ls "$out"/${NAME}_"$VERSION"_*.deb >/dev/null 2>&1; then
    echo "deb: $(ls "$out"/${NAME}_"$VERSION"_*.deb) (built from this tree already)"
  else
    t0=$SECONDS
    mkdir "$work/deb"
    tar -C "$work/deb" -xzf "$work/$NAME-$VERSION.tar.gz"
    opts="parallel=$(nproc)"
    [ "$nocheck" = 0 ] || opts="$opts nocheck"
    echo "building the .deb (dpkg-buildpackage -us -uc -b; DEB_BUILD_OPTIONS=$opts)"
    ( cd "$work/deb/$NAME-$VERSION" && DEB_BUILD_OPTIONS="$opts" dpkg-buildpackage -us -uc -b ) \
      > "$work/deb/build.log" 2>&1 || { tail -40 "$work/deb/build.log" >&2; echo "dpkg-buildpackage failed" >&2; exit 1; }
    grep -E '^Built-Using:' "$work/deb/build.log" || true
    cp "$work/deb"/*.deb "$work/deb"/*.changes "$work/deb"/*.buildinfo "$work/deb/build.log" "$out/"
    mv "$out/build.log" "$out/deb-build.log"
    echo "deb: built in $((SECONDS - t0)) s"
  fi
  if [ "$lintian" = 1 ] && [ ! -f "$out/lintian.done" ]; then
    # Errors fail; every other tag, info and pedantic ones too, is printed, overridden ones
    # as such ("O:", each explained in debian/ec2-netcfg.lintian-overrides).
    # (lintian 2.116 counts overridden errors as failures when --show-overrides is given:
    # the verdict is the E: lines, which an override turns into O: lines.)
    lintian --display-info --pedantic --show-overrides "$out"/${NAME}_"$VERSION"_*.changes \
      > "$work/lintian.txt" 2>&1 || true
    grep -v '^running with root privileges' "$work/lintian.txt" > "$out/lintian.txt" || true
    if grep -q '^E:' "$out/lintian.txt"; then cat "$out/lintian.txt" >&2; echo "lintian found errors" >&2; exit 1; fi
    touch "$out/lintian.done"
  fi
  [ "$lintian" = 0 ] || { echo "lintian:"; sed 's/^/  /' "$out/lintian.txt"; [ -s "$out/lintian.txt" ] || echo "  (nothing)"; }
fi

if [ "$want_rpm" = 1 ]; then
  if ls "$out"/$NAME-"$VERSION"-*.rpm >/dev/null 2>&1; then
    echo "rpm: $(ls "$out"/$NAME-"$VERSION"-*.rpm) (built from this tree already)"
  else
    t0=$SECONDS
    # Debian's rpm database is empty: the build dependencies are dpkg's (--nodeps).
    nodeps=""
    [ -f /etc/debian_version ] && nodeps=--nodeps
    nocheck_opt=""
    [ "$nocheck" = 0 ] || nocheck_opt=--nocheck
    echo "building the .rpm (rpmbuild -bb $nodeps $nocheck_opt)"
    rpmbuild -bb $nodeps $nocheck_opt --define "_topdir $work/rpm" --define "_sourcedir $work" \
      --define "_rpmdir $work/rpm/out" --define "_build_name_fmt %%{NAME}-%%{VERSION}-%%{RELEASE}.%%{ARCH}.rpm" \
      "$SRC/rpm/$NAME.spec" > "$work/rpm.log" 2>&1 || { tail -40 "$work/rpm.log" >&2; echo "rpmbuild failed" >&2; exit 1; }
    cp "$work/rpm/out"/*.rpm "$out/"
    cp "$work/rpm.log" "$out/rpm-build.log"
    echo "rpm: built in $((SECONDS - t0)) s"
  fi
fi
echo "$hash" > "$out/source.sha256"
echo "in $out:"
ls -l "$out" | sed 1d | sed 's/^/  /'
