#!/bin/sh
# Runs one Python test of this directory against VIGILD; exits 77 (SKIPPED
# in ctest) when python3 or Debian's supervisor package is missing.
command -v python3 >/dev/null 2>&1 || { echo "SKIPPED: python3 is missing"; exit 77; }
[ -x /usr/bin/supervisorctl ] || { echo "SKIPPED: supervisor (supervisorctl) is missing"; exit 77; }
cd "$(dirname "$0")" && exec python3 "$@"
