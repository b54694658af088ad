"""The app's figures: Prometheus metrics (GET /metrics) and the benchmark's percentiles
(GET /metrics.json, bench/). Both come from the same observations made here.

* StasisStart → first ARI request of the call, and → first *action* (the first request
  that is not a GET: ring, answer, play, hangup, originate…), measured from when the call's
  task starts (``clock="app"``) and from Asterisk's own StasisStart timestamp
  (``clock="asterisk"``: this one also counts time the event spent queued in Asterisk and on
  the WebSocket).
* DTMF → prompt: from a key the caller pressed reaching the call to the next playback the
  app asks for (what a caller feels as the IVR's reaction time).
* Event-loop lag: how late a periodic wake-up fires (a busy loop delays every call).
* Calls by route and outcome, and live figures read at scrape time (live calls, ARI
  connection state and reconnects) through `LiveFigures`.
* Database-derived gauges (mail outbox, lockouts, call requests, voicemail storage) and
  the dialplan's counters (fallback announcements, overload refusals) are refreshed by
  `watch_database` every few seconds, never on a call's path; a scrape only reads the last
  values.

Per-call timing rides a context variable set at the top of the call task, so the ARI
client's request hook needs no call argument (tasks a call spawns inherit it).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from callflow.store.figures import OperationalFigures

log = logging.getLogger("callflow.metrics")

#: seconds; call set-up and IVR reactions are expected in tens of milliseconds
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
LOOP_LAG_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)

#: what a call's `outcome` label can be (`calls_total`)
OUTCOMES = ("completed", "caller_hung_up", "error", "unavailable", "orphan")


@dataclass
class _CallTiming:
    started: float  # monotonic, when the call task began
    asterisk_ts: float | None  # epoch seconds of Asterisk's StasisStart, if parseable
    first_request: bool = False
    first_action: bool = False
    dtmf_at: float | None = None  # monotonic, the latest key not yet answered by a prompt


_current: ContextVar[_CallTiming | None] = ContextVar("callflow_call_timing", default=None)


def dtmf_received() -> None:
    """A key of the current call reached the app (called by `Call`); the next playback
    request measures DTMF → prompt."""
    timing = _current.get()
    if timing is not None and timing.dtmf_at is None:
        timing.dtmf_at = time.monotonic()


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


def _is_playback(method: str, path: str) -> bool:
    return method == "POST" and path.startswith("/channels/") and path.endswith("/play")


@dataclass(frozen=True)
class LiveFigures:
    """What the app knows at any moment, read at scrape time (no I/O)."""

    live_calls: Callable[[], int]
    ari_connected: Callable[[], bool]
    ari_connections: Callable[[], int]
    ari_reconnects: Callable[[], int]


class _LiveCollector(Collector):
    def __init__(self, figures: LiveFigures) -> None:
        self._figures = figures

    def collect(self) -> Iterable[Metric]:
        f = self._figures
        yield GaugeMetricFamily("anshin_live_calls", "Calls the app is handling now",
                                value=f.live_calls())
        yield GaugeMetricFamily("anshin_ari_connected",
                                "1 while the ARI events WebSocket is connected",
                                value=1 if f.ari_connected() else 0)
        yield CounterMetricFamily("anshin_ari_connections",
                                  "ARI events WebSocket connections made",
                                  value=f.ari_connections())
        yield CounterMetricFamily("anshin_ari_reconnects",
                                  "ARI events WebSocket reconnections after a loss",
                                  value=f.ari_reconnects())


@dataclass(frozen=True)
class DialplanCounters:
    """What the dialplan counts in Asterisk globals (dialplan/anshin.conf); they restart with
    Asterisk (Prometheus counters allow that)."""

    fallbacks: int  # ANSHIN_FALLBACKS: 'temporarily unavailable', no app was connected
    overload_refusals: int  # ANSHIN_OVERLOAD_REFUSALS: refused with 503 before Stasis


#: Asterisk globals the dialplan counts in ([anshin-after-stasis], [anshin-overload])
FALLBACK_COUNTER = "ANSHIN_FALLBACKS"
OVERLOAD_COUNTER = "ANSHIN_OVERLOAD_REFUSALS"


class _DialplanCollector(Collector):
    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterable[Metric]:
        counts = self._metrics.dialplan
        if counts is None:  # absent until Asterisk was asked once
            return
        yield CounterMetricFamily(
            "anshin_dialplan_fallback_announcements",
            "Callers the dialplan told 'temporarily unavailable' because no app was"
            f" connected (Asterisk's global {FALLBACK_COUNTER}; restarts with Asterisk)",
            value=counts.fallbacks)
        yield CounterMetricFamily(
            "anshin_dialplan_overload_refusals",
            "Calls the dialplan refused with 503 before Stasis because too many calls were"
            f" waiting for the app (Asterisk's global {OVERLOAD_COUNTER}; restarts with"
            " Asterisk)",
            value=counts.overload_refusals)


class Metrics:
    def __init__(self) -> None:
        # Windows for the benchmark's exact percentiles (GET /metrics.json)
        self.app_first_request = Window()
        self.app_first_action = Window()
        self.asterisk_first_action = Window()
        self.dtmf_to_prompt_window = Window()
        self.loop_lag = Window()

        self.registry = CollectorRegistry()
        r = self.registry
        self.calls = Counter("anshin_calls", "Calls handled, by route and outcome",
                             ["route", "outcome"], registry=r)
        self.first_request = Histogram(
            "anshin_stasis_start_to_first_request_seconds",
            "From StasisStart to the call's first ARI request", buckets=LATENCY_BUCKETS,
            registry=r)
        self.first_action = Histogram(
            "anshin_stasis_start_to_first_action_seconds",
            "From StasisStart to the call's first action (answer, ring, play, hangup…);"
            " clock=app from the call task's start, clock=asterisk from Asterisk's timestamp",
            ["clock"], buckets=LATENCY_BUCKETS, registry=r)
        self.dtmf_to_prompt = Histogram(
            "anshin_dtmf_to_prompt_seconds",
            "From a caller's key reaching the app to the next prompt requested",
            buckets=LATENCY_BUCKETS, registry=r)
        self.loop_lag_seconds = Histogram(
            "anshin_event_loop_lag_seconds", "How late a 50 ms wake-up of the event loop fires",
            buckets=LOOP_LAG_BUCKETS, registry=r)
        self.dialplan: DialplanCounters | None = None  # read from Asterisk by watch_database
        r.register(_DialplanCollector(self))
        self.outbox_depth = Gauge("anshin_mail_outbox_depth",
                                  "Mails waiting to be sent (not sent, not given up)", registry=r)
        self.outbox_oldest = Gauge("anshin_mail_outbox_oldest_age_seconds",
                                   "Age of the oldest mail waiting to be sent (0 when none)",
                                   registry=r)
        self.outbox_retrying = Gauge("anshin_mail_outbox_retrying",
                                     "Waiting mails that already failed at least once",
                                     registry=r)
        self.mail_given_up = Gauge("anshin_mail_delivery_failed",
                                   "Mails given up after the relay refused them (in the outbox)",
                                   registry=r)
        self.ivr_locked = Gauge("anshin_ivr_lockouts_active",
                                "050 numbers whose IVR PIN entry is locked now", registry=r)
        self.call_requests = Gauge("anshin_call_requests",
                                   "Calls the app is asked to place, created in the last 24 h,"
                                   " by kind and state", ["kind", "state"], registry=r)
        self.voicemail_bytes = Gauge("anshin_voicemail_storage_bytes",
                                     "Voicemail audio stored in the database", registry=r)
        self.voicemail_messages = Gauge("anshin_voicemail_messages",
                                        "Voicemail messages stored", registry=r)
        self.figures_updated = Gauge("anshin_database_figures_updated_timestamp_seconds",
                                     "When the database-derived gauges were last refreshed",
                                     registry=r)
        for outcome in OUTCOMES:  # present from the first scrape, so rate() sees the first call
            self.calls.labels(route="none", outcome=outcome)

    def watch_live(self, figures: LiveFigures) -> None:
        self.registry.register(_LiveCollector(figures))

    # ---------------------------------------------------------------- observations

    def call_started(self, stasis_timestamp: str | None) -> None:
        """Call at the top of a call task (sets the task's context)."""
        ts = _epoch(stasis_timestamp) if stasis_timestamp else None
        _current.set(_CallTiming(time.monotonic(), ts))

    def call_ended(self, route: str, outcome: str) -> None:
        self.calls.labels(route=route, outcome=outcome).inc()

    def on_ari_request(self, method: str, path: str) -> None:
        timing = _current.get()
        if timing is None:
            return
        now = time.monotonic()
        if timing.dtmf_at is not None and _is_playback(method, path):
            seconds = now - timing.dtmf_at
            timing.dtmf_at = None
            self.dtmf_to_prompt.observe(seconds)
            self.dtmf_to_prompt_window.add(seconds * 1000)
        if timing.first_action:
            return
        if not timing.first_request:
            timing.first_request = True
            self.app_first_request.add((now - timing.started) * 1000)
            self.first_request.observe(now - timing.started)
        if method != "GET":
            timing.first_action = True
            self.app_first_action.add((now - timing.started) * 1000)
            self.first_action.labels(clock="app").observe(now - timing.started)
            if timing.asterisk_ts is not None:
                seconds = time.time() - timing.asterisk_ts
                self.asterisk_first_action.add(seconds * 1000)
                self.first_action.labels(clock="asterisk").observe(max(0.0, seconds))

    def database_figures(self, figures: OperationalFigures) -> None:
        self.outbox_depth.set(figures.outbox_depth)
        self.outbox_oldest.set(figures.outbox_oldest_age_s)
        self.outbox_retrying.set(figures.outbox_retrying)
        self.mail_given_up.set(figures.mail_given_up)
        self.ivr_locked.set(figures.ivr_lockouts_active)
        self.call_requests.clear()
        for (kind, state), count in figures.call_requests.items():
            self.call_requests.labels(kind=kind, state=state).set(count)
        self.voicemail_bytes.set(figures.voicemail_bytes)
        self.voicemail_messages.set(figures.voicemail_messages)
        self.figures_updated.set(time.time())

    # ---------------------------------------------------------------- loops

    async def watch_loop(self, interval: float = 0.05) -> None:
        """Runs forever: samples how late a `sleep(interval)` wakes up."""
        loop = asyncio.get_running_loop()
        while True:
            t0 = loop.time()
            await asyncio.sleep(interval)
            lag = max(0.0, loop.time() - t0 - interval)
            self.loop_lag.add(lag * 1000)
            self.loop_lag_seconds.observe(lag)

    async def watch_database(self, read: Callable[[], Awaitable[OperationalFigures]],
                             read_dialplan: Callable[[], Awaitable[DialplanCounters | None]],
                             interval: float = 15.0, timeout: float = 5.0) -> None:
        """Runs forever: refreshes the database-derived gauges (and the dialplan's counters,
        read from Asterisk) every `interval`; a slow or failing read keeps the last
        values (their age shows in anshin_database_figures_updated_timestamp_seconds)."""
        while True:
            try:
                async with asyncio.timeout(timeout):
                    self.database_figures(await read())
            except Exception as exc:  # a job survives its own errors
                log.warning("metrics: database figures not refreshed: %s", exc)
            try:
                async with asyncio.timeout(timeout):
                    counts = await read_dialplan()
                if counts is not None:
                    self.dialplan = counts
            except Exception as exc:
                log.debug("metrics: dialplan counters not read: %s", exc)
            await asyncio.sleep(interval)

    # ---------------------------------------------------------------- views

    def reset(self) -> None:
        """Clears the benchmark's windows (the Prometheus series are cumulative)."""
        for window in (self.app_first_request, self.app_first_action,
                       self.asterisk_first_action, self.dtmf_to_prompt_window, self.loop_lag):
            window.clear()

    def prometheus(self) -> bytes:
        return generate_latest(self.registry)

    def snapshot(self) -> dict[str, object]:
        return {
            "stasis_start_to_first_request_ms": self.app_first_request.summary(),
            "stasis_start_to_first_action_ms": self.app_first_action.summary(),
            "asterisk_stasis_start_to_first_action_ms": self.asterisk_first_action.summary(),
            "dtmf_to_prompt_ms": self.dtmf_to_prompt_window.summary(),
            "loop_lag_ms": self.loop_lag.summary(),
        }
