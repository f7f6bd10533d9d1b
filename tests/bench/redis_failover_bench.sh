#!/usr/bin/env bash
# A Redis master killed (kill -9, its data directory deleted: it cannot come
# back) under a writer, in one run, side by side on 127.0.0.1:
#  - vigil: vigild with a `kind = redis` pair (`replica_of`) behind
#    vigil-proxy's `mode = tcp` listener and a `role = primary` pool; the
#    writer knows only the listener's address;
#  - Redis Sentinel at its published defaults (down-after-milliseconds
#    30000, failover-timeout 180000): a plain master + replica, 3 sentinels,
#    quorum 2; the writer asks a sentinel for the master on each failed write
#    (SENTINEL get-master-addr-by-name), as a Sentinel-aware client does;
#  - the same Sentinel tuned aggressively: down-after-milliseconds 1000.
# The writer (redis_failover_writer.py) SETs one unique key every ~10 ms.
# Measured: kill → first accepted write (ms), writes acknowledged and
# acknowledged writes missing on the master of the end.
#
#   tests/bench/redis_failover_bench.sh [--rounds N] [--quick]
#
# --quick leaves out Sentinel at its defaults (each of its rounds takes
# 30 s+). Needs root (vigild runs redis-server as user redis), redis-server,
# redis-sentinel (scripts/setup.sh installs both) and the build
# (build/supervisor/vigild, build/proxy/vigil-proxy).
set -euo pipefail

ROUNDS=1
QUICK=0
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) ROUNDS="$2"; shift 2 ;;
    --quick) QUICK=1; shift ;;
    *) echo "usage: $0 [--rounds N] [--quick]" >&2; exit 2 ;;
  esac
done
[[ "$ROUNDS" =~ ^[1-9][0-9]*$ ]] || { echo "--rounds needs a positive number, not '$ROUNDS'" >&2; exit 2; }

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
VIGILD="${VIGILD:-$ROOT/build/supervisor/vigild}"
VIGILCTL="${VIGILCTL:-$ROOT/build/supervisor/vigilctl}"
WRITER="$ROOT/tests/bench/redis_failover_writer.py"
fail() { echo "redis_failover_bench: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || fail "needs root (vigild runs redis-server as user redis)"
getent passwd redis >/dev/null || fail "no user redis (install redis-server: ./scripts/setup.sh)"
[ -x /usr/bin/redis-server ] || fail "no /usr/bin/redis-server (./scripts/setup.sh installs it)"
command -v redis-sentinel >/dev/null || fail "no redis-sentinel (./scripts/setup.sh installs it)"
command -v python3 >/dev/null || fail "no python3 (./scripts/setup.sh installs it)"
command -v redis-cli >/dev/null || fail "no redis-cli (redis-tools; ./scripts/setup.sh installs it)"
[ -x "$VIGILD" ] || fail "vigild not built: $VIGILD (./scripts/build.sh, or set VIGILD)"
[ -x "$VIGILCTL" ] || fail "vigilctl not built: $VIGILCTL (./scripts/build.sh, or set VIGILCTL)"
[ -x "$(dirname "$VIGILD")/../proxy/vigil-proxy" ] || fail "vigil-proxy not built next to vigild"

. "$(dirname "$0")/lib.sh"
bench_dir vigil-redis-failover
chmod 755 "$DIR"  # redis (the user) must reach the data directories inside

# Each run writes the writer's line to $DIR/line; not in a subshell, so that
# PIDS (what the EXIT trap stops) sees every process started.
run_vigil() {  # round
  local d="$DIR/vigil$1"; mkdir -p "$d/data"; chmod 755 "$d"; chown redis: "$d/data"
  local pa pb pl; pa=$(free_port); pb=$(free_port); pl=$(free_port)
  vigil_pair_ini "$d/vigil.ini" "$d" redis redis cache cache "$d/data" "$pa" "$pb" "$pl"
  start_vigild "$d"; local vpid=$VIGILD_PID
  wait_for 60 "the vigil pair in sync" vigil_status_has "$d/vigil.sock" cache-replica "replica of cache, sync" \
    || { tail -n 20 "$d/vigild.log" >&2; return 1; }
  local mpid; mpid=$("$VIGILCTL" -s "$d/vigil.sock" pid cache)
  python3 "$WRITER" --listener "$pl" --kill-pid "$mpid" --data-dir "$d/data/cache" >"$DIR/line" || true
  kill "$vpid" 2>/dev/null || true; wait "$vpid" 2>/dev/null || true
}

run_sentinel() {  # round down-after-ms
  local d="$DIR/sentinel$1-$2"; mkdir -p "$d/m" "$d/r"
  local pm pr; pm=$(free_port); pr=$(free_port)
  local started=()
  /usr/bin/redis-server --port "$pm" --bind 127.0.0.1 --dir "$d/m" --appendonly yes >"$d/m.log" 2>&1 & started+=($!)
  local mpid=$!
  /usr/bin/redis-server --port "$pr" --bind 127.0.0.1 --dir "$d/r" --appendonly yes \
    --replicaof 127.0.0.1 "$pm" >"$d/r.log" 2>&1 & started+=($!)
  local sp=()
  for i in 1 2 3; do
    local p; p=$(free_port); sp+=("$p")
    # down-after-milliseconds and failover-timeout written out at the values
    # Sentinel uses when they are absent (its published defaults) or tuned.
    cat > "$d/s$i.conf" <<EOF
port $p
bind 127.0.0.1
dir $d
sentinel monitor m 127.0.0.1 $pm 2
sentinel down-after-milliseconds m $2
sentinel failover-timeout m 180000
EOF
    redis-sentinel "$d/s$i.conf" >"$d/s$i.log" 2>&1 & started+=($!)
  done
  PIDS+=("${started[@]}")
  disown -a  # no "Killed" job notice for the master: the kill -9 is the experiment
  wait_for 30 "the replica in sync" bash -c "redis-cli -p $pr info replication | grep -q 'master_link_status:up'" || return 1
  # Every sentinel knows the replica and the two other sentinels (hello
  # messages every 2 s), or a failover could not be voted.
  for p in "${sp[@]}"; do
    wait_for 30 "sentinel $p ready" bash -c "redis-cli -p $p sentinel master m | tr -d '\r' | grep -A1 -x num-other-sentinels | tail -1 | grep -qx 2 && redis-cli -p $p sentinel replicas m | grep -q $pr" || return 1
  done
  python3 "$WRITER" --sentinels "$(IFS=,; echo "${sp[*]}")" --name m --kill-pid "$mpid" --data-dir "$d/m" >"$DIR/line" || true
  for p in "${started[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${started[@]}"; do  # disowned: wait for them by their /proc entry, 5 s at most
    for _ in $(seq 1 50); do [ -d "/proc/$p" ] || break; sleep 0.1; done
  done
}

declare -A FIRST ACKED LOST
SYSTEMS=(vigil sentinel-1000)
[ "$QUICK" = 1 ] || SYSTEMS+=(sentinel-30000)
for r in $(seq 1 "$ROUNDS"); do
  for s in "${SYSTEMS[@]}"; do
    echo "round $r: $s ..." >&2
    : >"$DIR/line"
    case "$s" in
      vigil) run_vigil "$r" || true ;;
      sentinel-*) run_sentinel "$r" "${s#sentinel-}" || true ;;
    esac
    line=$(cat "$DIR/line")
    echo "  $line" >&2
    [ -n "$line" ] || fail "$s round $r gave no figures"
    eval "$(echo "$line" | tr ' ' '\n' | sed 's/^/local_/')"
    FIRST[$s]="${FIRST[$s]:-} $local_first_ms"
    ACKED[$s]=$(( ${ACKED[$s]:-0} + local_acked ))
    LOST[$s]=$(( ${LOST[$s]:-0} + local_lost ))
  done
done

median() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo
echo "Redis master kill -9 (data dir deleted), writer SET every ~10 ms, $ROUNDS round(s)"
echo "(first accepted write: median of the rounds; acknowledged / lost: sums over the rounds)"
printf '| %-50s | %s | %s | %s | %s |\n' "system" "kill → first accepted write (ms)" "writes acknowledged" "acknowledged lost" "ratio Sentinel / vigil"
printf '| %s | %s | %s | %s | %s |\n' "---" "---" "---" "---" "---"
VM=$(echo "${FIRST[vigil]}" | median)
for s in "${SYSTEMS[@]}"; do
  m=$(echo "${FIRST[$s]}" | median)
  case "$s" in
    vigil) label="vigil (vigild sees the death, fails over at once)" ;;
    sentinel-1000) label="Sentinel, down-after 1000 ms (tuned)" ;;
    sentinel-30000) label="Sentinel, down-after 30000 ms (default)" ;;
  esac
  ratio="-"
  [ "$s" = vigil ] || ratio=$(awk -v a="$m" -v b="$VM" 'BEGIN { if (b > 0) printf "%.1fx", a / b; else print "-" }')
  printf '| %-50s | %s | %s | %s | %s |\n' "$label" "$m" "${ACKED[$s]}" "${LOST[$s]}" "$ratio"
done
