"""The mail_outbox table: enqueue in the caller's transaction, claim due rows for sending.

Exactly-once delivery: a sender claims one due row with ``FOR UPDATE SKIP LOCKED`` (so
several app instances never send the same row), talks to the relay while holding the row
lock, and marks it sent in that same transaction once the relay accepted the message. Only a
crash between the relay's "250 OK" and the commit can repeat a mail.

A voicemail notification may wait for its message's text (transcription on): it is enqueued
with ``waits_for`` (the message) and held (next_attempt_at in the future) for at most
``hold_s``; the transcription worker releases it as soon as the text is stored
(`release_waiting`), and the sender puts whatever text there is into the body at send time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from psycopg.rows import class_row

from callflow.mail.compose import OutgoingMail, with_transcript
from callflow.store.database import Connection


@dataclass(frozen=True)
class OutboxRow:
    id: int
    created_at: datetime
    to_addr: str
    subject: str
    body: str
    attachment: bytes | None
    attachment_name: str | None
    attempts: int
    transcript: str | None = None  # the text of the message the mail announces, once made

    @property
    def mail(self) -> OutgoingMail:
        body = with_transcript(self.body, self.transcript) if self.transcript else self.body
        return OutgoingMail(self.to_addr, self.subject, body, self.attachment,
                            self.attachment_name)


async def enqueue(conn: Connection, mail: OutgoingMail, *, created_at: datetime,
                  waits_for: int | None = None, hold_s: float = 0.0) -> int:
    """Queue ``mail``; ``created_at`` (the app clock's time) becomes its Date header. When
    it is due for sending stays the database's business (next_attempt_at, now()): now, or
    with ``waits_for`` (a voicemail message id) ``hold_s`` seconds from now unless the
    message's text is stored earlier."""
    if waits_for is None:
        cur = await conn.execute(
            "INSERT INTO mail_outbox (to_addr, subject, body, attachment, attachment_name,"
            " created_at) VALUES (%s, %s, %s, %s, %s, %s) RETURNING id",
            (mail.to_addr, mail.subject, mail.body, mail.attachment, mail.attachment_name,
             created_at))
    else:
        cur = await conn.execute(
            "INSERT INTO mail_outbox (to_addr, subject, body, attachment, attachment_name,"
            " created_at, voicemail_message_id, next_attempt_at) VALUES"
            " (%s, %s, %s, %s, %s, %s, %s, now() + make_interval(secs => %s)) RETURNING id",
            (mail.to_addr, mail.subject, mail.body, mail.attachment, mail.attachment_name,
             created_at, waits_for, hold_s))
    row = await cur.fetchone()
    assert row is not None and isinstance(row[0], int)
    return row[0]


async def enqueue_once(conn: Connection, mail: OutgoingMail, *, created_at: datetime,
                       recording_name: str) -> int | None:
    """Queue the notification of a call whose voicemail recording holds no message, once per
    recording: the call task, its node's other instance's recovery sweep and a process taking
    the call over may each get there; the first to commit queues it (a unique index on the
    name), the others queue nothing and get None."""
    cur = await conn.execute(
        "INSERT INTO mail_outbox (to_addr, subject, body, attachment, attachment_name,"
        " created_at, recording_name) VALUES (%s, %s, %s, %s, %s, %s, %s)"
        " ON CONFLICT (recording_name) WHERE recording_name IS NOT NULL DO NOTHING RETURNING id",
        (mail.to_addr, mail.subject, mail.body, mail.attachment, mail.attachment_name,
         created_at, recording_name))
    row = await cur.fetchone()
    return int(row[0]) if row else None  # type: ignore[call-overload]


async def claim_due(conn: Connection) -> OutboxRow | None:
    """Lock the oldest due row (call inside a transaction); None when nothing is due."""
    cur = conn.cursor(row_factory=class_row(OutboxRow))
    await cur.execute(
        "SELECT id, created_at, to_addr, subject, body, attachment, attachment_name, attempts,"
        " (SELECT text FROM voicemail_transcripts"
        "  WHERE message_id = mail_outbox.voicemail_message_id AND status = 'done')"
        " AS transcript"
        " FROM mail_outbox"
        " WHERE sent_at IS NULL AND failed_at IS NULL AND next_attempt_at <= now()"
        " ORDER BY next_attempt_at, id LIMIT 1 FOR UPDATE SKIP LOCKED")
    return await cur.fetchone()


async def release_waiting(conn: Connection, message_id: int) -> None:
    """The text of ``message_id`` is stored (or will not be): its notification, if it is
    still held and was never tried, is due now. A mail being sent, sent, or in its retry
    schedule is left alone."""
    await conn.execute(
        "UPDATE mail_outbox SET next_attempt_at = now() WHERE voicemail_message_id = %s"
        " AND sent_at IS NULL AND failed_at IS NULL AND attempts = 0"
        " AND next_attempt_at > now()", (message_id,))


async def mark_sent(conn: Connection, row_id: int) -> None:
    await conn.execute(
        "UPDATE mail_outbox SET sent_at = now(), attempts = attempts + 1, last_error = NULL"
        " WHERE id = %s", (row_id,))


async def mark_failed_attempt(conn: Connection, row_id: int, *, error: str,
                              retry_in: float | None) -> None:
    """Record a failed try; ``retry_in`` None gives the row up for good (failed_at)."""
    if retry_in is None:
        await conn.execute(
            "UPDATE mail_outbox SET attempts = attempts + 1, last_error = %s,"
            " failed_at = now() WHERE id = %s", (error[:1000], row_id))
    else:
        await conn.execute(
            "UPDATE mail_outbox SET attempts = attempts + 1, last_error = %s,"
            " next_attempt_at = now() + make_interval(secs => %s) WHERE id = %s",
            (error[:1000], retry_in, row_id))
