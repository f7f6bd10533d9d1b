#!/usr/bin/env bash
# Installs every Debian package vigil's build, tests, demo and benchmarks need,
# plus any package named on the command line (scripts/fuzz.sh adds clang).
# Idempotent: packages already present are left alone, and apt's lists are
# refreshed only when something is missing.
set -euo pipefail

packages=(
  # build
  g++ cmake ninja-build ccache pkg-config make
  # libraries (docs/dependencies.md: Boost 1.81, not 1.74's Process v1)
  libboost1.81-dev libssl-dev libpq-dev libspdlog-dev catch2
  libhiredis-dev nlohmann-json3-dev libedit-dev
  # expat: parses XML-RPC requests at /RPC2 (supervisor/xmlrpc/codec.cpp)
  libexpat1-dev
  # real servers and peers used by tests, the demo and benchmarks
  postgresql redis-server supervisor curl jq procps openssl
  # load generator of the proxy benchmarks and the soak (tests/reliability/soak.sh)
  wrk
  # Redis Sentinel, the failover vigild is compared with (tests/bench/redis_failover_bench.sh)
  redis-sentinel
  # the other proxy of tests/bench/proxy_bench.sh and restart_bench.sh (nginx is below)
  haproxy
  # the conformance suite (tests/conformance): nginx as the reference proxy,
  # and real clients beside curl and wrk (Python's http.client, ab)
  nginx python3 apache2-utils
  # man --warnings, which checks the generated man pages (docs/man)
  man-db
  # logrotate -f in the test of `vigilctl reopen` (tests/integration/log_reopen_test.cpp)
  logrotate
  # unit checks (systemd-analyze, -sysusers, -tmpfiles), packaging (objdump, cpack's dpkg)
  systemd binutils dpkg-dev file
  # promtool, for the test that checks vigild's /metrics (tests/integration/metrics_test.cpp)
  prometheus
  # node, for the test that validates `vigilctl export kubernetes` against
  # the Kubernetes schemas (tests/k8s: npm's kubernetes-models)
  nodejs
  # headless browser of the web status page's test (tests/web), driven over
  # the DevTools protocol on --remote-debugging-pipe
  chromium
  # the other HA stack of tests/bench/pg_failover_bench.sh: Patroni (brings
  # python3-psycopg2, the bench's writer) and its DCS, etcd
  patroni etcd-server
  "$@"
)
# npm: Debian's package, unless the installed nodejs brings its own (a
# NodeSource build provides and conflicts with Debian's npm).
command -v npm >/dev/null || packages+=(npm)

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

# tests/k8s's npm packages, at the versions of its package-lock.json, into
# tests/k8s/node_modules (git-ignored); again only when the lock changed.
k8s="$(dirname "$0")/../tests/k8s"
if [ -f "$k8s/package-lock.json" ] && ! cmp -s "$k8s/package-lock.json" "$k8s/node_modules/.vigil-installed-lock" 2>/dev/null; then
  echo "setup: npm ci in tests/k8s"
  (cd "$k8s" && npm ci --no-audit --no-fund --loglevel=error && cp package-lock.json node_modules/.vigil-installed-lock)
fi

# Debian starts these servers on install; tests and the demo run their own
# instances on free ports, so the system-wide ones are not needed.
for svc in redis-server redis-sentinel postgresql supervisor prometheus etcd patroni; do
  if command -v systemctl >/dev/null && systemctl is-active --quiet "$svc" 2>/dev/null; then
    systemctl stop "$svc" || true
  fi
done
