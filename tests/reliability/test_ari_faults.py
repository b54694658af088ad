"""Item 3: the ARI WebSocket is cut (a network fault between the app and Asterisk, injected
with the proxy the app reaches ARI through), and Asterisk is restarted."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator

import psycopg
import pytest
from integration.support import new_subscriber

from labkit.appproc import AppProcess
from labkit.asterisk import AsteriskContainer
from labkit.harness.sipp import Hangup, Speak, Uas, place_call
from labkit.harness.wait import wait_until
from reliability.results import Row
from reliability.support import (
    TcpProxy,
    as_int,
    channel_log,
    health,
    wait_health,
    wait_no_channels,
)

pytestmark = pytest.mark.lab

Sql = psycopg.Connection[tuple[object, ...]]
DEST = "09087654321"
NOT_IN_SERVICE = "0311112222"


def forwarding_subscriber(sql: Sql) -> str:
    number = new_subscriber(sql, forward_enabled=True, voicemail_enabled=False)
    sql.execute("INSERT INTO forward_destinations (number, destination, active)"
                " VALUES (%s, %s, true)", (number, DEST))
    return number


def uas_byes(uas: Uas) -> int:
    return sum(1 for m in uas.messages() if m.direction == "received" and m.method == "BYE")


@pytest.fixture
def carrier(asterisk: AsteriskContainer) -> Iterator[int]:
    yield asterisk.config.ports.carrier


@pytest.mark.reliability(3, "ARI WebSocket cut for ~6 s (network fault between app and "
                            "Asterisk) with a forwarded call bridged; its caller hangs up "
                            "during the cut")
async def test_websocket_cut(app: AppProcess, asterisk: AsteriskContainer, sql: Sql,
                             ari_proxy: TcpProxy, carrier: int, reliability: Row) -> None:
    number = forwarding_subscriber(sql)
    since = time.time()
    before = await health(app)
    async with Uas(port=carrier, mode="answer", answer_after_s=0.5, hold_s=None,
                   max_lifetime_s=120) as uas:
        caller = asyncio.create_task(place_call(
            target=asterisk.sip_target, dialed=number, caller="09012345678",
            steps=[Speak(9.0), Hangup()], timeout_s=40))
        await wait_until(lambda: uas.rtp_stats().voiced_s > 1.0, 15, "bridged media")
        t_cut = time.monotonic()
        cut = ari_proxy.cut()
        detect_s = await wait_health(app, lambda h: not h.get("ari_connected"), 15,
                                     "the app to notice the cut")
        voiced_at_cut = uas.rtp_stats().voiced_s
        # a new call during the gap: Stasis() fails at once, the dialplan answers
        fallback = await place_call(target=asterisk.sip_target, dialed=NOT_IN_SERVICE,
                                    wait_for_remote_bye=True, timeout_s=25)
        assert fallback.answered and fallback.remote_hung_up, fallback.describe()
        assert fallback.rtp is not None and fallback.rtp.voiced_s > 1.5, fallback.describe()
        first = await caller  # hangs up during the cut: the app never hears of it
        t_hangup = time.monotonic()
        assert first.answered and first.local_hung_up, first.describe()
        assert not first.remote_hung_up, "the bridged call must stay up through the cut"
        voiced_in_cut = uas.rtp_stats().voiced_s - voiced_at_cut
        assert voiced_in_cut > 1.0, "media must keep flowing while the app is cut off"
        # Asterisk's Dial carries the forwarded call: it ends the forwarded leg with the
        # caller, app or no app.
        await wait_until(lambda: uas_byes(uas) >= 1, 5, "the forwarded leg's BYE")
        leg_end_s = time.monotonic() - t_hangup
        cut_s = time.monotonic() - t_cut
        ari_proxy.restore()
        t_restore = time.monotonic()
        reconnect_s = await wait_health(
            app, lambda h: bool(h.get("ari_connected")) and
            as_int(h.get("ari_connections")) > as_int(before.get("ari_connections")),
            10, "the app to reconnect")
        # After the reconnect the app must find out that its caller is gone and end the
        # call task that followed the forward (history: answered → forwarded).
        await wait_health(app, lambda h: h.get("live_calls") == 0, 15, "no live call")
        task_end_s = time.monotonic() - t_restore
        await wait_until(lambda: sql.execute(
            "SELECT outcome FROM call_history WHERE number = %s", (number,)).fetchall()
            == [("forwarded",)], 10, "history outcome 'forwarded'")
    after = await place_call(target=asterisk.sip_target, dialed=NOT_IN_SERVICE,
                             wait_for_remote_bye=True, timeout_s=20)
    assert after.answered and after.remote_hung_up, after.describe()
    await wait_no_channels(asterisk)
    log = channel_log(sql, since)
    # handled by the app: the forwarded call and the call after the reconnect - once each;
    # the call during the gap never reached it (the dialplan answered)
    assert [r[1] for r in log] == [number, NOT_IN_SERVICE], log
    assert len({r[0] for r in log}) == len(log)
    handled = as_int((await health(app)).get("calls_handled")) - as_int(
        before.get("calls_handled"))
    assert handled == 2
    assert reconnect_s < 2.0
    reliability.note(f"{cut} connection(s) reset. The bridged call stayed up and media kept "
                     "flowing through the cut; a call placed during the cut got the "
                     "dialplan's 「ただいま…」 announcement (Stasis FAILED); the caller's "
                     "hang-up during the cut ended the forwarded leg at once (Asterisk's "
                     "Dial carries it); after the reconnect the app noticed that its caller "
                     "was gone, ended the call task and wrote the history outcome. Every "
                     "call was handled once (call_log, calls_handled).")
    reliability.figure("cut noticed by the app", detect_s, "s")
    reliability.figure("cut length", cut_s, "s")
    reliability.figure("reconnect after the network is back", reconnect_s, "s")
    reliability.figure("bridged media during the cut", voiced_in_cut, "s of speech")
    reliability.figure("caller's hang-up → forwarded leg ended (during the cut)", leg_end_s,
                       "s")
    reliability.figure("stale call task ended (after reconnect)", task_end_s, "s")
    reliability.figure("fallback call", f"answered, {fallback.rtp.voiced_s:.1f} s announcement")


@pytest.mark.reliability(3, "Asterisk restarted with a forwarded call bridged")
async def test_asterisk_restart(app: AppProcess, asterisk: AsteriskContainer, sql: Sql,
                                carrier: int, reliability: Row) -> None:
    number = forwarding_subscriber(sql)
    before = await health(app)
    async with Uas(port=carrier, mode="answer", answer_after_s=0.5, hold_s=None,
                   max_lifetime_s=120) as uas:
        caller = asyncio.create_task(place_call(
            target=asterisk.sip_target, dialed=number, caller="09012345678",
            steps=[Speak(30.0)], hold_s=0, timeout_s=60))
        await wait_until(lambda: uas.rtp_stats().voiced_s > 1.0, 15, "bridged media")
        t0 = time.monotonic()
        await asyncio.to_thread(asterisk.restart)
        ari_back_s = await asterisk.wait_ready()
        t_back = time.monotonic()
        reconnect_s = await wait_health(
            app, lambda h: bool(h.get("ari_connected")) and
            as_int(h.get("ari_connections")) > as_int(before.get("ari_connections")),
            10, "the app to reconnect")
        idle_s = await wait_health(app, lambda h: h.get("live_calls") == 0, 20,
                                   "the app to drop the calls Asterisk lost")
        caller.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await caller
    since = time.time()
    after = await place_call(target=asterisk.sip_target, dialed=NOT_IN_SERVICE,
                             wait_for_remote_bye=True, timeout_s=20)
    assert after.answered and after.remote_hung_up, after.describe()
    assert [r[1] for r in channel_log(sql, since)] == [NOT_IN_SERVICE]
    await wait_no_channels(asterisk)
    assert reconnect_s < 2.0
    reliability.note("Every channel died with Asterisk (the bridged call was lost: "
                     "media lives in Asterisk). The app reconnected as soon as ARI "
                     "answered, found that the channels its forwarded call owned no longer "
                     "existed, and ended that call task; the next call was handled "
                     "normally.")
    reliability.figure("restart → ARI answering again", t_back - t0, "s")
    reliability.figure("ARI wait_ready", ari_back_s, "s")
    reliability.figure("reconnect after ARI is back", reconnect_s, "s")
    reliability.figure("stale call task ended (after ARI back)", reconnect_s + idle_s, "s")
