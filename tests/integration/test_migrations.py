"""Schema migrations (callflow/migrate.py, callflow/migrations/) against a real PostgreSQL.

* The migrations and schema.sql describe the same schema: `pg_dump --schema-only` of a
  database built each way is identical (yoyo's own tables aside), so they cannot drift.
* A database at the previous release (its schema.sql, applied the way that release did, with
  no migration tables), holding a bit of everything, upgrades without losing a row: every
  table that stays keeps its rows as they were, and the lockouts of the two old tables are
  carried into `ivr_lockouts`.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from callflow.migrate import MIGRATIONS, pending, schema_state, upgrade
from callflow.store import Database
from callflow.store import mailbox as mailbox_store
from labkit.fixtures import pg_cluster
from labkit.ports import free_port
from labkit.postgres import PG_BIN, SCHEMA, PgCluster

Sql = psycopg.Connection[tuple[object, ...]]
BASELINE = MIGRATIONS / "0001_baseline.sql"
YOYO_TABLES = ("_yoyo_migration", "_yoyo_log", "_yoyo_version", "yoyo_lock")


@pytest.fixture(scope="module")
def cluster(lab_dir: Path) -> Iterator[PgCluster]:
    with pg_cluster(lab_dir / "pg-migrations", migrate=False) as c:
        yield c


def new_database(cluster: PgCluster, name: str) -> str:
    with psycopg.connect(cluster.url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    return cluster.url.rsplit("/", 1)[0] + "/" + name


def schema_dump(url: str) -> str:
    out = subprocess.run(
        [str(PG_BIN / "pg_dump"), "--schema-only", "--no-owner",
         *(f"--exclude-table={t}" for t in YOYO_TABLES), url],
        check=True, capture_output=True, text=True, timeout=60).stdout
    # pg_dump ≥ 15.14 brackets its output with a random \restrict key
    return "\n".join(line for line in out.splitlines()
                     if not re.match(r"\\(un)?restrict ", line))


def test_migrations_give_exactly_schema_sql(cluster: PgCluster) -> None:
    migrated = new_database(cluster, "from_migrations")
    assert upgrade(migrated) == [m.stem for m in sorted(MIGRATIONS.glob("*.sql"))]
    assert pending(migrated) == [] and upgrade(migrated) == []
    from_schema = new_database(cluster, "from_schema_sql")
    with psycopg.connect(from_schema, autocommit=True) as conn:
        conn.execute(SCHEMA.read_text(encoding="utf-8").encode())
    a, b = schema_dump(migrated), schema_dump(from_schema)
    assert "CREATE TABLE public.ivr_lockouts" in a
    assert a == b, "schema.sql and the migrations differ: add a migration for the change"


# ------------------------------------------------------------------ upgrade keeps the data

NUMBER = "05011112222"
UNKNOWN = "05099998888"  # entered in the IVR, not a mailbox
AUDIO = bytes(range(256)) * 64  # stands for a WAV; compared byte for byte


def populate_previous_release(sql: Sql, now: datetime) -> None:
    (account,) = sql.execute(
        "INSERT INTO accounts (email, password_hash) VALUES ('old@example.jp', 'argon2-hash')"
        " RETURNING id").fetchone() or (0,)
    sql.execute("INSERT INTO contact_numbers (account_id, number, label)"
                " VALUES (%s, '09011110000', '携帯')", (account,))
    sql.execute(
        "INSERT INTO subscriber_numbers (number, account_id, reject_anonymous, forward_enabled,"
        " voicemail_enabled, voicemail_pin_hash, notify_email, attach_recording)"
        " VALUES (%s, %s, true, true, true, 'pin-hash', 'old@example.jp', true)",
        (NUMBER, account))
    sql.execute("INSERT INTO forward_destinations (number, destination, active)"
                " VALUES (%s, '09022223333', true), (%s, '0312345678', false),"
                " (%s, '05044445555', false)", (NUMBER, NUMBER, NUMBER))
    sql.execute("INSERT INTO block_list (number, blocked) VALUES (%s, '0120111222'),"
                " (%s, '+8613800000000')", (NUMBER, NUMBER))
    sql.execute("INSERT INTO call_history (number, caller, received_at, outcome)"
                " VALUES (%s, '09033334444', %s, 'voicemail'), (%s, NULL, %s, 'rejected')",
                (NUMBER, now - timedelta(days=1), NUMBER, now - timedelta(hours=1)))
    sql.execute("INSERT INTO call_log (channel_id, dialed, route, caller)"
                " VALUES ('ch-1', %s, 'inbound', '09033334444')", (NUMBER,))
    sql.execute("INSERT INTO voicemail_messages (number, caller, received_at, duration_ms,"
                " heard, audio, recording_name) VALUES (%s, '09033334444', %s, 4000, false, %s,"
                " 'vm-old-1'), (%s, NULL, %s, 2000, true, %s, 'vm-old-2')",
                (NUMBER, now - timedelta(days=1), AUDIO, NUMBER, now - timedelta(hours=2),
                 AUDIO[::-1]))
    # a mailbox locked 5 minutes ago; one with a wrong PIN short of the lock; one counting
    # nothing; an unknown number locked the same way
    (other,) = sql.execute(
        "INSERT INTO subscriber_numbers (number, account_id) VALUES ('05011113333', %s),"
        " ('05011114444', %s) RETURNING number", (account, account)).fetchone() or ("",)
    sql.execute("INSERT INTO mailbox_lockouts (number, failed_attempts, locked_until)"
                " VALUES (%s, 3, %s), ('05011113333', 1, NULL), ('05011114444', 0, NULL)",
                (NUMBER, now + timedelta(minutes=10)))
    sql.execute("INSERT INTO ivr_unknown_lockouts (number, failed_attempts, locked_until,"
                " updated_at) VALUES (%s, 3, %s, %s)",
                (UNKNOWN, now + timedelta(minutes=10), now - timedelta(minutes=5)))
    sql.execute("INSERT INTO mail_outbox (to_addr, subject, body, attachment, attachment_name,"
                " sent_at) VALUES ('old@example.jp', '留守番電話', '本文', %s, 'msg.wav', %s),"
                " ('old@example.jp', '未送信', '本文', NULL, NULL, NULL)", (AUDIO, now))
    sql.execute("INSERT INTO own_numbers (account_id, number, preferred, verified_at)"
                " VALUES (%s, '09011110000', true, %s)", (account, now))
    (request,) = sql.execute(
        "INSERT INTO call_requests (kind, account_id, number, leg1, destination, status,"
        " finished_at) VALUES ('callback', %s, %s, '09011110000', '0312345678', 'completed', %s)"
        " RETURNING id", (account, NUMBER, now)).fetchone() or (0,)
    sql.execute("INSERT INTO callback_legs (request_id, leg, from_number, to_number, answered_at,"
                " ended_at, result, billable_seconds) VALUES (%s, 1, %s, '09011110000', %s, %s,"
                " 'answered', 65), (%s, 2, %s, '0312345678', %s, %s, 'answered', 60)",
                (request, NUMBER, now, now, request, NUMBER, now, now))
    sql.execute("INSERT INTO callback_account_limits (account_id, max_per_day) VALUES (%s, 50)",
                (account,))
    sql.execute("INSERT INTO portal_sessions (token_hash, account_id, stage, csrf_token)"
                " VALUES ('sess-hash', %s, 'full', 'csrf')", (account,))
    sql.execute("INSERT INTO twofa_challenges (account_id, contact_number, method, code_hash)"
                " VALUES (%s, '09011110000', 'sms', 'code-hash')", (account,))
    sql.execute("INSERT INTO twofa_sends (account_id, contact_number) VALUES (%s, '09011110000')",
                (account,))
    sql.execute("INSERT INTO trusted_browsers (token_hash, account_id) VALUES ('tb', %s)",
                (account,))
    sql.execute("INSERT INTO portal_lockouts (key, failures) VALUES ('login:old@example.jp', 2)")
    sql.execute("INSERT INTO sms_outbox (to_number, body, provider) VALUES ('09011110000',"
                " 'code', 'lab')")
    assert other


def table_columns(sql: Sql) -> dict[str, list[str]]:
    columns: dict[str, list[str]] = {}
    for table, column in sql.execute(
            "SELECT table_name, column_name FROM information_schema.columns"
            " WHERE table_schema = 'public' ORDER BY table_name, ordinal_position").fetchall():
        columns.setdefault(str(table), []).append(str(column))
    return columns


def table_rows(sql: Sql, columns: dict[str, list[str]] | None = None) -> dict[str, list[str]]:
    """Every row of every table (as text, sorted), yoyo's own aside. `columns`: read only
    these columns of a table (those it had before an upgrade added more)."""
    tables = [str(r[0]) for r in sql.execute(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1").fetchall()]
    def row_text(t: str) -> str:
        if columns is None or t not in columns:
            return "t::text"
        return "ROW(" + ", ".join(f't."{c}"' for c in columns[t]) + ")::text"
    return {t: sorted(str(r[0]) for r in sql.execute(
                f'SELECT {row_text(t)} FROM "{t}" t').fetchall())
            for t in tables if t not in YOYO_TABLES}


async def test_upgrade_from_previous_release_keeps_every_row(cluster: PgCluster) -> None:
    url = new_database(cluster, "previous_release")
    now = datetime.now(UTC).replace(microsecond=0)
    with psycopg.connect(url, autocommit=True) as sql:
        # what the previous release did: its schema.sql applied as a whole, no migration tables
        sql.execute(BASELINE.read_text(encoding="utf-8").encode())
        populate_previous_release(sql, now)
        before = table_rows(sql)
        before_columns = table_columns(sql)
    assert pending(url) == [m.stem for m in sorted(MIGRATIONS.glob("*.sql"))]

    assert upgrade(url)

    with psycopg.connect(url, autocommit=True) as sql:
        # columns later migrations add (with defaults) aside: the rows that were there stay
        after = table_rows(sql, before_columns)
        lockouts = {str(r[0]): (r[1], r[2], r[3]) for r in sql.execute(
            "SELECT number, failed_attempts, locked_until, last_failure_at"
            " FROM ivr_lockouts").fetchall()}
    dropped = {"mailbox_lockouts", "ivr_unknown_lockouts"}
    assert set(before) - set(after) == dropped
    added = set(after) - set(before)
    assert {"ivr_lockouts", "voicemail_reservations"} <= added
    # Tables of the later (additive) migrations start empty: nothing was moved into them;
    # but 0006b counts the block lists there are (迷惑電話の可能性: accounts per number).
    derived = {"likely_spam_numbers"}
    assert not [t for t in added - {"ivr_lockouts", "voicemail_reservations"} - derived
                if after[t]]
    with psycopg.connect(url, autocommit=True) as sql:
        assert sql.execute(
            "SELECT caller, reporters FROM likely_spam_numbers ORDER BY 1").fetchall() == \
            sql.execute("SELECT b.blocked, count(DISTINCT s.account_id)::int FROM block_list b"
                        " JOIN subscriber_numbers s USING (number)"
                        " WHERE b.created_at > now() - interval '90 days'"
                        " GROUP BY 1 ORDER BY 1").fetchall()
    for table in set(before) - dropped - {"forward_destinations"}:
        assert after[table] == before[table], table
    # the 050 destination (a carrier loop the old store already refused) is the one row gone
    gone = set(before["forward_destinations"]) - set(after["forward_destinations"])
    assert len(gone) == 1 and "05044445555" in gone.pop()
    assert len(after["forward_destinations"]) == 2
    # locks carried over as they were; the time of the locking wrong PIN is inferred
    assert lockouts[NUMBER][:2] == (3, now + timedelta(minutes=10))
    assert lockouts[NUMBER][2] == now - timedelta(minutes=5)
    assert lockouts[UNKNOWN] == (3, now + timedelta(minutes=10), now - timedelta(minutes=5))
    assert lockouts["05011113333"][0] == 1 and lockouts["05011113333"][1] is None
    assert "05011114444" not in lockouts  # counted nothing
    with psycopg.connect(url, autocommit=True) as sql:
        (audio,) = sql.execute("SELECT audio FROM voicemail_messages WHERE recording_name"
                               " = 'vm-old-1'").fetchone() or (b"",)
        assert bytes(audio) == AUDIO
        with pytest.raises(psycopg.errors.CheckViolation):
            sql.execute("INSERT INTO forward_destinations (number, destination)"
                        " VALUES (%s, '05066667777')", (NUMBER,))
    # today's IVR store reads the carried-over locks: the mailbox and the unknown number
    # both stay locked until the old lock lifts
    async with Database(url) as db:
        for entered in (NUMBER, UNKNOWN):
            state = await mailbox_store.lock_state(db, entered)
            assert mailbox_store.is_locked(state, now), entered
            assert not mailbox_store.is_locked(state, now + timedelta(minutes=11)), entered


# ------------------------------------------------------------------ start-up refuses a stale schema

def start(program: str, url: str) -> subprocess.CompletedProcess[str]:
    """`python -m <program>` in the lab profile (no production checks in the way) against
    `url`; it must refuse before doing anything, so it exits by itself."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSHIN_")}
    env.update(ANSHIN_PROFILE="lab", ANSHIN_DATABASE_URL=url,
               ANSHIN_STATUS_PORT=str(free_port()), ANSHIN_PORTAL_PORT=str(free_port()),
               ANSHIN_PORTAL_SMS_PROVIDER="lab")
    return subprocess.run([sys.executable, "-m", program], env=env, capture_output=True,
                          text=True, timeout=60)


def test_app_and_portal_refuse_a_database_behind_or_ahead_of_the_code(
        cluster: PgCluster) -> None:
    shipped = [m.stem for m in sorted(MIGRATIONS.glob("*.sql"))]
    url = new_database(cluster, "stale_schema")
    assert schema_state(url).pending == tuple(shipped)  # never migrated
    for program in ("callflow", "portal"):
        result = start(program, url)
        assert result.returncode == 2, (program, result.stderr)
        assert result.stderr.strip() == (
            f"{program}: refusing to start: the database schema is behind this release: "
            f"migration(s) {', '.join(shipped)} pending; run `python -m callflow.migrate "
            "upgrade` first"), program

    upgrade(url)
    assert schema_state(url).problem() is None  # what the lab's app and portal start on
    # a newer release migrated the database (a rollback of the code, not of the data)
    with psycopg.connect(url, autocommit=True) as sql:
        sql.execute("INSERT INTO _yoyo_migration (migration_hash, migration_id, applied_at_utc)"
                    " VALUES ('f00d', '9001_from_the_future', now())")
    for program in ("callflow", "portal"):
        result = start(program, url)
        assert result.returncode == 2, (program, result.stderr)
        line = result.stderr.strip()
        assert line.startswith(f"{program}: refusing to start: the database schema is newer "
                               "than this release: migration(s) 9001_from_the_future"), line
        assert "\n" not in line
