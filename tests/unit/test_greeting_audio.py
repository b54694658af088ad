"""The rules a greeting passes (callflow.greeting): length, sound, loudness, upload formats."""

from __future__ import annotations

import io
import math
import wave

import pytest

from callflow.greeting import (
    MAX_SECONDS,
    BadGreeting,
    Problem,
    analyse,
    checked,
    problem,
    upload_format,
)


def wav(seconds: float, amplitude: int, *, rate: int = 8000, channels: int = 1,
        hz: float = 440.0) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        frames = bytearray()
        for i in range(int(rate * seconds)):
            v = max(-32768, min(32767, int(amplitude * math.sin(2 * math.pi * hz * i / rate))))
            frames += v.to_bytes(2, "little", signed=True) * channels
        w.writeframes(bytes(frames))
    return buf.getvalue()


def test_a_spoken_level_greeting_passes() -> None:
    audio = checked(wav(3.0, 8000))
    assert 2990 <= audio.duration_ms <= 3000
    assert audio.sound_ms >= 2900
    assert -16 < audio.level_dbfs < -15  # an 8000-peak sine: RMS 5657 = -15.3 dBFS
    assert audio.clipped == 0


@pytest.mark.parametrize("data,expected", [
    (wav(MAX_SECONDS + 1.0, 8000), Problem.TOO_LONG),
    (wav(3.0, 0), Problem.SILENT),
    (wav(3.0, 300), Problem.SILENT),  # below the sound floor: line noise
    (wav(3.0, 700), Problem.TOO_QUIET),  # audible frames, but far too soft
    (wav(3.0, 60000), Problem.TOO_LOUD),  # clipped at full scale
])
def test_each_rule_refuses_with_its_problem(data: bytes, expected: Problem) -> None:
    assert problem(analyse(data)) is expected
    with pytest.raises(BadGreeting) as info:
        checked(data)
    assert info.value.problem is expected


def test_exactly_30_seconds_is_allowed() -> None:
    assert problem(analyse(wav(MAX_SECONDS, 8000))) is None


@pytest.mark.parametrize("data", [b"", b"not a wav", wav(1.0, 8000, rate=16000),
                                  wav(1.0, 8000, channels=2)])
def test_anything_but_8khz_mono_wav_is_unreadable(data: bytes) -> None:
    with pytest.raises(BadGreeting) as info:
        analyse(data)
    assert info.value.problem is Problem.UNREADABLE


def test_upload_formats_by_content_not_name() -> None:
    assert upload_format(wav(0.1, 1000)[:16]) == "wav"
    assert upload_format(b"ID3\x04\x00\x00") == "mp3"
    assert upload_format(b"\xff\xfb\x90\x00") == "mp3"  # an MP3 frame without ID3 tag
    assert upload_format(b"\x00\x00\x00\x20ftypM4A ") == "m4a"
    assert upload_format(b"%PDF-1.7") is None
    assert upload_format(b"OggS\x00") is None
    assert upload_format(b"") is None
