#!/usr/bin/env bash
# vigil-proxy against nginx and HAProxy, in one run, in front of the same two
# fast backends (nginx `return 200`), one worker each, wrk -t1 -c50 -d10s,
# keep-alive clients. Four runs per proxy: plain GET, TLS GET, plain POST of
# a 1 KiB body (wrk Lua script; issue 13: keep-alive POSTs once broke the
# proxy), and plain GET of a 64 KiB response (static file on the backends).
# Prints req/s, p50/p99 latency, the proxy's CPU microseconds per request
# and wrk's errors, then the ratios. All traffic stays on 127.0.0.1; every
# run is bounded (DURATION, default 10s).
#
#   tests/bench/proxy_bench.sh [--duration 10s] [--connections 50] [--rounds N] [--only plain|tls|post|big|none] [--pin] [--failover]
#
# --rounds N repeats every measurement N times, rotating the order of the
# proxies each round, and sums up with the medians: on a shared 2-core box a
# single 10 s run moves by ±10 %.
#   VIGIL_PROXY=/path/to/vigil-proxy tests/bench/proxy_bench.sh
#   VIGIL_PROXY_BEFORE=/path/to/older/vigil-proxy tests/bench/proxy_bench.sh   # adds "vigil-before"
#
# VIGIL_PROXY_BEFORE runs a second vigil-proxy build (say, the last commit's)
# beside the others, same config and ports of its own, so a change is
# measured against nginx and against the code before it in the same run.
#
# Every proxy runs with one worker (nginx worker_processes 1, HAProxy
# nbthread 1, vigil-proxy --workers 1). --pin also pins wrk to the last CPU
# and the proxies and backends to the others (taskset), so that wrk never
# competes with the proxy under test for a core; without it the scheduler
# places everything. On 2 cores pinning puts the proxy and both backends on
# one core: each figure then measures proxy + backend CPU, which is what a
# ratio should compare.
#
# --failover adds, for each proxy, a 20 s wrk run during which backend 1 is
# SIGKILLed at 5 s and restarted at 12 s: failed requests, p99.9, and how long
# the restarted backend waits for traffic. For vigil-proxy the script does
# what vigild does: `down` on the admin socket when the process dies (vigild
# sees the exit at once), `up` once the restarted backend accepts connections
# (its health check).
#
# Same work on the way to the backend: vigil-proxy always sends the client's
# Host and X-Forwarded-For, X-Forwarded-Proto, X-Real-IP, Forwarded and
# X-Request-Id (docs/proxy.md); nginx and HAProxy are configured to send the
# same fields, as a deployment in front of an API sets them (before
# 2026-12-04 they sent none, and their backends parsed ~170 bytes less per
# request, on the proxy's core when pinned). FORWARD_HEADERS=0 runs them
# without, as before.
#
# Installs nginx-light, haproxy and wrk with apt-get when they are missing.
set -euo pipefail

DURATION=10s
CONNS=50
ONLY=""
FAILOVER=0
ROUNDS=1
PIN=0
while [ $# -gt 0 ]; do
  case "$1" in
    --duration) DURATION="$2"; shift 2 ;;
    --connections) CONNS="$2"; shift 2 ;;
    --only) ONLY="$2"; shift 2 ;;
    --failover) FAILOVER=1; shift ;;
    --rounds) ROUNDS="$2"; shift 2 ;;
    --pin) PIN=1; shift ;;
    *) echo "usage: $0 [--duration 10s] [--connections 50] [--rounds N] [--only plain|tls|post|big|none] [--pin] [--failover]" >&2; exit 2 ;;
  esac
done

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
PROXY_BIN="${VIGIL_PROXY:-}"
if [ -z "$PROXY_BIN" ]; then
  for c in "$ROOT/build/proxy/vigil-proxy" "$ROOT/build-perf/proxy/vigil-proxy" "$ROOT/build-proxy/proxy/vigil-proxy"; do
    [ -x "$c" ] && PROXY_BIN="$c" && break
  done
fi
[ -x "${PROXY_BIN:-}" ] || { echo "vigil-proxy not built (set VIGIL_PROXY)" >&2; exit 1; }
BEFORE_BIN="${VIGIL_PROXY_BEFORE:-}"
[ -z "$BEFORE_BIN" ] || [ -x "$BEFORE_BIN" ] || { echo "VIGIL_PROXY_BEFORE=$BEFORE_BIN is not executable" >&2; exit 1; }

need=()
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need+=(nginx-light)
command -v haproxy >/dev/null || [ -x /usr/sbin/haproxy ] || need+=(haproxy)
command -v wrk >/dev/null || need+=(wrk)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing ${need[*]}" >&2
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends -o DPkg::Lock::Timeout=600 "${need[@]}" >/dev/null
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
HAPROXY=$(command -v haproxy || echo /usr/sbin/haproxy)

. "$(dirname "$0")/lib.sh"
bench_dir vigil-proxy-bench

B1=$(free_port); B2=$(free_port)
NP=$(free_port); NT=$(free_port); HP=$(free_port); HT=$(free_port); VP=$(free_port); VT=$(free_port)
OP=$(free_port); OT=$(free_port)

"$PROXY_BIN" --gen-cert "$DIR/cert.pem" "$DIR/key.pem" >/dev/null
cat "$DIR/cert.pem" "$DIR/key.pem" > "$DIR/combined.pem"
mkdir -p "$DIR/www"
head -c 65536 /dev/zero | tr '\0' 'b' > "$DIR/www/big"   # the 64 KiB response
# nginx workers run as nobody when started as root: they must reach it.
chmod 711 "$DIR"; chmod 755 "$DIR/www"; chmod 644 "$DIR/www/big"
cat > "$DIR/post.lua" <<'EOF'
wrk.method = "POST"
wrk.body = string.rep("p", 1024)
wrk.headers["Content-Type"] = "application/octet-stream"
EOF

# --- the two backends -------------------------------------------------------
for i in 1 2; do
  port=$([ $i = 1 ] && echo "$B1" || echo "$B2")
  mkdir -p "$DIR/be$i"
  cat > "$DIR/be$i/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $DIR/be$i/nginx.pid;
error_log $DIR/be$i/error.log;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $DIR/be$i; proxy_temp_path $DIR/be$i; fastcgi_temp_path $DIR/be$i;
  uwsgi_temp_path $DIR/be$i; scgi_temp_path $DIR/be$i;
  keepalive_requests 100000;
  server {
    listen 127.0.0.1:$port reuseport;
    location / { return 200 "ok\n"; }   # a POST's body is read and dropped first
    location = /big { root $DIR/www; }
  }
}
EOF
  "$NGINX" -p "$DIR/be$i" -c "$DIR/be$i/nginx.conf" & PIDS+=($!)
done

# --- the forwarding fields vigil-proxy sends, for nginx and HAProxy ------------
NGINX_FORWARD="" HAPROXY_FORWARD=""
if [ "${FORWARD_HEADERS:-1}" = 1 ]; then
  NGINX_FORWARD='      proxy_set_header Host $http_host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_set_header X-Real-IP $remote_addr;
      proxy_set_header Forwarded "for=$remote_addr;proto=$scheme";
      proxy_set_header X-Request-Id $request_id;'
  HAPROXY_FORWARD='  option forwardfor
  http-request set-header X-Forwarded-Proto https if { ssl_fc }
  http-request set-header X-Forwarded-Proto http if !{ ssl_fc }
  http-request set-header X-Real-IP %[src]
  http-request set-header Forwarded for=%[src];proto=https if { ssl_fc }
  http-request set-header Forwarded for=%[src];proto=http if !{ ssl_fc }
  unique-id-format %{+X}o%ci%cp%fp%Ts%rt%pid
  http-request set-header X-Request-Id %[unique-id]'
fi

# --- nginx as the proxy ---------------------------------------------------------
mkdir -p "$DIR/np"
cat > "$DIR/np/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $DIR/np/nginx.pid;
error_log $DIR/np/error.log;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $DIR/np; proxy_temp_path $DIR/np; fastcgi_temp_path $DIR/np;
  uwsgi_temp_path $DIR/np; scgi_temp_path $DIR/np;
  keepalive_requests 100000;
  upstream be { least_conn; server 127.0.0.1:$B1 max_fails=3 fail_timeout=30s; server 127.0.0.1:$B2 max_fails=3 fail_timeout=30s; keepalive 64; }
  server {
    listen 127.0.0.1:$NP;
    listen 127.0.0.1:$NT ssl;
    ssl_certificate $DIR/cert.pem; ssl_certificate_key $DIR/key.pem;
    ssl_protocols TLSv1.2 TLSv1.3;
    location / {
      proxy_pass http://be; proxy_http_version 1.1; proxy_set_header Connection "";
$NGINX_FORWARD
    }
  }
}
EOF
"$NGINX" -p "$DIR/np" -c "$DIR/np/nginx.conf" & PIDS+=($!)

# --- HAProxy ------------------------------------------------------------------
cat > "$DIR/haproxy.cfg" <<EOF
global
  nbthread 1
  maxconn 4096
  log stdout format raw local0 emerg
defaults
  mode http
  timeout connect 5s
  timeout client 60s
  timeout server 60s
  option http-keep-alive
  http-reuse always
frontend fe
  bind 127.0.0.1:$HP
  bind 127.0.0.1:$HT ssl crt $DIR/combined.pem ssl-min-ver TLSv1.2
$HAPROXY_FORWARD
  default_backend be
backend be
  balance leastconn
  option redispatch
  retries 3
  server s1 127.0.0.1:$B1 check inter 1s fall 3 rise 2
  server s2 127.0.0.1:$B2 check inter 1s fall 3 rise 2
EOF
"$HAPROXY" -f "$DIR/haproxy.cfg" -db >"$DIR/haproxy.log" 2>&1 & PIDS+=($!)

# --- vigil-proxy ----------------------------------------------------------------
cat > "$DIR/vigil.ini" <<EOF
[vigil]
state_dir = $DIR
control_socket = $DIR/vigil.sock
log_dir = $DIR

[program:proxy]
kind = proxy

[upstream:be]
balance = least_conn
servers = 127.0.0.1:$B1 127.0.0.1:$B2
max_fails = 3
fail_timeout = 30s

[proxy:plain]
listen = 127.0.0.1:$VP
route = / be

[proxy:tls]
listen = 127.0.0.1:$VT
tls_cert = $DIR/cert.pem
tls_key = $DIR/key.pem
route = / be
EOF
"$PROXY_BIN" -c "$DIR/vigil.ini" --workers 1 --access-log off 2>"$DIR/vigil.log" & PIDS+=($!)
VIGIL_PID=$!
PORTS="$B1 $B2 $NP $NT $HP $HT $VP $VT"
BEFORE_PID=""
if [ -n "$BEFORE_BIN" ]; then
  mkdir -p "$DIR/before"
  sed -e "s|^state_dir = .*|state_dir = $DIR/before|" -e "s|127.0.0.1:$VP\$|127.0.0.1:$OP|" -e "s|127.0.0.1:$VT\$|127.0.0.1:$OT|" \
    "$DIR/vigil.ini" > "$DIR/before/vigil.ini"
  "$BEFORE_BIN" -c "$DIR/before/vigil.ini" --workers 1 --access-log off 2>"$DIR/before/vigil.log" & PIDS+=($!)
  BEFORE_PID=$!
  PORTS="$PORTS $OP $OT"
fi

for p in $PORTS; do wait_port "$p"; done

WRK=(wrk)
pin_server() {  # a (re)started server process and its children, with --pin
  [ "$PIN" = 1 ] || return 0
  local q
  for q in "$1" $(pgrep -P "$1" || true); do taskset -apc "$SRV_CPUS" "$q" >/dev/null; done
}
if [ "$PIN" = 1 ]; then
  NCPU=$(nproc)
  if [ "$NCPU" -lt 2 ]; then echo "--pin needs 2 CPUs or more" >&2; exit 2; fi
  WRK_CPU=$((NCPU - 1)); SRV_CPUS="0-$((NCPU - 2))"
  for p in "${PIDS[@]}"; do pin_server "$p"; done
  WRK=(taskset -c "$WRK_CPU" wrk)
  echo "pinned: wrk on CPU $WRK_CPU, proxies and backends on CPU $SRV_CPUS"
fi

# CPU ticks (user+sys) of a process and its children (nginx master + worker).
cpu_ticks() {
  local total=0 pid
  for pid in "$1" $(pgrep -P "$1" || true); do
    [ -r "/proc/$pid/stat" ] || continue
    total=$((total + $(awk '{sub(/^.*\) /,""); print $12 + $13}' "/proc/$pid/stat")))
  done
  echo "$total"
}
HZ=$(getconf CLK_TCK)

declare -A RPS P50 P99 CPU
to_ms() {  # wrk latency "512.00us" / "1.20ms" / "1.02s" → ms
  awk -v v="$1" 'BEGIN{ if (v ~ /us$/) {sub(/us$/,"",v); print v/1000} else if (v ~ /ms$/) {sub(/ms$/,"",v); print v+0} else if (v ~ /s$/) {sub(/s$/,"",v); print v*1000} else print v }'
}
run() {  # name pid url [wrk args...]
  local name=$1 pid=$2 url=$3
  shift 3
  "${WRK[@]}" -t1 -c"$CONNS" -d2s "$@" "$url" >/dev/null 2>&1 || true  # warm-up: connections, pools, caches
  local before after out
  before=$(cpu_ticks "$pid")
  out=$("${WRK[@]}" -t1 -c"$CONNS" -d"$DURATION" --latency "$@" "$url" 2>&1)
  after=$(cpu_ticks "$pid")
  local reqs rps p50 p99 errors non2xx
  reqs=$(echo "$out" | awk '/requests in/ {print $1}')
  rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  p50=$(to_ms "$(echo "$out" | awk '$1=="50%" {print $2}')")
  p99=$(to_ms "$(echo "$out" | awk '$1=="99%" {print $2}')")
  errors=$(echo "$out" | awk '/Socket errors/ {print $0}')
  non2xx=$(echo "$out" | awk '/Non-2xx/ {print $NF}')
  local cpu
  cpu=$(awk -v t=$((after - before)) -v hz="$HZ" -v n="$reqs" 'BEGIN{ printf "%.1f", t / hz * 1e6 / n }')
  RPS[$name]+="$rps "; P50[$name]+="$p50 "; P99[$name]+="$p99 "; CPU[$name]+="$cpu "
  printf "%-16s %10s req/s  p50 %7s ms  p99 %7s ms  cpu %6s us/req  %s%s\n" "$name" "$rps" "$p50" "$p99" "$cpu" \
    "${errors:+[$errors] }" "${non2xx:+[non-2xx $non2xx]}"
}

NGINX_PID=${PIDS[2]}; HAPROXY_PID=${PIDS[3]}
echo "vigil-proxy $(basename "$PROXY_BIN") vs $("$NGINX" -v 2>&1 | sed 's/.*: //') vs $("$HAPROXY" -v | head -1 | awk '{print "haproxy " $3}')"
echo "wrk -t1 -c$CONNS -d$DURATION, one worker each, two nginx 'return 200' backends, 127.0.0.1"
declare -A PID_OF URL_OF
PID_OF=([nginx]=$NGINX_PID [haproxy]=$HAPROXY_PID [vigil-proxy]=$VIGIL_PID)
URL_OF=([nginx]="127.0.0.1:$NP" [haproxy]="127.0.0.1:$HP" [vigil-proxy]="127.0.0.1:$VP"
        [nginx-tls]="127.0.0.1:$NT" [haproxy-tls]="127.0.0.1:$HT" [vigil-proxy-tls]="127.0.0.1:$VT")
order=(nginx haproxy vigil-proxy)
if [ -n "$BEFORE_PID" ]; then
  PID_OF[vigil-before]=$BEFORE_PID
  URL_OF[vigil-before]="127.0.0.1:$OP"; URL_OF[vigil-before-tls]="127.0.0.1:$OT"
  order+=(vigil-before)
  echo "vigil-before: $BEFORE_BIN"
fi
for round in $(seq 1 "$ROUNDS"); do
  [ "$ROUNDS" -gt 1 ] && echo "round $round"
  for mode in plain tls post big; do
    [ -z "$ONLY" ] || [ "$ONLY" = "$mode" ] || continue
    for p in "${order[@]}"; do
      case $mode in
        plain) run "$p" "${PID_OF[$p]}" "http://${URL_OF[$p]}/" ;;
        tls) run "$p-tls" "${PID_OF[$p]}" "https://${URL_OF[$p-tls]}/" ;;
        post) run "$p-post" "${PID_OF[$p]}" "http://${URL_OF[$p]}/" -s "$DIR/post.lua" ;;
        big) run "$p-big" "${PID_OF[$p]}" "http://${URL_OF[$p]}/big" ;;
      esac
    done
  done
  order=("${order[@]:1}" "${order[0]}")  # rotate: nobody always runs first
done
median() { tr ' ' '\n' <<<"$1" | grep -v '^$' | sort -g | awk '{a[NR]=$1} END{ if (NR) print (NR % 2 ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2) }'; }
for k in "${!RPS[@]}"; do
  RPS[$k]=$(median "${RPS[$k]}"); P50[$k]=$(median "${P50[$k]}"); P99[$k]=$(median "${P99[$k]}"); CPU[$k]=$(median "${CPU[$k]}")
done
if [ "$ROUNDS" -gt 1 ]; then
  echo; echo "medians of $ROUNDS rounds"
  for k in nginx haproxy vigil-proxy vigil-before nginx-tls haproxy-tls vigil-proxy-tls vigil-before-tls \
           nginx-post haproxy-post vigil-proxy-post vigil-before-post nginx-big haproxy-big vigil-proxy-big vigil-before-big; do
    [ -n "${RPS[$k]:-}" ] && printf "%-16s %10s req/s  p50 %7s ms  p99 %7s ms  cpu %6s us/req\n" "$k" "${RPS[$k]}" "${P50[$k]}" "${P99[$k]}" "${CPU[$k]}"
  done
fi

ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (b > 0) printf "%.2f", a / b; else print "-" }'; }
echo
target_of() { case $1 in "") echo 1.2 ;; -tls) echo 1.1 ;; -post) echo "1.2, cpu 0.8" ;; *) echo - ;; esac; }
for mode in "" "-tls" "-post" "-big"; do
  [ -n "${RPS[vigil-proxy$mode]:-}" ] || continue
  printf "%-6s vigil/nginx req/s %s (target %s)  vigil/haproxy req/s %s  p99 vigil/nginx %s  cpu vigil/nginx %s\n" \
    "${mode:-plain}" "$(ratio "${RPS[vigil-proxy$mode]}" "${RPS[nginx$mode]}")" "$(target_of "$mode")" \
    "$(ratio "${RPS[vigil-proxy$mode]}" "${RPS[haproxy$mode]}")" \
    "$(ratio "${P99[vigil-proxy$mode]}" "${P99[nginx$mode]}")" \
    "$(ratio "${CPU[vigil-proxy$mode]}" "${CPU[nginx$mode]}")"
  [ -n "${RPS[vigil-before$mode]:-}" ] && printf "%-6s vigil-before/nginx req/s %s  vigil/vigil-before req/s %s  cpu vigil/vigil-before %s\n" \
    "${mode:-plain}" "$(ratio "${RPS[vigil-before$mode]}" "${RPS[nginx$mode]}")" \
    "$(ratio "${RPS[vigil-proxy$mode]}" "${RPS[vigil-before$mode]}")" "$(ratio "${CPU[vigil-proxy$mode]}" "${CPU[vigil-before$mode]}")"
done

[ "$FAILOVER" = 1 ] || exit 0

# --- failover: kill backend 1 under load, restart it ------------------------------
cat > "$DIR/failover.lua" <<'EOF'
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("FAILOVER requests=%d non2xx=%d socket_errors=%d p999_ms=%.2f\n",
    summary.requests, e.status, e.connect + e.read + e.write + e.timeout, latency:percentile(99.9) / 1000))
end
EOF
# The restarted backend logs each request's time, to see when traffic returns.
sed -e "s|access_log off;|log_format t '\$msec'; access_log $DIR/be1/access.log t;|" "$DIR/be1/nginx.conf" > "$DIR/be1/nginx-log.conf"
BE1_PID=${PIDS[0]}
admin() {
  curl -s -o /dev/null --unix-socket "$DIR/proxy.sock" -X POST -d "{\"state\":\"$1\"}" \
    "http://proxy/v1/pools/be/servers/127.0.0.1:$B1/state"
}
failover() {  # name url [1 = act as vigild]
  local name=$1 url=$2 vigil=${3:-0}
  rm -f "$DIR/be1/access.log"
  "${WRK[@]}" -t1 -c"$CONNS" -d20s -s "$DIR/failover.lua" "$url" > "$DIR/failover-$name.txt" 2>&1 &
  local wrk_pid=$!
  sleep 5
  kill -9 "$BE1_PID" $(pgrep -P "$BE1_PID" || true) 2>/dev/null || true
  wait "$BE1_PID" 2>/dev/null || true
  if [ "$vigil" = 1 ]; then admin down; fi
  sleep 7
  "$NGINX" -p "$DIR/be1" -c "$DIR/be1/nginx-log.conf" & BE1_PID=$!; PIDS+=("$BE1_PID")
  wait_port "$B1"
  pin_server "$BE1_PID"
  local t_up; t_up=$(date +%s.%N)
  if [ "$vigil" = 1 ]; then admin up; fi
  wait "$wrk_pid" || true
  local first back
  first=$(head -1 "$DIR/be1/access.log" 2>/dev/null || true)
  back=$(awk -v a="$first" -v b="$t_up" 'BEGIN{ if (a == "") print "unused"; else printf "%.3fs", a - b }')
  printf "%-14s %s traffic_back_after=%s\n" "$name" "$(grep FAILOVER "$DIR/failover-$name.txt" | sed 's/FAILOVER //')" "$back"
  # The next run starts with both backends serving, be1 without the log.
  kill "$BE1_PID" 2>/dev/null || true
  wait "$BE1_PID" 2>/dev/null || true
  "$NGINX" -p "$DIR/be1" -c "$DIR/be1/nginx.conf" & BE1_PID=$!; PIDS+=("$BE1_PID")
  wait_port "$B1"
  pin_server "$BE1_PID"
}
echo
echo "failover: wrk -t1 -c$CONNS -d20s, backend 1 SIGKILLed at 5 s, restarted at 12 s"
failover nginx "http://127.0.0.1:$NP/"
failover haproxy "http://127.0.0.1:$HP/"
failover vigil-proxy "http://127.0.0.1:$VP/" 1
