"""Recording names carry their metadata; WAV analysis tells a message from silence."""

from __future__ import annotations

import io
import math
import wave
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from callflow.features.voicemail.audio import (
    BadAudio,
    QuietLine,
    analyse_wav,
    parse_recording_name,
    recording_name,
)


def wav(*segments: tuple[str, float]) -> bytes:
    frames = bytearray()
    for kind, seconds in segments:
        n = int(8000 * seconds)
        for i in range(n):
            v = int(8000 * math.sin(2 * math.pi * 400 * i / 8000)) if kind == "tone" else 0
            frames += v.to_bytes(2, "little", signed=True)
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(bytes(frames))
    return buf.getvalue()


@given(caller=st.one_of(st.none(), st.from_regex(r"0[0-9]{9,10}", fullmatch=True),
                        st.from_regex(r"\+[1-9][0-9]{6,14}", fullmatch=True)),
       ms=st.integers(1_500_000_000_000, 2_500_000_000_000))
def test_names_roundtrip(caller: str | None, ms: int) -> None:
    when = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)
    name = recording_name("05012345678", caller, when)
    rec = parse_recording_name(name)
    assert rec is not None
    assert (rec.name, rec.number, rec.caller) == (name, "05012345678", caller)
    assert abs(rec.received_at - when) < timedelta(milliseconds=1)


def test_foreign_names_and_odd_callers() -> None:
    assert parse_recording_name("demo-greeting") is None
    assert parse_recording_name("vm-0311112222-anon-1700000000000-abcdef01") is None
    name = recording_name("05012345678", "sip:weird", datetime.now(UTC))
    rec = parse_recording_name(name)
    assert rec is not None and rec.caller is None


def test_speech_is_a_message_silence_and_short_are_not() -> None:
    talk = analyse_wav(wav(("silence", 0.5), ("tone", 3.0), ("silence", 0.2)))
    assert talk.is_message and 3600 <= talk.duration_ms <= 3800
    assert 2900 <= talk.speech_ms <= 3100
    assert not analyse_wav(wav(("silence", 8.0))).is_message
    assert not analyse_wav(wav(("tone", 0.6))).is_message  # under a second


def test_bad_audio() -> None:
    with pytest.raises(BadAudio):
        analyse_wav(b"RIFF\x00\x00")
    with pytest.raises(BadAudio):
        analyse_wav(b"")


def test_quiet_line_ends_only_after_the_limit_without_any_packet() -> None:
    rule = QuietLine(8.0)
    assert not rule.observe(100, 0.0)  # recording starts
    assert not rule.observe(100, 7.5)  # quiet, under the limit
    assert not rule.observe(101, 7.9)  # a packet: the pause starts again
    assert not rule.observe(101, 15.8)
    assert rule.observe(101, 15.9)  # 8 s without a packet
