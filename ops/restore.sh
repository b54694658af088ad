#!/usr/bin/env bash
# Restore a dump made by ops/backup.sh into an EMPTY database (a fresh cluster, or a database
# just made with createdb). All or nothing: one transaction, stopped at the first error.
#
#   ops/restore.sh DUMP [--database-url URL]
#
#   URL   libpq URL of the empty target database (default: $ANSHIN_DATABASE_URL)
#
# The schema version comes with the dump (yoyo's migration tables are in it): after restoring
# a dump of an older release, run `python -m callflow.migrate upgrade` before starting the app.
# Refuses a target that already has tables, so it can never mix two databases.
set -euo pipefail

dump=
url=${ANSHIN_DATABASE_URL:-}
while (($#)); do
  case $1 in
    --database-url) url=$2; shift 2 ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    -*) echo "restore: unknown argument: $1" >&2; exit 2 ;;
    *) dump=$1; shift ;;
  esac
done
[[ -n $dump && -f $dump ]] || { echo "restore: no dump file given (or not found): ${dump:-}" >&2; exit 2; }
[[ -n $url ]] || { echo "restore: no database: set ANSHIN_DATABASE_URL or pass --database-url" >&2; exit 2; }

bin=${PG_BIN:-}
psql=${bin:+$bin/}psql
pg_restore=${bin:+$bin/}pg_restore

tables=$("$psql" --no-psqlrc -X -At -d "$url" -c \
  "SELECT count(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')")
if ((tables > 0)); then
  echo "restore: the target database already has $tables table(s): restore into an empty one" >&2
  exit 1
fi
"$pg_restore" --exit-on-error --single-transaction --no-owner --no-privileges -d "$url" "$dump"
echo "restored $dump"
