"""Forwarding destinations of one 050 number (R-IN-3, SPEC §6): up to 5 registered, at
most one active (a partial unique index), the 6th refused by the schema (LimitExceeded).
Destinations are Japanese national numbers (landline or mobile) in canonical form.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from psycopg.rows import class_row

from callflow.numbers import NumberKind, is_anonymous, kind, normalize
from callflow.store.database import Database
from callflow.store.errors import InvalidValue

MAX_DESTINATIONS = 5
# Where a subscriber's calls may be forwarded: their own landline or mobile. Not another
# 050 number (loops), not premium-rate/special/international (toll fraud).
_ALLOWED = {NumberKind.MOBILE, NumberKind.FIXED}


@dataclass(frozen=True)
class ForwardDestination:
    id: int
    destination: str
    active: bool
    created_at: datetime


_COLUMNS = "id, destination, active, created_at"


def forwardable(raw: str) -> str:
    number = None if is_anonymous(raw) else normalize(raw)
    if number is None or not re.fullmatch(r"0[0-9]{9,10}", number) \
            or kind(number) not in _ALLOWED:
        raise InvalidValue(f"not a landline or mobile number: {raw!r}")
    return number


async def list_destinations(db: Database, number: str) -> list[ForwardDestination]:
    async with db.connection() as conn:
        cur = conn.cursor(row_factory=class_row(ForwardDestination))
        await cur.execute(
            f"SELECT {_COLUMNS} FROM forward_destinations WHERE number = %s ORDER BY id",
            (number,))
        return await cur.fetchall()


async def add_destination(db: Database, number: str, raw: str, *,
                          activate: bool = False) -> ForwardDestination:
    """Register a destination (idempotent for one already registered); `activate` makes
    it the active one."""
    destination = forwardable(raw)
    async with db.transaction() as conn:
        cur = conn.cursor(row_factory=class_row(ForwardDestination))
        await cur.execute(
            f"SELECT {_COLUMNS} FROM forward_destinations WHERE number = %s"
            " AND destination = %s", (number, destination))
        row = await cur.fetchone()
        if row is None:
            await cur.execute(
                "INSERT INTO forward_destinations (number, destination) VALUES (%s, %s)"
                f" RETURNING {_COLUMNS}", (number, destination))
            row = await cur.fetchone()
            assert row is not None
    if activate:
        await activate_destination(db, number, row.id)
        return ForwardDestination(row.id, row.destination, True, row.created_at)
    return row


async def activate_destination(db: Database, number: str, destination_id: int) -> None:
    """Make one destination the active one (the others inactive), atomically."""
    async with db.transaction() as conn:
        cur = await conn.execute(
            "SELECT 1 FROM forward_destinations WHERE number = %s AND id = %s FOR UPDATE",
            (number, destination_id))
        if await cur.fetchone() is None:
            raise InvalidValue(f"no forwarding destination {destination_id} for {number}")
        await conn.execute(
            "UPDATE forward_destinations SET active = false WHERE number = %s AND active",
            (number,))
        await conn.execute(
            "UPDATE forward_destinations SET active = true WHERE id = %s", (destination_id,))


async def deactivate_all(db: Database, number: str) -> None:
    async with db.connection() as conn:
        await conn.execute(
            "UPDATE forward_destinations SET active = false WHERE number = %s AND active",
            (number,))


async def remove_destination(db: Database, number: str, destination_id: int) -> bool:
    async with db.connection() as conn:
        cur = await conn.execute(
            "DELETE FROM forward_destinations WHERE number = %s AND id = %s",
            (number, destination_id))
        return cur.rowcount > 0
