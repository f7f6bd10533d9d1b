#!/bin/sh
# Runs one Python test of this directory against VIGILD with Debian's
# python3 (the one its supervisor package is installed for, not whatever
# python3 comes first in PATH); exits 77 (SKIPPED in ctest) when python3 or
# the supervisor package is missing.
py=/usr/bin/python3
[ -x "$py" ] || { echo "SKIPPED: /usr/bin/python3 is missing"; exit 77; }
[ -x /usr/bin/supervisorctl ] || { echo "SKIPPED: supervisor (supervisorctl) is missing"; exit 77; }
cd "$(dirname "$0")" && exec "$py" "$@"
