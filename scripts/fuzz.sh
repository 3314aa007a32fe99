#!/usr/bin/env bash
# Builds the fuzz targets (tests/fuzz) as libFuzzer binaries with clang, ASan and UBSan
# in build-fuzz (-DEC2NC_FUZZ=ON), and fuzzes each for SECONDS (default 60), as many at
# once as there are cores. Each starts from its seed corpus in tests/fuzz/corpus/TARGET
# (read only) and keeps what it finds in build-fuzz/corpus/TARGET for the next run.
# Prints libFuzzer's final line per target ("Done N runs in S second(s)"). A crash,
# leak, sanitizer finding or violated property leaves its input in
# build-fuzz/artifacts/TARGET/ and makes the script exit 1: add it to the corpus as
# tests/fuzz/corpus/TARGET/crash-<what>, fix the bug, add a unit test.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]     (default: 60, every target)
#
# Environment: FUZZ_JOBS (targets at once, default nproc), FUZZ_BUILD (build-fuzz),
# FUZZ_MAX_LEN (longest input libFuzzer makes, default 16384: larger seeds are read
# truncated), CXX (clang++).
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_TARGET=${1:-60}
shift || true
BUILD=${FUZZ_BUILD:-build-fuzz}
JOBS=${FUZZ_JOBS:-$(nproc)}
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(fuzz_imds_values fuzz_metadata_tree fuzz_capture fuzz_config fuzz_netlink_dump fuzz_state
                                     fuzz_netplan)
dict_of() {
  case $1 in
    fuzz_config) echo tests/fuzz/config.dict ;;
    fuzz_imds_values | fuzz_metadata_tree | fuzz_capture) echo tests/fuzz/imds.dict ;;
    fuzz_netplan) echo tests/fuzz/netplan.dict ;;
  esac
}

command -v "${CXX:-clang++}" >/dev/null || { echo "fuzz.sh: ${CXX:-clang++} not found (apt-get install clang)" >&2; exit 2; }
# The static libmnl scripts/build-deps.sh built for build is used again, if there is one.
deps=()
[ -f build/deps/deps.cmake ] && deps=(-DEC2NC_DEPS_DIR="$PWD/build/deps")
mkdir -p "$BUILD"
if ! { cmake -S . -B "$BUILD" -DCMAKE_CXX_COMPILER="${CXX:-clang++}" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DEC2NC_FUZZ=ON \
          "${deps[@]}" &&
        cmake --build "$BUILD" -j"$(nproc)" --target "${TARGETS[@]}"; } > "$BUILD/build.log" 2>&1; then
  tail -30 "$BUILD/build.log" >&2
  echo "fuzz.sh: the build failed ($BUILD/build.log)" >&2
  exit 2
fi

# One target: libFuzzer writes new inputs to the first corpus directory only. Its exit
# status goes to a file (waiting on a job by pid is unreliable once `wait -n` reaped it).
run_one() {
  local t=$1 dict rc=0
  dict=$(dict_of "$t")
  mkdir -p "$BUILD/corpus/$t" "$BUILD/artifacts/$t"
  "$BUILD/tests/fuzz/$t" -max_total_time="$SECONDS_PER_TARGET" -timeout=10 -max_len="${FUZZ_MAX_LEN:-16384}" \
    -print_final_stats=1 -artifact_prefix="$BUILD/artifacts/$t/" ${dict:+-dict=$dict} \
    "$BUILD/corpus/$t" "tests/fuzz/corpus/$t" > "$BUILD/$t.log" 2>&1 || rc=$?
  echo "$rc" > "$BUILD/$t.rc"
}

echo "fuzzing ${#TARGETS[@]} target(s) for ${SECONDS_PER_TARGET} s each, $JOBS at a time"
running=0
for t in "${TARGETS[@]}"; do
  rm -f "$BUILD/$t.rc"
  if [ "$running" -ge "$JOBS" ]; then
    wait -n || true
    running=$((running - 1))
  fi
  run_one "$t" &
  running=$((running + 1))
done
wait || true

status=0
for t in "${TARGETS[@]}"; do
  done_line=$(grep -aE '^Done [0-9]+ runs in [0-9]+ second' "$BUILD/$t.log" | tail -1 || true)
  corpus=$(find "$BUILD/corpus/$t" -type f | wc -l)
  rc=$(cat "$BUILD/$t.rc" 2>/dev/null || echo "?")
  if [ "$rc" = 0 ] && [ -n "$done_line" ]; then
    printf '%-20s %s (corpus %d inputs)\n' "$t:" "$done_line" "$corpus"
  else
    status=1
    printf '%-20s FAILED (exit %s): %s\n' "$t:" "$rc" "$(ls "$BUILD/artifacts/$t" | xargs)"
    { grep -aE 'ERROR: |runtime error|property violated|SUMMARY' "$BUILD/$t.log" || true; } | head -5 | sed 's/^/    /'
    echo "    full log: $BUILD/$t.log"
  fi
done
exit $status
