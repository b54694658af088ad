"""Wall-clock time as the app sees it, behind a small seam so tests can move it.

The app builds one `SystemClock` (``Services.clock``) and every time decision or time a
subscriber sees takes it: lockouts (15 min), voicemail expiry (168 h) and slot holds, the
received time of a voicemail or call (history, mail text and Date), callback billing legs.
They never use the database's now(), so a test can shift the whole app forward with
ANSHIN_CLOCK_OFFSET_S (restart the app with it set) or hand a `FixedClock` to the store.
Left on database time on purpose: the callback request lifecycle (created_at/expires_at are
written by the portal with the database default, caps count them) and the mail outbox's
retry schedule - each compares database times with database times.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Protocol

#: Japan time (UTC+9, no daylight saving): the one zone the service shows and speaks times in
#: (history, mails, IVR dates, billing months).
JST = timezone(timedelta(hours=9), "JST")


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware (UTC)."""
        ...


class SystemClock:
    def __init__(self, offset_s: float = 0.0) -> None:
        self.offset = timedelta(seconds=offset_s)

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset


class FixedClock:
    """A clock that only moves when told to (tests)."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at

    def advance(self, delta: timedelta) -> None:
        self.at += delta
