"""In-process performance figures for the operator endpoint and the benchmark (bench/).

* StasisStart → first ARI request of the call, and → first *action* (the first request
  that is not a GET: ring, answer, play, hangup, originate…), measured from when the call's
  task starts (``app_*``) and from Asterisk's own StasisStart timestamp (``asterisk_*``:
  this one also counts time the event spent queued in Asterisk and on the WebSocket).
* Event-loop lag: how late a periodic wake-up fires (a busy loop delays every call).

Per-call timing rides a context variable set at the top of the call task, so the ARI
client's request hook needs no call argument (tasks a call spawns inherit it).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime


@dataclass
class _CallTiming:
    started: float  # monotonic, when the call task began
    asterisk_ts: float | None  # epoch seconds of Asterisk's StasisStart, if parseable
    first_request: bool = False
    first_action: bool = False


_current: ContextVar[_CallTiming | None] = ContextVar("callflow_call_timing", default=None)


class Window:
    """The last `size` samples (milliseconds) with percentiles on demand."""

    def __init__(self, size: int = 50_000) -> None:
        self._samples: deque[float] = deque(maxlen=size)
        self.total = 0

    def add(self, value_ms: float) -> None:
        self._samples.append(value_ms)
        self.total += 1

    def clear(self) -> None:
        self._samples.clear()

    def summary(self) -> dict[str, float | int | None]:
        data = sorted(self._samples)
        n = len(data)

        def pct(p: float) -> float | None:
            return round(data[min(n - 1, int(p * n))], 3) if n else None

        return {"n": n, "p50": pct(0.50), "p99": pct(0.99),
                "max": round(data[-1], 3) if n else None}


def _epoch(timestamp: str) -> float | None:
    try:
        return datetime.fromisoformat(timestamp).timestamp()
    except ValueError:
        return None


class Metrics:
    def __init__(self) -> None:
        self.app_first_request = Window()
        self.app_first_action = Window()
        self.asterisk_first_action = Window()
        self.loop_lag = Window()

    def call_started(self, stasis_timestamp: str | None) -> None:
        """Call at the top of a call task (sets the task's context)."""
        ts = _epoch(stasis_timestamp) if stasis_timestamp else None
        _current.set(_CallTiming(time.monotonic(), ts))

    def on_ari_request(self, method: str, path: str) -> None:
        timing = _current.get()
        if timing is None or timing.first_action:
            return
        now = time.monotonic()
        if not timing.first_request:
            timing.first_request = True
            self.app_first_request.add((now - timing.started) * 1000)
        if method != "GET":
            timing.first_action = True
            self.app_first_action.add((now - timing.started) * 1000)
            if timing.asterisk_ts is not None:
                self.asterisk_first_action.add((time.time() - timing.asterisk_ts) * 1000)

    async def watch_loop(self, interval: float = 0.05) -> None:
        """Runs forever: samples how late a `sleep(interval)` wakes up."""
        loop = asyncio.get_running_loop()
        while True:
            t0 = loop.time()
            await asyncio.sleep(interval)
            self.loop_lag.add(max(0.0, (loop.time() - t0 - interval) * 1000))

    def reset(self) -> None:
        for window in (self.app_first_request, self.app_first_action,
                       self.asterisk_first_action, self.loop_lag):
            window.clear()

    def snapshot(self) -> dict[str, object]:
        return {
            "stasis_start_to_first_request_ms": self.app_first_request.summary(),
            "stasis_start_to_first_action_ms": self.app_first_action.summary(),
            "asterisk_stasis_start_to_first_action_ms": self.asterisk_first_action.summary(),
            "loop_lag_ms": self.loop_lag.summary(),
        }
