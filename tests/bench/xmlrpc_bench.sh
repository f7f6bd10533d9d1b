#!/bin/sh
# getAllProcessInfo of 200 programs: vigild vs supervisord (xmlrpc_bench.py).
# Builds vigild first; BUILD_DIR overrides the build tree, JOBS -j.
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${BUILD_DIR:-$root/build}
cmake --build "$build" -j "${JOBS:-2}" --target vigild
VIGILD="$build/supervisor/vigild" exec /usr/bin/python3 "$root/tests/bench/xmlrpc_bench.py" "$@"
