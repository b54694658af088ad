"""Dispatcher.start_call: calls the app places itself own their channel before it exists."""

from __future__ import annotations

import asyncio

import pytest

from callflow.ari import CallEvents, Dispatcher, Event, StasisEnd, StasisStart, parse_event

from .fakes import channel, event


def ev(kind: str, cid: str, **fields: object) -> Event:
    return parse_event(event(kind, channel=channel(cid), **fields))


async def test_placed_call_gets_ringing_events_before_stasis_start() -> None:
    got: list[str] = []
    inbound: list[str] = []

    async def factory(start: StasisStart, call: CallEvents) -> None:
        inbound.append(start.channel.id)

    async def placed(call: CallEvents) -> None:
        while True:
            e = await call.get(timeout=3)
            got.append(e.type)
            if isinstance(e, StasisEnd):
                return

    async with Dispatcher(factory) as d:
        task = d.start_call("leg1", placed)
        assert d.owns("leg1") and d.live_calls == 1
        await d.dispatch(ev("ChannelStateChange", "leg1"))
        await d.dispatch(ev("StasisStart", "leg1"))  # answered: not a new inbound call
        await d.dispatch(ev("StasisEnd", "leg1"))
        await task
        assert await d.wait_idle(1)
    assert got == ["ChannelStateChange", "StasisStart", "StasisEnd"]
    assert inbound == []
    assert not d.owns("leg1")


async def test_placed_call_claims_second_leg_and_releases_on_error() -> None:
    async def factory(start: StasisStart, call: CallEvents) -> None:
        return None

    seen: list[str] = []

    async def placed(call: CallEvents) -> None:
        call.claim("leg2")
        e = await call.get(timeout=3)
        seen.append(e.channel_ids()[0])
        raise RuntimeError("handler failure is logged, not propagated")

    async with Dispatcher(factory) as d:
        task = d.start_call("leg1", placed)
        await asyncio.sleep(0)
        await d.dispatch(ev("ChannelStateChange", "leg2"))
        await task
        assert not d.owns("leg1") and not d.owns("leg2")
        with pytest.raises(ValueError):
            d.start_call("x", placed)
            d.start_call("x", placed)
    assert seen == ["leg2"]


async def test_start_call_needs_running_dispatcher() -> None:
    async def factory(start: StasisStart, call: CallEvents) -> None:
        return None

    async def placed(call: CallEvents) -> None:
        return None

    with pytest.raises(RuntimeError):
        Dispatcher(factory).start_call("a", placed)
