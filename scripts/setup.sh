#!/usr/bin/env bash
# Installs every Debian package vigil's build, tests, demo and benchmarks need,
# plus any package named on the command line (scripts/fuzz.sh adds clang).
# Idempotent: packages already present are left alone, and apt's lists are
# refreshed only when something is missing.
set -euo pipefail

packages=(
  # build
  g++ cmake ninja-build ccache pkg-config make
  # libraries (DEPENDENCIES.md: Boost 1.81, not 1.74's Process v1)
  libboost1.81-dev libssl-dev libpq-dev libspdlog-dev catch2
  libhiredis-dev nlohmann-json3-dev libedit-dev
  # real servers and peers used by tests, the demo and benchmarks
  postgresql redis-server supervisor curl jq procps openssl
  # load generator of the proxy benchmarks and the soak (tests/reliability/soak.sh)
  wrk
  # the conformance suite (tests/conformance): nginx as the reference proxy,
  # and real clients beside curl and wrk (Python's http.client, ab)
  nginx python3 apache2-utils
  # unit checks (systemd-analyze, -sysusers, -tmpfiles), packaging (objdump, cpack's dpkg)
  systemd binutils dpkg-dev file
  # promtool, for the test that checks vigild's /metrics (tests/integration/metrics_test.cpp)
  prometheus
  "$@"
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done

if ((${#missing[@]})); then
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  echo "setup: installing ${missing[*]}"
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends \
    -o DPkg::Lock::Timeout=600 "${missing[@]}"
fi

# Debian starts these servers on install; tests and the demo run their own
# instances on free ports, so the system-wide ones are not needed.
for svc in redis-server postgresql supervisor prometheus; do
  if command -v systemctl >/dev/null && systemctl is-active --quiet "$svc" 2>/dev/null; then
    systemctl stop "$svc" || true
  fi
done
