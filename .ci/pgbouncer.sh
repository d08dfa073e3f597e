#!/usr/bin/env bash
# Brings up PgBouncer in transaction pooling mode on 127.0.0.1:6432 in front
# of the PostgreSQL server on 127.0.0.1:5432 (any database name passes
# through), for the store/postgres tests and stage-2/3 runs. Idempotent:
# installs pgbouncer from Debian if missing, (re)writes its config in
# /tmp/findash-pgbouncer, starts it unless something already listens.
# Prints the URL to export as FINDASH_TEST_PGBOUNCER_URL.
set -euo pipefail

PORT=${PGBOUNCER_PORT:-6432}
PGHOST_=${PGBOUNCER_UPSTREAM_HOST:-127.0.0.1}
PGPORT_=${PGBOUNCER_UPSTREAM_PORT:-5432}
DIR=/tmp/findash-pgbouncer

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; }

if ! command -v pgbouncer >/dev/null && [ ! -x /usr/sbin/pgbouncer ]; then
  echo "installing pgbouncer" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q pgbouncer >&2 ||
    { apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q pgbouncer >&2; }
fi
BIN=$(command -v pgbouncer || echo /usr/sbin/pgbouncer)

mkdir -p "$DIR"
# auth_type=trust: the server behind trusts loopback too; the auth file
# lists the users allowed in (passwords unused).
cat >"$DIR/userlist.txt" <<USERS
"postgres" ""
"root" ""
USERS
cat >"$DIR/pgbouncer.ini" <<INI
[databases]
* = host=$PGHOST_ port=$PGPORT_

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $PORT
unix_socket_dir =
auth_type = trust
auth_file = $DIR/userlist.txt
pool_mode = transaction
max_client_conn = 2000
default_pool_size = 20
max_db_connections = 60
server_reset_query =
ignore_startup_parameters = extra_float_digits,options
logfile = $DIR/pgbouncer.log
pidfile = $DIR/pgbouncer.pid
admin_users = postgres
INI
# pgbouncer refuses to run as root.
if [ "$(id -u)" = 0 ]; then
  chown -R postgres "$DIR" 2>/dev/null || true
fi

if ! listening; then
  if [ "$(id -u)" = 0 ]; then
    su postgres -s /bin/sh -c "$BIN -d -q $DIR/pgbouncer.ini" >&2
  else
    "$BIN" -d -q "$DIR/pgbouncer.ini" >&2
  fi
  for _ in $(seq 1 50); do listening && break; sleep 0.1; done
fi
listening || { echo "pgbouncer is not listening on 127.0.0.1:$PORT (see $DIR/pgbouncer.log)" >&2; exit 1; }
echo "postgres://postgres@127.0.0.1:$PORT/test?sslmode=disable"
