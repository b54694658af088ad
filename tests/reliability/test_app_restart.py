"""Item 2: the app is killed (kill -9) and restarted with calls in progress: a forwarded
call bridged to the subscriber's phone and a retrieval-IVR session still logging in."""

from __future__ import annotations

import asyncio
import time

import psycopg
import pytest
from integration.support import new_subscriber

from labkit.appproc import AppProcess
from labkit.asterisk import AsteriskContainer
from labkit.harness.sipp import Dtmf, Hangup, Speak, Uas, Wait, place_call
from labkit.harness.wait import wait_until
from reliability.results import Row
from reliability.support import wait_health, wait_no_channels, wait_ready

pytestmark = pytest.mark.lab

Sql = psycopg.Connection[tuple[object, ...]]
DEST = "09087654321"


def uas_byes(uas: Uas) -> int:
    return sum(1 for m in uas.messages() if m.direction == "received" and m.method == "BYE")


@pytest.mark.reliability(2, "App killed (kill -9) and restarted with a forwarded call bridged "
                            "and a retrieval-IVR session in progress")
async def test_restart_keeps_bridged_calls(app: AppProcess, asterisk: AsteriskContainer,
                                           sql: Sql, reliability: Row) -> None:
    number = new_subscriber(sql, forward_enabled=True, voicemail_enabled=False)
    sql.execute("INSERT INTO forward_destinations (number, destination, active)"
                " VALUES (%s, %s, true)", (number, DEST))
    async with Uas(port=asterisk.config.ports.carrier, mode="answer", answer_after_s=0.5,
                   hold_s=None, max_lifetime_s=120) as uas:
        forwarded = asyncio.create_task(place_call(
            target=asterisk.sip_target, dialed=number, caller="09012345678",
            steps=[Speak(14.0), Hangup()], timeout_s=40))
        ivr = asyncio.create_task(place_call(
            target=asterisk.sip_target, dialed="05033005000",
            steps=[Wait(1.0), Dtmf("050"), Wait(8.0), Hangup()], timeout_s=40))
        await wait_until(lambda: uas.rtp_stats().voiced_s > 1.0, 15, "bridged media")
        await wait_health(app, lambda h: h.get("live_calls") == 2, 10, "both calls in the app")
        await asyncio.sleep(2.0)
        app.kill()
        t_kill = time.monotonic()
        voiced_at_kill = uas.rtp_stats().voiced_s
        app.start()
        back_s = await wait_ready(app, 30, "the app to come back")
        ivr_result = await ivr
        ivr_end_s = time.monotonic() - t_kill
        # taken over (asked for the number again), never hung up by the new process
        assert ivr_result.answered and ivr_result.local_hung_up, ivr_result.describe()
        assert not ivr_result.remote_hung_up, ivr_result.describe()
        # the forwarded call is carried by Asterisk's Dial, not by the app: nothing to adopt
        await wait_health(app, lambda h: h.get("live_calls") == 0, 10, "no live call")
        first = await forwarded  # the caller hangs up 14 s after the answer
        assert first.answered and first.local_hung_up, first.describe()
        assert not first.remote_hung_up, "the bridged call must survive the restart"
        voiced_after = uas.rtp_stats().voiced_s - voiced_at_kill
        t_hangup = time.monotonic()
        await wait_until(lambda: uas_byes(uas) >= 1, 10, "the forwarded leg's BYE")
        leg_end_s = time.monotonic() - t_hangup
    await wait_no_channels(asterisk)
    assert voiced_after > 5.0
    # the history row the killed process wrote ("received") says what became of the call
    rows = sql.execute("SELECT outcome FROM call_history WHERE number = %s",
                       (number,)).fetchall()
    assert rows == [("forwarded",)], rows
    reliability.note("The forwarded call is carried by Asterisk's Dial once the app has "
                     "screened it (callflow/features/inbound/forwarding.py), so the kill did not "
                     "touch it: media kept flowing, and when the caller hung up Dial ended "
                     "the forwarded leg; the new process's resync found the caller's channel "
                     "answered in Dial and wrote \"forwarded\" into the history row the killed "
                     "process had left at \"received\". The IVR caller, still typing the 050 "
                     "number, was taken "
                     "over by the new process (asked for the number again, see the IVR "
                     "takeover row) and hung up by itself. No channel, bridge or call task "
                     "left.")
    reliability.figure("kill → app connected", back_s, "s")
    reliability.figure("IVR caller's own hang-up (after kill)", ivr_end_s, "s")
    reliability.figure("bridged media after the kill", voiced_after, "s of speech")
    reliability.figure("caller's hang-up → forwarded leg ended", leg_end_s, "s")


@pytest.mark.reliability(2, "App killed (kill -9) while a forwarded call rings, restarted at "
                            "once; nobody answers")
async def test_restart_while_forward_rings_reaches_voicemail(
        app: AppProcess, asterisk: AsteriskContainer, sql: Sql, reliability: Row) -> None:
    number = new_subscriber(sql, forward_enabled=True, forward_ring_seconds=8,
                            voicemail_enabled=True)
    sql.execute("INSERT INTO forward_destinations (number, destination, active)"
                " VALUES (%s, %s, true)", (number, DEST))
    async with Uas(port=asterisk.config.ports.carrier, mode="ring", max_lifetime_s=60) as uas:
        call = asyncio.create_task(place_call(
            target=asterisk.sip_target, dialed=number, caller="09012345678",
            steps=[Wait(4.0), Hangup()], timeout_s=40))
        await uas.wait_for(lambda ms: any(m.method == "INVITE" for m in ms), timeout_s=10)
        app.kill()
        app.start()
        back_s = await wait_ready(app, 30, "the app to come back")
        result = await call
    assert result.answered, result.describe()
    assert result.received("INVITE", status=180), "ringback while the forward rang"
    assert result.setup_s is not None and result.setup_s >= 7.5  # rang the full 8 s
    assert result.rtp is not None and result.rtp.voiced_s > 1.0  # voicemail greeting
    rows = sql.execute("SELECT outcome FROM call_history WHERE number = %s",
                       (number,)).fetchall()
    assert rows == [("voicemail",)], rows  # the first process's row, completed
    await wait_no_channels(asterisk)
    reliability.note("The app was killed as soon as the forward started ringing; Dial kept "
                     "ringing the subscriber's phone, and when it was not answered the "
                     "dialplan sent the caller back into Stasis with the dial status: the "
                     "new process took it over (callflow/features/inbound/handler.py, resumed "
                     "forward) and the caller reached the voicemail center. The history "
                     "row written by the killed process got its outcome.")
    reliability.figure("kill → app connected", back_s, "s")
    reliability.figure("INVITE → answered by the voicemail center", result.setup_s, "s")
