"""迷惑電話の可能性: numbers that many subscribers block (R-PLUS-7). The one writer of
`likely_spam_numbers` and `likely_spam_settings`.

A caller number is *likely spam* when at least N distinct accounts (the app's
`likely_spam_min_subscribers`, default 5) have it on a block list — typed in or picked from
the history — with the entry added within the last 90 days. The count is kept per number in
`likely_spam_numbers`: the block-list writer (store/blocklist.py) recounts the numbers it
changes, in the transaction that changes them, under a per-number advisory lock (two
subscribers blocking the same number at once are counted one after the other); the retention
job recounts the counted numbers as entries age out of the window. So the screening query
(`subscribers.incoming_call`) reads one row by primary key and never counts anything.

Only the count is kept, never who blocked; the count itself is shown to nobody — the portal,
the API, the mail and the history only say 「迷惑電話の可能性」.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import timedelta

from callflow.store.database import Connection, Database

WINDOW = timedelta(days=90)

#: the columns `subscribers.incoming_call` reads for a call (caller `%(p)s`, number `%(n)s`):
#: accounts that block the caller, and whether this number refuses likely spam
INCOMING_COLUMNS = (
    "coalesce((SELECT reporters FROM likely_spam_numbers WHERE caller = %(p)s), 0),"
    " coalesce((SELECT reject FROM likely_spam_settings WHERE number = %(n)s), false)")
INCOMING_WIDTH = 2


def is_likely_spam(reporters: int, min_subscribers: int) -> bool:
    return reporters >= min_subscribers


_RECOUNT = (
    "INSERT INTO likely_spam_numbers (caller, reporters, updated_at)"
    " SELECT c, (SELECT count(DISTINCT s.account_id) FROM block_list b"
    "            JOIN subscriber_numbers s ON s.number = b.number"
    "            WHERE b.blocked = c AND b.created_at > now() - %(window)s), now()"
    " FROM unnest(%(callers)s::text[]) AS c"
    " ON CONFLICT (caller) DO UPDATE SET reporters = EXCLUDED.reporters,"
    " updated_at = EXCLUDED.updated_at")


async def lock_numbers(conn: Connection, callers: Iterable[str]) -> list[str]:
    """Take the per-number lock of each caller number (sorted: no deadlock between two
    writers), inside the caller's transaction, before its block lists change."""
    ordered = sorted(set(callers))
    for caller in ordered:
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext('likely_spam:' || %s))",
                           (caller,))
    return ordered


async def recount(conn: Connection, callers: Sequence[str]) -> None:
    """Count again, after a block-list change in this transaction (locks taken first)."""
    if callers:
        await conn.execute(_RECOUNT, {"callers": list(callers), "window": WINDOW})


async def refresh(db: Database) -> int:
    """The periodic recount (retention job): every counted number again, as entries age out
    of the 90 days or accounts go; numbers nobody blocks any more are dropped. Returns how
    many numbers were recounted."""
    async with db.connection() as conn:
        cur = await conn.execute("SELECT caller FROM likely_spam_numbers")
        callers = [str(row[0]) for row in await cur.fetchall()]
    for start in range(0, len(callers), 500):
        async with db.transaction() as conn:
            batch = await lock_numbers(conn, callers[start:start + 500])
            await recount(conn, batch)
            await conn.execute("DELETE FROM likely_spam_numbers WHERE caller = ANY(%s)"
                               " AND reporters = 0", (batch,))
    return len(callers)


async def reporters(conn: Connection, caller: str | None) -> int:
    """How many accounts block `caller` (for the notification mail's label)."""
    if caller is None:
        return 0
    cur = await conn.execute("SELECT reporters FROM likely_spam_numbers WHERE caller = %s",
                             (caller,))
    row = await cur.fetchone()
    return int(row[0]) if row else 0  # type: ignore[call-overload]


async def rejects(db: Database, number: str) -> bool:
    """Whether `number` sends likely spam straight to the rejection announcement."""
    async with db.connection() as conn:
        cur = await conn.execute("SELECT reject FROM likely_spam_settings WHERE number = %s",
                                 (number,))
        row = await cur.fetchone()
    return bool(row and row[0])


async def set_reject(db: Database, number: str, reject: bool) -> None:
    async with db.connection() as conn:
        await conn.execute(
            "INSERT INTO likely_spam_settings (number, reject) VALUES (%s, %s)"
            " ON CONFLICT (number) DO UPDATE SET reject = EXCLUDED.reject", (number, reject))
