# Shared start-up code of the benchmark scripts in tests/bench, sourced with
#   . "$(dirname "$0")/lib.sh"
# so that a fix to the temp dir / cleanup trap, the port helpers or the bounded
# waits reaches every benchmark at once. It provides:
#   bench_dir PREFIX   DIR (a new /tmp/PREFIX.XXXXXX), PIDS=() and an EXIT trap
#                      that kills PIDS, reaps them and removes DIR (kept, and
#                      said, when KEEP is set). Hooks a script may define:
#                      bench_before_kill (runs first), bench_after_kill (runs
#                      after PIDS got the signal); BENCH_KILL_SIGNAL (TERM).
#   free_port          an unused 127.0.0.1 port (python3, or $PY if set)
#   wait_port PORT [S] bounded wait (S seconds, default 20) for a listener;
#                      exits with the tails of DIR's logs when none comes
#   wait_for S WHAT CMD...  bounded wait for CMD to succeed; returns 1 when not
#   vigil_pair_ini ... the vigild config of a primary/replica pair behind a
#                      tcp proxy (the failover benchmarks)
#   start_vigild D     vigild -c D/vigil.ini, log D/vigild.log; VIGILD_PID
#   vigil_status_has SOCK PROGRAM TEXT   vigilctl status shows TEXT for PROGRAM
# Nothing here sleeps to wait for a state: every wait polls an event with a
# deadline.

bench_dir() {  # prefix
  DIR=$(mktemp -d "/tmp/$1.XXXXXX")
  PIDS=()
  trap bench_cleanup EXIT
}

bench_cleanup() {
  if declare -F bench_before_kill >/dev/null; then bench_before_kill || true; fi
  for p in "${PIDS[@]}"; do kill -"${BENCH_KILL_SIGNAL:-TERM}" "$p" 2>/dev/null || true; done
  if declare -F bench_after_kill >/dev/null; then bench_after_kill || true; fi
  wait 2>/dev/null || true
  if [ -n "${KEEP:-}" ]; then echo "kept $DIR" >&2; else rm -rf "$DIR"; fi
}

free_port() { "${PY:-python3}" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

wait_port() {  # port [seconds]: the event is a connect succeeding
  local tries=$(( ${2:-20} * 20 ))
  for _ in $(seq 1 "$tries"); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.05
  done
  echo "nothing listens on $1" >&2; tail -n 5 "$DIR"/*.log "$DIR"/*/error.log >&2 2>/dev/null; exit 1
}

# A deadline on the wall clock, not a count of polls: a slow command does not
# stretch the wait.
wait_for() {  # seconds description command...
  local secs=$1 what=$2; shift 2
  local end=$(( $(date +%s) + secs ))
  while [ "$(date +%s)" -lt "$end" ]; do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "$(basename "$0" .sh): timed out after ${secs}s waiting for $what" >&2
  return 1
}

# Writes FILE: PRIMARY and PRIMARY-replica of KIND run as USER with data in
# DATA/PRIMARY and DATA/PRIMARY-replica, health checked every 500 ms, failover
# after 5 s; upstream UPSTREAM (role primary) behind a tcp proxy on LISTEN.
# EXTRA (optional) is added to the [vigil] section.
vigil_pair_ini() {  # file dir kind user primary upstream data port_a port_b listen [extra]
  local file=$1 d=$2 kind=$3 user=$4 prim=$5 up=$6 data=$7 pa=$8 pb=$9 lp=${10} extra=${11:-}
  {
    printf '[vigil]\ncontrol_socket = %s/vigil.sock\nstate_dir = %s/state\nlog_dir = %s/log\n' "$d" "$d" "$d"
    [ -z "$extra" ] || printf '%s\n' "$extra"
    cat <<EOF

[program:$prim]
kind = $kind
user = $user
data_dir = $data/$prim
address = 127.0.0.1:$pa
health_interval = 500ms
failover_after = 5s

[program:$prim-replica]
kind = $kind
user = $user
replica_of = $prim
data_dir = $data/$prim-replica
address = 127.0.0.1:$pb
health_interval = 500ms

[upstream:$up]
servers = $prim $prim-replica
role = primary

[proxy:$up]
mode = tcp
listen = 127.0.0.1:$lp
route = $up

[program:proxy]
kind = proxy
startsecs = 0
EOF
  } > "$file"
}

# Not in a subshell, so that PIDS (what the EXIT trap stops) sees vigild.
start_vigild() {  # dir
  "$VIGILD" -c "$1/vigil.ini" >"$1/vigild.log" 2>&1 &
  VIGILD_PID=$!; PIDS+=("$VIGILD_PID")
}

vigil_status_has() {  # socket program text
  "$VIGILCTL" -s "$1" status 2>/dev/null | grep "^$2 " | grep -q "$3"
}
