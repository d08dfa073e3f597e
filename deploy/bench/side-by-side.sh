#!/usr/bin/env bash
# findash beside Centrifugo, the comparison of issue 14 and of
# docs/benchmarks/ws.md's sittings: a fresh stage-1 findash (fresh data
# directory, --feed none, rate and connection limits off, --log-level warn)
# and a fresh Centrifugo v6 with the config ws.md gives, driven by one
# `findash bench ws --scenario` run, each system in turn at every step, the
# servers' CPU read from /proc.
#
#   deploy/bench/side-by-side.sh                      # fanout: 10,000 connections × 100 channels, 200/400/600 ticks/s, 8 s
#   deploy/bench/side-by-side.sh --repeats 3 --bare   # extra arguments go to `findash bench ws`
#   SCENARIO=connect deploy/bench/side-by-side.sh --repeats 2 --bare
#   SYSCALLS=1 STEPS=200 deploy/bench/side-by-side.sh # then perf stat each server's system calls per tick
#   CENTRIFUGO_BIN=none SCENARIO=fanout STEPS=100 CONNS=1000 DURATION=2s \
#     deploy/bench/side-by-side.sh --bare             # the CI smoke: findash and the bare server only
#
# Settings (environment): SCENARIO fanout|fanin|connect [fanout], STEPS
# ticks/s, comma-separated [200,400,600; connect: none], DURATION per step
# [8s], CONNS [the scenario's], FINDASH_BIN [built from this checkout],
# CENTRIFUGO_BIN [built with `go install …/centrifugo/v6@v6.9.1` into OUT,
# ~2 min; "none": findash (and --bare) only], OUT (logs, config, result.json)
# [a temporary directory], SYSCALLS (1: after the comparison, run STEPS'
# first rate for 20 s on each server alone and count its system calls,
# context switches and page faults over 8 s of it with `perf stat`, per
# tick; needs perf) [0]. The result (a table, or JSON with --json) is also in
# OUT/result, the system call counts in OUT/syscalls.txt.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
[ -n "${FINDASH_BIN:-}" ] && FINDASH_BIN=$(abs "$FINDASH_BIN")
[ -n "${CENTRIFUGO_BIN:-}" ] && [ "$CENTRIFUGO_BIN" != none ] && CENTRIFUGO_BIN=$(abs "$CENTRIFUGO_BIN")
[ -n "${OUT:-}" ] && OUT=$(abs "$OUT")
cd "$(dirname "$0")/../.."

SCENARIO=${SCENARIO:-fanout}
STEPS=${STEPS:-200,400,600}
DURATION=${DURATION:-8s}
SYSCALLS=${SYSCALLS:-0}
OUT=${OUT:-$(mktemp -d /tmp/findash-side.XXXXXX)}
mkdir -p "$OUT"
pids=()
PG_URL= db= # cleanup drops no database here (its psql fails quietly)
trap cleanup EXIT

build_findash
if [ -z "${CENTRIFUGO_BIN:-}" ]; then
  say "building centrifugo v6.9.1 (not a findash dependency: for this comparison only)"
  GOBIN=$OUT go install github.com/centrifugal/centrifugo/v6@v6.9.1
  CENTRIFUGO_BIN=$OUT/centrifugo
fi

# start_findash starts a stage-1 findash on the data directory $1 (made
# fresh by make_key) and sets fd_pid, fd_port and fd_admin.
start_findash() {
  fd_port=$(free_port)
  fd_admin=$(free_port)
  "$FINDASH_BIN" serve --data-dir "$1" --http-addr "127.0.0.1:$fd_port" --admin-addr "127.0.0.1:$fd_admin" \
    --feed none --max-conns-per-ip 0 --api-rate-limit 0 --ingest-rate-limit 0 \
    --http-max-in-flight-per-ip 100000 --log-level warn >"$OUT/findash.log" 2>&1 &
  fd_pid=$!
  pids+=("$fd_pid")
  wait_ready "http://127.0.0.1:$fd_port"
}

# start_centrifugo starts a fresh Centrifugo and sets cf_pid and cf_port.
start_centrifugo() {
  cf_port=$(free_port)
  cat >"$OUT/centrifugo.json" <<JSON
{
  "http_server": {"port": "$cf_port", "address": "127.0.0.1"},
  "http_api": {"key": "k"},
  "client": {"insecure": true, "allowed_origins": ["*"]},
  "channel": {"namespaces": [{"name": "ticks"}]},
  "prometheus": {"enabled": true},
  "log": {"level": "error"}
}
JSON
  (cd "$OUT" && exec "$CENTRIFUGO_BIN" --config centrifugo.json >"$OUT/centrifugo.log" 2>&1) &
  cf_pid=$!
  pids+=("$cf_pid")
  for _ in $(seq 1 150); do
    curl -sS -o /dev/null "http://127.0.0.1:$cf_port/" 2>/dev/null && return 0 # any answer: it listens
    sleep 0.2
  done
  say "centrifugo did not start listening; see $OUT/centrifugo.log"
  exit 1
}

# make_key makes a fresh data directory $1 holding the bench user, and
# prints its API key.
make_key() {
  rm -rf "$1"
  "$FINDASH_BIN" user create --email bench@example.com --api-key --quiet --data-dir "$1" 2>"$OUT/cli.log" | tail -1
}

steps=(--steps "$STEPS")
[ "$SCENARIO" = connect ] && steps=()
conns=()
[ -n "${CONNS:-}" ] && conns=(--conns "$CONNS")

key=$(make_key "$OUT/findash-data")
[ -n "$key" ] || { say "could not create the bench API key; see $OUT/cli.log"; exit 1; }
start_findash "$OUT/findash-data"
systems=(--target "http://127.0.0.1:$fd_port" --admin "127.0.0.1:$fd_admin" --server-pid "$fd_pid")
cf_pid=
if [ "$CENTRIFUGO_BIN" != none ]; then
  start_centrifugo
  systems+=(--centrifugo "http://127.0.0.1:$cf_port" --centrifugo-pid "$cf_pid")
fi
say "findash pid $fd_pid on :$fd_port${cf_pid:+, centrifugo pid $cf_pid on :$cf_port}; results in $OUT"
FINDASH_API_KEY=$key FINDASH_CENTRIFUGO_API_KEY=k "$FINDASH_BIN" bench ws --scenario "$SCENARIO" \
  "${steps[@]}" "${conns[@]}" --duration "$DURATION" "${systems[@]}" --dial-concurrency 128 "$@" \
  >"$OUT/result" 2>"$OUT/bench.log"
cat "$OUT/result"

[ "$SYSCALLS" = 1 ] || exit 0
# One server at a time, so that perf counts only the system driven; 8 s in
# the middle of a 20 s run. strace -c is no substitute: it lengthens every
# system call enough for the runtime's sysmon to retake the Ps in them,
# which multiplies findash's nanosleep count by 3-5 (docs/benchmarks/ws.md).
rate=${STEPS%%,*}
events=task-clock,context-switches,page-faults
for s in write read futex nanosleep epoll_pwait pwrite64 recvfrom fsync; do events+=,syscalls:sys_enter_$s; done
: >"$OUT/syscalls.txt"
count() { # name pid bench-args...
  local name=$1 pid=$2
  shift 2
  FINDASH_API_KEY=$key FINDASH_CENTRIFUGO_API_KEY=k "$FINDASH_BIN" bench ws --scenario "$SCENARIO" --steps "$rate" \
    "${conns[@]}" --duration 20s --dial-concurrency 128 --json "$@" >"$OUT/syscalls.$name.json" 2>"$OUT/syscalls.$name.log" &
  local b=$!
  for _ in $(seq 1 600); do grep -q '^\[run\]' "$OUT/syscalls.$name.log" 2>/dev/null && break; sleep 0.2; done
  sleep 3
  perf stat -x, -e "$events" -p "$pid" -o "$OUT/perf.$name.csv" -- sleep 8
  wait "$b"
  awk -F, -v n="$name" -v t=$((rate * 8)) 'NF > 3 && $1 ~ /^[0-9.]+$/ { printf "%s\t%s\t%.2f%s per tick\n", n, $3, $1 / t, ($2 == "" ? "" : " " $2) }' \
    "$OUT/perf.$name.csv" | tee -a "$OUT/syscalls.txt"
}
count findash "$fd_pid" --target "http://127.0.0.1:$fd_port" --admin "127.0.0.1:$fd_admin" --server-pid "$fd_pid"
if [ "$CENTRIFUGO_BIN" != none ]; then
  count centrifugo "$cf_pid" --no-target --centrifugo "http://127.0.0.1:$cf_port" --centrifugo-pid "$cf_pid"
fi
