"""The voicemail_transcripts table: the text of each voicemail message, and the job that
makes it (docs/transcription.md).

A row is added with its message (`add_job`, in the transaction that saves the message) when
transcription is on. A worker takes the oldest pending row (`claim`): under ``FOR UPDATE SKIP
LOCKED`` it counts the attempt and leases the row to itself for ``lease_s`` seconds, commits,
and transcribes without holding a transaction. A working worker renews its lease every third of
it (`renew`); one that dies mid-job leaves its lease to run out: the row is pending again and
another worker takes it. A row whose attempts are used
up is given up (status 'failed'), so a recording that crashes the recogniser cannot block the
queue. Only the worker that holds the lease stores the text (`finish`).
"""

from __future__ import annotations

from dataclasses import dataclass

from callflow.store.database import Connection

#: longest text stored for one message (a 180 s message is ~1,500 characters)
MAX_TEXT_CHARS = 20000


@dataclass(frozen=True)
class TranscriptionJob:
    message_id: int
    attempt: int  # 1 for the first try
    audio: bytes  # the message's WAV


@dataclass(frozen=True)
class GivenUp:
    """A job whose attempts were used up by workers that never finished it."""

    message_id: int


async def add_job(conn: Connection, message_id: int) -> None:
    await conn.execute("INSERT INTO voicemail_transcripts (message_id) VALUES (%s)"
                       " ON CONFLICT (message_id) DO NOTHING", (message_id,))


async def claim(conn: Connection, *, worker: str, lease_s: float,
                max_attempts: int) -> TranscriptionJob | GivenUp | None:
    """Take the oldest pending job whose lease (if any) ran out (call inside a
    transaction): a job to do, a job given up now (its mail must not wait any longer), or
    None when there is nothing to do."""
    cur = await conn.execute(
        "SELECT message_id, attempts FROM voicemail_transcripts"
        " WHERE status = 'pending' AND (leased_until IS NULL OR leased_until <= now())"
        " ORDER BY created_at, message_id LIMIT 1 FOR UPDATE SKIP LOCKED")
    row = await cur.fetchone()
    if row is None:
        return None
    message_id, attempts = int(row[0]), int(row[1])  # type: ignore[call-overload]
    if attempts >= max_attempts:
        await conn.execute(
            "UPDATE voicemail_transcripts SET status = 'failed', leased_until = NULL,"
            " done_at = now(), last_error = coalesce(last_error, %s) WHERE message_id = %s",
            (f"no worker finished it in {attempts} attempts", message_id))
        return GivenUp(message_id)
    await conn.execute(
        "UPDATE voicemail_transcripts SET attempts = attempts + 1, leased_by = %s,"
        " leased_until = now() + make_interval(secs => %s) WHERE message_id = %s",
        (worker, lease_s, message_id))
    cur = await conn.execute("SELECT audio FROM voicemail_messages WHERE id = %s",
                             (message_id,))
    audio_row = await cur.fetchone()
    audio = bytes(audio_row[0]) if audio_row else b""  # type: ignore[call-overload]
    return TranscriptionJob(message_id, attempts + 1, audio)


async def renew(conn: Connection, *, message_id: int, worker: str, lease_s: float) -> bool:
    """Extend this worker's lease while it is still working (a heartbeat): only a worker
    that stopped renewing loses its job. False when the job is no longer its."""
    cur = await conn.execute(
        "UPDATE voicemail_transcripts SET leased_until = now() + make_interval(secs => %s)"
        " WHERE message_id = %s AND status = 'pending' AND leased_by = %s",
        (lease_s, message_id, worker))
    return cur.rowcount == 1


async def finish(conn: Connection, *, message_id: int, worker: str, text: str,
                 audio_ms: int, cpu_ms: int) -> bool:
    """Store the text of a job this worker holds; False when it no longer does (its lease
    ran out and another worker took the job, or the message was deleted meanwhile)."""
    cur = await conn.execute(
        "UPDATE voicemail_transcripts SET status = 'done', text = %s, done_at = now(),"
        " leased_until = NULL, last_error = NULL, audio_ms = %s, cpu_ms = %s"
        " WHERE message_id = %s AND status = 'pending' AND leased_by = %s",
        (text[:MAX_TEXT_CHARS], audio_ms, cpu_ms, message_id, worker))
    return cur.rowcount == 1


async def fail(conn: Connection, *, message_id: int, worker: str, error: str,
               give_up: bool, retry_in_s: float) -> bool:
    """Record a try that failed (unreadable audio, recogniser error): the job is given up
    (``give_up``) or pending again in ``retry_in_s``. False when this worker no longer holds
    it."""
    cur = await conn.execute(
        "UPDATE voicemail_transcripts SET last_error = %s,"
        " status = CASE WHEN %s THEN 'failed' ELSE 'pending' END,"
        " done_at = CASE WHEN %s THEN now() END,"
        " leased_until = CASE WHEN %s THEN NULL"
        "                ELSE now() + make_interval(secs => %s) END"
        " WHERE message_id = %s AND status = 'pending' AND leased_by = %s",
        (error[:1000], give_up, give_up, give_up, retry_in_s, message_id, worker))
    return cur.rowcount == 1
