"""The 168-hour expiry job (R-VM-6): deletes expired messages from PostgreSQL (rows and audio)
and old files from the IVR's media cache. Runs at start-up and then every
`voicemail_expiry_interval` seconds; survives its own errors.

The database part is done by one instance at a time (`store.once.alone`: an instance that
finds another running it skips that round); the media cache is this node's own folder, so
every instance sweeps it (two instances on one node unlink the same old files: harmless)."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

from callflow.features.ivr.driver import MEDIA_PREFIX
from callflow.periodic import repeat
from callflow.services import Services
from callflow.store.mailbox import delete_expired
from callflow.store.once import alone

log = logging.getLogger("callflow.ivr.expiry")

#: cached message audio older than this is removed (it is rebuilt from the database on demand)
MEDIA_CACHE_TTL_S = 3600.0


async def expire_once(services: Services) -> int | None:
    """One round: the messages deleted, or None when another instance was doing it."""
    deleted: int | None = None
    async with alone(services.db, "voicemail-expiry") as mine:
        if mine:
            deleted = await delete_expired(services.db, services.clock.now())
    if deleted:
        log.info("voicemail expiry: deleted %d message(s) older than 168 h", deleted)
    elif deleted is None:
        log.debug("voicemail expiry: another instance is running it, round skipped")
    await asyncio.to_thread(sweep_media_cache, services.settings.media_dir)
    return deleted


def sweep_media_cache(media_dir: Path, max_age_s: float = MEDIA_CACHE_TTL_S) -> int:
    removed = 0
    cutoff = time.time() - max_age_s
    try:
        files = list(media_dir.glob(f"{MEDIA_PREFIX}*.wav"))
    except OSError:
        return 0
    for path in files:
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
                removed += 1
        except OSError:
            continue
    return removed


async def voicemail_expiry_job(services: Services) -> None:
    await repeat("voicemail expiry", lambda: expire_once(services),
                 services.settings.voicemail_expiry_interval, log)
