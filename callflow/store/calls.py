"""The app's own log of which handler took each call (operator view, tests)."""

from __future__ import annotations

from callflow.store.database import Database


async def log_call(db: Database, *, channel_id: str, dialed: str, route: str,
                   caller: str | None, detail: str = "") -> None:
    async with db.connection() as conn:
        await conn.execute(
            "INSERT INTO call_log (channel_id, dialed, route, caller, detail)"
            " VALUES (%s, %s, %s, %s, %s)",
            (channel_id, dialed, route, caller, detail),
        )


async def was_logged(db: Database, channel_id: str) -> bool:
    """Whether a process already logged (so began to route) this call: its call_log row.
    Looked up among the last hour's rows (the started_at index): a call in question is
    seconds old."""
    async with db.connection() as conn:
        cur = await conn.execute(
            "SELECT 1 FROM call_log WHERE started_at > now() - interval '1 hour'"
            " AND channel_id = %s LIMIT 1", (channel_id,))
        return await cur.fetchone() is not None
