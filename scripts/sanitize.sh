#!/usr/bin/env bash
# Sanitizer builds of vigil (issue 8, item 4), each in its own build dir:
#
#   build-asan  g++, ASan + UBSan, -fno-omit-frame-pointer, halt on the first
#               error; runs ctest -L 'unit|integration|health|proxy|services'
#   build-tsan  g++, TSan; runs the proxy's multi-threaded tests (ctest -L proxy)
#
#   scripts/sanitize.sh [asan|tsan]...        default: both
#
# Environment: JOBS (build parallelism, default 2), CTEST_JOBS (default 1:
# sanitized binaries are 2-15x slower and the tests have deadlines),
# CTEST_ARGS (extra ctest arguments, e.g. "-R proxy:").
#
# Every instrumented process (vigild, vigil-proxy, the services and the
# tests themselves) writes its sanitizer reports to
# build-<kind>/sanitizer-logs/<tool>.<pid> as well as halting, because many
# of them are children whose stderr a test only captures in a temp dir that
# is removed afterwards. The script fails if ctest fails or if any report
# was written; it prints the first lines of each.
#
# Not in CI (scripts/test.sh): a cold ASan build plus the suites takes far
# longer than CI's budget on 2 cores (tests/reliability/README.md).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
jobs=${JOBS:-2}
ctest_jobs=${CTEST_JOBS:-1}
kinds=("$@")
((${#kinds[@]})) || kinds=(asan tsan)

"$root/scripts/setup.sh"
export CCACHE_BASEDIR="$root" CCACHE_NOHASHDIR=1

status=0
for kind in "${kinds[@]}"; do
  build=$root/build-$kind
  logs=$build/sanitizer-logs
  case $kind in
    asan)
      flags="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"
      labels='unit|integration|health|proxy|services'
      # The .deb test checks the package's Depends against the binaries'
      # libraries: sanitized binaries also need libasan/libubsan, which a
      # release package rightly does not declare.
      exclude='cpack builds a .deb'
      targets=(vigil_unit_tests vigil_integration_tests vigil_health_tests vigil_proxy_tests vigil_services_tests)
      ;;
    tsan)
      flags="-fsanitize=thread -fno-omit-frame-pointer"
      labels='proxy'
      exclude=''
      targets=(vigil_proxy_tests)
      ;;
    *) echo "usage: $0 [asan|tsan]..." >&2; exit 2 ;;
  esac

  echo "sanitize: configuring $build ($flags)"
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_CXX_FLAGS="$flags" -DCMAKE_EXE_LINKER_FLAGS="$flags" -DCMAKE_SHARED_LINKER_FLAGS="$flags" >/dev/null
  echo "sanitize: building ${targets[*]} (-j$jobs)"
  cmake --build "$build" -j "$jobs" --target "${targets[@]}"

  rm -rf "$logs"
  mkdir -p "$logs"
  # halt_on_error / abort_on_error: the first report stops the process, so a
  # test that drove it fails; log_path keeps the report even when the
  # process's stderr went to a temp dir.
  export ASAN_OPTIONS="halt_on_error=1:abort_on_error=1:detect_leaks=1:detect_stack_use_after_return=0:log_path=$logs/asan"
  export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:log_path=$logs/ubsan"
  export LSAN_OPTIONS="suppressions=$root/scripts/sanitize-lsan.supp:print_suppressions=0"
  export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:log_path=$logs/tsan"
  [ -f "$root/scripts/sanitize-tsan.supp" ] && TSAN_OPTIONS+=":suppressions=$root/scripts/sanitize-tsan.supp"
  [ -f "$root/scripts/sanitize-lsan.supp" ] || unset LSAN_OPTIONS

  echo "sanitize: ctest -L '$labels' in $build (-j$ctest_jobs)"
  rc=0
  # shellcheck disable=SC2086  # CTEST_ARGS is a list of arguments
  (cd "$build" && ctest --output-on-failure -j "$ctest_jobs" --timeout 600 -L "$labels" ${exclude:+-E "$exclude"} \
    ${CTEST_ARGS:-}) || rc=$?

  reports=$(find "$logs" -type f | sort)
  if [ -n "$reports" ]; then
    echo "sanitize: $kind: $(echo "$reports" | wc -l) report(s) in $logs:"
    for f in $reports; do
      echo "--- $f"
      grep -m1 -E 'ERROR: |WARNING: ThreadSanitizer|runtime error' "$f" || head -3 "$f"
      grep -m6 -E '^ +#[0-9]+ ' "$f" || true
    done
    rc=1
  fi
  if ((rc)); then
    echo "sanitize: $kind FAILED"
    status=1
  else
    echo "sanitize: $kind ok (no reports)"
  fi
done
exit $status
