"""A subscriber's own greeting as Asterisk plays it: the audio lives in PostgreSQL
(store.greetings) and is written once into the media cache (`media_dir`, which Asterisk sees
as `asterisk_media_dir`) under a name that changes with every new greeting. Used by the
voicemail deposit (callers hear it) and the retrieval IVR's greeting menu (2#)."""

from __future__ import annotations

import os
from pathlib import Path

from callflow.greeting import media_name
from callflow.store import Database, greetings


def write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    # Asterisk runs as another user in its container: the file must be world-readable.
    tmp.chmod(0o644)
    os.replace(tmp, path)


async def own_greeting_uri(db: Database, number: str, *, media_dir: Path,
                           asterisk_media_dir: str) -> str | None:
    """``sound:…`` of the number's own greeting, or None (the standard greeting).
    Raises StoreError."""
    info = await greetings.greeting_info(db, number)
    if info is None:
        return None
    name = media_name(number, info.version_ms)
    path = media_dir / f"{name}.wav"
    if path.exists():
        # used now: the cache sweep removes files unused for an hour
        path.touch()
    else:
        audio = await greetings.greeting_audio(db, number)
        if audio is None:  # removed a moment ago
            return None
        write_atomically(path, audio)
    return f"sound:{asterisk_media_dir.rstrip('/')}/{name}"
