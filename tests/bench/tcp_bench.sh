#!/usr/bin/env bash
# vigil-proxy's `mode = tcp` against HAProxy's `mode tcp`, in one run, in
# front of the same redis-server, one worker/thread each, with
# redis-benchmark as the client; redis-server reached directly is the
# baseline. Three loads: small requests one at a time (-d 16, SET and GET:
# per-packet cost), the same pipelined 16 deep (-P 16: per-byte cost of many
# small packets) and 16 KiB values (-d 16384: bulk bytes). Prints requests/s
# and the proxy's CPU microseconds per request for each, then the ratios
# vigil/HAProxy. Traffic stays on 127.0.0.1; every run is bounded by its
# request count (-n).
#
#   tests/bench/tcp_bench.sh [--requests 200000] [--clients 50] [--rounds N] [--pin]
#
# --rounds N repeats every measurement N times, rotating the order of the
# targets, and reports the medians. --pin puts redis-benchmark on the last
# CPU and the proxies and redis-server on the others (taskset), as
# proxy_bench.sh does.
#
# Installs haproxy and redis-server (which brings redis-benchmark) with
# apt-get when they are missing.
set -euo pipefail

REQUESTS=200000
CLIENTS=50
ROUNDS=1
PIN=0
while [ $# -gt 0 ]; do
  case "$1" in
    --requests) REQUESTS="$2"; shift 2 ;;
    --clients) CLIENTS="$2"; shift 2 ;;
    --rounds) ROUNDS="$2"; shift 2 ;;
    --pin) PIN=1; shift ;;
    *) echo "usage: $0 [--requests 200000] [--clients 50] [--rounds N] [--pin]" >&2; exit 2 ;;
  esac
done

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
PROXY_BIN="${VIGIL_PROXY:-$ROOT/build/proxy/vigil-proxy}"
[ -x "$PROXY_BIN" ] || { echo "vigil-proxy not built (set VIGIL_PROXY)" >&2; exit 1; }

need=()
command -v haproxy >/dev/null || [ -x /usr/sbin/haproxy ] || need+=(haproxy)
command -v redis-benchmark >/dev/null || need+=(redis-server redis-tools)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing ${need[*]}" >&2
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends -o DPkg::Lock::Timeout=600 "${need[@]}" >/dev/null
fi
HAPROXY=$(command -v haproxy || echo /usr/sbin/haproxy)
REDIS=$(command -v redis-server || echo /usr/bin/redis-server)

. "$(dirname "$0")/lib.sh"
bench_dir vigil-tcp-bench

RP=$(free_port); HP=$(free_port); VP=$(free_port)

"$REDIS" --port "$RP" --bind 127.0.0.1 --save "" --appendonly no --dir "$DIR" >"$DIR/redis.log" 2>&1 & PIDS+=($!)
REDIS_PID=$!

cat > "$DIR/haproxy.cfg" <<EOF
global
  nbthread 1
  maxconn 4096
  log stdout format raw local0 emerg
defaults
  mode tcp
  timeout connect 5s
  timeout client 1h
  timeout server 1h
frontend fe
  bind 127.0.0.1:$HP
  default_backend be
backend be
  balance leastconn
  server s1 127.0.0.1:$RP
EOF
"$HAPROXY" -f "$DIR/haproxy.cfg" -db >"$DIR/haproxy.log" 2>&1 & PIDS+=($!)
HAPROXY_PID=$!

cat > "$DIR/vigil.ini" <<EOF
[vigil]
state_dir = $DIR
control_socket = $DIR/vigil.sock
log_dir = $DIR

[program:proxy]
kind = proxy

[upstream:cache]
servers = 127.0.0.1:$RP

[proxy:cache]
mode = tcp
listen = 127.0.0.1:$VP
route = cache
EOF
"$PROXY_BIN" -c "$DIR/vigil.ini" --workers 1 --access-log off >"$DIR/vigil.log" 2>&1 & PIDS+=($!)
VIGIL_PID=$!

for p in "$RP" "$HP" "$VP"; do wait_port "$p"; done

BENCH=(redis-benchmark)
if [ "$PIN" = 1 ]; then
  NCPU=$(nproc)
  if [ "$NCPU" -lt 2 ]; then echo "--pin needs 2 CPUs or more" >&2; exit 2; fi
  CLIENT_CPU=$((NCPU - 1)); SRV_CPUS="0-$((NCPU - 2))"
  for p in "${PIDS[@]}"; do taskset -apc "$SRV_CPUS" "$p" >/dev/null; done
  BENCH=(taskset -c "$CLIENT_CPU" redis-benchmark)
  echo "pinned: redis-benchmark on CPU $CLIENT_CPU, proxies and redis-server on CPU $SRV_CPUS"
fi

cpu_ticks() { awk '{sub(/^.*\) /,""); print $12 + $13}' "/proc/$1/stat"; }
HZ=$(getconf CLK_TCK)

declare -A RPS CPU
TARGETS="redis haproxy vigil"
port_of() { case "$1" in redis) echo "$RP" ;; haproxy) echo "$HP" ;; vigil) echo "$VP" ;; esac; }
pid_of() { case "$1" in redis) echo "" ;; haproxy) echo "$HAPROXY_PID" ;; vigil) echo "$VIGIL_PID" ;; esac; }

# One redis-benchmark run: requests/s summed over SET and GET (their mean),
# and the proxy's CPU µs per request.
measure() {  # target load-name args...
  local t=$1 load=$2; shift 2
  local pid; pid=$(pid_of "$t")
  local before=0 after=0
  [ -z "$pid" ] || before=$(cpu_ticks "$pid")
  local out
  out=$("${BENCH[@]}" -h 127.0.0.1 -p "$(port_of "$t")" -c "$CLIENTS" -n "$REQUESTS" -t set,get --csv "$@" 2>/dev/null)
  [ -z "$pid" ] || after=$(cpu_ticks "$pid")
  local rps
  rps=$(echo "$out" | awk -F'","' '/^"(SET|GET)"/ {gsub(/"/,"",$2); s+=$2; n++} END {if (n) printf "%.0f", s/n; else print 0}')
  local cpu="-"
  if [ -n "$pid" ] && [ "$rps" != 0 ]; then
    cpu=$(awk -v t=$((after - before)) -v hz="$HZ" -v n=$((2 * REQUESTS)) 'BEGIN {printf "%.2f", t / hz * 1e6 / n}')
  fi
  echo "$rps $cpu"
}

# The median of the numbers among the words given ("-" when there are none).
median() { printf '%s\n' "$@" | awk '$1 ~ /^[0-9.]+$/' | sort -n |
  awk '{a[NR]=$1} END {if (NR==0) print "-"; else if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }

LOADS="small pipelined big"
args_of() { case "$1" in small) echo "-d 16" ;; pipelined) echo "-d 16 -P 16" ;; big) echo "-d 16384" ;; esac; }

order=($TARGETS)
for round in $(seq 1 "$ROUNDS"); do
  for load in $LOADS; do
    for t in "${order[@]}"; do
      # shellcheck disable=SC2046
      read -r rps cpu < <(measure "$t" "$load" $(args_of "$load"))
      RPS[$t,$load]="${RPS[$t,$load]:-} $rps"
      CPU[$t,$load]="${CPU[$t,$load]:-} $cpu"
    done
  done
  order=("${order[@]:1}" "${order[0]}")  # rotate who goes first
done

printf "\nredis-benchmark -c %s -n %s -t set,get (mean of SET and GET), %s round(s), medians\n" "$CLIENTS" "$REQUESTS" "$ROUNDS"
printf "%-10s %-10s %12s %14s\n" load target "req/s" "proxy CPU µs/req"
declare -A MED MEDC
for load in $LOADS; do
  for t in $TARGETS; do
    # shellcheck disable=SC2086
    r=$(median ${RPS[$t,$load]})
    # shellcheck disable=SC2086
    c=$(median ${CPU[$t,$load]})
    MED[$t,$load]=$r
    MEDC[$t,$load]=$c
    printf "%-10s %-10s %12s %14s\n" "$load" "$t" "$r" "$c"
  done
done
printf "\nratios (vigil / HAProxy): requests/s, and CPU per request (lower is better)\n"
for load in $LOADS; do
  awk -v l="$load" -v v="${MED[vigil,$load]}" -v h="${MED[haproxy,$load]}" -v vc="${MEDC[vigil,$load]}" -v hc="${MEDC[haproxy,$load]}" \
    'BEGIN {printf "%-10s req/s %.2f   CPU/req %s\n", l, (h > 0 ? v / h : 0), (hc > 0 ? sprintf("%.2f", vc / hc) : "-")}'
done
