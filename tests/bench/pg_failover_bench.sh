#!/usr/bin/env bash
# PostgreSQL failover, vigil against Patroni, in one run, on 127.0.0.1: a
# writer INSERTs one unique key every ~20 ms (each its own commit) and
# reconnects after an error; then the primary node dies. Measured: kill →
# first accepted write (ms), and acknowledged writes lost (the acknowledged
# keys read back from the new primary).
#
#  vigil:   vigild with a pair (pg, pg-replica via replica_of) behind a
#           vigil-proxy `mode = tcp` listener (a `role = primary` pool); the
#           writer connects to the listener. Fault: pg's postgres killed -9
#           and its data directory deleted (it cannot come back).
#  Patroni: one etcd (v3 API), two Patroni nodes, synchronous_mode: true
#           (like vigil's synchronous pair); the writer connects with libpq's
#           multi-host string and target_session_attrs=read-write. Fault: the
#           leader node dies = its Patroni agent and its postgres killed -9
#           together, data directory deleted (a killed postgres alone is just
#           restarted by its own Patroni). Run twice: Patroni's published
#           defaults (ttl 30, loop_wait 10, retry_timeout 10) and tuned
#           (ttl 10, loop_wait 2, retry_timeout 3; Patroni requires
#           loop_wait + 2*retry_timeout <= ttl).
#
#   tests/bench/pg_failover_bench.sh [--rounds N] [--no-tuned]
#
# --rounds N repeats each system N times and reports the median; --no-tuned
# skips the tuned Patroni run; BENCH_SYSTEMS="vigil patroni-tuned" (any of
# vigil, patroni-defaults, patroni-tuned) runs only those.
#
# Needs root (postgres runs as the postgres user), vigild built
# (./scripts/build.sh), and the packages of ./scripts/setup.sh (patroni,
# etcd-server, python3-psycopg2). Every wait is bounded; everything runs in
# a temp dir removed on exit.
set -euo pipefail

ROUNDS=1
TUNED=1
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) ROUNDS="$2"; shift 2 ;;
    --no-tuned) TUNED=0; shift ;;
    *) echo "usage: $0 [--rounds N] [--no-tuned]" >&2; exit 2 ;;
  esac
done

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
VIGILD="${VIGILD:-$ROOT/build/supervisor/vigild}"
VIGILCTL="${VIGILCTL:-$ROOT/build/supervisor/vigilctl}"
PGBIN=/usr/lib/postgresql/15/bin
die() { echo "pg_failover_bench: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "needs root (postgres and Patroni run as the postgres user)"
[ -x "$VIGILD" ] || die "vigild not built ($VIGILD): ./scripts/build.sh"
[ -x "$VIGILCTL" ] || die "vigilctl not built ($VIGILCTL): ./scripts/build.sh"
[ -x "$ROOT/build/proxy/vigil-proxy" ] || die "vigil-proxy not built: ./scripts/build.sh"
[ -x "$PGBIN/postgres" ] || die "no PostgreSQL 15 in $PGBIN: ./scripts/setup.sh"
command -v patroni >/dev/null || die "patroni not installed: ./scripts/setup.sh"
command -v etcd >/dev/null || die "etcd not installed (etcd-server): ./scripts/setup.sh"
command -v jq >/dev/null || die "jq not installed: ./scripts/setup.sh"
PY=""
for p in /usr/bin/python3 python3; do
  if "$p" -c 'import psycopg2' 2>/dev/null; then PY=$p; break; fi
done
[ -n "$PY" ] || die "python3-psycopg2 not installed (a patroni dependency): ./scripts/setup.sh"

. "$(dirname "$0")/lib.sh"
bench_dir vigil-pgfail-bench
chmod 755 "$DIR"
# SIGKILL: the agents are what the benchmark kills anyway; then the postgres
# servers left behind by a killed agent (their parent is gone).
BENCH_KILL_SIGNAL=KILL
bench_after_kill() {
  for f in "$DIR"/*/*/postmaster.pid "$DIR"/*/postmaster.pid; do
    [ -f "$f" ] && kill -9 "$(head -1 "$f")" 2>/dev/null || true
  done
}
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

# The writer: one INSERT of a unique key every ~20 ms, autocommit; prints
# "key sent_ms acked_ms" (epoch) for each acknowledged one; reconnects after any error.
# Stops when the file $2 exists, or after 300 s whatever happens.
cat > "$DIR/writer.py" <<'EOF'
import sys, time, os, psycopg2
dsn, stop, out = sys.argv[1], sys.argv[2], open(sys.argv[3], "w", buffering=1)
conn, key, end = None, 0, time.time() + 300
while not os.path.exists(stop) and time.time() < end:
    try:
        if conn is None:
            conn = psycopg2.connect(dsn, connect_timeout=2)
            conn.autocommit = True
        key += 1
        sent = time.time_ns() // 1000000
        conn.cursor().execute("INSERT INTO t VALUES (%s)", (key,))
        out.write("%d %d %d\n" % (key, sent, time.time_ns() // 1000000))
    except Exception:
        try:
            if conn is not None: conn.close()
        except Exception:
            pass
        conn = None
    time.sleep(0.02)
EOF

WRITER_PID=""
start_writer() {  # dsn tag
  rm -f "$DIR/stop"
  : > "$DIR/acks.$2"
  "$PY" "$DIR/writer.py" "$1" "$DIR/stop" "$DIR/acks.$2" 2>"$DIR/writer.$2.log" &
  WRITER_PID=$!; PIDS+=("$WRITER_PID")
}
acks() { wc -l < "$DIR/acks.$1"; }
acks_at_least() { [ "$(acks "$1")" -ge "$2" ]; }
# A write sent after the kill and acknowledged: one sent before it may be
# acknowledged just after it (committed before the kill), which says nothing.
acked_after() { awk -v t="$2" '$2 > t {found=1; exit} END {exit !found}' "$DIR/acks.$1"; }
# Writes resumed after the kill, measured; then 1 s more of writes, the
# writer stopped, and the acknowledged keys looked up on the new primary.
# Prints "ms acknowledged lost".
measure_after_kill() {  # tag killed_ms new_primary_dsn timeout_s
  local tag=$1 killed=$2 dsn=$3 timeout=$4
  local first="-"
  if wait_for "$timeout" "the first write after the kill ($tag)" acked_after "$tag" "$killed"; then
    first=$(awk -v t="$killed" '$2 > t {print $3 - t; exit}' "$DIR/acks.$tag")
    local n; n=$(acks "$tag")
    wait_for 30 "writes going on ($tag)" acks_at_least "$tag" $((n + 25)) || true
  fi
  touch "$DIR/stop"; wait "$WRITER_PID" 2>/dev/null || true
  psql -X -q -A -t "$dsn" -c "SELECT i FROM t" 2>/dev/null | sort -n > "$DIR/stored.$tag" || true
  local acked lost
  acked=$(acks "$tag")
  lost=$(cut -d' ' -f1 "$DIR/acks.$tag" | sort -n | comm -23 - "$DIR/stored.$tag" | wc -l)
  echo "$first $acked $lost" > "$DIR/result"
}

# ---------------------------------------------------------------- vigil
run_vigil() {  # round
  local d="$DIR/vigil$1"
  mkdir -p "$d/data" "$d/state" "$d/log"; chmod 755 "$d"; chown postgres: "$d/data"
  local pa pb lp; pa=$(free_port); pb=$(free_port); lp=$(free_port)
  vigil_pair_ini "$d/vigil.ini" "$d" postgres postgres pg db "$d/data" "$pa" "$pb" "$lp" "log_level = info"
  start_vigild "$d"; local vpid=$VIGILD_PID
  wait_for 90 "pg-replica in sync" vigil_status_has "$d/vigil.sock" pg-replica "replica of pg, sync" || { tail -20 "$d/vigild.log" >&2; return 1; }
  wait_for 20 "pg primary, synchronous" vigil_status_has "$d/vigil.sock" pg "primary, synchronous" || return 1
  local via="host=127.0.0.1 port=$lp user=postgres dbname=postgres connect_timeout=2"
  wait_for 20 "the listener" psql -X -q "$via" -c "CREATE TABLE t (i bigint PRIMARY KEY)" || return 1
  start_writer "$via" "vigil$1"
  wait_for 20 "50 writes before the fault" acks_at_least "vigil$1" 50 || return 1
  local pm; pm=$(head -1 "$d/data/pg/postmaster.pid")
  rm -rf "$d/data/pg"
  local killed; killed=$(now_ms)
  kill -9 "$pm"
  measure_after_kill "vigil$1" "$killed" "host=127.0.0.1 port=$pb user=postgres dbname=postgres" 60
  kill "$vpid" 2>/dev/null; wait "$vpid" 2>/dev/null || true
}

# ---------------------------------------------------------------- Patroni
run_patroni() {  # round ttl loop_wait retry_timeout
  local d="$DIR/patroni$1-$2" ttl=$2 lw=$3 rt=$4
  mkdir -p "$d"; chmod 755 "$d"; chown postgres: "$d"
  local cp pp; cp=$(free_port); pp=$(free_port)
  etcd --name e1 --data-dir "$d/etcd" --listen-client-urls "http://127.0.0.1:$cp" \
    --advertise-client-urls "http://127.0.0.1:$cp" --listen-peer-urls "http://127.0.0.1:$pp" \
    --initial-advertise-peer-urls "http://127.0.0.1:$pp" --initial-cluster "e1=http://127.0.0.1:$pp" \
    >"$d/etcd.log" 2>&1 & PIDS+=($!)
  local etcd_pid=$!
  wait_for 20 "etcd" curl -sf "http://127.0.0.1:$cp/health" || return 1
  local -a pgp rest agent
  for n in 1 2; do
    pgp[$n]=$(free_port); rest[$n]=$(free_port)
    cat > "$d/n$n.yml" <<EOF
scope: bench$1-$ttl
name: n$n
restapi:
  listen: 127.0.0.1:${rest[$n]}
  connect_address: 127.0.0.1:${rest[$n]}
etcd3:
  host: 127.0.0.1:$cp
bootstrap:
  dcs:
    ttl: $ttl
    loop_wait: $lw
    retry_timeout: $rt
    maximum_lag_on_failover: 1048576
    synchronous_mode: true
    postgresql:
      use_pg_rewind: true
      parameters:
        wal_level: replica
        hot_standby: "on"
        max_wal_senders: 10
        max_replication_slots: 10
        wal_log_hints: "on"
  initdb:
  - encoding: UTF8
  - auth: trust
  pg_hba:
  - local all all trust
  - host all all 127.0.0.1/32 trust
  - host replication all 127.0.0.1/32 trust
postgresql:
  listen: 127.0.0.1:${pgp[$n]}
  connect_address: 127.0.0.1:${pgp[$n]}
  data_dir: $d/n$n
  bin_dir: $PGBIN
  pgpass: $d/pgpass$n
  authentication:
    superuser:
      username: postgres
      password: bench
    replication:
      username: replicator
      password: bench
  parameters:
    unix_socket_directories: $d
EOF
    chown postgres: "$d/n$n.yml"
    # setpriv execs (runuser forks): the pid is Patroni's own, for the kill -9
    setpriv --reuid=postgres --regid=postgres --init-groups env HOME="$d" patroni "$d/n$n.yml" >"$d/patroni$n.log" 2>&1 & agent[$n]=$!; PIDS+=("${agent[$n]}")
    # the first node bootstraps before the second starts: no race for the initialize key
    [ "$n" = 2 ] || wait_for 60 "Patroni n1 the leader" curl -sf "http://127.0.0.1:${rest[1]}/primary" || { tail -20 "$d/patroni1.log" >&2; return 1; }
  done
  sync_ready() { curl -sf "http://127.0.0.1:${rest[1]}/cluster" | jq -e '[.members[] | select(.role=="sync_standby" and (.state=="streaming" or .state=="running"))] | length == 1'; }
  wait_for 120 "a synchronous standby (Patroni)" sync_ready || { tail -20 "$d/patroni2.log" >&2; return 1; }
  local via="host=127.0.0.1,127.0.0.1 port=${pgp[1]},${pgp[2]} user=postgres password=bench dbname=postgres target_session_attrs=read-write connect_timeout=2"
  wait_for 20 "the leader accepting writes" psql -X -q "$via" -c "CREATE TABLE t (i bigint PRIMARY KEY)" || return 1
  start_writer "$via" "patroni$1-$ttl"
  wait_for 20 "50 writes before the fault" acks_at_least "patroni$1-$ttl" 50 || return 1
  local leader=1 other=2
  curl -sf "http://127.0.0.1:${rest[1]}/primary" >/dev/null || { leader=2; other=1; }
  local pm; pm=$(head -1 "$d/n$leader/postmaster.pid")
  local killed; killed=$(now_ms)
  kill -9 "${agent[$leader]}" "$pm" 2>/dev/null || true
  wait "${agent[$leader]}" 2>/dev/null || true  # reaped here: no "Killed" line from bash
  rm -rf "$d/n$leader"
  measure_after_kill "patroni$1-$ttl" "$killed" "host=127.0.0.1 port=${pgp[$other]} user=postgres password=bench dbname=postgres" 120
  kill "${agent[$other]}" 2>/dev/null; wait "${agent[$other]}" 2>/dev/null || true
  local opm; opm=$(head -1 "$d/n$other/postmaster.pid" 2>/dev/null || true)
  [ -z "$opm" ] || kill -9 "$opm" 2>/dev/null || true
  kill "$etcd_pid" 2>/dev/null; wait "$etcd_pid" 2>/dev/null || true
}

median() { printf '%s\n' "$@" | awk '$1 ~ /^[0-9.]+$/' | sort -n |
  awk '{a[NR]=$1} END {if (NR==0) print "-"; else if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }

declare -A MS ACK LOST
SYSTEMS="${BENCH_SYSTEMS:-vigil patroni-defaults}"
[ "$TUNED" = 0 ] || [[ " $SYSTEMS " == *" patroni-tuned "* ]] || SYSTEMS="$SYSTEMS patroni-tuned"
for r in $(seq 1 "$ROUNDS"); do
  for s in $SYSTEMS; do
    echo "round $r: $s ..." >&2
    case "$s" in
      vigil) run_vigil "$r" || die "$s failed (logs above)" ;;
      patroni-defaults) run_patroni "$r" 30 10 10 || die "$s failed (logs above)" ;;
      patroni-tuned) run_patroni "$r" 10 2 3 || die "$s failed (logs above)" ;;
    esac
    read -r ms ack lost < "$DIR/result"
    echo "round $r: $s: first accepted write ${ms} ms after the kill, acknowledged $ack, lost $lost" >&2
    MS[$s]="${MS[$s]:-} $ms"; ACK[$s]=$(( ${ACK[$s]:-0} + ack )); LOST[$s]=$(( ${LOST[$s]:-0} + lost ))
  done
done

printf "\nprimary node dies (kill -9, data dir deleted), writer every ~20 ms, %s round(s), median ms\n" "$ROUNDS"
printf "%-38s %14s %16s %10s\n" system "kill→write ms" "acked / lost" "÷ vigil"
# shellcheck disable=SC2086
V=$(median ${MS[vigil]})
for s in $SYSTEMS; do
  # shellcheck disable=SC2086
  m=$(median ${MS[$s]})
  case "$s" in
    vigil) label="vigil (vigild + vigil-proxy tcp)" ;;
    patroni-defaults) label="Patroni (ttl 30, loop_wait 10, retry 10)" ;;
    patroni-tuned) label="Patroni (ttl 10, loop_wait 2, retry 3)" ;;
  esac
  ratio=$(awk -v m="$m" -v v="$V" 'BEGIN {if (m ~ /^[0-9.]+$/ && v > 0) printf "%.1f", m / v; else print "-"}')
  printf "%-38s %14s %16s %10s\n" "$label" "$m" "${ACK[$s]} / ${LOST[$s]}" "$ratio"
done
