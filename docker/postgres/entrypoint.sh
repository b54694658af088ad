#!/bin/sh
# Initialise the cluster on first start, then run postgres in the foreground on 127.0.0.1.
set -eu
PORT="${PGPORT:-5433}"
mkdir -p /data && chown postgres:postgres /data
if [ ! -s /data/PG_VERSION ]; then
  su postgres -c "/usr/lib/postgresql/15/bin/initdb -D /data -U postgres --auth=trust -E UTF8 --locale=C.UTF-8" >/dev/null
fi
mkdir -p /var/run/postgresql && chown postgres:postgres /var/run/postgresql
exec su postgres -c "exec /usr/lib/postgresql/15/bin/postgres -D /data -c listen_addresses=127.0.0.1 -c port=$PORT -c unix_socket_directories=/var/run/postgresql"
