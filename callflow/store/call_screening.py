"""名乗り確認 (call screening) of one 050 number: the only writer of `call_screening` and
`call_screening_exceptions`.

A call does not read these tables with a query of its own: `INCOMING_COLUMN` is spliced
into the one incoming-call statement (store/subscribers.incoming_call). It is one
primary-key probe; the known-caller checks run only when the setting is on, inside a CASE so
PostgreSQL never evaluates them otherwise. A caller is known - and rings without the
question - when this number's history has a 'forwarded' call from it (the subscriber
answered it before; remembered as long as the history keeps the call) or it is one of up to
10 exception numbers the subscriber listed (family, the office).
"""

from __future__ import annotations

from collections.abc import Sequence

from callflow.store.database import Database
from callflow.store.errors import LimitExceeded
from callflow.store.quiet_hours import exception_number

MAX_EXCEPTIONS = 10

#: one more column of incoming_call's SELECT (subscriber_numbers is its FROM; %(p)s is the
#: presented caller, NULL when withheld - a withheld caller is always screened):
#: true = screen this call; false = ring as before
INCOMING_COLUMN = (
    "coalesce((SELECT CASE WHEN c.enabled THEN NOT EXISTS ("
    "   SELECT 1 FROM call_history h WHERE h.number = c.number"
    "   AND h.caller = %(p)s AND h.outcome = 'forwarded')"
    "  AND NOT EXISTS (SELECT 1 FROM call_screening_exceptions e"
    "   WHERE e.number = c.number AND e.caller = %(p)s) ELSE false END"
    "  FROM call_screening c WHERE c.number = subscriber_numbers.number), false)")


async def get_call_screening(db: Database, number: str) -> bool:
    """Whether screening is on (off when never saved)."""
    async with db.connection() as conn:
        cur = await conn.execute("SELECT enabled FROM call_screening WHERE number = %s",
                                 (number,))
        row = await cur.fetchone()
    return bool(row[0]) if row is not None else False


async def get_exceptions(db: Database, number: str) -> tuple[str, ...]:
    """The numbers that always ring without the question, in the order they were added."""
    async with db.connection() as conn:
        cur = await conn.execute(
            "SELECT caller FROM call_screening_exceptions WHERE number = %s"
            " ORDER BY created_at, caller", (number,))
        return tuple(str(c) for (c,) in await cur.fetchall())


async def set_call_screening(db: Database, number: str, enabled: bool,
                             exceptions: Sequence[str] | None = None) -> None:
    """On or off; `exceptions` (numbers as typed; None keeps the list) replace the list, in
    the same transaction. InvalidValue for a number that is not one, LimitExceeded past
    MAX_EXCEPTIONS."""
    wanted = None if exceptions is None \
        else list(dict.fromkeys(exception_number(n) for n in exceptions))
    if wanted is not None and len(wanted) > MAX_EXCEPTIONS:
        raise LimitExceeded("call_screening_exceptions", MAX_EXCEPTIONS)
    async with db.transaction() as conn:
        await conn.execute(
            "INSERT INTO call_screening (number, enabled) VALUES (%s, %s)"
            " ON CONFLICT (number) DO UPDATE SET enabled = EXCLUDED.enabled,"
            " updated_at = now()", (number, enabled))
        if wanted is None:
            return
        await conn.execute("DELETE FROM call_screening_exceptions WHERE number = %s"
                           " AND NOT (caller = ANY(%s))", (number, wanted))
        for caller in wanted:
            await conn.execute(
                "INSERT INTO call_screening_exceptions (number, caller) VALUES (%s, %s)"
                " ON CONFLICT (number, caller) DO NOTHING", (number, caller))
