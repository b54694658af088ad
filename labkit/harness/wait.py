"""Bounded polling for awaited state: the one way tests wait for something to happen.

A test that needs "the row is there", "the call has ended" or "the app is back" polls for that
state with :func:`wait_until` instead of sleeping a fixed time: it goes on as soon as the state
is reached, and under load it waits up to a generous bound and then fails saying what it was
waiting for. Fixed sleeps stay only where time itself is the point (pacing a caller, an
outage of a given length, a quiet period proving that nothing more happens).
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Callable


async def wait_until(predicate: Callable[[], object], timeout: float, what: str,
                     interval: float = 0.1) -> float:
    """Poll until `predicate()` is truthy; returns the seconds it took.

    `predicate` may be a coroutine function (e.g. a question to ARI). After `timeout` seconds
    the test fails with "timed out after …s waiting for <what>" and the last value seen.
    """
    t0 = time.monotonic()
    while True:
        value = predicate()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return time.monotonic() - t0
        if time.monotonic() - t0 >= timeout:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}"
                                 f" (last value: {value!r})")
        await asyncio.sleep(interval)
