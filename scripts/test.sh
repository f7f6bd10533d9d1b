#!/usr/bin/env bash
# The README's test command: install what is needed, build, run every test.
#
# A test whose prerequisite is missing (root, PostgreSQL, Redis, cgroups …)
# is reported SKIPPED, with its reason listed at the end. With CI=true a
# skipped test fails the run: CI runs as root with everything installed, so a
# skip there means a test that silently stopped testing.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
./scripts/build.sh
cd build
junit=ctest-results.xml  # ctest's JUnit report: which tests were skipped, and their output
rm -f "$junit"
rc=0
ctest --output-on-failure -j "$(nproc)" --timeout 300 --output-junit "$junit" "$@" || rc=$?
skipped=$(sed -n 's/^[[:space:]]*skipped="\([0-9]*\)".*/\1/p' "$junit" 2>/dev/null | head -n1)
if [ "${skipped:-0}" != 0 ]; then
  echo "test: $skipped test(s) SKIPPED:" >&2
  # Each skipped test printed "SKIPPED: <test>: <reason>" (tests/common/skip.hpp).
  grep -o 'SKIPPED: .*' "$junit" | sed "s/&apos;/'/g; s/&quot;/\"/g; s/&lt;/</g; s/&gt;/>/g; s/&amp;/\\&/g; s/^/  /" >&2 || true
  if [ "${CI:-}" = true ]; then
    echo "test: CI=true: every test must run here (root, everything scripts/setup.sh installs); failing" >&2
    [ "$rc" != 0 ] || rc=1
  fi
fi
exit "$rc"
