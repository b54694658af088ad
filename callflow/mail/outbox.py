"""The mail_outbox table: enqueue in the caller's transaction, claim due rows for sending.

Exactly-once delivery: a sender claims one due row with ``FOR UPDATE SKIP LOCKED`` (so
several app instances never send the same row), talks to the relay while holding the row
lock, and marks it sent in that same transaction once the relay accepted the message. Only a
crash between the relay's "250 OK" and the commit can repeat a mail.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from psycopg.rows import class_row

from callflow.mail.compose import OutgoingMail
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

    @property
    def mail(self) -> OutgoingMail:
        return OutgoingMail(self.to_addr, self.subject, self.body, self.attachment,
                            self.attachment_name)


async def enqueue(conn: Connection, mail: OutgoingMail, *, created_at: datetime) -> int:
    """Queue ``mail``; ``created_at`` (the app clock's time) becomes its Date header. When
    it is due for sending stays the database's business (next_attempt_at, now())."""
    cur = await conn.execute(
        "INSERT INTO mail_outbox (to_addr, subject, body, attachment, attachment_name,"
        " created_at) VALUES (%s, %s, %s, %s, %s, %s) RETURNING id",
        (mail.to_addr, mail.subject, mail.body, mail.attachment, mail.attachment_name,
         created_at))
    row = await cur.fetchone()
    assert row is not None and isinstance(row[0], int)
    return row[0]


async def claim_due(conn: Connection) -> OutboxRow | None:
    """Lock the oldest due row (call inside a transaction); None when nothing is due."""
    cur = conn.cursor(row_factory=class_row(OutboxRow))
    await cur.execute(
        "SELECT id, created_at, to_addr, subject, body, attachment, attachment_name, attempts"
        " FROM mail_outbox"
        " WHERE sent_at IS NULL AND failed_at IS NULL AND next_attempt_at <= now()"
        " ORDER BY next_attempt_at, id LIMIT 1 FOR UPDATE SKIP LOCKED")
    return await cur.fetchone()


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
