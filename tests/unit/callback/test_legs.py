"""Leg outcomes, announcements, billing seconds and the request's final status."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from callflow.clock import JST
from callflow.features.callback.legs import (
    Leg,
    LegResult,
    billable_seconds,
    callback_outcome,
    destination_announcement,
    unanswered_result,
)
from callflow.features.callback.models import LegRecord
from callflow.features.callback.service import CSV_HEADER, _month_range, records_csv
from callflow.features.callback.twofa_call import code_prompts

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(("dialstatus", "cause", "result"), [
    ("BUSY", 17, LegResult.BUSY),
    ("NOANSWER", 21, LegResult.REJECTED),  # 403 as Asterisk 22 reports it
    ("RINGING", 19, LegResult.NO_ANSWER),  # our dial timeout
    ("", 18, LegResult.NO_ANSWER),
    ("CHANUNAVAIL", 0, LegResult.UNAVAILABLE),
    (None, 1, LegResult.UNAVAILABLE),
    ("CONGESTION", 34, LegResult.FAILED),
    ("CANCEL", 16, LegResult.CANCELLED),
    (None, None, LegResult.FAILED),
])
def test_unanswered_result(dialstatus: str | None, cause: int | None,
                           result: LegResult) -> None:
    assert unanswered_result(dialstatus, cause) is result


def test_announcements() -> None:
    assert destination_announcement(LegResult.BUSY) == "callback_dest_busy"
    assert destination_announcement(LegResult.NO_ANSWER) == "callback_dest_no_answer"
    for r in (LegResult.REJECTED, LegResult.FAILED, LegResult.UNAVAILABLE):
        assert destination_announcement(r) == "callback_failed"


@given(st.floats(0, 100_000, allow_nan=False))
def test_billable_seconds_round_up(seconds: float) -> None:
    billed = billable_seconds(T0, T0 + timedelta(seconds=seconds))
    assert billed >= seconds - 1e-3 and billed < seconds + 1
    assert billable_seconds(None, T0) == 0 and billable_seconds(T0, None) == 0


def leg(n: int) -> Leg:
    return Leg(n, f"c{n}", "05012345678", "0312345678", T0)


def test_leg_end_is_recorded_once_and_leg1_billed_without_leg2() -> None:
    one, two = leg(1), leg(2)
    one.answer(T0 + timedelta(seconds=2))
    two.dialstatus = "BUSY"
    two.end(T0 + timedelta(seconds=5), cause=17)
    one.end(T0 + timedelta(seconds=9))
    one.end(T0 + timedelta(seconds=99), LegResult.FAILED)  # ignored
    assert (one.result, one.billable) == (LegResult.ANSWERED, 7)
    assert (two.result, two.billable) == (LegResult.BUSY, 0)
    assert callback_outcome(one, two, bridged=False) == ("failed", "dest_busy")


def test_outcomes() -> None:
    one, two = leg(1), leg(2)
    one.end(T0, cause=19)
    assert callback_outcome(one, None, False) == ("failed", "leg1_no_answer")
    one, two = leg(1), leg(2)
    one.answer(T0)
    two.end(T0, LegResult.CANCELLED)
    assert callback_outcome(one, two, False) == ("failed", "leg1_hung_up")
    assert callback_outcome(one, two, True) == ("completed", None)


def test_answer_after_end_is_ignored() -> None:
    one = leg(1)
    one.end(T0, LegResult.CANCELLED)
    one.answer(T0 + timedelta(seconds=1))
    assert one.answered_at is None and one.billable == 0


def test_month_range_is_japanese_calendar_month() -> None:
    start, end = _month_range(date(2025, 12, 15))
    assert start == datetime(2025, 12, 1, tzinfo=JST) and end == datetime(2026, 1, 1, tzinfo=JST)


def test_csv() -> None:
    rec = LegRecord(7, 1, "05012345678", "09011112222", T0, T0 + timedelta(seconds=3),
                    T0 + timedelta(seconds=64), "answered", 61)
    text = records_csv([rec, LegRecord(7, 2, "05012345678", "0312345678", T0, None, T0,
                                       "busy", 0)])
    lines = text.splitlines()
    assert lines[0] == ",".join(CSV_HEADER)
    assert lines[1] == ("7,1,05012345678,09011112222,2025-03-01T21:00:00+09:00,"
                        "2025-03-01T21:00:03+09:00,2025-03-01T21:01:04+09:00,answered,61")
    assert lines[2].endswith(",,2025-03-01T21:00:00+09:00,busy,0")


def test_twofa_prompts_read_the_code_twice() -> None:
    first, second = code_prompts("482915")
    assert first[:2] == ["twofa_greeting", "twofa_code_intro"]
    assert first[2:] == [f"digit_{d}" for d in "482915"]
    assert second == ["twofa_repeat", *first[2:], "twofa_not_requested"]


def test_leg_of_channel_round_trips_callback_channel_ids() -> None:
    from callflow.features.callback.calls import new_channel_id
    from callflow.features.callback.legs import leg_of_channel

    assert leg_of_channel(new_channel_id(42, 1)) == (42, 1)
    assert leg_of_channel(new_channel_id(7, 2)) == (7, 2)
    for other in ("fwd-0123abcd", "pb-1", "cr-1-abc", "cr12-3-abc", "anshin-1795640238.0"):
        assert leg_of_channel(other) is None
