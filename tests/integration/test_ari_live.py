"""The ARI client and the app's resync against the real Asterisk (not the fake server)."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Awaitable, Callable

import pytest

from callflow.ari import AriClient, AriNotFound, EventStream
from callflow.ari.events import Event, StasisEnd, StasisStart
from labkit.appproc import AppProcess
from labkit.asterisk import AsteriskContainer
from labkit.harness.sipp import Uas, Wait, place_call
from labkit.harness.wait import wait_until

pytestmark = pytest.mark.lab


def client(asterisk: AsteriskContainer, app: str) -> AriClient:
    cfg = asterisk.config
    return AriClient(asterisk.ari_url, cfg.ari_user, cfg.ari_password, app, timeout=5)


async def test_rest_errors_map_to_typed_exceptions(asterisk: AsteriskContainer) -> None:
    async with client(asterisk, "anshin-test") as ari:
        info = await ari.get_info()
        assert info.version.startswith("22"), info
        with pytest.raises(AriNotFound):
            await ari.answer("no-such-channel")
        with pytest.raises(AriNotFound):
            await ari.get_channel_var("no-such-channel", "CALLERID(num)")


async def test_originate_events_and_hangup_through_real_asterisk(
        asterisk: AsteriskContainer) -> None:
    """Originate to the carrier gateway (a SIPp UAS): the StasisStart, hang-up and
    StasisEnd arrive as typed events on our own Stasis app."""
    app_name = f"t{uuid.uuid4().hex[:8]}"
    events: list[Event] = []
    got_start = asyncio.Event()
    got_end = asyncio.Event()

    async def on_event(event: Event) -> None:
        events.append(event)
        if isinstance(event, StasisStart):
            got_start.set()
        if isinstance(event, StasisEnd):
            got_end.set()

    cfg = asterisk.config
    stream = EventStream(asterisk.ari_url, cfg.ari_user, cfg.ari_password, app_name,
                         on_event=on_event)
    async with Uas(mode="answer", answer_after_s=0.2, port=cfg.ports.carrier) as uas, \
            client(asterisk, app_name) as ari, asyncio.TaskGroup() as tg:
        task = tg.create_task(stream.run())
        await asyncio.wait_for(stream.connected.wait(), 10)
        channel_id = f"orig-{uuid.uuid4().hex[:8]}"
        channel = await ari.originate("PJSIP/0311119999@carrier", caller_id="05033005000",
                                      timeout=10, channel_id=channel_id)
        assert channel.id == channel_id
        await asyncio.wait_for(got_start.wait(), 10)
        assert channel_id in {c.id for c in await ari.list_channels()}
        await ari.hangup(channel_id)
        await asyncio.wait_for(got_end.wait(), 10)
        task.cancel()
        invites = await uas.calls()
    assert invites and invites[0].request_user == "0311119999"
    assert invites[0].from_user == "05033005000"
    types = [e.type for e in events]
    assert types.index("StasisStart") < types.index("StasisEnd")


async def test_resync_hangs_up_orphans_after_app_restart(app: AppProcess,
                                                         asterisk: AsteriskContainer) -> None:
    """A call sitting in Stasis while the app dies (kill -9) with nothing to resume from (here:
    the not-in-service announcement is playing) is an orphan: after the app comes back it
    lists our channels and hangs the orphan up instead of leaving the caller in silence.
    (IVR steps and voicemail calls are taken over instead: tests/reliability.)"""
    call = asyncio.create_task(place_call(
        target=asterisk.sip_target, dialed="05099990000", steps=[Wait(1.0)],
        wait_for_remote_bye=True, timeout_s=40))
    await wait_until(lambda: (app.health() or {}).get("live_calls") == 1, 15,
                     "the call to reach the app")
    await asyncio.sleep(0.5)  # the announcement is playing
    app.kill()
    await asyncio.sleep(1.0)  # the app stays down a moment: Asterisk sees its WebSocket gone
    t_restart = time.monotonic()
    app.start()
    app.wait_connected()
    result = await call
    took = time.monotonic() - t_restart
    assert result.answered and result.remote_hung_up, result.describe()
    assert took < 5  # hung up by the resync (alone, it would wait in silence)


async def test_a_second_websocket_for_the_same_application_name(
        asterisk: AsteriskContainer) -> None:
    """Asterisk 22, one application name, two events WebSockets (docs/operations.md, "Two
    instances"): the second connection takes the name over - the first gets
    ApplicationReplaced and no event after it, though its socket stays open - and when the
    second closes, the first does not get the name back: a new call to it finds no
    application and fails. So each instance must own its own names."""
    app_name = f"t{uuid.uuid4().hex[:8]}"
    seen: dict[str, list[tuple[str, str | None]]] = {"first": [], "second": []}

    def recorder(who: str) -> Callable[[Event], Awaitable[None]]:
        async def on_event(event: Event) -> None:
            channel = getattr(event, "channel", None)
            seen[who].append((event.type, channel.id if channel is not None else None))
        return on_event

    def starts(who: str) -> list[str | None]:
        return [cid for kind, cid in seen[who] if kind == "StasisStart"]

    cfg = asterisk.config
    first = EventStream(asterisk.ari_url, cfg.ari_user, cfg.ari_password, app_name,
                        on_event=recorder("first"))
    second = EventStream(asterisk.ari_url, cfg.ari_user, cfg.ari_password, app_name,
                         on_event=recorder("second"))

    async def one_call(ari: AriClient, tag: str) -> str:
        channel_id = f"orig-{tag}-{uuid.uuid4().hex[:8]}"
        await ari.originate("PJSIP/0311119999@carrier", caller_id="05033005000", timeout=10,
                            channel_id=channel_id)
        await asyncio.sleep(2.0)  # answered after 0.2 s: time for every StasisStart
        with contextlib.suppress(AriNotFound):  # gone already when no application took it
            await ari.hangup(channel_id)
        return channel_id

    async with Uas(mode="answer", answer_after_s=0.2, port=cfg.ports.carrier), \
            client(asterisk, app_name) as ari, asyncio.TaskGroup() as tg:
        t1 = tg.create_task(first.run())
        await asyncio.wait_for(first.connected.wait(), 10)
        alone = await one_call(ari, "alone")
        t2 = tg.create_task(second.run())
        await asyncio.wait_for(second.connected.wait(), 10)
        both = await one_call(ari, "both")
        assert first.connected.is_set()  # its socket is still open...
        t2.cancel()
        await asyncio.sleep(1.0)
        after = await one_call(ari, "after")
        t1.cancel()
    assert starts("first") == [alone]  # ...but it got nothing after the takeover
    assert ("ApplicationReplaced", None) in seen["first"]
    assert starts("second") == [both]
    assert after not in starts("first") + starts("second")
