#!/bin/sh
# debian/built-using.sh BUILDDIR: the value of Built-Using for ec2-netcfg (Debian Policy 7.8):
# "SOURCE (= VERSION)" for every source package one of whose static archives the linker
# put into the binary, comma-separated, sorted; empty when there is none.
#
# BUILDDIR/ec2-netcfg.map is the GNU ld map of the executable (CMake option EC2NC_LINK_MAP). Its "Archive
# member included" section names each archive member the link actually used, whatever
# form the build asked for it in (a path, -l:libfoo.a, -Wl,-Bstatic -lfoo, pkg-config
# --static), so whatever is linked statically (libinih and libyaml today; libcurl, libmnl
# and their own static dependencies with EC2NC_STATIC_DEPS) is listed without a change here.
#
# A library built in the build tree from a Debian source package (an archive under
# BUILDDIR) is listed by the build that makes it: one "SOURCE (= VERSION)" line in
# BUILDDIR/built-using.extra; its archive is not looked up here.
#
# Left out: the project's own archives (relative paths, in the build tree) and the
# toolchain's runtime archives (libstdc++.a, libgcc.a, libgcc_eh.a from gcc-N;
# libc_nonshared.a from glibc), which the compiler links into programs under the GCC
# Runtime Library Exception and glibc's LGPL exception; Debian records them nowhere.
# An archive no installed package owns (say, under /usr/local) fails the build: it
# could not be recorded.
set -eu
builddir=$(realpath -e "${1:?usage: built-using.sh BUILDDIR}")
map=$builddir/ec2-netcfg.map
[ -s "$map" ] || { echo "built-using.sh: no linker map at $map (configure with -DEC2NC_LINK_MAP=ON)" >&2; exit 1; }
TOOLCHAIN='^(gcc-[0-9.]+|glibc)$'

archives=$(sed -n 's|^\(/[^ (]*\.a\)(.*|\1|p' "$map" | sort -u)
out=""
for a in $archives; do
  real=$(realpath -e "$a" 2>/dev/null || echo "$a")
  case $real in "$builddir"/*) continue ;; esac
  pkg=""
  # dpkg knows a file by the path its package ships it at: try the path as linked, the
  # resolved one, and the other side of the /usr merge.
  for p in "$a" "$real" "${real#/usr}" "/usr$real"; do
    pkg=$(dpkg-query -S "$p" 2>/dev/null | sed -n '1s/: .*//p' | cut -d, -f1 | sed 's/ //g') || true
    [ -n "$pkg" ] && break
  done
  [ -n "$pkg" ] || { echo "built-using.sh: $a is linked in but belongs to no package" >&2; exit 1; }
  src=$(dpkg-query -W -f '${source:Package} (= ${source:Version})' "$pkg")
  if echo "${src%% *}" | grep -Eq "$TOOLCHAIN"; then continue; fi
  out="$out$src
"
done
[ -f "$builddir/built-using.extra" ] && out="$out$(grep -v '^#' "$builddir/built-using.extra")
"
# The static libraries the build made from Debian's source packages (scripts/build-deps.sh:
# curl, libmnl), as CMake recorded them; toolchain entries left out as above.
[ -f "$builddir/built-using.txt" ] && out="$out$(grep -v '^#' "$builddir/built-using.txt" | grep -Ev "^(gcc-[0-9.]+|glibc) ")
"
printf '%s' "$out" | grep . | sort -u | paste -sd, - | sed 's/,/, /g'
