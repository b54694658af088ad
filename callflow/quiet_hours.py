"""おやすみモード (quiet hours): pure rules of when a 050 number does not ring.

A subscriber sets at most one window per weekday, in Japan time (JST). A window belongs to
the weekday it starts on and may cross midnight: 月曜 22:00–07:00 covers Monday 22:00 up to
Tuesday 07:00. An end at or before the start means "the next day" (22:00–07:00), so an end
equal to the start is a whole 24 hours. During a window a call goes straight to the
voicemail center or hears the refusal announcement (`QuietAction`), unless the caller's
number is one of the exceptions (family, …). Screening decides it in the same step as the
block list (features/inbound/screening.py); the store reads windows and the exception
match in the one incoming-call statement (store/quiet_hours.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import Enum

from callflow.clock import JST

MINUTES_PER_DAY = 24 * 60
DAYS_PER_WEEK = 7
#: Monday first, as datetime.weekday() counts (0 = 月曜).
WEEKDAY_NAMES_JA = ("月", "火", "水", "木", "金", "土", "日")


class QuietAction(Enum):
    VOICEMAIL = "voicemail"  # straight to the voicemail center (if it is on)
    ANNOUNCE = "announce"  # answer, the refusal announcement, hang up


@dataclass(frozen=True, order=True)
class QuietWindow:
    weekday: int  # the day the window starts on: 0 = Monday … 6 = Sunday (JST)
    start: int  # minutes after 00:00 JST
    end: int  # minutes after 00:00 JST; at or before `start`: the next day

    def __post_init__(self) -> None:
        if not (0 <= self.weekday < DAYS_PER_WEEK and 0 <= self.start < MINUTES_PER_DAY
                and 0 <= self.end < MINUTES_PER_DAY):
            raise ValueError(f"not a quiet-hours window: {self}")

    @property
    def crosses_midnight(self) -> bool:
        return self.end <= self.start

    def covers(self, weekday: int, minute: int) -> bool:
        """Does the window cover JST `weekday`, `minute` after 00:00?"""
        if not self.crosses_midnight:
            return weekday == self.weekday and self.start <= minute < self.end
        if weekday == self.weekday and minute >= self.start:
            return True
        return weekday == (self.weekday + 1) % DAYS_PER_WEEK and minute < self.end


def jst_weekday_minute(at: datetime) -> tuple[int, int]:
    """(weekday, minute after 00:00) of an aware instant, in Japan time."""
    local = at.astimezone(JST)
    return local.weekday(), local.hour * 60 + local.minute


def in_quiet_hours(windows: Iterable[QuietWindow], at: datetime) -> bool:
    weekday, minute = jst_weekday_minute(at)
    return any(w.covers(weekday, minute) for w in windows)


@dataclass(frozen=True)
class QuietHours:
    """A number's quiet-hours setting as the portal shows and stores it."""

    enabled: bool = False
    action: QuietAction = QuietAction.VOICEMAIL
    windows: tuple[QuietWindow, ...] = ()  # at most one per weekday
    exceptions: tuple[str, ...] = ()  # normalised caller numbers that always ring


@dataclass(frozen=True)
class QuietHoursForCall:
    """What the incoming-call statement read (only when the setting is on): the windows,
    the action, and whether this call's presented number is an exception."""

    action: QuietAction
    windows: tuple[QuietWindow, ...]
    caller_excepted: bool

    def holds(self, at: datetime) -> bool:
        """Quiet hours apply to this call at `at`."""
        return not self.caller_excepted and in_quiet_hours(self.windows, at)


def format_minute(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def describe_window(window: QuietWindow) -> str:
    """The window as the portal shows it, e.g. 22:00～翌07:00."""
    end = format_minute(window.end)
    return f"{format_minute(window.start)}～{'翌' if window.crosses_midnight else ''}{end}"
