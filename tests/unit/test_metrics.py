"""callflow.metrics: per-call first-request/first-action latency and event-loop lag."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime

from callflow.metrics import Metrics, Window
from labkit.harness.wait import wait_until


def test_window_percentiles_and_clear() -> None:
    w = Window()
    for v in range(1, 101):
        w.add(float(v))
    assert w.summary() == {"n": 100, "p50": 51.0, "p99": 100.0, "max": 100.0}
    w.clear()
    assert w.summary() == {"n": 0, "p50": None, "p99": None, "max": None}
    assert w.total == 100


async def test_first_request_and_first_action_once_per_call() -> None:
    m = Metrics()

    async def call(stamp: str | None) -> None:
        m.call_started(stamp)
        m.on_ari_request("GET", "/channels/x/variable")
        await asyncio.sleep(0)
        m.on_ari_request("POST", "/channels/x/ring")
        m.on_ari_request("POST", "/channels")  # later actions are not counted

    now = datetime.now(UTC).isoformat(timespec="milliseconds")
    await asyncio.gather(asyncio.create_task(call(now)), asyncio.create_task(call(None)))
    snap = m.snapshot()
    assert snap["stasis_start_to_first_request_ms"]["n"] == 2  # type: ignore[index]
    assert snap["stasis_start_to_first_action_ms"]["n"] == 2  # type: ignore[index]
    # Only the call with a parseable Asterisk timestamp counts from Asterisk's clock.
    assert snap["asterisk_stasis_start_to_first_action_ms"]["n"] == 1  # type: ignore[index]


def test_requests_outside_a_call_are_ignored() -> None:
    m = Metrics()
    m.on_ari_request("POST", "/channels")  # e.g. a job, not a call task
    assert m.app_first_action.summary()["n"] == 0


async def test_loop_lag_sampled_and_reset() -> None:
    m = Metrics()
    task = asyncio.create_task(m.watch_loop(interval=0.01))

    def three_samples() -> bool:
        return m.loop_lag.summary()["n"] >= 3  # type: ignore[operator]

    await wait_until(three_samples, 5, "three loop-lag samples", interval=0.01)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert m.loop_lag.summary()["n"] >= 3  # type: ignore[operator]
    m.reset()
    assert m.loop_lag.summary()["n"] == 0
