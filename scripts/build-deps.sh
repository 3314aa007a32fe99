#!/usr/bin/env bash
# Builds the static libraries the default build links into ec2-netcfg: libcurl with HTTP
# only, and libmnl, both from Debian's own source packages (Debian's patches applied),
# fetched with `apt-get source` through a private apt configuration: its own sources
# list (deb-src lines for the suites and mirror this system's apt already uses), lists,
# caches and state under OUT_DIR, so the user's apt configuration and state are not
# touched. CMake runs this at configure time (EC2NC_SYSTEM_LIBS=OFF, the default).
#
#   scripts/build-deps.sh OUT_DIR
#
# Writes OUT_DIR/deps.cmake, which sets for each package PKG (CURL, MNL):
#   EC2NC_DEP_PKG_PREFIX   the directory with include/ and lib/ (unset: not built)
#   EC2NC_DEP_PKG_SOURCE   "SOURCE-PACKAGE (= VERSION)", for Built-Using
#   EC2NC_DEP_PKG_PROBLEM  why it was not built (the caller falls back to the system's
#                          shared library, or fails with EC2NC_STATIC_STRICT)
#
# Cached: the built libraries live in CACHE/SOURCE_VERSION-CONFIG/ (CACHE is
# $EC2NC_DEPS_CACHE, default OUT_DIR/cache; CONFIG a hash of this script, so a change of
# the build options rebuilds). A run whose deps.cmake still matches this script and
# built everything returns at once without the network (one that could not build a
# package tries again); delete OUT_DIR (or set EC2NC_DEPS_REFRESH=1) to look for newer
# source versions. EC2NC_DEPS_SOURCES=DIR takes PKG_*.dsc (and its tarballs) from
# DIR instead of downloading them (offline builds). EC2NC_DEPS_JOBS: make -j (default:
# the cores, at most 4).
set -euo pipefail

OUT=${1:?usage: build-deps.sh OUT_DIR}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
SELF=$(readlink -f "$0")
CONFIG=$(sha256sum "$SELF" | cut -c1-12)
CACHE=${EC2NC_DEPS_CACHE:-$OUT/cache}
JOBS=${EC2NC_DEPS_JOBS:-$(n=$(nproc 2>/dev/null || echo 2); [ "$n" -gt 4 ] && n=4; echo "$n")}
export LC_ALL=C

log() { echo "build-deps: $*" >&2; }

# One run at a time per OUT_DIR (parallel configures of one build tree).
exec 9>"$OUT/.lock"
flock 9

# Done before with these options, and nothing left to retry (a package that could not be
# built is tried again at the next configure).
if [ -z "${EC2NC_DEPS_REFRESH:-}" ] && [ -f "$OUT/deps.cmake" ] &&
   grep -qx "# config $CONFIG" "$OUT/deps.cmake" && ! grep -q "_PROBLEM " "$OUT/deps.cmake"; then
  ok=1
  while read -r dir; do [ -f "$dir/.built" ] || ok=; done < <(sed -n 's/^set(EC2NC_DEP_[A-Z]*_PREFIX "\(.*\)")$/\1/p' "$OUT/deps.cmake")
  [ -n "$ok" ] && exit 0
fi

# --- the private apt configuration -------------------------------------------------
APT=$OUT/apt
mkdir -p "$APT/etc/sources.list.d" "$APT/etc/preferences.d" "$APT/state/lists/partial" \
         "$APT/cache/archives/partial"
APT_OPTS=(-o "Dir::Etc=$APT/etc" -o "Dir::Etc::SourceList=$APT/etc/sources.list"
          -o "Dir::Etc::SourceParts=$APT/etc/sources.list.d"
          -o "Dir::Etc::Trusted=/etc/apt/trusted.gpg" -o "Dir::Etc::TrustedParts=/etc/apt/trusted.gpg.d"
          -o "Dir::State=$APT/state" -o "Dir::State::Lists=$APT/state/lists"
          -o "Dir::State::status=/var/lib/dpkg/status"
          -o "Dir::Cache=$APT/cache" -o "Dir::Cache::archives=$APT/cache/archives"
          -o "APT::Get::List-Cleanup=false" -o "Acquire::Languages=none"
          -o "Acquire::http::Timeout=20" -o "Acquire::Retries=1" -q=2)
# apt downloads as _apt when run as root: let it write where it downloads.
as_apt_writable() { if [ "$(id -u)" = 0 ] && id _apt >/dev/null 2>&1; then chown -R _apt:root "$@"; fi; }

# deb-src entries for the Debian suites this system installs from (deb822 stanzas of
# /etc/apt/sources.list.d/debian.sources, one-line entries of /etc/apt/sources.list),
# else deb.debian.org for this release.
write_sources() {
  local list=$APT/etc/sources.list.d/debian-src.sources
  : > "$APT/etc/sources.list"
  : > "$list"
  if [ -f /etc/apt/sources.list.d/debian.sources ]; then
    awk '
      function flush() {
        if (types ~ /(^| )deb( |$)/ && enabled != "no" && uris != "" && suites != "") {
          print "Types: deb-src"; print "URIs: " uris; print "Suites: " suites
          print "Components: " (comps == "" ? "main" : comps)
          if (signed != "") print "Signed-By: " signed
          print ""
        }
        types = uris = suites = comps = signed = enabled = ""
      }
      /^[ \t]*#/ { next }
      /^[ \t]*$/ { flush(); next }
      { key = tolower($1); sub(/^[^:]*:[ \t]*/, ""); val = $0 }
      key == "types:" { types = val } key == "uris:" { uris = val } key == "suites:" { suites = val }
      key == "components:" { comps = val } key == "signed-by:" { signed = val } key == "enabled:" { enabled = tolower(val) }
      END { flush() }' /etc/apt/sources.list.d/debian.sources > "$list"
  fi
  if [ -f /etc/apt/sources.list ]; then
    sed -n 's/^[ \t]*deb[ \t]\+\(.*\)$/deb-src \1/p' /etc/apt/sources.list > "$APT/etc/sources.list"
  fi
  if [ ! -s "$list" ] && [ ! -s "$APT/etc/sources.list" ]; then
    local codename
    codename=$(. /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-bookworm}")
    local key=/usr/share/keyrings/debian-archive-keyring.gpg
    printf 'Types: deb-src\nURIs: http://deb.debian.org/debian\nSuites: %s %s-updates\nComponents: main\nSigned-By: %s\n\nTypes: deb-src\nURIs: http://deb.debian.org/debian-security\nSuites: %s-security\nComponents: main\nSigned-By: %s\n' \
      "$codename" "$codename" "$key" "$codename" "$key" > "$list"
  fi
}

APT_READY=
apt_ready() {
  [ -n "$APT_READY" ] && return "$APT_READY"
  write_sources
  as_apt_writable "$APT/state/lists/partial" "$APT/cache/archives/partial"
  log "apt-get update (private lists under $APT)"
  if apt-get "${APT_OPTS[@]}" update >"$APT/update.log" 2>&1 && ! grep -q '^E: ' "$APT/update.log"; then
    APT_READY=0
    if grep -q '^W: ' "$APT/update.log"; then log "apt-get update: $(grep -m1 '^W: ' "$APT/update.log")"; fi
  else
    APT_READY=1
    log "apt-get update failed: $(grep -m1 '^\(E\|W\): ' "$APT/update.log" || tail -1 "$APT/update.log")"
  fi
  return "$APT_READY"
}

# fetch PKG DIR: the newest source package PKG into DIR (.dsc and tarballs); sets DSC
# to the .dsc's path. Problems go to $PROBLEM.
DSC=
fetch() {
  local pkg=$1 dir=$2 dsc
  mkdir -p "$dir"
  DSC=
  if [ -n "${EC2NC_DEPS_SOURCES:-}" ]; then
    dsc=$(ls -1 "$EC2NC_DEPS_SOURCES/${pkg}_"*.dsc 2>/dev/null | sort -V | tail -1 || true)
    if [ -n "$dsc" ]; then
      cp "$EC2NC_DEPS_SOURCES"/"${pkg}"_* "$dir"/
      DSC=$dir/$(basename "$dsc")
      return 0
    fi
  fi
  if ! apt_ready; then
    PROBLEM="apt-get update with the private source list failed (see $APT/update.log)"
    return 1
  fi
  local name
  name=$(apt-get "${APT_OPTS[@]}" source --print-uris "$pkg" 2>/dev/null | sed -n "s/^'[^']*' \(${pkg}_[^ ]*\.dsc\) .*/\1/p" | head -1)
  if [ -z "$name" ]; then
    PROBLEM="no source package $pkg in the deb-src lists"
    return 1
  fi
  if [ ! -f "$dir/$name" ]; then
    as_apt_writable "$dir"
    log "apt-get source --download-only $pkg ($name)"
    if ! (cd "$dir" && apt-get "${APT_OPTS[@]}" source --download-only "$pkg") >"$dir/download.log" 2>&1; then
      PROBLEM="apt-get source $pkg failed: $(grep -m1 '^E: ' "$dir/download.log" || tail -1 "$dir/download.log")"
      rm -f "$dir/$name"
      return 1
    fi
  fi
  DSC=$dir/$name
}

# The full version (epoch included) from a .dsc.
dsc_version() { sed -n 's/^Version: *//p' "$1" | head -1; }

# unpack DSC DIR: dpkg-source -x (Debian's patches applied) into DIR.
unpack() {
  rm -rf "$2"
  dpkg-source --no-copy -x "$1" "$2" >"$2.log" 2>&1 || { PROBLEM="dpkg-source -x $(basename "$1") failed: $(tail -1 "$2.log")"; return 1; }
}

# Hardened as the project's own code (CMakeLists.txt), optimized for size (nothing here
# is hot), in sections so the linker drops what ec2-netcfg does not call.
DEP_CFLAGS="-Os -g -fPIC -fstack-protector-strong -D_FORTIFY_SOURCE=2 -ffunction-sections -fdata-sections"

# libcurl: HTTP only. No TLS, compression, IDN, PSL, SSH, HTTP/2, proxies, cookies,
# alt-svc, HSTS, DoH, authentication, MIME, netrc, unix sockets, progress meter; the
# threaded resolver stays (host names in --imds-endpoint), and so do IPv6 and the
# error texts.
build_curl() {
  local src=$1 prefix=$2
  local b=$prefix.build
  rm -rf "$b"
  cmake -S "$src" -B "$b" -G "Unix Makefiles" -DCMAKE_BUILD_TYPE=None -DCMAKE_C_FLAGS="$DEP_CFLAGS" \
    -DCMAKE_INSTALL_PREFIX="$prefix" -DCMAKE_INSTALL_LIBDIR=lib \
    -DBUILD_SHARED_LIBS=OFF -DBUILD_CURL_EXE=OFF -DBUILD_TESTING=OFF -DENABLE_MANUAL=OFF -DPICKY_COMPILER=OFF \
    -DHTTP_ONLY=ON -DCURL_ENABLE_SSL=OFF -DCURL_USE_OPENSSL=OFF -DCURL_ZLIB=OFF -DCURL_BROTLI=OFF \
    -DCURL_ZSTD=OFF -DUSE_LIBIDN2=OFF -DCURL_USE_LIBPSL=OFF -DCURL_USE_LIBSSH2=OFF -DCURL_USE_LIBSSH=OFF \
    -DCURL_USE_GSSAPI=OFF -DUSE_NGHTTP2=OFF -DUSE_NGTCP2=OFF -DUSE_QUICHE=OFF -DUSE_MSH3=OFF -DENABLE_ARES=OFF \
    -DCURL_DISABLE_ALTSVC=ON -DCURL_DISABLE_COOKIES=ON -DCURL_DISABLE_CRYPTO_AUTH=ON -DCURL_DISABLE_DOH=ON \
    -DCURL_DISABLE_HSTS=ON -DCURL_DISABLE_HTTP_AUTH=ON -DCURL_DISABLE_MIME=ON -DCURL_DISABLE_NETRC=ON \
    -DCURL_DISABLE_NTLM=ON -DCURL_DISABLE_PROXY=ON -DCURL_DISABLE_PROGRESS_METER=ON \
    -DCURL_DISABLE_GETOPTIONS=ON -DCURL_DISABLE_LIBCURL_OPTION=ON -DCURL_DISABLE_SHUFFLE_DNS=ON \
    -DCURL_DISABLE_PARSEDATE=ON -DENABLE_UNIX_SOCKETS=OFF -DENABLE_WEBSOCKETS=OFF \
    -DCURL_CA_BUNDLE=none -DCURL_CA_PATH=none -DCURL_LTO=OFF >"$b.log" 2>&1 &&
  cmake --build "$b" -j"$JOBS" >>"$b.log" 2>&1 &&
  cmake --install "$b" >>"$b.log" 2>&1 || { PROBLEM="building libcurl failed (see $b.log)"; return 1; }
  [ -f "$prefix/lib/libcurl.a" ] || { PROBLEM="no libcurl.a after the build (see $b.log)"; return 1; }
  rm -rf "$b"
}

build_mnl() {
  local src=$1 prefix=$2
  (cd "$src" && ./configure --prefix="$prefix" --libdir="$prefix/lib" --enable-static --disable-shared --with-pic \
      CFLAGS="$DEP_CFLAGS" && make -j"$JOBS" -C src && make -C src install && make -C include install) \
    >"$prefix.log" 2>&1 || { PROBLEM="building libmnl failed (see $prefix.log)"; return 1; }
  [ -f "$prefix/lib/libmnl.a" ] || { PROBLEM="no libmnl.a after the build (see $prefix.log)"; return 1; }
}

# dep VAR PKG BUILDER: fetch, unpack and build PKG (or take it from the cache); records
# the outcome for deps.cmake.
RESULT=
dep() {
  local var=$1 pkg=$2 builder=$3 dsc version="" prefix="" t0=$SECONDS
  PROBLEM=
  if fetch "$pkg" "$OUT/src/$pkg"; then
    dsc=$DSC
    version=$(dsc_version "$dsc")
    prefix=$CACHE/${pkg}_${version}-$CONFIG
    if [ ! -f "$prefix/.built" ]; then
      log "building $pkg $version"
      mkdir -p "$CACHE"
      rm -rf "$prefix"
      if unpack "$dsc" "$OUT/src/$pkg/tree" && "$builder" "$OUT/src/$pkg/tree" "$prefix"; then
        echo "$pkg (= $version)" > "$prefix/.built"
        rm -rf "$OUT/src/$pkg/tree"
        # In the build tree's own cache, builds of other versions or options are stale.
        if [ "$CACHE" = "$OUT/cache" ]; then
          for old in "$CACHE/${pkg}_"*; do [ "$old" = "$prefix" ] || rm -rf "$old"; done
        fi
        log "$pkg $version built in $((SECONDS - t0)) s"
      fi
    fi
  fi
  if [ -z "$PROBLEM" ] && [ -n "$prefix" ] && [ -f "$prefix/.built" ]; then
    RESULT+="set(EC2NC_DEP_${var}_PREFIX \"$prefix\")"$'\n'
    RESULT+="set(EC2NC_DEP_${var}_SOURCE \"$pkg (= $version)\")"$'\n'
  else
    log "$pkg: not built: $PROBLEM"
    RESULT+="set(EC2NC_DEP_${var}_PROBLEM \"${PROBLEM//\"/\'}\")"$'\n'
  fi
}

dep CURL curl build_curl
dep MNL libmnl build_mnl
printf '# Written by scripts/build-deps.sh; read by CMakeLists.txt.\n# config %s\n%s' "$CONFIG" "$RESULT" \
  > "$OUT/deps.cmake.tmp"
mv "$OUT/deps.cmake.tmp" "$OUT/deps.cmake"
