"""Callers who talk: Japanese sentences spoken by Open JTalk, the prompts' voice and
toolchain (ivr_prompts), as 8 kHz WAV for :class:`labkit.harness.sipp.Voice`.

Cached by text under ``build/spoken/`` (or ``$ANSHIN_SPOKEN_DIR``): a sentence is
synthesised once per checkout.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from ivr_prompts.generate import Toolchain, synthesise

_CHECKOUT = Path(__file__).resolve().parents[2]


def _cache() -> Path:
    configured = os.environ.get("ANSHIN_SPOKEN_DIR")
    return Path(configured) if configured else _CHECKOUT / "build" / "spoken"


def spoken(text: str) -> bytes:
    """``text`` read by Open JTalk: an 8 kHz 16-bit mono WAV, edges trimmed."""
    cache = _cache()
    cache.mkdir(parents=True, exist_ok=True)
    tools = Toolchain.from_env()
    tools.check_data()
    key = hashlib.sha256(f"{text}|{tools.voice}".encode()).hexdigest()[:16]
    path = cache / f"{key}.wav"
    if not path.is_file():
        synthesise(text, path, tools, what=key)
    return path.read_bytes()
