"""Incoming-call history (R-IN-6): one row per inbound call, written when the call
starts (so it survives whatever happens next) and given its outcome when it ends.

caller NULL is 非通知; caller_name NULL shows as 登録なし in the portal.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from psycopg.rows import class_row

from callflow.store.database import Database


@dataclass(frozen=True)
class HistoryEntry:
    id: int
    caller: str | None
    caller_name: str | None
    received_at: datetime
    outcome: str
    channel_id: str | None


async def record_call(db: Database, *, number: str, caller: str | None,
                      caller_name: str | None, outcome: str,
                      channel_id: str | None, received_at: datetime,
                      likely_spam: bool = False) -> HistoryEntry:
    """Write the call's history row; ``received_at`` is the app clock's time (the portal
    and the notification mail show it); ``likely_spam``: labelled 迷惑電話の可能性."""
    async with db.connection() as conn:
        cur = conn.cursor(row_factory=class_row(HistoryEntry))
        await cur.execute(
            "INSERT INTO call_history (number, caller, caller_name, outcome, channel_id,"
            " received_at, likely_spam) VALUES (%s, %s, %s, %s, %s, %s, %s)"
            " RETURNING id, caller, caller_name, received_at, outcome, channel_id",
            (number, caller, caller_name, outcome, channel_id, received_at, likely_spam))
        row = await cur.fetchone()
        assert row is not None
        return row


async def history_of_channel(db: Database, channel_id: str) -> HistoryEntry | None:
    """The row written for this call (by channel id), if any - for a call another app
    process started."""
    async with db.connection() as conn:
        cur = conn.cursor(row_factory=class_row(HistoryEntry))
        await cur.execute(
            "SELECT id, caller, caller_name, received_at, outcome, channel_id"
            " FROM call_history WHERE channel_id = %s ORDER BY id DESC LIMIT 1",
            (channel_id,))
        return await cur.fetchone()


async def set_outcome(db: Database, history_id: int, outcome: str) -> None:
    async with db.connection() as conn:
        await conn.execute("UPDATE call_history SET outcome = %s WHERE id = %s",
                           (outcome, history_id))


async def mark_answered_forwards(db: Database, channel_ids: list[str]) -> int:
    """Forwarded calls found answered after an app restart: their rows still say
    "received" (the process that forwarded them writes "forwarded" at the hang-up and is
    gone); how many rows were set. (No index on channel_id: a scan, once per restart.)"""
    if not channel_ids:
        return 0
    async with db.connection() as conn:
        cur = await conn.execute(
            "UPDATE call_history SET outcome = 'forwarded'"
            " WHERE channel_id = ANY(%s) AND outcome = 'received'", (channel_ids,))
        return cur.rowcount


async def list_history(db: Database, number: str, *, limit: int = 100,
                       offset: int = 0) -> list[HistoryEntry]:
    """Newest first."""
    async with db.connection() as conn:
        cur = conn.cursor(row_factory=class_row(HistoryEntry))
        await cur.execute(
            "SELECT id, caller, caller_name, received_at, outcome, channel_id"
            " FROM call_history WHERE number = %s ORDER BY received_at DESC, id DESC"
            " LIMIT %s OFFSET %s", (number, limit, offset))
        return await cur.fetchall()
