"""The transcription job table and the held mail against a real PostgreSQL (no Asterisk):
each job to one worker at a time (SKIP LOCKED + lease), a dead worker's lease running out,
only the lease holder storing the text, jobs given up after their attempts, and the held
notification released once and never pulled out of its retry schedule."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from callflow.mail.compose import OutgoingMail, with_transcript
from callflow.mail.outbox import claim_due, enqueue, mark_failed_attempt, release_waiting
from callflow.store import Database, transcripts
from callflow.store.transcripts import GivenUp, TranscriptionJob
from labkit.postgres import PgCluster

BODY = "メッセージ：あり（録音時間 3秒）\n\n--\n"


@pytest.fixture
async def db(pg: PgCluster) -> AsyncIterator[Database]:
    async with Database(pg.url) as database:
        async with database.transaction() as conn:
            # jobs and mails earlier tests left behind must not be claimed here
            await conn.execute("UPDATE voicemail_transcripts SET status = 'failed'"
                               " WHERE status = 'pending'")
            await conn.execute("UPDATE mail_outbox SET failed_at = now()"
                               " WHERE sent_at IS NULL AND failed_at IS NULL")
        yield database


async def new_message(db: Database) -> int:
    number = "050" + str(uuid.uuid4().int)[:8]
    async with db.transaction() as conn:
        cur = await conn.execute("INSERT INTO accounts (email, password_hash) VALUES (%s, 'x')"
                                 " RETURNING id", (f"{uuid.uuid4().hex[:10]}@example.jp",))
        row = await cur.fetchone()
        assert row is not None
        await conn.execute("INSERT INTO subscriber_numbers (number, account_id) VALUES (%s, %s)",
                           (number, row[0]))
        cur = await conn.execute("INSERT INTO voicemail_messages (number, duration_ms, audio)"
                                 " VALUES (%s, 1000, 'wav') RETURNING id", (number,))
        row = await cur.fetchone()
        assert row is not None and isinstance(row[0], int)
        await transcripts.add_job(conn, row[0])
        await transcripts.add_job(conn, row[0])  # idempotent
        return row[0]


async def claim(db: Database, worker: str, lease_s: float = 30.0, max_attempts: int = 3
                ) -> TranscriptionJob | GivenUp | None:
    async with db.transaction() as conn:
        return await transcripts.claim(conn, worker=worker, lease_s=lease_s,
                                       max_attempts=max_attempts)


async def status(db: Database, message_id: int) -> tuple[object, ...]:
    async with db.connection() as conn:
        cur = await conn.execute("SELECT status, text, attempts, leased_by FROM"
                                 " voicemail_transcripts WHERE message_id = %s", (message_id,))
        row = await cur.fetchone()
        assert row is not None
        return row


async def test_a_job_goes_to_one_worker_and_a_dead_workers_lease_runs_out(db: Database) -> None:
    message_id = await new_message(db)
    # two workers claiming at once: the row lock is skipped, not waited for
    async with db.transaction() as a_conn, db.transaction() as b_conn:
        a = await transcripts.claim(a_conn, worker="a", lease_s=0.5, max_attempts=3)
        b = await transcripts.claim(b_conn, worker="b", lease_s=0.5, max_attempts=3)
    assert isinstance(a, TranscriptionJob) and (a.message_id, a.attempt, a.audio) == (
        message_id, 1, b"wav")
    assert b is None
    assert await claim(db, "b") is None  # leased to a
    async with db.connection() as conn:  # a renews while it works …
        assert await transcripts.renew(conn, message_id=message_id, worker="a", lease_s=0.5)
        assert not await transcripts.renew(conn, message_id=message_id, worker="b", lease_s=9)
    await asyncio.sleep(0.6)  # … then dies: its lease runs out
    b = await claim(db, "b")
    assert isinstance(b, TranscriptionJob) and b.attempt == 2
    async with db.transaction() as conn:
        # a was only presumed dead: its late text is dropped, b's is kept
        assert not await transcripts.finish(conn, message_id=message_id, worker="a",
                                            text="遅い", audio_ms=1000, cpu_ms=300)
        assert await transcripts.finish(conn, message_id=message_id, worker="b",
                                        text="田中です。", audio_ms=1000, cpu_ms=300)
    assert await status(db, message_id) == ("done", "田中です。", 2, "b")
    assert await claim(db, "c") is None


async def test_a_job_no_worker_finishes_is_given_up(db: Database) -> None:
    message_id = await new_message(db)
    for attempt in (1, 2):
        job = await claim(db, f"w{attempt}", lease_s=0.01, max_attempts=2)
        assert isinstance(job, TranscriptionJob) and job.attempt == attempt
        await asyncio.sleep(0.05)  # the worker died
    assert await claim(db, "w3", max_attempts=2) == GivenUp(message_id)
    assert (await status(db, message_id))[0] == "failed"
    assert await claim(db, "w4", max_attempts=2) is None


async def test_a_failed_try_waits_and_the_last_one_gives_up(db: Database) -> None:
    message_id = await new_message(db)
    assert isinstance(await claim(db, "w", max_attempts=2), TranscriptionJob)
    async with db.transaction() as conn:
        assert await transcripts.fail(conn, message_id=message_id, worker="w", error="bad WAV",
                                      give_up=False, retry_in_s=30)
    assert await claim(db, "w", max_attempts=2) is None  # not before 30 s
    async with db.transaction() as conn:
        await conn.execute("UPDATE voicemail_transcripts SET leased_until = now()"
                           " WHERE message_id = %s", (message_id,))
    assert isinstance(await claim(db, "w", max_attempts=2), TranscriptionJob)
    async with db.transaction() as conn:
        assert await transcripts.fail(conn, message_id=message_id, worker="w", error="bad WAV",
                                      give_up=True, retry_in_s=30)
    assert (await status(db, message_id))[0] == "failed"


async def test_the_held_mail_is_released_once_with_its_text(db: Database) -> None:
    message_id = await new_message(db)
    mail = OutgoingMail("a@example.jp", "件名", BODY)
    async with db.transaction() as conn:
        held = await enqueue(conn, mail, created_at=datetime.now(UTC), waits_for=message_id,
                             hold_s=60)
        assert await claim_due(conn) is None  # waiting for the text
    assert isinstance(await claim(db, "w"), TranscriptionJob)
    # one transaction from here on: the suite's app (its mail sender) must not see the row due
    async with db.transaction() as conn:
        assert await transcripts.finish(conn, message_id=message_id, worker="w",
                                        text="田中です。", audio_ms=1000, cpu_ms=300)
        await release_waiting(conn, message_id)
        row = await claim_due(conn)
        assert row is not None and row.id == held
        assert row.mail.body == with_transcript(BODY, "田中です。")
        # the relay is down: the row goes into its retry schedule …
        await mark_failed_attempt(conn, row.id, error="down", retry_in=600)
        await release_waiting(conn, message_id)  # … which a late release does not cut short
        assert await claim_due(conn) is None
        await conn.execute("UPDATE mail_outbox SET failed_at = now() WHERE id = %s", (held,))


async def test_a_mail_without_a_wait_is_due_at_once_and_has_no_text(db: Database) -> None:
    async with db.transaction() as conn:
        sent = await enqueue(conn, OutgoingMail("a@example.jp", "件名", BODY),
                             created_at=datetime.now(UTC))
        row = await claim_due(conn)
        assert row is not None and row.id == sent and row.transcript is None
        assert row.mail.body == BODY
        await conn.execute("DELETE FROM mail_outbox WHERE id = %s", (sent,))
