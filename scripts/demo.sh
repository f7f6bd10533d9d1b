#!/usr/bin/env bash
# The README's first command: install what is needed, build, and run the
# seed's payment system (config/examples/payment-system.ini) under vigild in
# the foreground (Ctrl-C stops it in reverse dependency order).
#
#   ./scripts/demo.sh                 # the payment system
#   ./scripts/demo.sh OTHER.ini       # any other config, e.g. config/examples/demo.ini
#
# For the payment system it prepares /tmp/vigil-demo-payment: directories the
# postgres and redis users may create their data directories in (db/ holds
# postgres-a, postgres-b and postgres-b-replica, which vigild fills by
# pg_basebackup from postgres-b on its first start; cache/ holds redis and
# redis-replica, which Redis fills by a full resynchronisation from redis on
# its first start), the services
# in bin/ (they run as nobody, who may not reach the build tree: a clone in
# /root is 0700), a self-signed certificate for the proxy (generated once),
# and, when run as root with port 443 free, a second HTTPS listener on 443
# (conf.d/https-443.ini) beside 8443.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
./scripts/build.sh
config="${1:-config/examples/payment-system.ini}"

if [ "$(basename "$config")" = payment-system.ini ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "demo: the payment system runs PostgreSQL and Redis as their own users: run as root" >&2
    exit 1
  fi
  dir=/tmp/vigil-demo-payment   # the paths in payment-system.ini
  install -d -m 0755 "$dir" "$dir/state" "$dir/log" "$dir/conf.d" "$dir/bin"
  # install unlinks the old copy first: a demo still running keeps its own.
  install -m 0755 build/services/auth-service build/services/payment-service "$dir/bin/"
  install -d -m 0700 "$dir/tls"
  install -d -m 0755 -o postgres -g postgres "$dir/db"
  install -d -m 0755 -o redis -g redis "$dir/cache"
  if [ ! -s "$dir/tls/cert.pem" ] || [ ! -s "$dir/tls/key.pem" ]; then
    build/proxy/vigil-proxy --gen-cert "$dir/tls/cert.pem" "$dir/tls/key.pem"
  fi
  # 443 as the seed has it, when nothing else listens there; 8443 always.
  rm -f "$dir/conf.d/https-443.ini"
  if ! (exec 3<>/dev/tcp/127.0.0.1/443) 2>/dev/null; then
    cat >"$dir/conf.d/https-443.ini" <<EOF
; written by scripts/demo.sh: port 443 was free
[proxy:public-443]
listen = 0.0.0.0:443
tls_cert = $dir/tls/cert.pem
tls_key = $dir/tls/key.pem
route = /auth/ service_a
route = /payments/ service_b
rate_limit = 100/min
EOF
    echo "demo: HTTPS on :443 and :8443"
  else
    echo "demo: port 443 is taken, HTTPS on :8443 only"
  fi
  echo "demo: try  curl -k https://localhost:8443/auth/health"
  echo "demo:      build/supervisor/vigilctl -c $config status"
  echo "demo:      psql 'hostaddr=127.0.0.1 port=6433 dbname=payments_db user=payment_user'  # the payments primary"
  echo "demo:      redis-cli -p 6479 info replication  # the Redis master"
fi

echo "demo: vigild -c $config (Ctrl-C to stop)"
exec build/supervisor/vigild -c "$config"
