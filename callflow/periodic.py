"""Running a background job's step now and then at an interval, forever."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from callflow.store import StoreError


async def repeat(what: str, step: Callable[[], Awaitable[object]], interval_s: float,
                 log: logging.Logger) -> None:
    """Run `step` now and then `interval_s` seconds after each run ends, until cancelled. A
    job survives its own errors: the database being away is logged and retried at the next
    run, anything else too, with its traceback."""
    while True:
        try:
            await step()
        except StoreError as exc:
            log.warning("%s failed (will retry): %s", what, exc)
        except Exception:  # a job must not die
            log.exception("%s crashed (will retry)", what)
        await asyncio.sleep(interval_s)
