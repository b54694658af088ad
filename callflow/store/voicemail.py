"""Voicemail deposit side: reserve a slot for a caller, save a recorded message
(idempotently), release a slot nobody used.

A mailbox holds at most 20 messages. A caller gets a slot *before* the greeting
(`reserve_slot`): stored messages plus unexpired reservations never exceed 20, checked under
a lock on the mailbox's `subscriber_numbers` row, so of two callers racing for the 20th
message one is told 「…件数をこえているため…」 before the beep and the other is always
stored. Saving a reserved recording consumes its reservation in the same transaction; one
that ends without a message releases it. A reservation of a process that died lapses at
`expires_at` (or is consumed when the recovery job imports its recording). The database
trigger (LimitExceeded) still caps the stored messages themselves.
"""

from __future__ import annotations

from datetime import datetime

from callflow.store.database import Connection, Database
from callflow.store.errors import LimitExceeded

MAILBOX_LIMIT = 20


def slot_free(stored: int, reserved: int) -> bool:
    """Whether one more caller may be promised a message (stored + held slots < 20)."""
    return stored + reserved < MAILBOX_LIMIT


async def _lock_mailbox(conn: Connection, number: str) -> None:
    # The same row lock as the limit trigger's: reservations and inserts for one mailbox
    # are decided one at a time, across app instances.
    await conn.execute("SELECT 1 FROM subscriber_numbers WHERE number = %s FOR UPDATE",
                       (number,))


async def _slots_used(conn: Connection, number: str, now: datetime) -> tuple[int, int]:
    cur = await conn.execute(
        "SELECT (SELECT count(*) FROM voicemail_messages WHERE number = %s),"
        " (SELECT count(*) FROM voicemail_reservations WHERE number = %s AND expires_at > %s)",
        (number, number, now))
    row = await cur.fetchone()
    assert row is not None
    stored, reserved = row
    assert isinstance(stored, int) and isinstance(reserved, int)
    return stored, reserved


async def reserve_slot(db: Database, *, number: str, recording_name: str, now: datetime,
                       expires_at: datetime) -> bool:
    """Hold a slot for the message that will be recorded as ``recording_name``; False when
    the mailbox is full (20 messages and held slots together)."""
    async with db.transaction() as conn:
        await _lock_mailbox(conn, number)
        await conn.execute(
            "DELETE FROM voicemail_reservations WHERE number = %s AND expires_at <= %s",
            (number, now))
        if not slot_free(*await _slots_used(conn, number, now)):
            return False
        await conn.execute(
            "INSERT INTO voicemail_reservations (recording_name, number, expires_at)"
            " VALUES (%s, %s, %s) ON CONFLICT (recording_name)"
            " DO UPDATE SET expires_at = EXCLUDED.expires_at",
            (recording_name, number, expires_at))
    return True


async def extend_reservation(db: Database, recording_name: str, expires_at: datetime) -> None:
    async with db.connection() as conn:
        await conn.execute(
            "UPDATE voicemail_reservations SET expires_at = %s WHERE recording_name = %s",
            (expires_at, recording_name))


async def release_slot(db: Database, recording_name: str) -> None:
    """Give a held slot back (nothing was recorded); no-op if it was consumed or lapsed."""
    async with db.connection() as conn:
        await conn.execute("DELETE FROM voicemail_reservations WHERE recording_name = %s",
                           (recording_name,))


async def message_id_for_recording(conn: Connection, recording_name: str) -> int | None:
    cur = await conn.execute(
        "SELECT id FROM voicemail_messages WHERE recording_name = %s", (recording_name,))
    row = await cur.fetchone()
    return int(row[0]) if row else None  # type: ignore[call-overload]


async def save_message(conn: Connection, *, number: str, caller: str | None,
                       received_at: datetime, duration_ms: int, audio: bytes,
                       recording_name: str, now: datetime) -> int | None:
    """Insert a message; its id, or None if this recording was saved already (by another
    task or instance). A recording with an unexpired reservation takes its own slot (and
    the reservation goes with this transaction); one without (recorded while the database
    was unreachable, or imported after its reservation lapsed) only a free slot, so it never
    takes one promised to a caller still talking. Raises LimitExceeded when no slot is
    left."""
    await _lock_mailbox(conn, number)
    cur = await conn.execute(
        "DELETE FROM voicemail_reservations WHERE recording_name = %s RETURNING expires_at",
        (recording_name,))
    row = await cur.fetchone()
    reserved = row is not None and isinstance(row[0], datetime) and row[0] > now
    if not reserved and await message_id_for_recording(conn, recording_name) is None \
            and not slot_free(*await _slots_used(conn, number, now)):
        raise LimitExceeded("voicemail_messages", MAILBOX_LIMIT)
    cur = await conn.execute(
        "INSERT INTO voicemail_messages"
        " (number, caller, received_at, duration_ms, audio, recording_name)"
        " VALUES (%s, %s, %s, %s, %s, %s)"
        " ON CONFLICT (recording_name) DO NOTHING RETURNING id",
        (number, caller, received_at, duration_ms, audio, recording_name))
    row = await cur.fetchone()
    return int(row[0]) if row else None  # type: ignore[call-overload]
