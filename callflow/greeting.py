"""A subscriber's own voicemail greeting (応答メッセージ): the rules one must pass, pure.

A greeting is recorded in the retrieval IVR (9# → 1#) or uploaded in the portal (WAV, MP3 or
M4A, converted to 8 kHz 16-bit mono WAV by ffmpeg first); either way the WAV is checked here
before it is stored (callflow/store/greetings.py): at most 30 s, some sound in it, not too
quiet and not clipped. Callers then hear it instead of the standard greeting, before the beep.
"""

from __future__ import annotations

import enum
import io
import math
import wave
from array import array
from dataclasses import dataclass

MAX_SECONDS = 30
#: Asterisk stops a 30 s recording a little after 30 s; a converted upload is cut at 30.5 s
_LENGTH_TOLERANCE_MS = 500
RATE = 8000
#: an upload larger than this is refused before conversion
MAX_UPLOAD_BYTES = 10 * 1024 * 1024
#: at least this much sound (20 ms frames above the floor below)
MIN_SOUND_MS = 500
#: frames whose peak-to-peak amplitude exceeds this count as sound (16-bit; ~-36 dBFS, the
#: voicemail deposit's rule)
_SOUND_P2P = 1000
_FRAME_S = 0.02
#: the sound frames' RMS level must be at least this (dBFS): quieter is hard to hear on a phone
MIN_LEVEL_DBFS = -30.0
#: at most this share of samples at full scale (clipped: distorted on the phone)
MAX_CLIPPED = 0.01
_CLIP = 32000


class Problem(enum.Enum):
    WRONG_FORMAT = "wrong_format"
    TOO_LARGE = "too_large"
    UNREADABLE = "unreadable"
    TOO_LONG = "too_long"
    SILENT = "silent"
    TOO_QUIET = "too_quiet"
    TOO_LOUD = "too_loud"


#: what the portal and the API say (the IVR says greeting_not_recorded)
PROBLEM_JA: dict[Problem, str] = {
    Problem.WRONG_FORMAT: "WAV・MP3・M4A形式の音声ファイルを選択してください。",
    Problem.TOO_LARGE: "ファイルが大きすぎます。10MB以下の音声ファイルを選択してください。",
    Problem.UNREADABLE: ("音声ファイルを読み取れませんでした。"
                        "ファイルが壊れていないかご確認ください。"),
    Problem.TOO_LONG: f"応答メッセージは{MAX_SECONDS}秒以内にしてください。",
    Problem.SILENT: ("音声が入っていません（無音です）。"
                     "お話しの入った音声ファイルを選択してください。"),
    Problem.TOO_QUIET: ("音量が小さすぎます。"
                        "もう少し大きな声で録音した音声ファイルを選択してください。"),
    Problem.TOO_LOUD: "音が割れています。音量を下げて録音した音声ファイルを選択してください。",
}


class BadGreeting(ValueError):
    def __init__(self, problem: Problem, detail: str = "") -> None:
        super().__init__(detail or problem.value)
        self.problem = problem


@dataclass(frozen=True)
class GreetingAudio:
    duration_ms: int
    sound_ms: int
    level_dbfs: float  # RMS of the sound frames; -inf without sound
    clipped: float  # share of samples at full scale


def upload_format(head: bytes) -> str | None:
    """'wav', 'mp3' or 'm4a' from a file's first bytes (not its name); None otherwise."""
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "wav"
    if head[:3] == b"ID3" or (len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0):
        return "mp3"
    if head[4:8] == b"ftyp":
        return "m4a"
    return None


def analyse(wav_bytes: bytes) -> GreetingAudio:
    """Length, sound and level of an 8 kHz 16-bit mono WAV; BadGreeting(UNREADABLE) else."""
    try:
        with wave.open(io.BytesIO(wav_bytes), "rb") as w:
            if (w.getsampwidth(), w.getnchannels(), w.getframerate()) != (2, 1, RATE):
                raise BadGreeting(Problem.UNREADABLE,
                                  f"expected 8 kHz 16-bit mono, got {w.getframerate()} Hz "
                                  f"{w.getsampwidth() * 8}-bit {w.getnchannels()}-channel")
            frames = w.readframes(w.getnframes())
    except (wave.Error, EOFError) as exc:
        raise BadGreeting(Problem.UNREADABLE, str(exc)) from exc
    samples = array("h")
    samples.frombytes(frames[: len(frames) // 2 * 2])
    step = int(RATE * _FRAME_S)
    sound_frames = 0
    energy = 0.0
    counted = 0
    for i in range(0, len(samples), step):
        frame = samples[i:i + step]
        if max(frame) - min(frame) > _SOUND_P2P:
            sound_frames += 1
            energy += sum(s * s for s in frame)
            counted += len(frame)
    clipped = sum(1 for s in samples if abs(s) >= _CLIP)
    level = 10 * math.log10(energy / counted / 32768.0 ** 2) if counted and energy else -math.inf
    return GreetingAudio(duration_ms=len(samples) * 1000 // RATE,
                         sound_ms=sound_frames * step * 1000 // RATE,
                         level_dbfs=level, clipped=clipped / len(samples) if samples else 0.0)


def problem(audio: GreetingAudio) -> Problem | None:
    """Why this audio cannot be a greeting, or None."""
    if audio.duration_ms > MAX_SECONDS * 1000 + _LENGTH_TOLERANCE_MS:
        return Problem.TOO_LONG
    if audio.sound_ms < MIN_SOUND_MS:
        return Problem.SILENT
    if audio.level_dbfs < MIN_LEVEL_DBFS:
        return Problem.TOO_QUIET
    if audio.clipped > MAX_CLIPPED:
        return Problem.TOO_LOUD
    return None


def checked(wav_bytes: bytes) -> GreetingAudio:
    """The analysis of a WAV that passes every rule; BadGreeting with the first broken one."""
    audio = analyse(wav_bytes)
    found = problem(audio)
    if found is not None:
        raise BadGreeting(found)
    return audio


def media_name(number: str, version_ms: int) -> str:
    """The file name (without .wav) of a stored greeting in the media cache (a directory the
    app writes and Asterisk reads): a new greeting gets a new name, so a cached old one is
    never played. The ``ivr-msg-`` prefix puts it under the cache sweep of the expiry job
    (files unused for an hour are removed, and rebuilt from the database on demand)."""
    return f"ivr-msg-greeting-{number}-{version_ms}"
