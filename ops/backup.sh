#!/usr/bin/env bash
# Back up the 050 Anshin Number database: one pg_dump file in custom format (compressed; the
# voicemail audio lives in the database, so this is the whole of a subscriber's data).
# Independent of the lab: needs only pg_dump/pg_restore (client version >= the server's).
#
#   ops/backup.sh [--database-url URL] [--dir DIR] [--keep N] [--compress 0-9]
#
#   URL   libpq URL of the database (default: $ANSHIN_DATABASE_URL); a password comes from
#         the URL, $PGPASSWORD or ~/.pgpass
#   DIR   where dumps go (default: $ANSHIN_BACKUP_DIR or ./backups)
#   N     dumps kept in DIR, oldest removed first (default: $ANSHIN_BACKUP_KEEP or 14; 0 = all)
#   0-9   pg_dump's compression (default: $ANSHIN_BACKUP_COMPRESS or 1): the audio compresses
#         little, so higher levels cost minutes for a few percent; 0 doubles the size (bytea
#         is dumped as hex text)
#
# Prints the path of the new dump. The dump is written beside its final name and renamed only
# after pg_restore has read its table of contents back, so a crash never leaves a truncated
# file under a dump's name. Restore with ops/restore.sh (docs/operations.md).
set -euo pipefail

url=${ANSHIN_DATABASE_URL:-}
dir=${ANSHIN_BACKUP_DIR:-./backups}
keep=${ANSHIN_BACKUP_KEEP:-14}
compress=${ANSHIN_BACKUP_COMPRESS:-1}
while (($#)); do
  case $1 in
    --database-url) url=$2; shift 2 ;;
    --dir) dir=$2; shift 2 ;;
    --keep) keep=$2; shift 2 ;;
    --compress) compress=$2; shift 2 ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    *) echo "backup: unknown argument: $1" >&2; exit 2 ;;
  esac
done
[[ -n $url ]] || { echo "backup: no database: set ANSHIN_DATABASE_URL or pass --database-url" >&2; exit 2; }
[[ $keep =~ ^[0-9]+$ ]] || { echo "backup: --keep must be a number" >&2; exit 2; }
[[ $compress =~ ^[0-9]$ ]] || { echo "backup: --compress must be 0-9" >&2; exit 2; }

bin=${PG_BIN:-}
pg_dump=${bin:+$bin/}pg_dump
pg_restore=${bin:+$bin/}pg_restore

mkdir -p "$dir"
name="anshin-$(date -u +%Y%m%dT%H%M%SZ).dump"
tmp="$dir/.$name.partial"
trap 'rm -f "$tmp"' EXIT
# --no-owner/--no-privileges: a dump restores under whatever role the target uses.
"$pg_dump" --format=custom --compress="$compress" --no-owner --no-privileges --file="$tmp" "$url"
"$pg_restore" --list "$tmp" >/dev/null
mv "$tmp" "$dir/$name"
trap - EXIT

if ((keep > 0)); then
  # names sort by time; remove all but the newest $keep
  mapfile -t old < <(find "$dir" -maxdepth 1 -name 'anshin-*.dump' -printf '%f\n' | sort | head -n -"$keep")
  for f in "${old[@]}"; do rm -f "$dir/$f"; done
fi
echo "$dir/$name"
