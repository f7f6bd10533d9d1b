#!/usr/bin/env bash
# `vigilctl status` against `supervisorctl status`, 200 programs each (issue 3's
# benchmark: supervisorctl measured at 295 ms, target for vigilctl <= 5 ms).
#
#   tests/bench/ctl_bench.sh [--runs 50] [--programs 200] [--warmup 3]
#                            [--no-ref] [--no-install] [--no-build] [--keep-tmp]
#
# Starts vigild and supervisord side by side, each in its own temp dir under
# /tmp with `--programs` copies of `sleep infinity` (startsecs = 0, logs
# NONE), waits (polling their status, with a deadline) until every program is
# RUNNING in both, then times `--runs` sequential runs of each client, the
# whole command as an operator's shell sees it (exec, connect, request, reply,
# print, exit). Prints p50/p99/mean/min/max in ms, the ratio, and the target.
#
# Reference rows (--no-ref drops them) tell where vigilctl's time goes:
#   vigilctl version      same client, a tiny reply: start-up + connect
#   curl /v1/programs     the same JSON list through curl (a different client)
#   /bin/true             fork+exec of a trivial dynamic binary: the floor
#
# hyperfine (-N, no shell) does the timing when installed; the script installs
# it with apt-get unless --no-install; otherwise a bash loop over
# $EPOCHREALTIME (no fork per sample). Builds vigild and vigilctl first
# (ninja no-op when up to date) unless --no-build, or VIGILD / VIGILCTL point
# at binaries. BUILD_DIR and JOBS as for run_supervisor_bench.sh.
#
# Clean-up on exit, Ctrl-C or error: SIGTERM to both supervisors, wait up to
# 15 s, SIGKILL if needed, then any process whose command line holds the temp
# dir (the programs run as DIR/bin/sleep) is killed and counted: a supervisor
# should leave none.
set -euo pipefail

RUNS=50
PROGRAMS=200
WARMUP=3
REF=1
INSTALL=1
BUILD=1
KEEP=0
START_TIMEOUT=60
usage() { sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) RUNS="$2"; shift 2 ;;
    --programs) PROGRAMS="$2"; shift 2 ;;
    --warmup) WARMUP="$2"; shift 2 ;;
    --no-ref) REF=0; shift ;;
    --no-install) INSTALL=0; shift ;;
    --no-build) BUILD=0; shift ;;
    --keep-tmp) KEEP=1; shift ;;
    -h|--help) usage ;;
    *) echo "ctl_bench: unknown argument $1" >&2; usage ;;
  esac
done

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
BUILD_DIR="${BUILD_DIR:-$ROOT/build}"
JOBS="${JOBS:-2}"
if [ -z "${VIGILD:-}${VIGILCTL:-}" ] && [ "$BUILD" = 1 ]; then
  [ -f "$BUILD_DIR/CMakeCache.txt" ] || cmake -S "$ROOT" -B "$BUILD_DIR" >/dev/null
  cmake --build "$BUILD_DIR" -j "$JOBS" --target vigild vigilctl >/dev/null
fi
VIGILD="${VIGILD:-$BUILD_DIR/supervisor/vigild}"
VIGILCTL="${VIGILCTL:-$BUILD_DIR/supervisor/vigilctl}"
for b in "$VIGILD" "$VIGILCTL"; do [ -x "$b" ] || { echo "ctl_bench: $b not built" >&2; exit 1; }; done
SUPERVISORD=$(command -v supervisord || true)
SUPERVISORCTL=$(command -v supervisorctl || true)
[ -n "$SUPERVISORD" ] && [ -n "$SUPERVISORCTL" ] || { echo "ctl_bench: supervisord/supervisorctl missing (apt-get install supervisor)" >&2; exit 1; }

if ! command -v hyperfine >/dev/null && [ "$INSTALL" = 1 ]; then
  echo "ctl_bench: installing hyperfine" >&2
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      -o DPkg::Lock::Timeout=600 hyperfine; } >/dev/null 2>&1 || echo "ctl_bench: no hyperfine, timing with a bash loop" >&2
fi
HYPERFINE=$(command -v hyperfine || true)

DIR=$(mktemp -d /tmp/vigil-ctl-bench.XXXXXX)
VPID="" SPID=""

# Stops one supervisor: SIGTERM, up to 15 s, then SIGKILL to it and its group.
stop_sup() {
  local pid=$1 name=$2 i
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 150; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then
    echo "ctl_bench: $name ignored SIGTERM for 15 s, SIGKILL" >&2
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
}
cleanup() {
  local rc=$? left
  trap - EXIT INT TERM
  stop_sup "$VPID" vigild
  stop_sup "$SPID" supervisord
  # Whatever still runs from the temp dir was left behind by a supervisor.
  left=$(pgrep -f "^$DIR/" || true)
  if [ -n "$left" ]; then
    echo "ctl_bench: killing $(echo "$left" | wc -l) leftover children" >&2
    kill -KILL $left 2>/dev/null || true
  fi
  if [ "$KEEP" = 1 ] || [ "$rc" -ne 0 ]; then echo "ctl_bench: temp dir kept: $DIR" >&2; else rm -rf "$DIR"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The programs: `sleep infinity` under a name in the temp dir, so that
# leftovers can be told from anyone else's sleeps.
mkdir -p "$DIR/bin" "$DIR/vigil/state" "$DIR/vigil/log" "$DIR/sup/childlog"
ln -s "$(command -v sleep)" "$DIR/bin/sleep"
CHILD="$DIR/bin/sleep infinity"

VSOCK="$DIR/vigil/vigil.sock"
cat >"$DIR/vigil/vigil.conf" <<EOF
[vigil]
control_socket = $VSOCK
state_dir = $DIR/vigil/state
log_dir = $DIR/vigil/log

[program:child]
command = $CHILD
numprocs = $PROGRAMS
process_name = child-%(process_num)d
autorestart = true
startsecs = 0
stdout_logfile = NONE
stderr_logfile = NONE
EOF

SCONF="$DIR/sup/supervisord.conf"
cat >"$SCONF" <<EOF
[unix_http_server]
file = $DIR/sup/supervisor.sock

[supervisord]
nodaemon = true
logfile = $DIR/sup/supervisord.log
pidfile = $DIR/sup/supervisord.pid
childlogdir = $DIR/sup/childlog

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[supervisorctl]
serverurl = unix://$DIR/sup/supervisor.sock

[program:child]
command = $CHILD
numprocs = $PROGRAMS
process_name = child-%(process_num)d
autorestart = true
startsecs = 0
stdout_logfile = NONE
stderr_logfile = NONE
EOF

VSTATUS=("$VIGILCTL" -s "$VSOCK" status)
SSTATUS=("$SUPERVISORCTL" -c "$SCONF" status)

"$VIGILD" -c "$DIR/vigil/vigil.conf" >"$DIR/vigil/vigild.out" 2>&1 &
VPID=$!
"$SUPERVISORD" -n -c "$SCONF" >"$DIR/sup/supervisord.out" 2>&1 &
SPID=$!

# Polls `status` until PROGRAMS lines say RUNNING, or the deadline passes.
running() { "$@" 2>/dev/null | grep -c ' RUNNING ' || true; }
wait_running() {
  local name=$1 pid=$2 out=$3; shift 3
  local deadline=$(( $(date +%s) + START_TIMEOUT )) n=0
  while :; do
    kill -0 "$pid" 2>/dev/null || { echo "ctl_bench: $name exited; its output:" >&2; tail -n 20 "$out" >&2; exit 1; }
    n=$(running "$@")
    [ "$n" -ge "$PROGRAMS" ] && return 0
    if [ "$(date +%s)" -ge "$deadline" ]; then
      echo "ctl_bench: $name: $n of $PROGRAMS RUNNING after ${START_TIMEOUT}s; its output:" >&2
      tail -n 20 "$out" >&2; exit 1
    fi
    sleep 0.1
  done
}
wait_running vigild "$VPID" "$DIR/vigil/vigild.out" "${VSTATUS[@]}"
wait_running supervisord "$SPID" "$DIR/sup/supervisord.out" "${SSTATUS[@]}"
timer="a bash loop (\$EPOCHREALTIME)"
[ -n "$HYPERFINE" ] && timer="$($HYPERFINE --version) -N"
echo "both supervisors: $PROGRAMS programs RUNNING; $RUNS runs each ($WARMUP warm-up), timed by $timer" >&2

# time_cmd LABEL CMD...: appends one sample (ms) a line to $DIR/LABEL.ms.
time_cmd() {
  local label=$1; shift
  local out="$DIR/$label.ms"
  if [ -n "$HYPERFINE" ]; then
    # -N: no intermediate shell; -i: vigilctl/supervisorctl exit 3 when a
    # program is not running, which is a figure, not a failure here.
    "$HYPERFINE" -N -i --style none --warmup "$WARMUP" --runs "$RUNS" \
      --export-json "$DIR/$label.json" -- "$(printf '%q ' "$@")" >/dev/null 2>&1
    jq -r '.results[0].times[] * 1000' "$DIR/$label.json" >"$out"
  else
    local i t0 t1
    for ((i = 0; i < WARMUP; i++)); do "$@" >/dev/null 2>&1 || true; done
    : >"$out"
    for ((i = 0; i < RUNS; i++)); do
      t0=$EPOCHREALTIME
      "$@" >/dev/null 2>&1 || true
      t1=$EPOCHREALTIME
      echo "$t0 $t1" | awk '{ printf "%.4f\n", ($2 - $1) * 1000 }' >>"$out"
    done
  fi
}
# stats FILE: "p50 p99 mean min max" (nearest rank).
stats() {
  sort -g "$1" | awk '{ v[NR] = $1; s += $1 }
    END { r50 = int(NR * 0.50 + 0.999999); r99 = int(NR * 0.99 + 0.999999);
          printf "%.2f %.2f %.2f %.2f %.2f\n", v[r50], v[r99], s / NR, v[1], v[NR] }'
}

time_cmd vigilctl "${VSTATUS[@]}"
time_cmd supervisorctl "${SSTATUS[@]}"
if [ "$REF" = 1 ]; then
  time_cmd vigilctl_version "$VIGILCTL" -s "$VSOCK" version
  time_cmd curl_programs curl -s -o /dev/null --unix-socket "$VSOCK" http://vigil/v1/programs
  time_cmd true /bin/true
fi

# Both still have every program RUNNING (nothing restarted under the load).
vn=$(running "${VSTATUS[@]}"); sn=$(running "${SSTATUS[@]}")
vbytes=$("${VSTATUS[@]}" 2>/dev/null | wc -c || true)
sbytes=$("${SSTATUS[@]}" 2>/dev/null | wc -c || true)

read -r v50 v99 vmean vmin vmax < <(stats "$DIR/vigilctl.ms")
read -r s50 s99 smean smin smax < <(stats "$DIR/supervisorctl.ms")
row() { printf '%-34s %5s %9s %9s %9s %9s %9s\n' "$@"; }
echo
row "command ($PROGRAMS programs)" runs "p50 ms" "p99 ms" "mean ms" "min ms" "max ms"
row "vigilctl status" "$RUNS" "$v50" "$v99" "$vmean" "$vmin" "$vmax"
row "supervisorctl status" "$RUNS" "$s50" "$s99" "$smean" "$smin" "$smax"
awk -v a="$s50" -v b="$v50" -v c="$s99" -v d="$v99" \
  'BEGIN { printf "%-34s %5s %8.1fx %8.1fx\n", "ratio supervisorctl / vigilctl", "", a / b, c / d }'
if [ "$REF" = 1 ]; then
  for r in "vigilctl_version:vigilctl version" "curl_programs:curl GET /v1/programs" "true:/bin/true (fork+exec floor)"; do
    read -r p50 p99 mean min max < <(stats "$DIR/${r%%:*}.ms")
    row "  ref: ${r#*:}" "$RUNS" "$p50" "$p99" "$mean" "$min" "$max"
  done
fi
echo
verdict=$(awk -v p="$v99" 'BEGIN { print (p <= 5 ? "ok" : "MISS") }')
echo "target: vigilctl status p99 <= 5 ms: $verdict (p50 $v50 ms, p99 $v99 ms)"
echo "output: vigilctl $vbytes bytes, $vn RUNNING; supervisorctl $sbytes bytes, $sn RUNNING (after the runs)"
