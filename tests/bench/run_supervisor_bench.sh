#!/bin/sh
# Builds the supervisor benchmark (and vigild, best effort) and runs it.
# Arguments go to the driver, e.g.:
#   tests/bench/run_supervisor_bench.sh --kills 50 --idle-seconds 30
# BUILD_DIR overrides the build tree (default: build at the repo root), JOBS -j.
set -eu

root=$(cd "$(dirname "$0")/../.." && pwd)
build=${BUILD_DIR:-$root/build}
jobs=${JOBS:-2}

if [ ! -f "$build/CMakeCache.txt" ]; then
    cmake -S "$root" -B "$build"
fi
cmake --build "$build" -j "$jobs" --target supervisor_bench bench_child

# vigild is built apart and best effort: a tree where it does not compile yet
# still gets the supervisord figures (the driver says vigild is missing).
log=$(mktemp /tmp/vigild-build.XXXXXX)
if cmake --build "$build" -j "$jobs" --target vigild >"$log" 2>&1; then
    rm -f "$log"
else
    tail -n 20 "$log" >&2
    echo "run_supervisor_bench: vigild did not build (full log: $log); the driver uses whatever binary is there" >&2
fi

exec "$build/tests/bench/supervisor_bench" "$@"
