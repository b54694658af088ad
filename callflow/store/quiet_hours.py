"""おやすみモード (quiet hours) of one 050 number: the only writer of `quiet_hours`,
`quiet_hours_windows` and `quiet_hours_exceptions` (portal pages, JSON API, tests).

The rules of when a window holds are pure (callflow/quiet_hours.py). A call does not read
this module's tables with a query of its own: `INCOMING_COLUMNS` is spliced into the one
incoming-call statement (store/subscribers.incoming_call), and `for_call` turns those
columns back into a typed value. With the setting off (or never set) the columns are NULL
and the call path is as before.
"""

from __future__ import annotations

from collections.abc import Sequence

from callflow.numbers import is_anonymous, normalize
from callflow.quiet_hours import QuietAction, QuietHours, QuietHoursForCall, QuietWindow
from callflow.store.database import Database
from callflow.store.errors import InvalidValue, LimitExceeded

MAX_EXCEPTIONS = 10

# Three more columns of incoming_call's SELECT (subscriber_numbers is its FROM; %(p)s is the
# presented caller): the action, the windows as [weekday, start, end] rows and whether the
# caller is an exception - all NULL/false unless quiet hours are on. Each is a primary-key
# probe; no row for the number costs three index lookups in the same round trip.
INCOMING_COLUMNS = (
    "(SELECT q.action FROM quiet_hours q"
    "  WHERE q.number = subscriber_numbers.number AND q.enabled),"
    " (SELECT array_agg(ARRAY[w.weekday, w.start_minute, w.end_minute])"
    "  FROM quiet_hours_windows w JOIN quiet_hours q USING (number)"
    "  WHERE w.number = subscriber_numbers.number AND q.enabled),"
    " EXISTS (SELECT 1 FROM quiet_hours_exceptions e JOIN quiet_hours q USING (number)"
    "  WHERE e.number = subscriber_numbers.number AND q.enabled AND e.caller = %(p)s)")
INCOMING_WIDTH = 3


def for_call(columns: Sequence[object]) -> QuietHoursForCall | None:
    """The INCOMING_COLUMNS of one row; None when quiet hours are off or have no window."""
    action, windows, excepted = columns
    if action is None or not windows:
        return None
    assert isinstance(windows, list)
    return QuietHoursForCall(QuietAction(str(action)), _windows(windows), bool(excepted))


def _windows(rows: list[object]) -> tuple[QuietWindow, ...]:
    """[weekday, start, end] integer arrays (as psycopg returns them) → windows, by day."""
    out = []
    for row in rows:
        assert isinstance(row, list) and len(row) == 3
        out.append(QuietWindow(*(int(x) for x in row)))
    return tuple(sorted(out))


def exception_number(raw: str) -> str:
    """An exception is stored like a block-list entry (store/blocklist.blockable)."""
    number = None if is_anonymous(raw) else normalize(raw)
    if number is None or len(number.lstrip("+")) < 2:
        raise InvalidValue(f"not a phone number: {raw!r}")
    return number


async def get_quiet_hours(db: Database, number: str) -> QuietHours:
    """The setting (the default, off, when never saved)."""
    async with db.connection() as conn:
        cur = await conn.execute(
            "SELECT enabled, action FROM quiet_hours WHERE number = %s", (number,))
        head = await cur.fetchone()
        if head is None:
            return QuietHours()
        cur = await conn.execute(
            "SELECT ARRAY[weekday, start_minute, end_minute] FROM quiet_hours_windows"
            " WHERE number = %s ORDER BY weekday", (number,))
        windows = _windows([row[0] for row in await cur.fetchall()])
        cur = await conn.execute(
            "SELECT caller FROM quiet_hours_exceptions WHERE number = %s"
            " ORDER BY created_at, caller", (number,))
        exceptions = tuple(str(c) for (c,) in await cur.fetchall())
    return QuietHours(bool(head[0]), QuietAction(str(head[1])), windows, exceptions)


async def save_quiet_hours(db: Database, number: str, setting: QuietHours) -> None:
    """The portal's 設定する: the whole setting in one transaction (windows and exceptions
    replaced). One window per weekday; at most MAX_EXCEPTIONS exceptions (LimitExceeded)."""
    days = [w.weekday for w in setting.windows]
    if len(set(days)) != len(days):
        raise InvalidValue("one quiet-hours window per weekday")
    exceptions = list(dict.fromkeys(exception_number(n) for n in setting.exceptions))
    if len(exceptions) > MAX_EXCEPTIONS:
        raise LimitExceeded("quiet_hours_exceptions", MAX_EXCEPTIONS)
    async with db.transaction() as conn:
        await conn.execute(
            "INSERT INTO quiet_hours (number, enabled, action) VALUES (%s, %s, %s)"
            " ON CONFLICT (number) DO UPDATE SET enabled = EXCLUDED.enabled,"
            " action = EXCLUDED.action, updated_at = now()",
            (number, setting.enabled, setting.action.value))
        await conn.execute("DELETE FROM quiet_hours_windows WHERE number = %s", (number,))
        for w in setting.windows:
            await conn.execute(
                "INSERT INTO quiet_hours_windows (number, weekday, start_minute, end_minute)"
                " VALUES (%s, %s, %s, %s)", (number, w.weekday, w.start, w.end))
        await conn.execute("DELETE FROM quiet_hours_exceptions WHERE number = %s"
                           " AND NOT (caller = ANY(%s))", (number, exceptions))
        for caller in exceptions:
            await conn.execute(
                "INSERT INTO quiet_hours_exceptions (number, caller) VALUES (%s, %s)"
                " ON CONFLICT (number, caller) DO NOTHING", (number, caller))
