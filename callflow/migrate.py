"""Versioned schema migrations: `python -m callflow.migrate upgrade` (docs/operations.md).

The migrations are plain SQL files in `callflow/migrations/`, applied in order by
yoyo-migrations, each in its own transaction, under yoyo's lock table (two starts racing do
not apply a migration twice), and recorded in yoyo's tables (`_yoyo_migration`, …).
`0001_baseline` is the schema of the last release without migrations (idempotent, so a
database created from that release's schema.sql goes through it unchanged); every later change
is a new file, never an edit of a shipped one. `schema.sql` stays the readable whole of the
result; tests/integration/test_migrations.py proves both give the same `pg_dump`.

The deploy runs `upgrade` before starting the app and the portal; the lab (labkit.postgres,
`./lab up`) uses the same function, so tests run on a migrated database.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlencode

import psycopg
import psycopg.conninfo
from yoyo import get_backend, read_migrations

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
#: how long `upgrade` waits for another process's upgrade to finish (yoyo's lock)
LOCK_TIMEOUT_S = 120
CONNECT_TIMEOUT_S = 10


def yoyo_url(database_url: str) -> str:
    """The app's libpq URL as yoyo takes it: the Psycopg 3 driver (the app's own), and a
    connect timeout unless the URL has one. Everything but the database name travels as
    query parameters, which yoyo hands to psycopg.connect unchanged: its own URL parser takes
    one host, and a multi-host URL (`postgresql://USER:PW@db1:5432,db2:5432/anshin?
    target_session_attrs=read-write`, docs/operations.md) must reach libpq as it is, so that
    `upgrade` runs on whichever server is the primary."""
    if not database_url.startswith(("postgresql://", "postgres://", "postgresql+psycopg://")):
        raise ValueError(f"not a PostgreSQL URL: {database_url.split(':', 1)[0]}://…")
    try:
        params = psycopg.conninfo.conninfo_to_dict(
            database_url.replace("postgresql+psycopg://", "postgresql://", 1))
    except psycopg.ProgrammingError as exc:
        raise ValueError(f"not a valid PostgreSQL URL: {exc}") from exc
    dbname = str(params.pop("dbname", "") or "")
    query = {k: str(v) for k, v in params.items() if v is not None}
    query.setdefault("connect_timeout", str(CONNECT_TIMEOUT_S))
    return f"postgresql+psycopg:///{quote(dbname)}?{urlencode(query)}"


def pending(database_url: str) -> list[str]:
    """Ids of the migrations not yet applied to the database, in the order `upgrade` runs them."""
    backend = get_backend(yoyo_url(database_url))
    try:
        return [m.id for m in backend.to_apply(read_migrations(str(MIGRATIONS)))]
    finally:
        backend.connection.close()


@dataclass(frozen=True)
class SchemaState:
    """How a database's applied migrations compare with the ones this code ships."""

    pending: tuple[str, ...]  # shipped, not applied: run `upgrade`
    unknown: tuple[str, ...]  # applied by a newer release: this code does not know them

    def problem(self) -> str | None:
        """One line saying why the app and the portal must not start on this database, or
        None when the schema is the one this code was written for."""
        if self.unknown:
            return (f"the database schema is newer than this release: migration(s) "
                    f"{', '.join(self.unknown)} applied by a newer release are unknown here; "
                    "deploy that release (or newer), or restore a backup taken before it")
        if self.pending:
            return (f"the database schema is behind this release: migration(s) "
                    f"{', '.join(self.pending)} pending; run `python -m callflow.migrate "
                    "upgrade` first")
        return None


def compare(shipped: Sequence[str], applied: Iterable[str]) -> SchemaState:
    done = set(applied)
    known = set(shipped)
    return SchemaState(pending=tuple(m for m in shipped if m not in done),
                       unknown=tuple(sorted(done - known)))


def shipped() -> list[str]:
    """Ids of the migrations in this release, in the order `upgrade` applies them."""
    return [m.id for m in read_migrations(str(MIGRATIONS))]


def schema_state(database_url: str) -> SchemaState:
    """Read which migrations the database has (yoyo's `_yoyo_migration` rows) without
    writing anything, so that a hot standby answers too: any server of a multi-host URL
    will do (target_session_attrs is relaxed to `any`; a standby has the primary's schema).
    Raises psycopg.OperationalError when no server answers."""
    params = psycopg.conninfo.conninfo_to_dict(database_url)
    params["target_session_attrs"] = "any"
    params.setdefault("connect_timeout", CONNECT_TIMEOUT_S)
    with psycopg.connect(psycopg.conninfo.make_conninfo("", **params), autocommit=True) as conn:
        try:
            rows = conn.execute("SELECT migration_id FROM _yoyo_migration").fetchall()
        except psycopg.errors.UndefinedTable:  # never migrated: everything is pending
            rows = []
    return compare(shipped(), (str(r[0]) for r in rows))


def upgrade(database_url: str) -> list[str]:
    """Apply every pending migration; returns the ids applied (none: already up to date)."""
    backend = get_backend(yoyo_url(database_url))
    try:
        with backend.lock(timeout=LOCK_TIMEOUT_S):
            todo = backend.to_apply(read_migrations(str(MIGRATIONS)))
            backend.apply_migrations(todo)
            return [m.id for m in todo]
    finally:
        backend.connection.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m callflow.migrate",
        description="Schema migrations of the 050 Anshin Number database.")
    parser.add_argument("command", choices=["upgrade", "status"],
                        help="upgrade: apply pending migrations; status: list them")
    parser.add_argument("--database-url", default=os.environ.get("ANSHIN_DATABASE_URL"),
                        help="libpq URL (default: $ANSHIN_DATABASE_URL)")
    args = parser.parse_args(argv)
    if not args.database_url:
        print("migrate: no database: set ANSHIN_DATABASE_URL or pass --database-url",
              file=sys.stderr)
        return 2
    if args.command == "status":
        state = schema_state(args.database_url)
        lines = [*(f"pending {m}" for m in state.pending),
                 *(f"unknown {m} (applied by a newer release)" for m in state.unknown)]
        print("\n".join(lines) if lines else "up to date")
        return 0
    applied = upgrade(args.database_url)
    print("\n".join(f"applied {m}" for m in applied) if applied else "up to date")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
