#!/bin/sh
# Initialise the cluster on first start, then run postgres in the foreground.
# The lab: no POSTGRES_PASSWORD, `trust` for role postgres, 127.0.0.1 only.
# Production (docker/compose.prod.yml): POSTGRES_PASSWORD set → the first start creates the
# cluster with scram-sha-256 password authentication for every connection and the `anshin`
# database; PG_LISTEN says where to listen (default 127.0.0.1).
set -eu
PORT="${PGPORT:-5433}"
LISTEN="${PG_LISTEN:-127.0.0.1}"
BIN=/usr/lib/postgresql/15/bin
mkdir -p /data && chown postgres:postgres /data
if [ ! -s /data/PG_VERSION ]; then
  if [ -n "${POSTGRES_PASSWORD:-}" ]; then
    PWFILE=$(mktemp)
    printf '%s\n' "$POSTGRES_PASSWORD" > "$PWFILE"
    chown postgres "$PWFILE"
    su postgres -c "$BIN/initdb -D /data -U postgres --auth=scram-sha-256 --pwfile=$PWFILE -E UTF8 --locale=C.UTF-8" >/dev/null
    rm -f "$PWFILE"
    echo "CREATE DATABASE anshin;" | su postgres -c "$BIN/postgres --single -D /data postgres" >/dev/null
  else
    su postgres -c "$BIN/initdb -D /data -U postgres --auth=trust -E UTF8 --locale=C.UTF-8" >/dev/null
  fi
fi
unset POSTGRES_PASSWORD
mkdir -p /var/run/postgresql && chown postgres:postgres /var/run/postgresql
exec su postgres -c "exec $BIN/postgres -D /data -c listen_addresses=$LISTEN -c port=$PORT -c unix_socket_directories=/var/run/postgresql"
