"""おやすみモード: when a window holds (JST, across midnight and the week's end) and what the
screening decision does with it (exceptions, voicemail or the announcement)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from callflow.clock import JST
from callflow.features.inbound.screening import (
    Action,
    CallerInfo,
    Outcome,
    ScreeningSettings,
    decide,
    notify_every_call,
)
from callflow.quiet_hours import (
    QuietAction,
    QuietHoursForCall,
    QuietWindow,
    describe_window,
    in_quiet_hours,
)

SUB = "05012345678"
FAMILY = CallerInfo("09011112222", None)
STRANGER = CallerInfo("0312345678", None)
ANON = CallerInfo(None, None)
MON, TUE, SUN = 0, 1, 6


def jst(day: int, hour: int, minute: int = 0) -> datetime:
    """An instant in the week of Monday 2026-11-30 (JST), as the clock gives it (UTC)."""
    return (datetime(2026, 11, 30, tzinfo=JST) + timedelta(days=day, hours=hour,
                                                           minutes=minute)).astimezone(UTC)


def hm(h: int, m: int = 0) -> int:
    return h * 60 + m


NIGHT_MON = QuietWindow(MON, hm(22), hm(7))  # Monday 22:00 → Tuesday 07:00


@pytest.mark.parametrize("at,inside", [
    (jst(MON, 21, 59), False), (jst(MON, 22, 0), True), (jst(MON, 23, 59), True),
    (jst(TUE, 0, 0), True), (jst(TUE, 6, 59), True), (jst(TUE, 7, 0), False),
    (jst(TUE, 22, 30), False),  # Tuesday night has no window of its own
    (jst(SUN, 23, 0), False), (jst(MON, 6, 0), False),  # the night before Monday's window
])
def test_window_crossing_midnight(at: datetime, inside: bool) -> None:
    assert in_quiet_hours([NIGHT_MON], at) is inside


def test_sunday_night_window_ends_on_monday_morning() -> None:
    window = QuietWindow(SUN, hm(23), hm(1))
    assert in_quiet_hours([window], jst(SUN + 1, 0, 30))  # Monday 00:30 of the next week
    assert in_quiet_hours([window], jst(MON, 0, 30))  # the same weekday a week earlier
    assert not in_quiet_hours([window], jst(MON, 1, 0))


def test_weekday_is_japan_time_not_utc() -> None:
    # Tuesday 08:30 JST is still Monday 23:30 in UTC: a Tuesday-morning window holds.
    window = QuietWindow(TUE, hm(8), hm(9))
    at = jst(TUE, 8, 30)
    assert at.weekday() == MON and in_quiet_hours([window], at)
    assert not in_quiet_hours([QuietWindow(MON, hm(23), hm(23, 59))], at)


def test_end_equal_to_start_is_a_whole_day() -> None:
    window = QuietWindow(MON, hm(12), hm(12))
    assert in_quiet_hours([window], jst(MON, 12)) and in_quiet_hours([window], jst(TUE, 11, 59))
    assert not in_quiet_hours([window], jst(TUE, 12)) and not in_quiet_hours([window],
                                                                            jst(MON, 11, 59))
    assert describe_window(window) == "12:00～翌12:00"
    assert describe_window(QuietWindow(MON, hm(1), hm(5, 30))) == "01:00～05:30"


def test_no_window_never_holds() -> None:
    assert not in_quiet_hours([], jst(MON, 3))


@pytest.mark.parametrize("bad", [(7, 0, 60), (-1, 0, 60), (0, 1440, 0), (0, 0, 1440)])
def test_windows_out_of_range_are_refused(bad: tuple[int, int, int]) -> None:
    with pytest.raises(ValueError):
        QuietWindow(*bad)


WEEK = 7 * 1440
windows_st = st.builds(QuietWindow, st.integers(0, 6), st.integers(0, 1439),
                       st.integers(0, 1439))
instants = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1),
                        timezones=st.just(UTC))


def reference_covers(window: QuietWindow, at: datetime) -> bool:
    """The same rule counted differently: the window is an interval of minutes of the week
    (wrapping at its end), length end - start, or the next day's, or 24 h."""
    local = at.astimezone(JST)
    minute_of_week = local.weekday() * 1440 + local.hour * 60 + local.minute
    begin = window.weekday * 1440 + window.start
    length = (window.end - window.start) % 1440 or 1440
    return (minute_of_week - begin) % WEEK < length


@given(windows_st, instants)
def test_window_is_an_interval_of_the_week(window: QuietWindow, at: datetime) -> None:
    assert in_quiet_hours([window], at) is reference_covers(window, at)


@given(st.lists(windows_st, max_size=7), instants)
def test_several_windows_hold_when_any_does(windows: list[QuietWindow], at: datetime) -> None:
    assert in_quiet_hours(windows, at) is any(reference_covers(w, at) for w in windows)


@given(windows_st, instants)
def test_a_window_lasts_the_same_in_any_zone(window: QuietWindow, at: datetime) -> None:
    # Only the instant counts, not the zone the clock reports it in.
    assert in_quiet_hours([window], at) is in_quiet_hours([window], at.astimezone(JST))


# ------------------------------------------------------------------ in the screening step

def quiet(action: QuietAction = QuietAction.VOICEMAIL, *, excepted: bool = False,
          windows: tuple[QuietWindow, ...] = (NIGHT_MON,)) -> QuietHoursForCall:
    return QuietHoursForCall(action, windows, excepted)


FORWARDING = ScreeningSettings(forward_enabled=True, voicemail_enabled=True,
                               notify_email="a@example.jp")
NIGHT, DAY = jst(TUE, 2), jst(TUE, 12)


def test_quiet_hours_send_to_voicemail_instead_of_forwarding() -> None:
    d = decide(FORWARDING, STRANGER, subscriber_number=SUB, blocked=False,
               forward_destination="09087654321", quiet=quiet(), now=NIGHT)
    assert (d.action, d.outcome, d.forward) == (Action.VOICEMAIL, Outcome.VOICEMAIL, None)


def test_outside_the_window_the_call_is_forwarded() -> None:
    d = decide(FORWARDING, STRANGER, subscriber_number=SUB, blocked=False,
               forward_destination="09087654321", quiet=quiet(), now=DAY)
    assert d.action is Action.FORWARD


def test_announcement_choice_and_voicemail_off() -> None:
    d = decide(FORWARDING, STRANGER, subscriber_number=SUB, blocked=False,
               forward_destination="09087654321", quiet=quiet(QuietAction.ANNOUNCE), now=NIGHT)
    assert (d.action, d.outcome) == (Action.QUIET_ANNOUNCE, Outcome.QUIET_HOURS)
    no_vm = ScreeningSettings(forward_enabled=True)
    d = decide(no_vm, STRANGER, subscriber_number=SUB, blocked=False,
               forward_destination="09087654321", quiet=quiet(), now=NIGHT)
    assert d.action is Action.QUIET_ANNOUNCE


def test_exception_numbers_ring_as_usual() -> None:
    d = decide(FORWARDING, FAMILY, subscriber_number=SUB, blocked=False,
               forward_destination="09087654321", quiet=quiet(excepted=True), now=NIGHT)
    assert d.action is Action.FORWARD and d.forward is not None


def test_refusals_come_first() -> None:
    s = ScreeningSettings(reject_anonymous=True, voicemail_enabled=True)
    d = decide(s, ANON, subscriber_number=SUB, blocked=False, forward_destination=None,
               quiet=quiet(), now=NIGHT)
    assert d.action is Action.REJECT_ANONYMOUS
    d = decide(s, STRANGER, subscriber_number=SUB, blocked=True, forward_destination=None,
               quiet=quiet(), now=NIGHT)
    assert d.action is Action.BLOCK_ANNOUNCE
    # A withheld caller is never an exception (the store matches numbers only).
    d = decide(FORWARDING, ANON, subscriber_number=SUB, blocked=False,
               forward_destination="09087654321", quiet=quiet(), now=NIGHT)
    assert d.action is Action.VOICEMAIL


@given(windows_st, instants, st.booleans(), st.sampled_from(QuietAction))
def test_decision_follows_the_window(window: QuietWindow, at: datetime, excepted: bool,
                                     action: QuietAction) -> None:
    d = decide(FORWARDING, STRANGER, subscriber_number=SUB, blocked=False,
               forward_destination="09087654321",
               quiet=quiet(action, excepted=excepted, windows=(window,)), now=at)
    quiet_now = reference_covers(window, at) and not excepted
    assert (d.action is not Action.FORWARD) is quiet_now


def test_quiet_hours_refusal_is_reported_by_mail() -> None:
    assert notify_every_call(FORWARDING, Outcome.QUIET_HOURS)
