#!/usr/bin/env bash
# The playbook's "50K concurrent users" on one machine: three findash
# instances sharing one NATS (JetStream, the tick log) and one PostgreSQL,
# as in stage 2, and `findash bench ws` holding 50,000 WebSocket clients
# spread over them from several processes. Ticks are posted to the
# instances round robin, so most deliveries cross from one instance's
# ingest, through the shared log, to another instance's clients.
#
# Why three instances: this machine allows 20,000 open files per process,
# so one instance holds at most ~19,900 sockets (docs/benchmarks/ws.md).
#
#   deploy/bench/ws-instances.sh                      # 50,000 clients, 100 symbols, 100 ticks/s, 30 s
#   CONNS=3000 DURATION=3s deploy/bench/ws-instances.sh   # the CI smoke run
#
# Settings (environment): CONNS [50000], INSTANCES [3], SYMBOLS [100],
# RATE ticks/s in total [100], DURATION [30s], PROCS generator processes
# [one per 16,700 clients], FINDASH_BIN [built from this checkout],
# NATS_SERVER [built from the nats-server module findash embeds, so the
# version is the one findash is tested with; Debian's 2.9.10 stalled log
# consumers under this load, see docs/benchmarks/stages.md], PG_URL (a PostgreSQL
# server the script may create and drop a database on)
# [postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable],
# OUT (directory for logs and result.txt) [a temporary directory],
# LISTEN_NET (instance i listens on $LISTEN_NET.i, so that every instance
# is its own destination address and no (source, destination) pair runs
# out of ephemeral ports) [127.0.1], BENCH_GOGC (the generator's GOGC; a
# larger one spends less of the shared cores on the generator's garbage)
# [100], MONITOR_S (seconds between samples of
# every process's RSS and CPU into $OUT/monitor.tsv; 0 = none) [5].
# Extra arguments go to `findash bench ws` (e.g. --json).
#
# 200,000 users over twelve instances: deploy/bench/ws-200k.sh.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
[ -n "${FINDASH_BIN:-}" ] && FINDASH_BIN=$(abs "$FINDASH_BIN")
[ -n "${NATS_SERVER:-}" ] && NATS_SERVER=$(abs "$NATS_SERVER")
[ -n "${OUT:-}" ] && OUT=$(abs "$OUT")
cd "$(dirname "$0")/../.."

CONNS=${CONNS:-50000}
INSTANCES=${INSTANCES:-3}
SYMBOLS=${SYMBOLS:-100}
RATE=${RATE:-100}
DURATION=${DURATION:-30s}
PROCS=${PROCS:-$(((CONNS + 16699) / 16700))}
PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable}
OUT=${OUT:-$(mktemp -d /tmp/findash-ws-instances.XXXXXX)}
LISTEN_NET=${LISTEN_NET:-127.0.1}
MONITOR_S=${MONITOR_S:-5}
BENCH_GOGC=${BENCH_GOGC:-100}
mkdir -p "$OUT"
rm -rf "$OUT/nats" "$OUT"/i[0-9]* "$OUT/cli" # a reused OUT starts from an empty log

pids=()
db=findash_bench_$$
trap cleanup EXIT

build_bins
[ -x "$NATS_SERVER" ] || { say "$NATS_SERVER is not executable"; exit 1; }
start_nats
create_db

export FINDASH_NATS_URL=nats://127.0.0.1:$nats_port
export FINDASH_DATABASE_URL=$db_url
export FINDASH_SECRET_KEY=bench-secret-key-0123456789abcdef0123456789
export FINDASH_FEED=none FINDASH_API_RATE_LIMIT=0 FINDASH_INGEST_RATE_LIMIT=0 FINDASH_LOG_LEVEL=warn
# The clients come from a few hundred loopback addresses: the per-address
# limit (meant for one abusive client) is not what is measured here.
export FINDASH_MAX_CONNS_PER_IP=0

create_key

targets=() admins=() spids=()
for i in $(seq 1 "$INSTANCES"); do
  host=$LISTEN_NET.$i
  http=$(free_port "$host") admin=$(free_port)
  # One instance persists and runs the jobs (worker); the others ingest,
  # stream and answer reads, as a stage-3 deployment would.
  roles=ingest,gateway,api
  [ "$i" = 1 ] && roles=ingest,gateway,api,worker
  FINDASH_ROLES=$roles "$FINDASH_BIN" serve --data-dir "$OUT/i$i" \
    --http-addr "$host:$http" --admin-addr "127.0.0.1:$admin" >"$OUT/i$i.log" 2>&1 &
  pids+=($!) spids+=($!)
  targets+=("http://$host:$http") admins+=("127.0.0.1:$admin")
done
for t in "${targets[@]}"; do wait_ready "$t"; done
say "$INSTANCES instances ready: ${targets[*]} (NATS $FINDASH_NATS_URL, PostgreSQL database $db)"

# monitor samples, every MONITOR_S seconds, the resident memory (KiB) and
# CPU time (clock ticks, user + system) of the servers, of the generator's
# processes (the bench and its children) and of NATS, each group added up.
monitor() { # bench-pid
  local hz; hz=$(getconf CLK_TCK)
  printf 'unix_s\tservers_rss_kib\tservers_cpu_s\tclients_rss_kib\tclients_cpu_s\tnats_rss_kib\tnats_cpu_s\n'
  while kill -0 "$1" 2>/dev/null; do
    local gen; gen="$1 $( (pgrep -P "$1" || true) | tr '\n' ' ')"
    printf '%s' "$(date +%s)"
    for group in "${spids[*]}" "$gen" "${pids[0]}"; do
      group_usage "$group" "$hz"
    done
    printf '\n'
    sleep "$MONITOR_S"
  done
}

FINDASH_API_KEY=$key GOGC=$BENCH_GOGC "$FINDASH_BIN" bench ws \
  --target "$(join "${targets[@]}")" --admin "$(join "${admins[@]}")" --server-pid "$(join "${spids[@]}")" \
  --conns "$CONNS" --symbols "$SYMBOLS" --rate "$RATE" --duration "$DURATION" \
  --procs "$PROCS" --dial-concurrency 128 "$@" > >(tee "$OUT/result.txt") &
bench=$!
pids+=("$bench")
if [ "$MONITOR_S" != 0 ]; then monitor "$bench" >"$OUT/monitor.tsv" & mon=$!; fi
wait "$bench"
if [ "$MONITOR_S" != 0 ]; then
  wait "$mon" # it ends with the bench
  # The peak of each group over the run (RSS) and its CPU over the run.
  awk -F'\t' 'NR == 2 { s0 = $3; c0 = $5; n0 = $7 }
    NR > 1 { if ($2 > sr) sr = $2; if ($4 > cr) cr = $4; if ($6 > nr) nr = $6; s1 = $3; c1 = $5; n1 = $7 }
    END { printf "monitor (every %s s, %s): peak RSS servers %.0f MiB, generator %.0f MiB, NATS %.0f MiB; CPU over the run servers %.1f s, generator %.1f s, NATS %.1f s\n",
      ms, f, sr / 1024, cr / 1024, nr / 1024, s1 - s0, c1 - c0, n1 - n0 }' ms="$MONITOR_S" f="$OUT/monitor.tsv" "$OUT/monitor.tsv" | tee -a "$OUT/result.txt" >&2 # stdout is the bench's table or JSON only
fi

# Every instance must still be serving: a crash under load is a failure.
for t in "${targets[@]}"; do
  curl -fsS -o /dev/null "$t/readyz" || { say "$t stopped answering; see $OUT"; exit 1; }
done
say "logs and result in $OUT"
