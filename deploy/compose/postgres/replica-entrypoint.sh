#!/bin/sh
# Streaming replica: on first start, clone the primary with pg_basebackup
# (-R writes standby.signal and primary_conninfo; -C -S makes a physical
# replication slot so the primary keeps the WAL this replica still needs),
# then run postgres as a hot standby. Runs as the postgres user.
set -eu
: "${PGDATA:=/var/lib/postgresql/data}"
until pg_isready -h "$PRIMARY_HOST" -p 5432 -U replicator >/dev/null 2>&1; do sleep 1; done
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  export PGPASSWORD="$REPLICATION_PASSWORD"
  pg_basebackup -h "$PRIMARY_HOST" -p 5432 -U replicator -D "$PGDATA" \
    -X stream -R -C -S "${REPLICA_SLOT:-replica1}" --checkpoint=fast --progress
  chmod 0700 "$PGDATA"
fi
exec postgres -c hot_standby=on -c max_connections=200
