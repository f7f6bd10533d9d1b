#!/usr/bin/env bash
# The README's first command: install what is needed, build, and run the demo
# stack under vigild in the foreground (Ctrl-C stops it in order).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
./scripts/build.sh
config="${1:-config/examples/demo.ini}"
echo "demo: vigild -c $config (Ctrl-C to stop)"
exec build/supervisor/vigild -c "$config"
