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
