"""名乗り確認 (call screening) of one 050 number: the only writer of `call_screening`.

A call does not read this table with a query of its own: `INCOMING_COLUMN` is spliced into
the one incoming-call statement (store/subscribers.incoming_call). It is one primary-key
probe; the known-caller check (the caller's number has a 'forwarded' call in this number's
history: the subscriber answered it before) runs only when the setting is on, inside a CASE
so PostgreSQL never evaluates it otherwise. Known callers are not screened; there is no
separate whitelist (yet) - a number the subscriber accepts once is remembered by the history
itself, for as long as the history keeps it.
"""

from __future__ import annotations

from callflow.store.database import Database

#: one more column of incoming_call's SELECT (subscriber_numbers is its FROM; %(p)s is the
#: presented caller, NULL when withheld - a withheld caller is always screened):
#: true = screen this call; false/NULL = ring as before
INCOMING_COLUMN = (
    "coalesce((SELECT CASE WHEN c.enabled THEN NOT EXISTS ("
    "   SELECT 1 FROM call_history h WHERE h.number = c.number"
    "   AND h.caller = %(p)s AND h.outcome = 'forwarded') ELSE false END"
    "  FROM call_screening c WHERE c.number = subscriber_numbers.number), false)")


async def get_call_screening(db: Database, number: str) -> bool:
    """Whether screening is on (off when never saved)."""
    async with db.connection() as conn:
        cur = await conn.execute("SELECT enabled FROM call_screening WHERE number = %s",
                                 (number,))
        row = await cur.fetchone()
    return bool(row[0]) if row is not None else False


async def set_call_screening(db: Database, number: str, enabled: bool) -> None:
    async with db.connection() as conn:
        await conn.execute(
            "INSERT INTO call_screening (number, enabled) VALUES (%s, %s)"
            " ON CONFLICT (number) DO UPDATE SET enabled = EXCLUDED.enabled,"
            " updated_at = now()", (number, enabled))
