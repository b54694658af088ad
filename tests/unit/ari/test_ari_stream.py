from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import pytest
from aiohttp import web

from callflow.ari import ChannelDtmfReceived, Event, EventStream, StasisStart, UnknownEvent
from callflow.ari.stream import events_url
from labkit.harness.wait import wait_until

from .fakes import APP, PASSWORD, USER, FakeAri, channel, event


class Recorder:
    def __init__(self) -> None:
        self.events: list[Event] = []
        self.connects = 0
        self._changed = asyncio.Condition()

    async def on_event(self, ev: Event) -> None:
        self.events.append(ev)
        async with self._changed:
            self._changed.notify_all()

    async def on_connect(self) -> None:
        self.connects += 1
        async with self._changed:
            self._changed.notify_all()

    async def wait_for(self, pred: Callable[[], bool], timeout: float = 3.0) -> None:
        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(pred)


@asynccontextmanager
async def running(
    fake: FakeAri,
    rec: Recorder,
    on_event: Callable[[Event], Awaitable[None]] | None = None,
    **kw: float,
) -> AsyncIterator[EventStream]:
    stream = EventStream(
        fake.base_url,
        USER,
        PASSWORD,
        APP,
        on_event=on_event or rec.on_event,
        on_connect=rec.on_connect,
        **kw,
    )
    task = asyncio.create_task(stream.run())
    try:
        yield stream
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


def dtmf(digit: str, cid: str = "c.1") -> dict[str, object]:
    return event("ChannelDtmfReceived", digit=digit, duration_ms=100, channel=channel(cid))


def digits(rec: Recorder) -> str:
    return "".join(e.digit for e in rec.events if isinstance(e, ChannelDtmfReceived))


def test_events_url() -> None:
    url = events_url("https://pbx.example:8089/ari/", "u", "p:w&x", "anshin")
    assert url.scheme == "wss"
    assert url.path == "/ari/events"
    assert dict(url.query) == {"app": "anshin", "api_key": "u:p:w&x", "subscribeAll": "false"}


async def test_delivers_events_in_order(fake: FakeAri) -> None:
    rec = Recorder()
    fake.push(event("StasisStart", args=["inbound"], channel=channel("c.1")))
    for d in "0123456789*#":
        fake.push(dtmf(d))
    async with running(fake, rec) as stream:
        await rec.wait_for(lambda: len(rec.events) == 13)
        assert stream.connected.is_set()
    assert isinstance(rec.events[0], StasisStart)
    assert digits(rec) == "0123456789*#"
    assert rec.connects == 1
    assert fake.ws_queries == [
        {"app": APP, "api_key": f"{USER}:{PASSWORD}", "subscribeAll": "false"}
    ]


async def test_on_connect_runs_before_events_are_delivered(fake: FakeAri) -> None:
    order: list[str] = []

    class Slow(Recorder):
        async def on_connect(self) -> None:
            await asyncio.sleep(0.1)  # resync takes a while; events keep arriving
            order.append("connect")
            await super().on_connect()

        async def on_event(self, ev: Event) -> None:
            order.append("event")
            await super().on_event(ev)

    rec = Slow()
    fake.push(dtmf("1"))
    async with running(fake, rec):
        await rec.wait_for(lambda: len(rec.events) == 1)
    assert order == ["connect", "event"]


async def test_synced_only_once_the_resync_has_run(fake: FakeAri) -> None:
    """`synced` (placing calls of our own is safe) follows `connected` but waits for
    on_connect: the resync would take a channel being originated meanwhile for one lost."""
    seen: list[tuple[bool, bool]] = []
    streams: list[EventStream] = []

    class Slow(Recorder):
        async def on_connect(self) -> None:
            seen.append((streams[0].connected.is_set(), streams[0].synced.is_set()))
            await asyncio.sleep(0.1)
            await super().on_connect()

    rec = Slow()
    async with running(fake, rec, backoff_base=0.2, backoff_cap=0.2) as stream:
        streams.append(stream)
        await asyncio.wait_for(stream.synced.wait(), 3)
        assert seen == [(True, False)]
        await fake.stop()
        await wait_until(lambda: not stream.synced.is_set(), 3, "the synced flag cleared",
                         interval=0.01)


async def test_bad_frames_and_handler_errors_are_skipped(
    fake: FakeAri, caplog: pytest.LogCaptureFixture
) -> None:
    rec = Recorder()

    async def on_event(ev: Event) -> None:
        if isinstance(ev, ChannelDtmfReceived) and ev.digit == "2":
            raise RuntimeError("handler bug")
        await rec.on_event(ev)

    fake.push(dtmf("1"))
    fake.push_raw("{not json")
    fake.push_raw("[1, 2]")
    fake.push(dtmf("2"))
    fake.push({"type": "Mystery", "x": 1})
    fake.push(dtmf("3"))
    with caplog.at_level(logging.WARNING, logger="callflow.ari"):
        async with running(fake, rec, on_event=on_event) as stream:
            await rec.wait_for(lambda: len(rec.events) == 3)
            assert stream.reconnects == 0
    assert digits(rec) == "13"
    assert isinstance(rec.events[1], UnknownEvent)
    assert "handler bug" in caplog.text
    assert "undecodable" in caplog.text


async def test_reconnects_after_server_closes_socket(fake: FakeAri) -> None:
    rec = Recorder()
    fake.push(dtmf("1"))
    fake.push_close()
    fake.push(dtmf("2"))
    async with running(fake, rec, backoff_base=0.01, backoff_cap=0.05) as stream:
        await rec.wait_for(lambda: len(rec.events) == 2 and rec.connects == 2)
        assert stream.reconnects == 1
        assert stream.connections == 2
    assert digits(rec) == "12"
    assert fake.ws_connects == 2


async def test_connected_flag_tracks_state(fake: FakeAri) -> None:
    rec = Recorder()
    async with running(fake, rec, backoff_base=0.2, backoff_cap=0.2) as stream:
        await asyncio.wait_for(stream.connected.wait(), 3)
        await fake.stop()
        await wait_until(lambda: not stream.connected.is_set(), 3, "the connected flag cleared",
                         interval=0.01)
        assert stream.reconnects >= 1


async def test_reconnects_quickly_when_server_comes_back(fake: FakeAri) -> None:
    rec = Recorder()
    async with running(fake, rec, backoff_base=0.05, backoff_cap=1.0) as stream:
        await rec.wait_for(lambda: rec.connects == 1)
        await fake.stop()
        # it keeps trying; from the 6th reconnect on, each wait is drawn up to the 1 s cap
        await wait_until(lambda: stream.reconnects >= 6, 10, "the backoff to reach its cap",
                         interval=0.01)
        fake.push(dtmf("9"))
        await fake.start()  # same port
        back = time.monotonic()
        await rec.wait_for(lambda: rec.connects == 2, timeout=5.0)
        elapsed = time.monotonic() - back
        await rec.wait_for(lambda: len(rec.events) == 1)
    assert elapsed < 1.5, f"reconnect took {elapsed:.2f}s"
    assert digits(rec) == "9"


async def test_start_while_server_down(fake: FakeAri) -> None:
    rec = Recorder()
    await fake.stop()
    async with running(fake, rec, backoff_base=0.01, backoff_cap=0.1) as stream:
        await asyncio.sleep(0.3)
        assert rec.connects == 0 and not stream.connected.is_set()
        await fake.start()
        await rec.wait_for(lambda: rec.connects == 1)


async def test_on_connect_failure_does_not_stop_events(fake: FakeAri) -> None:
    rec = Recorder()

    async def bad_connect() -> None:
        raise RuntimeError("resync failed")

    fake.push(dtmf("5"))
    stream = EventStream(
        fake.base_url, USER, PASSWORD, APP, on_event=rec.on_event, on_connect=bad_connect
    )
    task = asyncio.create_task(stream.run())
    try:
        await rec.wait_for(lambda: len(rec.events) == 1)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert stream.reconnects == 0


async def test_rejected_handshake_is_retried(fake: FakeAri) -> None:
    rec = Recorder()
    stream = EventStream(fake.base_url, USER, "wrong", APP, on_event=rec.on_event, backoff_cap=0.02)
    task = asyncio.create_task(stream.run())
    try:
        await wait_until(lambda: stream.reconnects >= 3, 3, "three refused handshakes",
                         interval=0.01)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert stream.connections == 0


async def test_heartbeat_detects_silent_peer(fake: FakeAri) -> None:
    """A peer that stops answering pings is dropped and reconnected."""

    async def mute(ws: web.WebSocketResponse, n: int) -> None:
        if n == 1:
            await fake.sleep(10)  # never reads, so never answers pings
        else:
            async for _ in ws:
                pass

    rec = Recorder()
    fake.ws_script = mute
    async with running(fake, rec, heartbeat=0.2, backoff_cap=0.05) as stream:
        await rec.wait_for(lambda: rec.connects == 2, timeout=5.0)
        assert stream.reconnects >= 1


async def test_slow_consumers_do_not_trip_the_heartbeat(fake: FakeAri) -> None:
    """Pongs are noticed even while on_connect / on_event are busy for > heartbeat."""
    rec = Recorder()

    async def slow_event(ev: Event) -> None:
        await asyncio.sleep(0.6)
        await rec.on_event(ev)

    class SlowConnect(Recorder):
        async def on_connect(self) -> None:
            await asyncio.sleep(0.6)
            await rec.on_connect()

    fake.push(dtmf("1"))
    fake.push(dtmf("2"))
    async with running(fake, SlowConnect(), on_event=slow_event, heartbeat=0.2) as stream:
        await rec.wait_for(lambda: len(rec.events) == 2, timeout=5.0)
        assert stream.reconnects == 0
    assert fake.ws_connects == 1
