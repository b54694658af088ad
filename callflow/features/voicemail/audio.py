"""Pure helpers for voicemail recordings: names that carry their own metadata, WAV parsing,
and a speech check.

Recording names encode everything needed to file a message (mailbox, caller, time), so a
recording Asterisk still holds after the app died can be imported later by any instance
without any other state: ``vm-<050 number>-<caller | anon>-<epoch ms>-<hex>``. An
international caller ``+14155550100`` is written ``i14155550100`` ('+' is not safe in
every file name Asterisk may be asked to create).
"""

from __future__ import annotations

import io
import re
import uuid
import wave
from array import array
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

PREFIX = "vm-"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)
_NAME = re.compile(r"vm-(050[0-9]{8})-(anon|i?[0-9]{1,20})-([0-9]{10,14})-([0-9a-f]{8,32})")

# A message must be at least this long and contain at least this much speech; shorter
# recordings (hang-up at the beep, a silent line until max_silence) are discarded.
MIN_DURATION_S = 1.0
MIN_SPEECH_S = 0.3
# 20 ms frames whose peak-to-peak amplitude exceeds this count as sound (16-bit linear;
# ~-36 dBFS). G.711 "silence" and comfort noise stay far below it.
_FRAME_S = 0.02
_SOUND_P2P = 1000


@dataclass(frozen=True)
class RecordingName:
    name: str  # the full name, as Asterisk knows it
    number: str
    caller: str | None  # None = 非通知
    received_at: datetime
    token: str


def recording_name(number: str, caller: str | None, received_at: datetime,
                   token: str | None = None) -> str:
    if caller is None:
        who = "anon"
    elif caller.startswith("+") and caller[1:].isdigit():
        who = "i" + caller[1:]
    elif caller.isdigit():
        who = caller
    else:  # not a canonical number: file it as 非通知 rather than fail the deposit
        who = "anon"
    millis = (received_at - _EPOCH) // _MS  # exact: no float rounding
    return f"{PREFIX}{number}-{who[:21]}-{millis}-{token or uuid.uuid4().hex[:16]}"


def parse_recording_name(name: str) -> RecordingName | None:
    """The metadata in a name made by :func:`recording_name`; None for any other name."""
    m = _NAME.fullmatch(name)
    if m is None:
        return None
    number, who, millis, token = m.groups()
    caller = None if who == "anon" else ("+" + who[1:] if who.startswith("i") else who)
    received_at = _EPOCH + int(millis) * _MS
    return RecordingName(name, number, caller, received_at, token)


class BadAudio(ValueError):
    """Not a WAV file we can read (truncated, wrong format)."""


@dataclass(frozen=True)
class AudioInfo:
    duration_ms: int
    speech_ms: int

    @property
    def is_message(self) -> bool:
        return (self.duration_ms >= MIN_DURATION_S * 1000
                and self.speech_ms >= MIN_SPEECH_S * 1000)


def analyse_wav(data: bytes) -> AudioInfo:
    """Duration and amount of sound in a 16-bit mono WAV (Asterisk's ``wav`` format)."""
    try:
        with wave.open(io.BytesIO(data), "rb") as w:
            if w.getsampwidth() != 2 or w.getnchannels() != 1:
                raise BadAudio(f"expected 16-bit mono, got {w.getsampwidth() * 8}-bit "
                               f"{w.getnchannels()}-channel")
            rate = w.getframerate()
            frames = w.readframes(w.getnframes())
    except (wave.Error, EOFError) as exc:
        raise BadAudio(str(exc)) from exc
    samples = array("h")
    samples.frombytes(frames[: len(frames) // 2 * 2])
    if rate <= 0:
        raise BadAudio("sample rate 0")
    step = max(1, int(rate * _FRAME_S))
    sound_frames = 0
    for i in range(0, len(samples), step):
        frame = samples[i:i + step]
        if max(frame) - min(frame) > _SOUND_P2P:
            sound_frames += 1
    duration_ms = len(samples) * 1000 // rate
    return AudioInfo(duration_ms=duration_ms,
                     speech_ms=min(duration_ms, sound_frames * step * 1000 // rate))


@dataclass
class QuietLine:
    """The silence rule for a phone that sends no RTP at all while its user is quiet
    (silence suppression, VAD/DTX). Asterisk's own silence detection only counts audio
    frames that arrive, so it cannot see such a pause; the app watches the channel's
    received-packet counter instead and ends the recording once it has not moved for
    ``limit_s`` (the same ``voicemail_max_silence_seconds``)."""

    limit_s: float
    _count: int | None = None
    _since: float = 0.0

    def observe(self, packets_received: int, at: float) -> bool:
        """Note the counter at monotonic time ``at``; True once no packet came for the
        limit (counted from the first observation, i.e. the recording's start)."""
        if packets_received != self._count:
            self._count, self._since = packets_received, at
            return False
        return at - self._since >= self.limit_s
