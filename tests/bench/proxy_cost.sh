#!/usr/bin/env bash
# What one proxied request costs vigil-proxy, in measures that do not depend
# on how busy the machine is (proxy_bench.sh's req/s do): system calls,
# user-space instructions and heap allocations per request, for one or more
# vigil-proxy binaries in front of the same nginx backend, same load.
#
#   tests/bench/proxy_cost.sh [--mode get|post|big] [--requests-time 5s] [--runs N] BIN [BIN...]
#
# For each BIN, each of --runs rounds (binaries alternate within a round):
#   syscalls   `perf stat -e raw_syscalls:sys_enter` on the proxy during a
#              wrk run, divided by wrk's request count (strace -c -f as a
#              fallback, and always once for the per-call breakdown);
#   instr      callgrind over the whole process, counters zeroed after the
#              warm-up and dumped before the stop: Ir / requests;
#   allocs     the same callgrind dump: calls to malloc, calloc, realloc and
#              posix_memalign, / requests.
# BIN may be the word nginx: nginx 1.22 as the proxy in front of the same
# backend (the yardstick), configured as proxy_bench.sh's (HTTP/1.1 and
# keepalive to the upstream, no access log, the forwarding fields vigil-proxy
# sends; FORWARD_HEADERS=0: without them), one process
# (`master_process off`) so that perf and callgrind see its only worker.
# Prints every run and the medians. wrk -t1 -c10, keep-alive; POST: 1 KiB
# body (as proxy_bench.sh). Traffic stays on 127.0.0.1, every run bounded.
set -euo pipefail

MODE=post
DUR=5s
RUNS=3
BREAKDOWN=0
BINS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --mode) MODE="$2"; shift 2 ;;
    --requests-time) DUR="$2"; shift 2 ;;
    --runs) RUNS="$2"; shift 2 ;;
    --breakdown) BREAKDOWN=1; shift ;;
    -*) echo "usage: $0 [--mode get|post|big] [--requests-time 5s] [--runs N] [--breakdown] BIN [BIN...]" >&2; exit 2 ;;
    *) BINS+=("$1"); shift ;;
  esac
done
[ ${#BINS[@]} -gt 0 ] || { echo "no vigil-proxy binary given" >&2; exit 2; }
for b in "${BINS[@]}"; do [ "$b" = nginx ] || [ -x "$b" ] || { echo "$b is not executable" >&2; exit 2; }; done
for t in nginx wrk valgrind callgrind_annotate; do
  command -v "$t" >/dev/null || [ -x "/usr/sbin/$t" ] || { echo "$t is missing" >&2; exit 2; }
done
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

. "$(dirname "$0")/lib.sh"
bench_dir vigil-proxy-cost

BE=$(free_port)
mkdir -p "$DIR/be" "$DIR/www"
head -c 65536 /dev/zero | tr '\0' 'b' > "$DIR/www/big"
chmod 711 "$DIR"; chmod 755 "$DIR/www"; chmod 644 "$DIR/www/big"
cat > "$DIR/be/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $DIR/be/nginx.pid;
error_log $DIR/be/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $DIR/be; proxy_temp_path $DIR/be; fastcgi_temp_path $DIR/be;
  uwsgi_temp_path $DIR/be; scgi_temp_path $DIR/be;
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:$BE;
    location / { return 200 "ok\n"; }
    location = /big { root $DIR/www; }
  }
}
EOF
"$NGINX" -p "$DIR/be" -c "$DIR/be/nginx.conf" & PIDS+=($!)
wait_port "$BE"
cat > "$DIR/post.lua" <<'EOF'
wrk.method = "POST"
wrk.body = string.rep("p", 1024)
wrk.headers["Content-Type"] = "application/octet-stream"
EOF
case $MODE in
  get) PATH_=/; WRK_EXTRA=() ;;
  post) PATH_=/; WRK_EXTRA=(-s "$DIR/post.lua") ;;
  big) PATH_=/big; WRK_EXTRA=() ;;
  *) echo "--mode get|post|big" >&2; exit 2 ;;
esac

config() {  # port
  cat <<EOF
[vigil]
state_dir = $DIR
control_socket = $DIR/vigil.sock
log_dir = $DIR

[program:proxy]
kind = proxy

[upstream:be]
servers = 127.0.0.1:$BE

[proxy:plain]
listen = 127.0.0.1:$1
route = / be
EOF
}

nginx_config() {  # port dir: nginx as the proxy, proxy_bench.sh's settings
  cat <<EOF
worker_processes 1;
master_process off;
daemon off;
pid $2/nginx.pid;
error_log $2/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $2; proxy_temp_path $2; fastcgi_temp_path $2;
  uwsgi_temp_path $2; scgi_temp_path $2;
  keepalive_requests 1000000;
  upstream be { server 127.0.0.1:$BE; keepalive 64; }
  server {
    listen 127.0.0.1:$1;
    location / {
      proxy_pass http://be; proxy_http_version 1.1; proxy_set_header Connection "";
$([ "${FORWARD_HEADERS:-1}" = 1 ] && cat <<'FWD'
      proxy_set_header Host $http_host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_set_header X-Real-IP $remote_addr;
      proxy_set_header Forwarded "for=$remote_addr;proto=$scheme";
      proxy_set_header X-Request-Id $request_id;
FWD
)
    }
  }
}
EOF
}

# Starts BIN under an optional wrapper, loads it with wrk, stops it; prints
# wrk's request count. $1 = label, $2 = bin, rest = wrapper command.
load() {
  local label=$1 bin=$2; shift 2
  local port; port=$(free_port)
  mkdir -p "$DIR/$label"
  config "$port" > "$DIR/$label/vigil.ini"
  sed -i "s|^state_dir = .*|state_dir = $DIR/$label|; s|^control_socket = .*|control_socket = $DIR/$label/vigil.sock|" "$DIR/$label/vigil.ini"
  if [ "$bin" = nginx ]; then
    nginx_config "$port" "$DIR/$label" > "$DIR/$label/nginx.conf"
    "$@" "$NGINX" -p "$DIR/$label" -c "$DIR/$label/nginx.conf" 2>"$DIR/$label/proxy.log" &
  else
    "$@" "$bin" -c "$DIR/$label/vigil.ini" --workers 1 --access-log off 2>"$DIR/$label/proxy.log" &
  fi
  local pid=$!
  wait_port "$port"
  wrk -t1 -c10 -d1s "${WRK_EXTRA[@]}" "http://127.0.0.1:$port$PATH_" >/dev/null 2>&1 || true  # warm: pools, caches
  echo "$pid" > "$DIR/$label/pid"
  # Under callgrind: count from here (the warm-up is not measured).
  [ -z "${CALLGRIND:-}" ] || callgrind_control -z "$pid" >/dev/null 2>&1
  [ -z "${ATTACH:-}" ] || { "${ATTACH[@]}" -p "$pid" 2>"$DIR/$label/attach.txt" & echo $! > "$DIR/$label/attach.pid"; sleep 0.3; }
  local out; out=$(wrk -t1 -c10 -d"$DUR" "${WRK_EXTRA[@]}" "http://127.0.0.1:$port$PATH_" 2>&1)
  if [ -n "${ATTACH:-}" ]; then kill -INT "$(cat "$DIR/$label/attach.pid")"; wait "$(cat "$DIR/$label/attach.pid")" 2>/dev/null || true; fi
  [ -z "${CALLGRIND:-}" ] || callgrind_control -d "$pid" >/dev/null 2>&1  # up to here: no shutdown work
  kill -TERM "$pid"; wait "$pid" 2>/dev/null || true
  local errs; errs=$(echo "$out" | grep -E 'Socket errors|Non-2xx' || true)
  [ -z "$errs" ] || echo "  $label: $errs" >&2
  echo "$out" | awk '/requests in/ {print $1}'
}

median() { tr ' ' '\n' <<<"$1" | grep -v '^$' | sort -g | awk '{a[NR]=$1} END{ if (NR) print (NR % 2 ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2) }'; }
declare -A SYS INS ALL
echo "mode $MODE, wrk -t1 -c10 -d$DUR keep-alive, one nginx backend, --workers 1"
for r in $(seq 1 "$RUNS"); do
  for i in "${!BINS[@]}"; do
    b=${BINS[$i]}; tag="b$i-r$r"
    # System calls: perf's tracepoint counter (no slowdown); strace if perf cannot.
    if perf stat -e raw_syscalls:sys_enter true >/dev/null 2>&1; then
      ATTACH=(perf stat -e raw_syscalls:sys_enter)
      n=$(load "$tag-s" "$b")
      calls=$(awk '/raw_syscalls:sys_enter/ {gsub(",", "", $1); print $1}' "$DIR/$tag-s/attach.txt")
    else
      ATTACH=(strace -c -f)
      n=$(load "$tag-s" "$b")
      calls=$(awk '$NF == "total" {print $4}' "$DIR/$tag-s/attach.txt")
    fi
    unset ATTACH
    sys=$(awk -v c="$calls" -v n="$n" 'BEGIN{printf "%.2f", c / n}')
    # Instructions and allocations: callgrind, the worker loop only.
    CALLGRIND=1
    n2=$(load "$tag-c" "$b" valgrind --tool=callgrind --callgrind-out-file="$DIR/$tag-c/cg.out")
    unset CALLGRIND
    dump=$(ls "$DIR/$tag-c"/cg.out.* | head -1)
    ir=$(awk '/^summary:/ {print $2} /^totals:/ {print $2}' "$dump" | head -1)
    # calls= lines follow a cfn= line naming the callee (compressed names:
    # "(id) name" the first time, "(id)" after).
    mallocs=$(awk '
      function named(s,   id) {
        if (match(s, /^\([0-9]+\) /)) { id = substr(s, 1, RLENGTH - 1); name[id] = substr(s, RLENGTH + 1); return name[id] }
        if (s ~ /^\([0-9]+\)$/) return name[s]
        return s
      }
      /^fn=/ { named(substr($0, 4)); next }
      /^cfn=/ { cur = named(substr($0, 5)); next }
      /^calls=/ { split(substr($0, 7), a, " "); if (cur == "malloc" || cur == "calloc" || cur == "realloc" || cur == "posix_memalign") t += a[1]; next }
      END { print t + 0 }' "$dump")
    ins=$(awk -v c="$ir" -v n="$n2" 'BEGIN{printf "%.0f", c / n}')
    al=$(awk -v c="$mallocs" -v n="$n2" 'BEGIN{printf "%.2f", c / n}')
    SYS[$i]+="$sys "; INS[$i]+="$ins "; ALL[$i]+="$al "
    printf "run %d  %-40s syscalls/req %6s  (%s req)   instr/req %7s  allocs/req %5s  (%s req under callgrind)\n" \
      "$r" "$b" "$sys" "$n" "$ins" "$al" "$n2"
  done
done
echo
echo "medians of $RUNS runs"
for i in "${!BINS[@]}"; do
  printf "%-48s syscalls/req %6s  instr/req %7s  allocs/req %5s\n" "${BINS[$i]}" \
    "$(median "${SYS[$i]}")" "$(median "${INS[$i]}")" "$(median "${ALL[$i]}")"
done
if [ "$BREAKDOWN" = 1 ]; then
  for i in "${!BINS[@]}"; do
    echo; echo "strace -c -f, ${BINS[$i]}:"
    ATTACH=(strace -c -f)
    n=$(load "b$i-strace" "${BINS[$i]}")
    unset ATTACH
    echo "$n requests"
    awk -v n="$n" '/^ *[0-9.]+ +[0-9.]+ +[0-9]+ +[0-9]+/ { printf "  %-16s %8.3f per request\n", $NF, $4 / n }' "$DIR/b$i-strace/attach.txt"
  done
fi
