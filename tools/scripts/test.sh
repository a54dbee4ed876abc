#!/usr/bin/env bash
# The test command: installs what is missing, builds, and runs every test:
#   1. unit tests (GoogleTest) in a -Werror build, then integration tests in network namespaces;
#   2. the same unit tests under ASan + UBSan;
#   3. each libFuzzer target for a bounded time (clang);
#   4. the micro benchmarks once, briefly, so they cannot rot (figures are not asserted).
# Ends with one line "tests: N passed, M failed" counted from the runners' reports.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
FUZZ_SECONDS=${FUZZ_SECONDS:-15}
JOBS=${JOBS:-$(nproc)}

tools/scripts/deps.sh test

log() { printf '\n=== %s\n' "$*"; }
status=0
reports=()

setup() {  # setup DIR [meson args...]: configure once, reconfigure when options change
  local dir=$1; shift
  if [ -d "$dir" ]; then meson setup --reconfigure "$dir" "$@" >/dev/null
  else meson setup "$dir" "$@" >/dev/null; fi
}

log "build (g++, -Werror)"
setup build-ci -Dwerror=true -Dbuildtype=debugoptimized
ninja -C build-ci -j "$JOBS"

log "unit and integration tests"
meson test -C build-ci --print-errorlogs --num-processes 1 || status=1
reports+=(build-ci/meson-logs/testlog.junit.xml)

log "unit, tools and io-layer tests under ASan + UBSan"
setup build-asan -Dwerror=true -Dbuildtype=debug -Db_sanitize=address,undefined -Db_lundef=false \
  -Dbenchmarks=false
ninja -C build-asan -j "$JOBS"
UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 ASAN_OPTIONS=detect_leaks=1 \
  meson test -C build-asan --print-errorlogs --num-processes 1 unit tools tun_io || status=1
reports+=(build-asan/meson-logs/testlog.junit.xml)

log "fuzz smoke runs (${FUZZ_SECONDS}s each)"
CXX=clang++ setup build-fuzz -Dfuzz=true -Dbuildtype=debugoptimized -Db_sanitize=address,undefined \
  -Db_lundef=false -Dbenchmarks=false -Dtests=true
# Only the fuzz targets: the other binaries are built and run in the two builds above.
mapfile -t fuzz_targets < <(ninja -C build-fuzz -t targets all | grep -oE '^tests/fuzz/fuzz_[a-z0-9_]+' | sort -u)
ninja -C build-fuzz -j "$JOBS" "${fuzz_targets[@]}"
fuzz_pass=0 fuzz_fail=0
for t in "${fuzz_targets[@]}"; do
  f=build-fuzz/$t
  name=$(basename "$f")
  corpus=$(mktemp -d)
  seeds="tests/fuzz/corpus/${name#fuzz_}"
  [ -d "$seeds" ] && cp -r "$seeds"/. "$corpus"/
  if "$f" -max_total_time="$FUZZ_SECONDS" -rss_limit_mb=2048 -print_final_stats=0 \
       "$corpus" >"$corpus.log" 2>&1; then
    fuzz_pass=$((fuzz_pass + 1)); echo "$name: ok ($(grep -c . "$corpus.log") log lines)"
  else
    fuzz_fail=$((fuzz_fail + 1)); status=1; echo "$name: FAILED"; tail -40 "$corpus.log"
  fi
  rm -rf "$corpus" "$corpus.log"
done

log "micro benchmarks (smoke: one short pass; see README for real runs)"
bench_pass=0 bench_fail=0
if build-ci/bench/micro_bench --benchmark_min_time=0.01 >/dev/null 2>build-ci/micro_bench.err; then
  bench_pass=1
else
  bench_fail=1; status=1; cat build-ci/micro_bench.err
fi

log "summary"
python3 tools/scripts/count_junit.py "${reports[@]}" --extra "$fuzz_pass" "$fuzz_fail" \
  --extra "$bench_pass" "$bench_fail"
exit $status
