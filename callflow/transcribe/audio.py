"""Audio as the recogniser wants it: a 16-bit mono WAV as float samples at 16 kHz."""

from __future__ import annotations

import io
import wave
from pathlib import Path
from typing import Any

WHISPER_RATE = 16000


def pcm16_mono(wav: bytes | Path, *, resample: bool = True) -> tuple[Any, float]:
    """The samples of a 16-bit mono WAV as float32 in [-1, 1) (at 16 kHz unless
    ``resample`` is False), and its length in seconds. numpy comes with the extra."""
    import numpy as np

    data = wav.read_bytes() if isinstance(wav, Path) else wav
    with wave.open(io.BytesIO(data), "rb") as w:
        if w.getsampwidth() != 2 or w.getnchannels() != 1:
            raise ValueError("expected 16-bit mono WAV")
        rate = w.getframerate()
        frames = w.readframes(w.getnframes())
    samples = np.frombuffer(frames, dtype="<i2").astype(np.float32) / 32768.0
    seconds = len(samples) / rate if rate else 0.0
    if resample and rate != WHISPER_RATE and len(samples):
        # Whisper listens at 16 kHz; telephone audio is 8 kHz. Linear interpolation is enough
        # for band-limited 8 kHz speech (nothing above 4 kHz to alias).
        n_out = round(len(samples) * WHISPER_RATE / rate)
        x_out = np.arange(n_out) * (rate / WHISPER_RATE)
        samples = np.interp(x_out, np.arange(len(samples)), samples).astype(np.float32)
    return samples, seconds

