"""Backup and restore (ops/backup.sh, ops/restore.sh; docs/operations.md) end to end.

A mailbox with a message (its audio in the database) is dumped from the lab's database,
restored into a fresh PostgreSQL cluster, and then:
* the IVR's store API (callflow.store.mailbox) logs in and reads the same audio, byte for
  byte, from the restored database;
* the lab's app is restarted on the restored database and a real SIPp call to the retrieval
  center (050-3300-5000) logs in and hears the message: it is marked heard in the restored
  database, and still unheard in the original one, so the call was served by the restore.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from callflow.migrate import pending
from callflow.store import Database
from callflow.store import mailbox as store
from integration.test_ivr import (
    RETRIEVAL,
    add_message,
    dial,
    login,
    messages,
    new_mailbox,
    played,
)
from labkit.appproc import AppProcess
from labkit.asterisk import AsteriskContainer
from labkit.fixtures import pg_cluster
from labkit.harness.sipp import Hangup, Wait
from labkit.postgres import PG_BIN, PgCluster

pytestmark = pytest.mark.lab

Sql = psycopg.Connection[tuple[object, ...]]
OPS = Path(__file__).resolve().parents[2] / "ops"


def run_ops(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(OPS / script), *args], env={**os.environ, "PG_BIN": str(PG_BIN)},
                          capture_output=True, text=True, timeout=300)


def backup_and_restore(source_url: str, target_url: str, backups: Path) -> None:
    backup = run_ops("backup.sh", "--database-url", source_url, "--dir", str(backups))
    assert backup.returncode == 0, backup.stderr
    dump = Path(backup.stdout.strip())
    assert dump.name.startswith("anshin-") and dump.stat().st_size > 0
    assert not list(backups.glob(".*partial"))
    restore = run_ops("restore.sh", str(dump), "--database-url", target_url)
    assert restore.returncode == 0, restore.stderr
    # the schema version came with the dump: nothing to migrate
    assert pending(target_url) == []
    # a restore never goes over a database that has tables
    again = run_ops("restore.sh", str(dump), "--database-url", target_url)
    assert again.returncode == 1 and "already has" in again.stderr


@pytest.fixture
def restored(lab_dir: Path) -> Iterator[PgCluster]:
    with pg_cluster(lab_dir / "pg-restored", migrate=False) as cluster:
        yield cluster


async def test_restored_dump_serves_the_message_through_the_ivr(
        pg: PgCluster, restored: PgCluster, sql: Sql, app: AppProcess,
        asterisk: AsteriskContainer, lab_dir: Path) -> None:
    number = new_mailbox(sql)
    msg = add_message(sql, number, age=timedelta(minutes=20), caller="09011112222")
    (audio,) = sql.execute("SELECT audio FROM voicemail_messages WHERE id = %s",
                           (msg,)).fetchone() or (b"",)
    assert isinstance(audio, bytes)

    backup_and_restore(pg.url, restored.url, lab_dir / "backups")

    now = datetime.now(UTC)
    async with Database(restored.url) as db:
        assert await store.authenticate(db, number, "4826", now) is store.AuthOutcome.OK
        listed = await store.list_messages(db, number, now)
        assert [m.id for m in listed] == [msg]
        assert await store.message_audio(db, number, msg, now) == audio

    # one real call into the lab, served by the app running on the restored database
    original_url = app.env["ANSHIN_DATABASE_URL"]
    app.stop()
    app.env["ANSHIN_DATABASE_URL"] = restored.url
    try:
        app.start()
        app.wait_connected()
        result = await dial(asterisk, RETRIEVAL,
                            [*login(number, "4826", "rfc4733"), Wait(22.0), Hangup()])
        assert result.answered, result.describe()
        app.wait_idle()
    finally:
        app.stop()
        app.env["ANSHIN_DATABASE_URL"] = original_url
        app.start()
        app.wait_connected()
    with psycopg.connect(restored.url, autocommit=True) as rsql:
        assert played(rsql, number) == [(msg, False)]
        assert messages(rsql, number) == {msg: True}
    assert messages(sql, number) == {msg: False}
