from __future__ import annotations

import asyncio
import logging

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from callflow.ari import (
    CallEvents,
    Channel,
    ChannelDtmfReceived,
    Dial,
    Dispatcher,
    Event,
    PlaybackFinished,
    StasisEnd,
    StasisStart,
    parse_event,
)
from labkit.harness.wait import wait_until

from .fakes import channel, event


def start(cid: str, *args: str) -> StasisStart:
    ev = parse_event(event("StasisStart", args=list(args), channel=channel(cid)))
    assert isinstance(ev, StasisStart)
    return ev


def dtmf(cid: str, digit: str) -> Event:
    return parse_event(
        event("ChannelDtmfReceived", digit=digit, duration_ms=80, channel=channel(cid))
    )


def end(cid: str) -> Event:
    return parse_event(event("StasisEnd", channel=channel(cid)))


def playback_done(cid: str) -> Event:
    pb = {"id": "pb", "media_uri": "sound:x", "target_uri": f"channel:{cid}", "state": "done"}
    return parse_event(event("PlaybackFinished", playback=pb))


async def collect_until_end(start_ev: StasisStart, call: CallEvents, sink: list[Event]) -> None:
    """A handler: record events for the primary channel until its StasisEnd."""
    while True:
        ev = await call.get(timeout=3)
        sink.append(ev)
        if isinstance(ev, StasisEnd) and ev.channel.id == call.channel_id:
            return


async def test_events_for_one_channel_in_order_and_live_calls() -> None:
    seen: dict[str, list[Event]] = {}

    async def handler(st_ev: StasisStart, call: CallEvents) -> None:
        await collect_until_end(st_ev, call, seen.setdefault(call.channel_id, []))

    async with Dispatcher(handler) as d:
        await d.dispatch(start("a"))
        assert d.live_calls == 1 and d.owns("a")
        for digit in "13579":
            await d.dispatch(dtmf("a", digit))
        await d.dispatch(playback_done("a"))
        await d.dispatch(end("a"))
        assert await d.wait_idle(timeout=2)
        assert d.live_calls == 0 and not d.owns("a")
    evs = seen["a"]
    assert isinstance(evs[0], StasisStart)
    assert "".join(e.digit for e in evs if isinstance(e, ChannelDtmfReceived)) == "13579"
    assert isinstance(evs[-2], PlaybackFinished)


async def test_two_calls_are_concurrent() -> None:
    both_started = asyncio.Event()
    started: list[str] = []
    done: list[str] = []

    async def handler(st_ev: StasisStart, call: CallEvents) -> None:
        started.append(call.channel_id)
        if len(started) == 2:
            both_started.set()
        await asyncio.wait_for(both_started.wait(), 2)  # would deadlock if sequential
        ev = await call.get(timeout=2)
        assert isinstance(ev, StasisStart)
        ev = await call.get(timeout=2)
        assert isinstance(ev, ChannelDtmfReceived)
        done.append(f"{call.channel_id}:{ev.digit}")

    async with Dispatcher(handler) as d:
        await d.dispatch(start("a"))
        await d.dispatch(start("b"))
        assert d.live_calls == 2
        await d.dispatch(dtmf("b", "2"))
        await d.dispatch(dtmf("a", "1"))
        assert await d.wait_idle(timeout=3)
    assert sorted(done) == ["a:1", "b:2"]


async def test_exception_in_one_call_does_not_affect_others(
    caplog: pytest.LogCaptureFixture,
) -> None:
    got: list[str] = []

    async def handler(st_ev: StasisStart, call: CallEvents) -> None:
        await call.get()  # the StasisStart
        if call.channel_id == "bad":
            raise RuntimeError("boom in call")
        ev = await call.get(timeout=2)
        assert isinstance(ev, ChannelDtmfReceived)
        got.append(ev.digit)

    with caplog.at_level(logging.ERROR, logger="callflow.ari"):
        async with Dispatcher(handler) as d:
            await d.dispatch(start("good"))
            await d.dispatch(start("bad"))
            await wait_until(lambda: d.live_calls == 1 and not d.owns("bad"), 2,
                             "the failed call to end", interval=0.005)
            await d.dispatch(dtmf("bad", "x"))  # dropped: its call is over
            await d.dispatch(dtmf("good", "7"))
            assert await d.wait_idle(timeout=2)
            # the dispatcher still works afterwards
            await d.dispatch(start("bad"))
            await d.dispatch(dtmf("bad", "y"))
            assert await d.wait_idle(timeout=2)
    assert got == ["7"]
    assert "boom in call" in caplog.text


async def test_claim_routes_second_channel_and_release() -> None:
    seen: list[tuple[str, str]] = []
    claimed = asyncio.Event()
    release_now = asyncio.Event()

    async def handler(st_ev: StasisStart, call: CallEvents) -> None:
        await call.get()
        call.claim("out.1")  # before originating the outbound leg
        claimed.set()
        assert call.owned == frozenset({"in.1", "out.1"})
        for _ in range(3):
            ev = await call.get(timeout=2)
            seen.append((ev.type, ev.channel_ids()[0]))
        await release_now.wait()
        call.release("out.1")
        assert call.owned == frozenset({"in.1"})
        await call.get(timeout=2)  # wait for the in.1 StasisEnd

    async with Dispatcher(handler) as d:
        await d.dispatch(start("in.1"))
        await asyncio.wait_for(claimed.wait(), 2)
        assert d.owns("out.1")
        # outbound leg enters Stasis: routed to the owning call, no new call started
        await d.dispatch(start("out.1", "outbound"))
        await d.dispatch(parse_event(event("Dial", peer=channel("out.1"), dialstatus="ANSWER")))
        await d.dispatch(dtmf("out.1", "5"))
        assert d.live_calls == 1
        release_now.set()
        await wait_until(lambda: not d.owns("out.1"), 2, "out.1 released", interval=0.005)
        await d.dispatch(dtmf("out.1", "6"))  # dropped now
        await d.dispatch(end("in.1"))
        assert await d.wait_idle(timeout=2)
    assert seen == [("StasisStart", "out.1"), ("Dial", "out.1"), ("ChannelDtmfReceived", "out.1")]


async def test_claim_of_channel_owned_by_other_call_fails() -> None:
    errors: list[Exception] = []
    ready = asyncio.Event()

    async def handler(st_ev: StasisStart, call: CallEvents) -> None:
        if call.channel_id == "b":
            try:
                call.claim("a")
            except ValueError as exc:
                errors.append(exc)
            return
        await ready.wait()

    async with Dispatcher(handler) as d:
        await d.dispatch(start("a"))
        await d.dispatch(start("b"))
        # b tries to claim a while a is still live
        await wait_until(lambda: errors, 2, "b's claim refused", interval=0.005)
        ready.set()
        assert await d.wait_idle(timeout=2)
    assert len(errors) == 1


async def test_unowned_non_stasisstart_events_are_dropped() -> None:
    calls: list[str] = []

    async def handler(st_ev: StasisStart, call: CallEvents) -> None:
        calls.append(call.channel_id)

    async with Dispatcher(handler) as d:
        await d.dispatch(dtmf("x", "1"))
        await d.dispatch(end("x"))
        await d.dispatch(parse_event({"type": "Mystery"}))
        assert d.live_calls == 0
    assert calls == []


async def test_dial_with_caller_and_peer_in_different_calls_reaches_both() -> None:
    got: dict[str, list[str]] = {"a": [], "b": []}

    async def handler(st_ev: StasisStart, call: CallEvents) -> None:
        await call.get()
        ev = await call.get(timeout=2)
        got[call.channel_id].append(ev.type)

    async with Dispatcher(handler) as d:
        await d.dispatch(start("a"))
        await d.dispatch(start("b"))
        dial = parse_event(event("Dial", caller=channel("a"), peer=channel("b"), dialstatus=""))
        assert isinstance(dial, Dial)
        await d.dispatch(dial)
        assert await d.wait_idle(timeout=2)
    assert got == {"a": ["Dial"], "b": ["Dial"]}


async def test_adopt_starts_call_with_synthetic_stasis_start() -> None:
    starts: list[StasisStart] = []

    async def handler(st_ev: StasisStart, call: CallEvents) -> None:
        first = await call.get()
        assert first is st_ev
        starts.append(st_ev)

    ch = Channel.from_json(channel("orphan.1"))
    async with Dispatcher(handler) as d:
        assert await d.adopt(ch, application="anshin")
        assert not await d.adopt(ch)  # already owned
        assert await d.wait_idle(timeout=2)
    (ev,) = starts
    assert ev.adopted
    assert ev.channel == ch
    assert ev.args == ("inbound",)  # from dialplan app_data "anshin,inbound"
    assert ev.application == "anshin"


async def test_close_cancels_running_calls() -> None:
    cancelled: list[str] = []
    running = asyncio.Event()

    async def handler(st_ev: StasisStart, call: CallEvents) -> None:
        try:
            running.set()
            await call.get(timeout=1)
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.append(call.channel_id)
            raise

    d = Dispatcher(handler)
    async with d:
        await d.dispatch(start("a"))
        await asyncio.wait_for(running.wait(), 2)
    assert cancelled == ["a"]
    assert d.live_calls == 0 and not d.owns("a")
    with pytest.raises(RuntimeError):
        await d.dispatch(start("late"))


async def test_body_exception_propagates_unwrapped() -> None:
    async def handler(st_ev: StasisStart, call: CallEvents) -> None:
        await asyncio.sleep(30)

    with pytest.raises(KeyError):
        async with Dispatcher(handler) as d:
            await d.dispatch(start("a"))
            raise KeyError("body")


async def test_get_timeout() -> None:
    ok: list[bool] = []

    async def handler(st_ev: StasisStart, call: CallEvents) -> None:
        await call.get()
        with pytest.raises(asyncio.TimeoutError):
            await call.get(timeout=0.01)
        ok.append(call.get_nowait() is None)

    async with Dispatcher(handler) as d:
        await d.dispatch(start("a"))
        assert await d.wait_idle(timeout=2)
    assert ok == [True]


@settings(max_examples=40, deadline=None)
@given(
    script=st.lists(
        st.tuples(st.sampled_from(["a", "b", "c"]), st.sampled_from("0123456789")), max_size=40
    )
)
def test_ordering_is_preserved_per_call(script: list[tuple[str, str]]) -> None:
    """Interleaved events for several calls: each call sees exactly its own, in order,
    even when handlers yield at random points."""

    async def scenario() -> dict[str, str]:
        seen: dict[str, str] = {}

        async def handler(st_ev: StasisStart, call: CallEvents) -> None:
            await call.get()
            out = ""
            while True:
                ev = await call.get(timeout=2)
                if isinstance(ev, StasisEnd):
                    break
                assert isinstance(ev, ChannelDtmfReceived)
                out += ev.digit
                if int(ev.digit) % 3 == 0:
                    await asyncio.sleep(0)
            seen[call.channel_id] = out

        async with Dispatcher(handler) as d:
            for cid in "abc":
                await d.dispatch(start(cid))
            for i, (cid, digit) in enumerate(script):
                await d.dispatch(dtmf(cid, digit))
                if i % 4 == 0:
                    await asyncio.sleep(0)
            for cid in "abc":
                await d.dispatch(end(cid))
            assert await d.wait_idle(timeout=3)
        return seen

    seen = asyncio.run(scenario())
    for cid in "abc":
        assert seen[cid] == "".join(digit for c, digit in script if c == cid)
