#!/bin/sh
# Initialise the cluster on first start, then run postgres in the foreground.
# The lab: no POSTGRES_PASSWORD, `trust` for role postgres, 127.0.0.1 only.
# Production (docker/compose.prod.yml): POSTGRES_PASSWORD set → the first start creates the
# cluster with scram-sha-256 password authentication for every connection and the `anshin`
# database; PG_LISTEN says where to listen (default 127.0.0.1).
# PG_ALLOW_FROM (production, a CIDR such as 10.0.0.0/24): the other machines' addresses, let in
# with a password for the database and for streaming replication (a standby there).
# PG_ROLE=standby (the `postgres-standby` service): the first start is a base copy of the
# primary PG_PRIMARY_HOST:PG_PRIMARY_PORT (pg_basebackup -R: it then streams the primary's
# changes and serves reads until promoted), logging in as postgres with POSTGRES_PASSWORD.
set -eu
PORT="${PGPORT:-5433}"
LISTEN="${PG_LISTEN:-127.0.0.1}"
BIN=/usr/lib/postgresql/15/bin
mkdir -p /data && chown postgres:postgres /data
if [ "${PG_ROLE:-primary}" = standby ] && [ ! -s /data/PG_VERSION ]; then
  if [ -z "${PG_PRIMARY_HOST:-}" ] || [ -z "${POSTGRES_PASSWORD:-}" ]; then
    echo "postgres standby: set PG_PRIMARY_HOST (and PG_PRIMARY_PORT) and POSTGRES_PASSWORD (the primary's)" >&2
    exit 2
  fi
  chmod 700 /data
  PGPASSWORD="$POSTGRES_PASSWORD" su postgres -c "$BIN/pg_basebackup -h $PG_PRIMARY_HOST -p ${PG_PRIMARY_PORT:-5432} -U postgres -D /data -R -X stream --checkpoint=fast"
fi
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
if [ -n "${PG_ALLOW_FROM:-}" ] && ! grep -q "^host replication postgres $PG_ALLOW_FROM " /data/pg_hba.conf; then
  printf 'host replication postgres %s scram-sha-256\nhost anshin all %s scram-sha-256\n' \
    "$PG_ALLOW_FROM" "$PG_ALLOW_FROM" >> /data/pg_hba.conf
fi
unset POSTGRES_PASSWORD
mkdir -p /var/run/postgresql && chown postgres:postgres /var/run/postgresql
exec su postgres -c "exec $BIN/postgres -D /data -c listen_addresses=$LISTEN -c port=$PORT -c unix_socket_directories=/var/run/postgresql"
