#!/usr/bin/env bash
# Builds vigil's libFuzzer targets (clang, ASan + UBSan) in build-fuzz/ and
# runs each for a bounded time on a copy of its checked-in seed corpus.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]     default: 60 s, every target built
#
# Environment: BUILD_DIR (build-fuzz), JOBS (2), FUZZ_OUT (BUILD_DIR/fuzz-out),
# FUZZ_PARALLEL (targets run at once, default: the number of CPUs),
# FUZZ_FLAGS (extra libFuzzer flags, e.g. "-jobs=2 -workers=2").
#
# Exit status: 0 when no target crashed, leaked, hung or broke an invariant;
# 1 otherwise, with the path of every crashing input printed. Reproduce one
# with `build-fuzz/fuzz/TARGET FILE`, then add FILE to
# tests/fuzz/corpus/TARGET/ once fixed (tests/fuzz/README.md).
# Installs clang and libclang-rt-14-dev when missing (other build
# dependencies: scripts/setup.sh).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
seconds=${1:-60}
shift || true
[[ $seconds =~ ^[0-9]+$ ]] || { echo "usage: $0 [SECONDS] [TARGET...]" >&2; exit 2; }
build=${BUILD_DIR:-$root/build-fuzz}
jobs=${JOBS:-2}
out=${FUZZ_OUT:-$build/fuzz-out}
all_targets=(config_fuzz control_fuzz pg_handshake_fuzz redis_reply_fuzz xmlrpc_fuzz http_fuzz admin_fuzz session_fuzz)

# --- toolchain ---------------------------------------------------------------
"$root/scripts/setup.sh" clang libclang-rt-14-dev

# --- build -------------------------------------------------------------------
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
# As scripts/build.sh: cache hits whatever directory the checkout is in.
export CCACHE_BASEDIR="$root" CCACHE_NOHASHDIR=1
# -O1 with line tables only: enough for file:line in every ASan/UBSan
# report, and cheaper to build cold (CI) than -O2 -g on the Beast and Asio
# translation units: 374 s for every target on the 2-core VM, against 552 s
# (tests/fuzz/README.md).
CC=clang CXX=clang++ cmake -S "$root" -B "$build" -G Ninja -DVIGIL_FUZZ=ON -DVIGIL_TESTS=OFF \
  -DCMAKE_BUILD_TYPE=None "-DCMAKE_CXX_FLAGS=-O1 -gline-tables-only" "${launcher[@]}" >/dev/null
targets=("$@")
if ((${#targets[@]} == 0)); then
  # The proxy's targets exist only when proxy/ is in the tree.
  for t in "${all_targets[@]}"; do
    ninja -C "$build" -t query "$t" >/dev/null 2>&1 && targets+=("$t")
  done
fi
echo "fuzz: building ${targets[*]}"
built_from=$SECONDS
cmake --build "$build" -j "$jobs" --target "${targets[@]}"
echo "fuzz: built in $((SECONDS - built_from)) s"

# --- run ---------------------------------------------------------------------
rm -rf "$out"
mkdir -p "$out"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

# Runs one target; leaves its one-line summary in $out/TARGET/summary and
# exits non-zero when it crashed, leaked, hung or broke an invariant.
run_target() {
  local t=$1 bin=$build/fuzz/$1 work=$out/$1 rc=0 dict=()
  mkdir -p "$work/corpus" "$work/artifacts" "$work/tmp"
  # A copy: libFuzzer adds what it finds to the corpus it is given.
  cp -r "$root/tests/fuzz/corpus/$t/." "$work/corpus/"
  [ -f "$root/tests/fuzz/$t.dict" ] && dict=(-dict="$root/tests/fuzz/$t.dict")
  # shellcheck disable=SC2086  # FUZZ_FLAGS is a list of flags
  (cd "$work" && TMPDIR=$work/tmp timeout --signal=INT $((seconds + 300)) "$bin" \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$work/artifacts/" "${dict[@]}" ${FUZZ_FLAGS:-} "$work/corpus" \
    >"$work/log" 2>&1) || rc=$?
  local execs rate cov corpus crashes result=ok
  execs=$({ grep -h '^stat::number_of_executed_units' "$work/log" || true; } | awk '{s += $2} END {print s + 0}')
  rate=$({ grep -h '^stat::average_exec_per_sec' "$work/log" || true; } | awk '{s += $2} END {print s + 0}')
  cov=$({ grep -ho 'cov: [0-9]*' "$work/log" || true; } | tail -1 | awk '{print $2}')
  corpus=$(find "$work/corpus" -type f | wc -l)
  # slow-unit-* files are libFuzzer's notes on slow inputs, not findings.
  crashes=$(find "$work/artifacts" -type f ! -name 'slow-unit-*' | wc -l)
  ((rc != 0 || crashes > 0)) && result="FAILED (exit $rc)"
  printf '%-17s %8ss %12s execs %8s/s  cov %-6s corpus %-6s %s\n' "$t" "$seconds" "$execs" "$rate" \
    "${cov:-?}" "$corpus" "$result" >"$work/summary"
  rm -rf "$work/tmp"
  [ "$result" = ok ]
}

# FUZZ_PARALLEL targets at a time (default: one per CPU), each on one core.
parallel=${FUZZ_PARALLEL:-$(nproc)}
running=0
for t in "${targets[@]}"; do
  if ((running >= parallel)); then
    wait -n || true
    running=$((running - 1))
  fi
  echo "fuzz: $t for ${seconds}s (log: $out/$t/log)"
  run_target "$t" &
  running=$((running + 1))
done
wait || true

failed=()
echo
echo "fuzz summary (logs and grown corpora in $out):"
for t in "${targets[@]}"; do
  work=$out/$t
  printf '  %s' "$(cat "$work/summary" 2>/dev/null || echo "$t: no summary")"
  echo
  if ! grep -q ' ok$' "$work/summary" 2>/dev/null; then
    failed+=("$t")
    grep -m2 -E 'ERROR: |runtime error:|fuzz invariant broken|what\(\):' "$work/log" | sed 's/^/    /' || true
    for f in "$work/artifacts"/*; do
      [ -e "$f" ] && [[ $f != */slow-unit-* ]] && echo "    crashing input: $f  (reproduce: $build/fuzz/$t $f)"
    done
  fi
done
if ((${#failed[@]})); then
  echo "fuzz: crashes in ${failed[*]}; inputs under $out/<target>/artifacts/" >&2
  exit 1
fi
