"""callflow.speech: values -> prompt ids; every id must exist in the manifest."""

from __future__ import annotations

import re
import shutil
import wave
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from callflow import speech
from callflow.clock import JST
from ivr_prompts.manifest import PROMPT_IDS
from labkit.lab import prompts_dir


def _all_known(ids: list[str]) -> None:
    unknown = [i for i in ids if i not in PROMPT_IDS]
    assert not unknown, f"ids missing from manifest: {unknown}"


# --- digits -------------------------------------------------------------------


def test_digits_reads_each_digit_and_ignores_hyphens() -> None:
    assert speech.digits("050-3300-5000") == [
        "digit_0", "digit_5", "digit_0",
        "digit_3", "digit_3", "digit_0", "digit_0",
        "digit_5", "digit_0", "digit_0", "digit_0",
    ]  # fmt: skip
    assert speech.digits("0 9 0") == ["digit_0", "digit_9", "digit_0"]


@pytest.mark.parametrize("bad", ["", "--", "+81901234", "12#", "０９０", "12a"])
def test_digits_rejects_non_digits(bad: str) -> None:
    with pytest.raises(ValueError):
        speech.digits(bad)


@given(st.text(alphabet="0123456789-", min_size=1).filter(lambda s: any(c.isdigit() for c in s)))
def test_digits_property(number: str) -> None:
    ids = speech.digits(number)
    _all_known(ids)
    assert "".join(i.removeprefix("digit_") for i in ids) == number.replace("-", "")


# --- counts -------------------------------------------------------------------


def test_count_small_and_composed() -> None:
    assert speech.count(0) == ["count_0"]
    assert speech.count(7) == ["count_7"]
    assert speech.count(20) == ["count_20"]
    assert speech.count(21) == ["count_20", "count_1"]
    assert speech.count(42) == ["count_40", "count_2"]
    assert speech.count(90) == ["count_90"]
    assert speech.count(99) == ["count_90", "count_9"]


@pytest.mark.parametrize("bad", [-1, 100, 10_000])
def test_count_out_of_range(bad: int) -> None:
    with pytest.raises(ValueError):
        speech.count(bad)


def test_count_rejects_bool() -> None:
    with pytest.raises(ValueError):
        speech.count(True)


@given(st.integers(min_value=0, max_value=speech.MAX_COUNT))
def test_count_property(n: int) -> None:
    ids = speech.count(n)
    _all_known(ids)
    assert sum(int(i.removeprefix("count_")) for i in ids) == n


def test_counted_ken() -> None:
    assert speech.counted_ken(1) == ["ken_1"]
    assert speech.counted_ken(20) == ["ken_20"]
    assert speech.counted_ken(35) == ["count_30", "count_5", "ken"]
    with pytest.raises(ValueError):
        speech.counted_ken(0)


# --- date and time ------------------------------------------------------------


def test_datetime_example_from_the_brief() -> None:
    dt = datetime(2024, 11, 25, 15, 42, tzinfo=JST)
    assert speech.datetime_ja(dt) == ["month_11", "day_25", "pm", "hour_3", "minute_42"]


def test_datetime_converts_to_japan_time() -> None:
    # 06:42 UTC is 15:42 in Tokyo; 15:30 UTC on New Year's Eve is already 1 Jan.
    assert speech.datetime_ja(datetime(2024, 11, 25, 6, 42, tzinfo=UTC)) == [
        "month_11", "day_25", "pm", "hour_3", "minute_42",
    ]  # fmt: skip
    assert speech.datetime_ja(datetime(2024, 12, 31, 15, 30, tzinfo=UTC)) == [
        "month_1", "day_1", "am", "hour_0", "minute_30",
    ]  # fmt: skip


def test_datetime_midnight_noon_and_on_the_hour() -> None:
    assert speech.datetime_ja(datetime(2024, 4, 1, 0, 0, tzinfo=JST)) == [
        "month_4", "day_1", "am", "hour_0",
    ]  # fmt: skip
    assert speech.datetime_ja(datetime(2024, 4, 20, 12, 0, tzinfo=JST)) == [
        "month_4", "day_20", "pm", "hour_0",
    ]  # fmt: skip
    assert speech.datetime_ja(datetime(2024, 9, 9, 23, 59, tzinfo=JST)) == [
        "month_9", "day_9", "pm", "hour_11", "minute_59",
    ]  # fmt: skip


def test_datetime_today_yesterday() -> None:
    now = datetime(2024, 11, 25, 0, 30, tzinfo=JST)
    # 23:10 UTC on the 24th is 08:10 JST on the 25th: today.
    assert speech.datetime_ja(datetime(2024, 11, 24, 23, 10, tzinfo=UTC), now=now) == [
        "today", "am", "hour_8", "minute_10",
    ]  # fmt: skip
    assert speech.datetime_ja(datetime(2024, 11, 24, 22, 5, tzinfo=JST), now=now) == [
        "yesterday", "pm", "hour_10", "minute_5",
    ]  # fmt: skip
    assert speech.datetime_ja(datetime(2024, 11, 23, 22, 5, tzinfo=JST), now=now)[:2] == [
        "month_11", "day_23",
    ]  # fmt: skip


def test_datetime_rejects_naive() -> None:
    with pytest.raises(ValueError):
        speech.datetime_ja(datetime(2024, 1, 1, 9, 0))
    with pytest.raises(ValueError):
        speech.datetime_ja(datetime(2024, 1, 1, 9, 0, tzinfo=JST), now=datetime(2024, 1, 1))


_offsets = st.integers(min_value=-12 * 60, max_value=14 * 60).map(
    lambda m: timezone(timedelta(minutes=m))
)
_aware = st.datetimes(
    min_value=datetime(1970, 1, 2), max_value=datetime(2199, 12, 30), timezones=_offsets
)


@given(_aware)
def test_datetime_property_ids_exist_and_decode_to_japan_time(dt: datetime) -> None:
    ids = speech.datetime_ja(dt)
    _all_known(ids)
    local = dt.astimezone(JST)
    fields: dict[str, str] = {}
    for i in ids:
        m = re.fullmatch(r"([a-z]+)_(\d+)", i)
        if m:
            fields[m[1]] = m[2]
    assert int(fields["month"]) == local.month
    assert int(fields["day"]) == local.day
    hour = int(fields["hour"]) + (12 if "pm" in ids else 0)
    assert ("am" in ids) != ("pm" in ids)
    assert hour == local.hour
    assert int(fields.get("minute", 0)) == local.minute


@given(_aware, _aware)
def test_datetime_relative_property(dt: datetime, now: datetime) -> None:
    ids = speech.datetime_ja(dt, now=now)
    _all_known(ids)
    days = (now.astimezone(JST).date() - dt.astimezone(JST).date()).days
    assert (ids[0] == "today") == (days == 0)
    assert (ids[0] == "yesterday") == (days == 1)


# --- message center guidance ---------------------------------------------------


def test_message_count_guidance() -> None:
    assert speech.message_count_guidance(0, 0) == ["no_messages"]
    assert speech.message_count_guidance(3, 0) == ["new_messages_prefix", "ken_3", "arimasu"]
    assert speech.message_count_guidance(0, 6) == ["saved_messages_prefix", "ken_6", "arimasu"]
    assert speech.message_count_guidance(1, 20) == [
        "new_messages_prefix", "ken_1", "arimasu",
        "saved_messages_prefix", "ken_20", "arimasu",
    ]  # fmt: skip
    with pytest.raises(ValueError):
        speech.message_count_guidance(-1, 0)


@given(st.integers(min_value=0, max_value=99), st.integers(min_value=0, max_value=99))
def test_message_count_guidance_property(new: int, saved: int) -> None:
    ids = speech.message_count_guidance(new, saved)
    _all_known(ids)
    assert ids.count("arimasu") == (new > 0) + (saved > 0)


def test_message_header() -> None:
    at = datetime(2024, 11, 25, 15, 42, tzinfo=JST)
    when = ["month_11", "day_25", "pm", "hour_3", "minute_42"]
    # 「1件目。11月25日 午後3時42分。」: no caller number (read only on request)
    assert speech.message_header(1, at) == ["nth_1", *when]
    assert speech.message_header(20, at, already_heard=True) == ["nth_20", "already_heard", *when]
    assert speech.message_header(21, at)[:3] == ["count_20", "count_1", "kenme"]
    with pytest.raises(ValueError):
        speech.message_header(0, at)


@pytest.mark.skipif(shutil.which("open_jtalk") is None or shutil.which("sox") is None,
                    reason="open_jtalk and sox generate the prompts")
def test_message_header_is_short_in_real_audio() -> None:
    """What is read before each message (it used to be ~12 s with the caller's number)."""
    folder = prompts_dir()

    def seconds(ids: list[str]) -> float:
        total = 0.0
        for i in ids:
            with wave.open(str(folder / f"{i}.wav"), "rb") as w:
                total += w.getnframes() / w.getframerate()
        return total

    longest = speech.message_header(18, datetime(2024, 12, 28, 23, 58, tzinfo=JST),
                                    already_heard=True)
    assert seconds(longest) < 7.0


def test_message_caller() -> None:
    assert speech.message_caller("090-12") == [
        "message_received_at", "from_number", "digit_0", "digit_9", "digit_0",
        "digit_1", "digit_2", "kara",
    ]  # fmt: skip
    assert speech.message_caller(None) == ["message_received_at", "from_anonymous"]
    assert speech.message_caller("anonymous")[-1] == "from_anonymous"
    # E.164 is read as dialled from Japan.
    national = speech.message_caller("+81312")
    assert national[national.index("from_number") + 1 : -1] == speech.digits("0312")
    intl = speech.message_caller("+1 555")
    assert intl[intl.index("from_number") + 1 : -1] == speech.digits("0101555")


@given(
    _aware,
    st.one_of(st.none(), st.text(alphabet="+0123456789- ", max_size=20), st.text(max_size=10)),
    st.booleans(),
    st.integers(min_value=1, max_value=99),
)
def test_message_header_property(at: datetime, caller: str | None, heard: bool,
                                 position: int) -> None:
    _all_known(speech.message_header(position, at, already_heard=heard))
    _all_known(speech.message_caller(caller))
