#!/usr/bin/env bash
# Proxy restarts under load (issue 17): requests refused and failed while
#   (a) the proxy process is killed with SIGKILL, and
#   (b) it is restarted as planned,
# for vigil-proxy under vigild (kind = proxy: vigild holds the listening
# sockets; (a) kill -9 of vigil-proxy, vigild starts the next one; (b)
# `vigilctl restart proxy`, a handover), nginx (master + one worker; (a) kill
# -9 of the worker, the master forks the next; (b) `nginx -s reload`) and
# HAProxy (2.6 master-worker, `-W -S`, `expose-fd listeners`; (a) kill -9 of
# the worker: the master exits, and the script starts haproxy again at once
# as systemd's Restart=always would; (b) `reload` on the master CLI, the
# seamless reload). Same two nginx `return 200` backends, same load for
# each: wrk -t1 -c8 on kept-alive connections and wrk -t1 -c2 sending
# `Connection: close` (a new connection per request, so that a refused
# connection shows), for DURATION (default 6s), the event at 2 s. One run.
#
#   tests/bench/restart_bench.sh [--duration 6s]
#
# refused: wrk's connect errors (connection attempts refused). failed:
# read, write and timeout errors and non-2xx answers. "to serving": from the
# command (or the kill) to the new proxy serving: for vigil-proxy until
# `vigilctl restart` returns (it answers once the new proxy said READY=1 and
# took over) and, for the kill, until vigild logs the new one's READY=1; for
# nginx and HAProxy until the new worker process exists (it serves from
# there), polled every millisecond. All traffic stays on 127.0.0.1.
set -euo pipefail

DURATION=6s
while [ $# -gt 0 ]; do
  case "$1" in
    --duration) DURATION="$2"; shift 2 ;;
    *) echo "usage: $0 [--duration 6s]" >&2; exit 2 ;;
  esac
done

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
BUILD="${VIGIL_BUILD:-$ROOT/build}"
VIGILD="$BUILD/supervisor/vigild"; VIGILCTL="$BUILD/supervisor/vigilctl"; PROXY="$BUILD/proxy/vigil-proxy"
for b in "$VIGILD" "$VIGILCTL" "$PROXY"; do [ -x "$b" ] || { echo "$b not built (VIGIL_BUILD=build dir)" >&2; exit 1; }; done
for t in nginx haproxy wrk python3; do
  command -v "$t" >/dev/null || [ -x "/usr/sbin/$t" ] || { echo "$t missing: scripts/setup.sh installs it" >&2; exit 1; }
done
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
HAPROXY=$(command -v haproxy || echo /usr/sbin/haproxy)

. "$(dirname "$0")/lib.sh"
bench_dir vigil-restart-bench
# vigild first, so that it does not restart what the trap kills; haproxy
# re-executes itself on reload, so its pid is in a file, not in PIDS.
bench_before_kill() {
  [ -S "$DIR/vigil.sock" ] && "$VIGILCTL" -s "$DIR/vigil.sock" shutdown >/dev/null 2>&1 || true
  for p in $(cat "$DIR/haproxy.pid" 2>/dev/null || true); do kill "$p" 2>/dev/null || true; done
}
now_ms() { date +%s%3N; }
children() { cat /proc/"$1"/task/*/children 2>/dev/null || true; }
# Polls (1 ms) until `children $1` has a pid not in "$2"; prints ms since $3.
wait_new_child() {
  local parent=$1 old=" $2 " t0=$3 p
  for _ in $(seq 1 5000); do
    for p in $(children "$parent"); do
      case "$old" in *" $p "*) ;; *) echo $(( $(now_ms) - t0 )); return 0 ;; esac
    done
    sleep 0.001
  done
  echo "timeout"
}

B1=$(free_port); B2=$(free_port); NP=$(free_port); HP=$(free_port); VP=$(free_port)

# --- backends, nginx, HAProxy ---------------------------------------------------
nginx_conf() {  # dir listen body
  cat > "$1/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $1/nginx.pid;
error_log $1/error.log;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $1; proxy_temp_path $1; fastcgi_temp_path $1; uwsgi_temp_path $1; scgi_temp_path $1;
  keepalive_requests 100000;
  $3
  server { listen 127.0.0.1:$2; location / { $4 } }
}
EOF
}
chmod 711 "$DIR"
for i in 1 2; do
  mkdir -p "$DIR/be$i"
  nginx_conf "$DIR/be$i" "$([ $i = 1 ] && echo "$B1" || echo "$B2")" "" 'return 200 "ok\n";'
  "$NGINX" -p "$DIR/be$i" -c "$DIR/be$i/nginx.conf" & PIDS+=($!)
done
mkdir -p "$DIR/np"
nginx_conf "$DIR/np" "$NP" "upstream be { least_conn; server 127.0.0.1:$B1; server 127.0.0.1:$B2; keepalive 64; }" \
  'proxy_pass http://be; proxy_http_version 1.1; proxy_set_header Connection "";'
"$NGINX" -p "$DIR/np" -c "$DIR/np/nginx.conf" & PIDS+=($!)
NGINX_MASTER=$!

cat > "$DIR/haproxy.cfg" <<EOF
global
  nbthread 1
  maxconn 4096
  stats socket $DIR/haproxy-admin.sock mode 600 level admin expose-fd listeners
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
  default_backend be
backend be
  balance leastconn
  option redispatch
  retries 3
  server s1 127.0.0.1:$B1
  server s2 127.0.0.1:$B2
EOF
start_haproxy() {
  "$HAPROXY" -W -S "$DIR/haproxy-master.sock" -f "$DIR/haproxy.cfg" -p "$DIR/haproxy.pid" >>"$DIR/haproxy.log" 2>&1 &
  HAPROXY_MASTER=$!
}
start_haproxy

# --- vigil-proxy under vigild -------------------------------------------------------
mkdir -p "$DIR/state" "$DIR/log"
cat > "$DIR/vigil.ini" <<EOF
[vigil]
state_dir = $DIR/state
control_socket = $DIR/vigil.sock
log_dir = $DIR/log

[program:proxy]
kind = proxy
command = $PROXY -c $DIR/vigil.ini --admin $DIR/state/proxy.sock --workers 1 --access-log off --grace 9s
backoff = 0s,2,10s

[upstream:be]
balance = least_conn
servers = 127.0.0.1:$B1 127.0.0.1:$B2

[proxy:plain]
listen = 127.0.0.1:$VP
route = / be
EOF
"$VIGILD" -c "$DIR/vigil.ini" 2>"$DIR/vigild.log" & PIDS+=($!)
VIGILD_PID=$!
CTL=("$VIGILCTL" -s "$DIR/vigil.sock")

for p in "$B1" "$B2" "$NP" "$HP" "$VP"; do wait_port "$p"; done
"${CTL[@]}" wait proxy >/dev/null 2>&1 || true

# --- one measurement ------------------------------------------------------------
# wrk's "Socket errors: connect A, read B, write C, timeout D" and non-2xx.
parse() {  # wrk output → "requests connect read write timeout non2xx"
  awk '/requests in/ {r=$1} /Socket errors/ {gsub(",",""); c=$4; rd=$6; w=$8; t=$10} /Non-2xx/ {n=$NF}
       END {print r+0, c+0, rd+0, w+0, t+0, n+0}' <<<"$1"
}
declare -A ROW
measure() {  # label url event-function
  local label=$1 url=$2 event=$3
  local ka cl
  wrk -t1 -c8 -d"$DURATION" "http://$url/" >"$DIR/ka.out" 2>&1 & ka=$!
  wrk -t1 -c2 -d"$DURATION" -H "Connection: close" "http://$url/" >"$DIR/cl.out" 2>&1 & cl=$!
  sleep 2  # the load's steady state before the event (pacing, not a wait for a state)
  # In this shell, not a $(…) one: an event may start a process (haproxy) that later ones use.
  $event >"$DIR/serving"
  local serving; serving=$(cat "$DIR/serving")
  wait "$ka" "$cl" || true
  read -r r1 c1 rd1 w1 t1 n1 <<<"$(parse "$(cat "$DIR/ka.out")")"
  read -r r2 c2 rd2 w2 t2 n2 <<<"$(parse "$(cat "$DIR/cl.out")")"
  local detail="read $((rd1 + rd2)), write $((w1 + w2)), timeout $((t1 + t2)), non-2xx $((n1 + n2))"
  ROW[$label]="$((c1 + c2)) | $((rd1 + w1 + t1 + n1 + rd2 + w2 + t2 + n2)) ($detail) | $((r1 + r2)) | $serving"
  printf "%-34s refused %6s  failed %6s (%s)  of %8s requests  to serving %s ms\n" "$label" "$((c1 + c2))" \
    "$((rd1 + w1 + t1 + n1 + rd2 + w2 + t2 + n2))" "$detail" "$((r1 + r2))" "$serving"
}

vigil_pid() { "${CTL[@]}" pid proxy; }
vigil_kill() {
  local ready='proxy: STARTING -> RUNNING: READY=1' t0 pid seen
  pid=$(vigil_pid); seen=$(grep -ac "$ready" "$DIR/vigild.log" || true); t0=$(now_ms)
  kill -9 "$pid"
  # The next READY=1 in vigild's log, by its own timestamp (ms).
  for _ in $(seq 1 5000); do
    if [ "$(grep -ac "$ready" "$DIR/vigild.log" || true)" -gt "$seen" ]; then
      python3 -c 'import sys,datetime; f=sys.argv[1].split(); print(int(datetime.datetime.fromisoformat(f[0]+" "+f[1]).timestamp()*1000) - int(sys.argv[2]))' \
        "$(grep -a "$ready" "$DIR/vigild.log" | tail -n1)" "$t0"
      return 0
    fi
    sleep 0.001
  done
  echo timeout
}
vigil_restart() {
  local t0 total; t0=$(now_ms)
  "${CTL[@]}" restart proxy >/dev/null
  total=$(( $(now_ms) - t0 ))
  # Inside vigild, by its log's timestamps: handover started → new proxy ready and in charge.
  local inside
  inside=$(python3 - "$DIR/vigild.log" <<'EOF'
import datetime, sys
def ts(l):
    f = l.split()
    return datetime.datetime.fromisoformat(f[0] + " " + f[1]).timestamp() * 1000
lines = open(sys.argv[1], errors="replace").read().splitlines()
start = [l for l in lines if "starting a new proxy beside" in l][-1]
done = [l for l in lines if "is ready and takes over from" in l][-1]
print(int(ts(done) - ts(start)))
EOF
)
  echo "$total (in vigild $inside)"
}
nginx_kill() {
  local old t0; old=$(children "$NGINX_MASTER"); t0=$(now_ms)
  kill -9 $old
  wait_new_child "$NGINX_MASTER" "$old" "$t0"
}
nginx_reload() {
  local old t0; old=$(children "$NGINX_MASTER"); t0=$(now_ms)
  "$NGINX" -p "$DIR/np" -c "$DIR/np/nginx.conf" -s reload 2>/dev/null
  wait_new_child "$NGINX_MASTER" "$old" "$t0"
}
haproxy_kill() {
  local old t0; old=$(children "$HAPROXY_MASTER"); t0=$(now_ms)
  kill -9 $old
  # The master exits when its worker dies; started again at once (systemd's Restart=always).
  wait "$HAPROXY_MASTER" 2>/dev/null || true
  start_haproxy
  wait_new_child "$HAPROXY_MASTER" "" "$t0"
}
haproxy_reload() {
  local old t0; old=$(children "$HAPROXY_MASTER"); t0=$(now_ms)
  python3 - "$DIR/haproxy-master.sock" <<'EOF' || echo "master CLI reload failed" >&2
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.sendall(b"reload\n"); s.settimeout(2)
try:
    s.recv(4096)
except OSError:
    pass
EOF
  wait_new_child "$HAPROXY_MASTER" "$old" "$t0"
}

echo "vigil-proxy (vigild, kind = proxy) vs $("$NGINX" -v 2>&1 | sed 's/.*: //') vs haproxy $("$HAPROXY" -v | head -1 | awk '{print $3}')"
echo "load: wrk -t1 -c8 keep-alive + wrk -t1 -c2 Connection: close, $DURATION each, the event at 2 s; one worker each"
measure "vigil-proxy (a) kill -9" "127.0.0.1:$VP" vigil_kill
measure "vigil-proxy (b) vigilctl restart" "127.0.0.1:$VP" vigil_restart
measure "nginx (a) kill -9 worker" "127.0.0.1:$NP" nginx_kill
measure "nginx (b) -s reload" "127.0.0.1:$NP" nginx_reload
measure "haproxy (a) kill -9 worker" "127.0.0.1:$HP" haproxy_kill
measure "haproxy (b) master CLI reload" "127.0.0.1:$HP" haproxy_reload

echo
echo "| proxy, event | refused connections | failed requests | requests | to serving (ms) |"
echo "| --- | --- | --- | --- | --- |"
for l in "vigil-proxy (a) kill -9" "vigil-proxy (b) vigilctl restart" "nginx (a) kill -9 worker" "nginx (b) -s reload" \
         "haproxy (a) kill -9 worker" "haproxy (b) master CLI reload"; do
  echo "| $l | ${ROW[$l]} |"
done
