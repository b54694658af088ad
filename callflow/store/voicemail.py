"""Voicemail deposit side: count a mailbox, save a recorded message (idempotently).

The 20-message limit is enforced by the database trigger (LimitExceeded), so two callers
leaving the 20th message at once cannot both succeed; `count_messages` is only the early
check that decides whether the caller hears the greeting or 「…件数をこえているため…」.
"""

from __future__ import annotations

from datetime import datetime

from callflow.store.database import Connection, Database

MAILBOX_LIMIT = 20


async def count_messages(db: Database, number: str) -> int:
    async with db.connection() as conn:
        cur = await conn.execute(
            "SELECT count(*) FROM voicemail_messages WHERE number = %s", (number,))
        row = await cur.fetchone()
    return int(row[0]) if row else 0  # type: ignore[call-overload]


async def message_id_for_recording(conn: Connection, recording_name: str) -> int | None:
    cur = await conn.execute(
        "SELECT id FROM voicemail_messages WHERE recording_name = %s", (recording_name,))
    row = await cur.fetchone()
    return int(row[0]) if row else None  # type: ignore[call-overload]


async def save_message(conn: Connection, *, number: str, caller: str | None,
                       received_at: datetime, duration_ms: int, audio: bytes,
                       recording_name: str) -> int | None:
    """Insert a message; its id, or None if this recording was saved already (by another
    task or instance). Raises LimitExceeded when the mailbox holds 20 messages."""
    cur = await conn.execute(
        "INSERT INTO voicemail_messages"
        " (number, caller, received_at, duration_ms, audio, recording_name)"
        " VALUES (%s, %s, %s, %s, %s, %s)"
        " ON CONFLICT (recording_name) DO NOTHING RETURNING id",
        (number, caller, received_at, duration_ms, audio, recording_name))
    row = await cur.fetchone()
    return int(row[0]) if row else None  # type: ignore[call-overload]
