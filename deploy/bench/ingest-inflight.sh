#!/usr/bin/env bash
# POSTs in flight at one ingest instance's limit (decision 0051): starts one
# stage-1 findash (SQLite, embedded NATS, no rate limits), then drives
# `findash bench ingest` open loop at each step given as BATCH,WORKERS,RATE
# (ticks per POST, POSTs in flight at most, ticks/s asked) for 8 s, and prints
# per step: ticks/s accepted, POST p50/p99, the server's CPU (cores, from
# /proc) and the POSTs in flight by Little's law — the growth of the route's
# findash_http_request_duration_seconds_sum over the step, divided by its
# length, which is what the autoscalers of deploy/k8s compute.
#
#   FINDASH_BIN=/tmp/findash flock /work/wt/.heavy.lock \
#     deploy/bench/ingest-inflight.sh 1,64,1000 1,64,3000 1,64,6000 1,64,12000 \
#     1000,32,50000 1000,32,150000 1000,32,400000
set -euo pipefail
BIN=${FINDASH_BIN:-findash}
HTTP=${HTTP_ADDR:-127.0.0.1:18714}
ADMIN=${ADMIN_ADDR:-127.0.0.1:19714}
D=$(mktemp -d)
"$BIN" serve --data-dir "$D" --feed none --http-addr "$HTTP" --admin-addr "$ADMIN" \
  --api-rate-limit 0 --ingest-rate-limit 0 --log-level warn >"$D/log" 2>&1 &
pid=$!
trap 'kill $pid; wait $pid 2>/dev/null; rm -rf "$D"' EXIT
for _ in $(seq 100); do curl -fs "http://$HTTP/readyz" >/dev/null && break; sleep 0.2; done
KEY=$("$BIN" user create --email bench@example.com --api-key --data-dir "$D" --log-format json 2>/dev/null |
  sed -n 's/.*api key[^:]*: \([^ ]*\).*/\1/p')
# The label value holds a space: the sample is the last field.
sum() { curl -fs "http://$ADMIN/metrics" | awk '/^findash_http_request_duration_seconds_sum\{route="POST \/api\/v1\/ticks"/ {s+=$NF} END {printf "%.6f", s+0}'; }
cpu() { awk '{print $14+$15}' "/proc/$pid/stat"; }
for spec in "$@"; do
  IFS=, read -r batch workers rate <<<"$spec"
  s0=$(sum) c0=$(cpu) t0=$(date +%s.%N)
  out=$(FINDASH_API_KEY=$KEY "$BIN" bench ingest --target "http://$HTTP" --duration 8s \
    --batch "$batch" --workers "$workers" --rate "$rate" --json 2>/dev/null)
  s1=$(sum) c1=$(cpu) t1=$(date +%s.%N)
  python3 - "$out" "$s0" "$s1" "$c0" "$c1" "$t0" "$t1" "$spec" "$(cut -d' ' -f1 /proc/loadavg)" <<'PY'
import json, sys
o = json.loads(sys.argv[1]); s0, s1, c0, c1, t0, t1 = map(float, sys.argv[2:8])
el = t1 - t0
print(f"batch,workers,rate={sys.argv[8]} load={sys.argv[9]} accepted={o['throughput_per_s']:.0f}/s "
      f"p50={o['p50_ms']}ms p99={o['p99_ms']}ms errors={o['errors']} lost={o['lost']} "
      f"cpu_cores={(c1 - c0) / 100 / el:.2f} in_flight={(s1 - s0) / el:.2f}")
PY
done
