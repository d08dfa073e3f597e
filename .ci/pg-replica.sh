#!/usr/bin/env bash
# Creates and starts a streaming replica of the PostgreSQL server on
# 127.0.0.1:5432, listening on 127.0.0.1:5433 with its data in
# /tmp/findash-pg-replica, for the store/postgres tests and the stage-3
# integration test. Idempotent: allows replication connections from
# loopback on the primary if pg_hba.conf does not yet, takes the base
# backup only once (pg_basebackup -R: standby.signal + primary_conninfo),
# starts the replica unless it is already listening.
# Prints the URL to export as FINDASH_TEST_POSTGRES_REPLICA_URL.
set -euo pipefail

PRIMARY_HOST=${PG_PRIMARY_HOST:-127.0.0.1}
PRIMARY_PORT=${PG_PRIMARY_PORT:-5432}
PORT=${PG_REPLICA_PORT:-5433}
DIR=${PG_REPLICA_DIR:-/tmp/findash-pg-replica}
BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; }
as_postgres() { if [ "$(id -u)" = 0 ]; then su postgres -s /bin/sh -c "$*"; else sh -c "$*"; fi; }
psql_primary() { psql -X -q -At -h "$PRIMARY_HOST" -p "$PRIMARY_PORT" -U postgres -d postgres "$@"; }

if listening; then
  echo "postgres://postgres@127.0.0.1:$PORT/test?sslmode=disable"
  exit 0
fi

# 1. The primary must let a replication connection in from loopback.
if [ "$(psql_primary -c "SELECT count(*) FROM pg_hba_file_rules WHERE 'replication' = ANY(database)")" = 0 ]; then
  hba=$(psql_primary -c "SHOW hba_file")
  echo "allowing replication connections from loopback in $hba" >&2
  printf '\n# added by findash .ci/pg-replica.sh\nlocal replication all trust\nhost replication all 127.0.0.1/32 trust\n' >>"$hba"
  psql_primary -c "SELECT pg_reload_conf()" >/dev/null
  sleep 0.5
fi

# 2. The base backup, once.
if [ ! -f "$DIR/PG_VERSION" ]; then
  rm -rf "$DIR"
  mkdir -p "$DIR"
  [ "$(id -u)" = 0 ] && chown postgres "$DIR"
  chmod 700 "$DIR"
  echo "pg_basebackup into $DIR" >&2
  as_postgres "$BIN/pg_basebackup -h $PRIMARY_HOST -p $PRIMARY_PORT -U postgres -D $DIR -R -X stream -c fast" >&2
  # Debian keeps the primary's configuration in /etc: give the replica its own.
  as_postgres "cat >$DIR/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$DIR'
hot_standby = on
hot_standby_feedback = on
max_connections = 100
shared_buffers = 64MB
logging_collector = off
CONF
  as_postgres "cat >$DIR/pg_hba.conf" <<HBA
local all all trust
host all all 127.0.0.1/32 trust
HBA
fi

# 3. Start it.
as_postgres "$BIN/pg_ctl -D $DIR -l $DIR/server.log -w -t 60 start" >&2
listening || { echo "replica is not listening on 127.0.0.1:$PORT (see $DIR/server.log)" >&2; exit 1; }
echo "postgres://postgres@127.0.0.1:$PORT/test?sslmode=disable"
