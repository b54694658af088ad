"""Subscriber 050 numbers and their settings."""

from __future__ import annotations

from dataclasses import dataclass

from psycopg.rows import class_row

from callflow.store.database import Database


@dataclass(frozen=True)
class SubscriberNumber:
    number: str
    account_id: int
    reject_anonymous: bool
    block_action: str
    forward_enabled: bool
    forward_ring_seconds: int
    forward_show_caller: str
    voicemail_enabled: bool
    notify_email: str | None
    notify_only_recorded: bool
    attach_recording: bool


_COLUMNS = ", ".join(SubscriberNumber.__dataclass_fields__)


async def find_subscriber(db: Database, number: str) -> SubscriberNumber | None:
    async with db.connection() as conn:
        cur = conn.cursor(row_factory=class_row(SubscriberNumber))
        await cur.execute(
            f"SELECT {_COLUMNS} FROM subscriber_numbers WHERE number = %s",
            (number,),
        )
        return await cur.fetchone()


async def screening_data(db: Database, number: str, caller: str | None) -> tuple[bool, str | None]:
    """(is the normalised caller on the block list, the active forward destination) in one
    round trip: the inbound path reads both before the caller hears anything."""
    async with db.connection() as conn:
        cur = await conn.execute(
            "SELECT EXISTS (SELECT 1 FROM block_list WHERE number = %(n)s AND blocked = %(c)s),"
            " (SELECT destination FROM forward_destinations WHERE number = %(n)s AND active)",
            {"n": number, "c": caller})
        row = await cur.fetchone()
    if row is None:
        return False, None
    return bool(row[0]), None if row[1] is None else str(row[1])
