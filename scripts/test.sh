#!/usr/bin/env bash
# Runs the whole test suite: unit tests, the fuzz targets' corpora (label fuzz) and
# integration tests against the real kernel and systemd-networkd in network namespaces
# of their own (these need root; without it they report SKIP). Then builds build-asan
# with -DEC2NC_SANITIZE=ON (AddressSanitizer, UndefinedBehaviorSanitizer and leak
# checks; the integration tests run that build's ec2-netcfg) and runs the same suite
# there, but the boot tests (test_boot, test_boot_trixie, test_boot_nm,
# test_boot_nm_trixie), test_package and test_rpm: any sanitizer finding fails its test.
# (Those build a package of their own from the source, and the boot tests and
# test_package install it into a minimal Debian root, which has no sanitizer runtime: they
# would only repeat the normal run.) Build first with scripts/quickstart.sh.
#
#   scripts/test.sh [--no-sanitize] [CTEST_ARGS...]
#
#   --no-sanitize   skip the sanitizer build and run (on 2 cores: about 5 minutes for
#                   the first build of build-asan, about 2.5 for its run)
#   CTEST_ARGS      passed to both ctest runs, e.g. -L unit or -R hotplug
#   EC2NC_TEST_EXCLUDE=REGEX   tests both runs leave out (ctest -E), said at the start
set -uo pipefail
cd "$(dirname "$0")/.."
SANITIZE=1
args=()
for a in "$@"; do
  if [ "$a" = --no-sanitize ]; then SANITIZE=0; else args+=("$a"); fi
done
[ -x build/ec2-netcfg ] || { echo "build/ec2-netcfg missing: run scripts/quickstart.sh first" >&2; exit 2; }
cmake --build build -j"$(nproc)" >/dev/null || exit 2
exclude=()
if [ -n "${EC2NC_TEST_EXCLUDE:-}" ]; then
  echo "test.sh: left out of both runs (EC2NC_TEST_EXCLUDE): $EC2NC_TEST_EXCLUDE"
  exclude=(-E "$EC2NC_TEST_EXCLUDE")
fi
ctest --test-dir build --output-on-failure "${exclude[@]}" "${args[@]}"
rc=$?
[ "$SANITIZE" = 1 ] || exit $rc

echo
echo "=== the same suite under AddressSanitizer + UndefinedBehaviorSanitizer (build-asan)"
# The static libcurl and libmnl scripts/build-deps.sh built for build are used again.
deps=()
[ -f build/deps/deps.cmake ] && deps=(-DEC2NC_DEPS_DIR="$PWD/build/deps")
mkdir -p build-asan
if ! { cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DEC2NC_SANITIZE=ON "${deps[@]}" &&
        cmake --build build-asan -j"$(nproc)"; } > build-asan/build.log 2>&1; then
  tail -30 build-asan/build.log >&2
  echo "test.sh: the sanitizer build failed (build-asan/build.log)" >&2
  exit 2
fi
# UBSan is built with -fno-sanitize-recover (a finding aborts); halt_on_error says the
# same to a runtime that would recover. The user's own options come last and win.
ASAN_OPTIONS="detect_leaks=1:detect_stack_use_after_return=1:strict_string_checks=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}" \
UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}" \
  ctest --test-dir build-asan --output-on-failure \
    -E "^test_(boot|boot_trixie|boot_nm|boot_nm_trixie|package|rpm)\$${EC2NC_TEST_EXCLUDE:+|$EC2NC_TEST_EXCLUDE}" "${args[@]}"
asan_rc=$?
[ $rc = 0 ] || { echo "test.sh: the normal run failed (the sanitizer run: exit $asan_rc)" >&2; exit $rc; }
exit $asan_rc
