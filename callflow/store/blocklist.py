"""指定番号着信拒否: the block list of one 050 number (R-IN-2).

Numbers are stored in the canonical form of `callflow.numbers.normalize`, so
`+81 90-1234-5678`, `090-1234-5678` and full-width `０９０１２３４５６７８` are one entry
and match a caller presenting `09012345678`. At most 30 entries per 050 number: the
schema's trigger refuses the 31st (LimitExceeded), for the portal and every app instance.
This module is the only writer of `block_list`: the portal pages, the JSON API and the tests
go through it. Each change also recounts, in its transaction, how many accounts block the
numbers it touched (迷惑電話の可能性, store/likely_spam.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from psycopg.rows import class_row

from callflow.numbers import is_anonymous, normalize
from callflow.store import likely_spam
from callflow.store.database import Database
from callflow.store.errors import InvalidValue, LimitExceeded

MAX_BLOCKED = 30


@dataclass(frozen=True)
class BlockEntry:
    blocked: str
    created_at: datetime


def blockable(raw: str) -> str:
    """The canonical form to store, or InvalidValue with a message the portal can show."""
    number = None if is_anonymous(raw) else normalize(raw)
    if number is None or len(number.lstrip("+")) < 2:
        raise InvalidValue(f"not a phone number: {raw!r}")
    return number


async def list_blocked(db: Database, number: str) -> list[BlockEntry]:
    async with db.connection() as conn:
        cur = conn.cursor(row_factory=class_row(BlockEntry))
        await cur.execute(
            "SELECT blocked, created_at FROM block_list WHERE number = %s"
            " ORDER BY created_at, blocked", (number,))
        return await cur.fetchall()


async def blocked_numbers(db: Database, number: str) -> list[str]:
    """The list as the portal shows it: stored forms, oldest first."""
    return [entry.blocked for entry in await list_blocked(db, number)]


async def add_blocked(db: Database, number: str, raw: str) -> str:
    """Add `raw` (any written form) to `number`'s block list; returns the stored form.
    Adding a number already listed is a no-op (also when the list is full)."""
    blocked = blockable(raw)
    async with db.transaction() as conn:
        await likely_spam.lock_numbers(conn, [blocked])
        # INSERT ... SELECT WHERE NOT EXISTS: an existing entry inserts no row, so the
        # limit trigger (BEFORE INSERT, per row) does not refuse a harmless re-add.
        await conn.execute(
            "INSERT INTO block_list (number, blocked) SELECT %(n)s, %(b)s WHERE NOT EXISTS"
            " (SELECT 1 FROM block_list WHERE number = %(n)s AND blocked = %(b)s)"
            " ON CONFLICT DO NOTHING",
            {"n": number, "b": blocked})
        await likely_spam.recount(conn, [blocked])
    return blocked


async def remove_blocked(db: Database, number: str, raw: str) -> bool:
    """Remove an entry (any written form); False if it was not listed."""
    try:
        blocked = blockable(raw)
    except InvalidValue:
        return False
    async with db.transaction() as conn:
        await likely_spam.lock_numbers(conn, [blocked])
        cur = await conn.execute(
            "DELETE FROM block_list WHERE number = %s AND blocked = %s", (number, blocked))
        await likely_spam.recount(conn, [blocked])
        return cur.rowcount > 0


async def replace_blocked(db: Database, number: str, entries: list[str]) -> list[str]:
    """The portal's 設定する: make `number`'s block list equal to `entries` (any written form;
    order kept, duplicates merged) in one transaction; returns the stored forms. More than
    MAX_BLOCKED distinct entries raise LimitExceeded and change nothing."""
    wanted: list[str] = []
    for raw in entries:
        blocked = blockable(raw)
        if blocked not in wanted:
            wanted.append(blocked)
    if len(wanted) > MAX_BLOCKED:
        raise LimitExceeded("block_list", MAX_BLOCKED)
    async with db.transaction() as conn:
        cur = await conn.execute("SELECT blocked FROM block_list WHERE number = %s", (number,))
        touched = await likely_spam.lock_numbers(
            conn, [*wanted, *(str(row[0]) for row in await cur.fetchall())])
        await conn.execute("DELETE FROM block_list WHERE number = %s AND NOT (blocked = ANY(%s))",
                           (number, wanted))
        for blocked in wanted:
            # New entries get increasing created_at (clock_timestamp), so the list keeps the
            # order the subscriber built it in.
            await conn.execute("INSERT INTO block_list (number, blocked, created_at)"
                               " VALUES (%s, %s, clock_timestamp()) ON CONFLICT DO NOTHING",
                               (number, blocked))
        await likely_spam.recount(conn, touched)
    return wanted
