#!/usr/bin/env bash
# The playbook's API headline on one machine: 50,000 concurrent keep-alive
# API users through HAProxy to three findash instances sharing Redis (the
# L2 cache), one NATS (JetStream, the tick log) and one PostgreSQL, as in
# stage 3, on the read mix of `findash bench api` (quotes, quotes of some
# symbols, candles, symbols, movers).
#
# This machine allows 20,000 open files per process, so neither one
# generator nor one HAProxy can hold 50,000 connections. HAProxy counts two
# descriptors per connection (client and server side) and refuses to start
# with maxconn over ~9,990 under that limit, so USERS are split over PROCS
# generator processes (`bench api --procs`, 8,334 users each by default:
# six for 50,000) and as many HAProxy processes, process i listening on
# $FRONT_NET.i (a destination address per generator, so that no (source,
# destination) pair runs out of the 28,232 ephemeral ports). Each HAProxy
# holds its generator's connections (maxconn 9,900) and at most
# SERVER_MAXCONN connections to each instance (reused across users:
# http-reuse always), so the instances see a few hundred connections, not
# 50,000; requests beyond queue in HAProxy, and their wait counts in the
# latency. The percentiles are of the generators' merged HDR histograms.
#
# Users are people at a dashboard, not a load loop: each sends one request
# every USERS/RATE seconds on a fixed schedule (open loop, latency from the
# scheduled send, so a request held up behind a slow one counts its wait);
# the default RATE=5000 is one request every 10 s per user.
#
#   deploy/bench/api-50k.sh                                   # 50,000 users, 5,000 req/s, 30 s
#   USERS=4000 PROCS=2 RATE=400 DURATION=5s deploy/bench/api-50k.sh   # a small rehearsal
#
# Settings (environment): USERS [50000], PROCS [one per 8,334 users],
# RATE requests/s in total [5000], DURATION [30s], INSTANCES [3], SYMBOLS
# seeded [20], SERVER_MAXCONN per HAProxy process and instance [100],
# FINDASH_BIN [built from this checkout], NATS_SERVER [built from the
# nats-server module findash embeds], HAPROXY [haproxy on PATH], PG_URL (a
# PostgreSQL server the script may create and drop a database on)
# [postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable], REDIS_URL
# [$FINDASH_TEST_REDIS_URL or redis://127.0.0.1:6379/0], OUT (logs and
# result.txt) [a temporary directory], LISTEN_NET (instance i listens on
# $LISTEN_NET.i) [127.0.1], FRONT_NET [127.0.2], MONITOR_S (seconds between
# samples of every group's RSS and CPU into $OUT/monitor.tsv; 0 = none) [5].
# Extra arguments go to `findash bench api` (e.g. --json).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
[ -n "${FINDASH_BIN:-}" ] && FINDASH_BIN=$(abs "$FINDASH_BIN")
[ -n "${NATS_SERVER:-}" ] && NATS_SERVER=$(abs "$NATS_SERVER")
[ -n "${OUT:-}" ] && OUT=$(abs "$OUT")
cd "$(dirname "$0")/../.."

USERS=${USERS:-50000}
PROCS=${PROCS:-$(((USERS + 8333) / 8334))}
RATE=${RATE:-5000}
DURATION=${DURATION:-30s}
INSTANCES=${INSTANCES:-3}
SYMBOLS=${SYMBOLS:-20}
SERVER_MAXCONN=${SERVER_MAXCONN:-100}
HAPROXY=${HAPROXY:-$(command -v haproxy || true)}
PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable}
REDIS_URL=${REDIS_URL:-${FINDASH_TEST_REDIS_URL:-redis://127.0.0.1:6379/0}}
OUT=${OUT:-$(mktemp -d /tmp/findash-api-50k.XXXXXX)}
LISTEN_NET=${LISTEN_NET:-127.0.1}
FRONT_NET=${FRONT_NET:-127.0.2}
MONITOR_S=${MONITOR_S:-5}
mkdir -p "$OUT"
rm -rf "$OUT/nats" "$OUT"/i[0-9]* "$OUT/cli" # a reused OUT starts from an empty log

[ -n "$HAPROXY" ] || { say "haproxy is not installed (apt-get install -y haproxy)"; exit 1; }
per_proc=$(((USERS + PROCS - 1) / PROCS))
[ "$per_proc" -le 9800 ] || { say "$per_proc users per process: over the 9,800 one HAProxy holds here; raise PROCS"; exit 1; }

pids=()
db=findash_bench_$$
trap cleanup EXIT

build_bins
start_nats
create_db

export FINDASH_NATS_URL=nats://127.0.0.1:$nats_port
export FINDASH_DATABASE_URL=$db_url
export FINDASH_REDIS_URL=$REDIS_URL
export FINDASH_SECRET_KEY=bench-secret-key-0123456789abcdef0123456789
export FINDASH_FEED=none FINDASH_API_RATE_LIMIT=0 FINDASH_INGEST_RATE_LIMIT=0 FINDASH_LOG_LEVEL=warn
# Behind HAProxy the client address is X-Forwarded-For's, and every
# simulated user comes from this machine's one address: the per-address
# limit of requests in flight (meant for one abusive client) would refuse
# the users of the playbook, who come from 50,000 addresses.
export FINDASH_TRUST_PROXY=true FINDASH_HTTP_MAX_IN_FLIGHT_PER_IP=1000000

create_key

backends=() spids=()
for i in $(seq 1 "$INSTANCES"); do
  host=$LISTEN_NET.$i
  http=$(free_port "$host") admin=$(free_port)
  roles=ingest,gateway,api
  [ "$i" = 1 ] && roles=ingest,gateway,api,worker
  FINDASH_ROLES=$roles "$FINDASH_BIN" serve --data-dir "$OUT/i$i" \
    --http-addr "$host:$http" --admin-addr "127.0.0.1:$admin" >"$OUT/i$i.log" 2>&1 &
  pids+=($!) spids+=($!)
  backends+=("$host:$http")
done
for b in "${backends[@]}"; do wait_ready "http://$b"; done

# One HAProxy process per generator process, each on its own address.
front_port=$(free_port "$FRONT_NET.1")
targets=() hpids=()
for i in $(seq 1 "$PROCS"); do
  cfg=$OUT/haproxy-$i.cfg
  {
    cat <<EOF
global
    maxconn 9900
    nbthread 1
defaults
    mode http
    option forwardfor
    option redispatch
    retries 2
    http-reuse always
    timeout connect 3s
    timeout client 60s
    timeout server 30s
    timeout http-request 10s
    timeout http-keep-alive 60s
    timeout queue 10s
    # Checks as deploy/haproxy/haproxy.cfg's, but out after 3 failures of
    # 2 s, not 1 of 1 s: at 5,000 req/s on these 2 shared cores a check
    # answered in over a second marked every instance down (503s).
    timeout check 2s
    default-server inter 1s fall 3 rise 2 maxconn $SERVER_MAXCONN
frontend public
    bind $FRONT_NET.$i:$front_port
    maxconn 9900
    default_backend findash_http
backend findash_http
    balance roundrobin
    option httpchk
    http-check send meth GET uri /readyz ver HTTP/1.1 hdr Host findash
    http-check expect status 200
EOF
    n=0
    for b in "${backends[@]}"; do n=$((n + 1)); echo "    server findash-$n $b check"; done
  } >"$cfg"
  "$HAPROXY" -c -q -f "$cfg" || { say "haproxy refused $cfg"; exit 1; }
  "$HAPROXY" -db -f "$cfg" >"$OUT/haproxy-$i.log" 2>&1 &
  pids+=($!) hpids+=($!)
  targets+=("http://$FRONT_NET.$i:$front_port")
done
for t in "${targets[@]}"; do wait_ready "$t"; done
say "$INSTANCES instances (${backends[*]}) behind $PROCS HAProxy processes (${targets[*]}); NATS $FINDASH_NATS_URL, Redis $REDIS_URL, PostgreSQL database $db"

monitor() { # bench-pid
  local hz; hz=$(getconf CLK_TCK)
  printf 'unix_s\tservers_rss_kib\tservers_cpu_s\thaproxy_rss_kib\thaproxy_cpu_s\tgenerators_rss_kib\tgenerators_cpu_s\n'
  while kill -0 "$1" 2>/dev/null; do
    local gen; gen="$1 $( (pgrep -P "$1" || true) | tr '\n' ' ')"
    printf '%s' "$(date +%s)"
    for group in "${spids[*]}" "${hpids[*]}" "$gen"; do
      group_usage "$group" "$hz"
    done
    printf '\n'
    sleep "$MONITOR_S"
  done
}

uptime | tee "$OUT/uptime-before.txt" >&2
FINDASH_API_KEY=$key "$FINDASH_BIN" bench api --target "$(join "${targets[@]}")" \
  --users "$USERS" --procs "$PROCS" --rate "$RATE" --duration "$DURATION" --symbols "$SYMBOLS" \
  "$@" > >(tee "$OUT/result.txt") &
bench=$!
pids+=("$bench")
if [ "$MONITOR_S" != 0 ]; then monitor "$bench" >"$OUT/monitor.tsv" & mon=$!; fi
wait "$bench"
uptime | tee "$OUT/uptime-after.txt" >&2
if [ "$MONITOR_S" != 0 ]; then
  wait "$mon"
  awk -F'\t' 'NR == 2 { s0 = $3; h0 = $5; g0 = $7 }
    NR > 1 { if ($2 > sr) sr = $2; if ($4 > hr) hr = $4; if ($6 > gr) gr = $6; s1 = $3; h1 = $5; g1 = $7 }
    END { printf "monitor (every %s s, %s): peak RSS servers %.0f MiB, HAProxy %.0f MiB, generators %.0f MiB; CPU over the run servers %.1f s, HAProxy %.1f s, generators %.1f s\n",
      ms, f, sr / 1024, hr / 1024, gr / 1024, s1 - s0, h1 - h0, g1 - g0 }' ms="$MONITOR_S" f="$OUT/monitor.tsv" "$OUT/monitor.tsv" | tee -a "$OUT/result.txt" >&2
fi
for b in "${backends[@]}"; do
  curl -fsS -o /dev/null "http://$b/readyz" || { say "$b stopped answering; see $OUT"; exit 1; }
done
say "logs and result in $OUT"
