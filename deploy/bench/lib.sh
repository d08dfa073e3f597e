# shellcheck shell=bash
# The parts deploy/bench/ws-instances.sh and api-50k.sh share, sourced by
# both: definitions only, nothing runs here. They use the scripts' globals:
# pids (every process started, ended by cleanup), db (the run's PostgreSQL
# database), PG_URL, OUT, FINDASH_BIN and NATS_SERVER.

abs() { case $1 in /*) echo "$1" ;; *) echo "$PWD/$1" ;; esac; }
say() { printf '%s\n' "$*" >&2; }

# cleanup ends every process in pids (TERM, then KILL after up to 20 s of
# draining) and drops the run's database; the scripts trap it on EXIT.
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for _ in $(seq 1 100); do # up to 20 s for the drains, then no more waiting
    alive=0
    for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
    [ $alive = 0 ] && break
    sleep 0.2
  done
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  psql -q "$PG_URL" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
}

# A port picked here is free when picked; another process could take it
# before the server binds it, which wait_ready then reports.
free_port() { python3 -c 'import socket,sys; s=socket.socket(); s.bind((sys.argv[1],0)); print(s.getsockname()[1])' "${1:-127.0.0.1}"; }
wait_ready() { # url
  for _ in $(seq 1 150); do
    curl -fsS -o /dev/null "$1/readyz" 2>/dev/null && return 0
    sleep 0.2
  done
  say "$1 did not become ready"; return 1
}

# build_findash builds findash into OUT unless FINDASH_BIN names it.
build_findash() {
  if [ -z "${FINDASH_BIN:-}" ]; then
    say "building findash"
    FINDASH_BIN=$OUT/findash
    go build -o "$FINDASH_BIN" ./cmd/findash
  fi
}

# build_bins builds findash and nats-server into OUT unless FINDASH_BIN and
# NATS_SERVER name them (nats-server from the module findash embeds, so the
# version is the one findash is tested with).
build_bins() {
  build_findash
  if [ -z "${NATS_SERVER:-}" ]; then
    say "building nats-server $(go list -m -f '{{.Version}}' github.com/nats-io/nats-server/v2)"
    NATS_SERVER=$OUT/nats-server
    go build -o "$NATS_SERVER" github.com/nats-io/nats-server/v2
  fi
}

# start_nats starts one NATS server with JetStream, for this run only, on
# nats_port, and waits until it accepts connections.
start_nats() {
  nats_port=$(free_port)
  "$NATS_SERVER" -a 127.0.0.1 -p "$nats_port" -js -sd "$OUT/nats" >"$OUT/nats.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$nats_port") 2>/dev/null && break; sleep 0.1; done
  (exec 3<>"/dev/tcp/127.0.0.1/$nats_port") 2>/dev/null || { say "nats-server did not start; see $OUT/nats.log"; exit 1; }
}

# create_db creates the database db, for this run only, and sets db_url to
# PG_URL with db as its path.
create_db() {
  psql -q "$PG_URL" -c "CREATE DATABASE $db" >/dev/null
  db_url=$(python3 -c 'import sys,urllib.parse as u; p=u.urlsplit(sys.argv[1]); print(u.urlunsplit(p._replace(path="/"+sys.argv[2])))' "$PG_URL" "$db")
}

# create_key creates the bench user and sets key to its API key.
create_key() {
  key=$("$FINDASH_BIN" user create --email bench@example.com --api-key --data-dir "$OUT/cli" 2>"$OUT/cli.log" |
    sed -n 's/^api key.*: //p')
  [ -n "$key" ] || { say "could not create the bench API key; see $OUT/cli.log"; exit 1; }
}

# group_usage prints, tab-first, the summed RSS (KiB) and CPU (s) of the
# processes whose ids are in its argument (a space-separated list), for a
# monitor.tsv row.
group_usage() { # "pid pid …" clock-ticks-per-second
  # A process may exit between listing and reading: cat skips it (set -e
  # and pipefail would otherwise end the monitor, and the script with it).
  # shellcheck disable=SC2086
  { for p in $1; do cat "/proc/$p/stat" 2>/dev/null || true; done; } |
    awk -v hz="$2" '{ rss += $24 * 4; cpu += $14 + $15 } END { printf "\t%d\t%.2f", rss, cpu / hz }'
}

join() { local IFS=,; echo "$*"; }
