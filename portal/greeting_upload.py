"""A greeting file uploaded in the portal or the API: checked by its content (WAV, MP3, M4A),
converted to the 8 kHz 16-bit mono WAV callers hear with ffmpeg (Debian's `ffmpeg` package,
installed by ./lab and in the app image), then held to the greeting rules
(callflow.greeting) before it is stored."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import tempfile
from datetime import datetime
from pathlib import Path

from callflow import greeting
from callflow.greeting import BadGreeting, GreetingAudio, Problem
from callflow.store import Database, greetings

log = logging.getLogger("portal.greeting")

FFMPEG = "ffmpeg"
#: a conversion of a 10 MB file takes well under a second here
CONVERT_TIMEOUT_S = 30.0
#: cut longer files during the conversion: enough to tell them too long, no more work
_CONVERT_AT_MOST_S = greeting.MAX_SECONDS + 1
#: conversions at once per portal process (each is one ffmpeg process on a CPU); more wait
_CONVERSIONS = asyncio.Semaphore(2)


async def convert(data: bytes) -> bytes:
    """The upload as 8 kHz 16-bit mono WAV; BadGreeting(WRONG_FORMAT / TOO_LARGE /
    UNREADABLE) otherwise."""
    if len(data) > greeting.MAX_UPLOAD_BYTES:
        raise BadGreeting(Problem.TOO_LARGE)
    fmt = greeting.upload_format(data[:16])
    if fmt is None:
        raise BadGreeting(Problem.WRONG_FORMAT)
    async with _CONVERSIONS:
        return await _convert(data, fmt)


async def _convert(data: bytes, fmt: str) -> bytes:
    with tempfile.TemporaryDirectory(prefix="anshin-greeting-") as tmp:
        source, target = Path(tmp) / f"upload.{fmt}", Path(tmp) / "greeting.wav"
        source.write_bytes(data)  # M4A needs a seekable input (its index may be at the end)
        try:
            proc = await asyncio.create_subprocess_exec(
                FFMPEG, "-nostdin", "-hide_banner", "-loglevel", "error", "-f",
                {"wav": "wav", "mp3": "mp3", "m4a": "mov"}[fmt], "-i", str(source),
                "-t", str(_CONVERT_AT_MOST_S), "-vn", "-ac", "1", "-ar", str(greeting.RATE),
                "-c:a", "pcm_s16le", "-map_metadata", "-1", "-fflags", "+bitexact",
                "-f", "wav", str(target),
                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
        except OSError as exc:  # no ffmpeg: an installation fault, logged for the operator
            log.error("cannot run %s to convert a greeting: %s", FFMPEG, exc)
            raise BadGreeting(Problem.UNREADABLE, "converter missing") from exc
        try:
            async with asyncio.timeout(CONVERT_TIMEOUT_S):
                _, err = await proc.communicate()
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
            raise BadGreeting(Problem.UNREADABLE, "conversion timed out") from None
        if proc.returncode != 0 or not target.exists():
            log.info("greeting upload (%s, %d bytes) not converted: %s", fmt, len(data),
                     err.decode(errors="replace").strip()[:300])
            raise BadGreeting(Problem.UNREADABLE, "conversion failed")
        return target.read_bytes()


async def upload(db: Database, number: str, data: bytes, now: datetime) -> GreetingAudio:
    """Convert, check and store an uploaded greeting; BadGreeting says why not."""
    wav = await convert(data)
    audio = greeting.checked(wav)
    await greetings.save_greeting(db, number, audio=wav, duration_ms=audio.duration_ms,
                                  source="portal", now=now)
    return audio
