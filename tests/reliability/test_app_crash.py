"""Item 1: the app is killed (kill -9) while a caller is leaving a message, and restarted at
once (as a supervisor would). Extends test_voicemail_deposit's kill test (which restarts
the app only after the caller has finished): here the new app finds the caller still in
Stasis and talking, takes the recording over (callflow/adoption.py) and stores it whole when
the caller hangs up."""

from __future__ import annotations

import asyncio
import email
import time
import uuid
from email.message import EmailMessage
from email.policy import default

import psycopg
import pytest
from integration.support import MailSink, new_subscriber

from callflow.features.voicemail.audio import analyse_wav
from labkit.appproc import AppProcess
from labkit.asterisk import AsteriskContainer
from labkit.harness.sipp import Hangup, Speak, Wait, place_call
from labkit.harness.wait import wait_until
from reliability.results import Row
from reliability.support import wait_health

pytestmark = pytest.mark.lab

Sql = psycopg.Connection[tuple[object, ...]]
GREETING_S = 11.0  # vm_greeting + beep ≈ 10 s; the caller starts talking after 11 s


def _messages(sql: Sql, number: str) -> list[tuple[object, ...]]:
    return sql.execute("SELECT id, caller, audio FROM voicemail_messages WHERE number = %s",
                       (number,)).fetchall()


@pytest.mark.reliability(1, "App killed (kill -9) while a caller records a message, "
                            "restarted at once")
async def test_kill_mid_message_keeps_the_message_and_its_mail(
        app: AppProcess, asterisk: AsteriskContainer, sql: Sql, mail_sink: MailSink,
        reliability: Row) -> None:
    addr = f"rel-{uuid.uuid4().hex[:10]}@example.jp"
    number = new_subscriber(sql, voicemail_enabled=True, forward_enabled=False,
                            notify_email=addr, notify_only_recorded=True,
                            attach_recording=True)
    talk_before_kill = 3.0
    talk_s = 8.0
    call = asyncio.create_task(place_call(
        target=asterisk.sip_target, dialed=number, caller="08055556666",
        steps=[Wait(GREETING_S), Speak(talk_s), Hangup()], timeout_s=40))
    await asyncio.sleep(GREETING_S + talk_before_kill)
    loop = asyncio.get_running_loop()
    app.kill()
    kill_at = loop.time()
    t_kill = time.monotonic()
    app.start()
    app.wait_connected()
    connected_s = time.monotonic() - t_kill
    await wait_health(app, lambda h: h.get("live_calls") == 1, 10, "the call taken over")
    result = await call
    assert result.answered, result.describe()
    # The new process took the recording over: the caller was never cut off and hung up
    # after saying everything.
    assert result.local_hung_up and not result.remote_hung_up, result.describe()
    await wait_until(lambda: _messages(sql, number), 20, "the message")
    stored_s = time.monotonic() - t_kill
    [(_, caller, audio)] = _messages(sql, number)
    assert caller == "08055556666"
    assert isinstance(audio, bytes)
    info = analyse_wav(audio)
    # the caller's gated speech is on 75% of the time: ~2.2 s of sound before the kill and
    # ~3.8 s after it; the file runs from the beep to the hang-up
    assert info.speech_ms >= 0.75 * talk_s * 1000 * 0.8, info
    assert info.duration_ms >= (talk_s - 1.0) * 1000, info
    assert not list((asterisk.run_dir / "recordings").glob(f"vm-{number}-*"))
    await wait_until(lambda: mail_sink.to(addr), 15, "the message's mail")
    mail_s = time.monotonic() - t_kill
    # a second restart (recovery sweep at start-up) neither duplicates the message nor mails
    # it again
    app.stop()
    app.start()
    app.wait_connected()
    await asyncio.sleep(4.0)  # > one recovery interval (3 s) and many mail polls
    assert len(_messages(sql, number)) == 1
    [raw] = mail_sink.to(addr)
    msg = email.message_from_bytes(raw, policy=default)
    assert isinstance(msg, EmailMessage)
    [att] = list(msg.iter_attachments())
    assert att.get_content() == audio
    assert result.rtp is not None
    silence = result.rtp.pause_around(kill_at)
    reliability.note("Asterisk went on recording while no app was connected. The new app's "
                     "resync found the caller in Stasis, read the recording's name kept on "
                     "the channel (ANSHIN_RESUME) and took the call over: when the caller "
                     "hung up, the whole recording (before and after the kill) was stored "
                     "with its mail in one transaction and Asterisk's copy deleted. A second "
                     "restart imported and mailed nothing twice.")
    reliability.figure("app back (kill → ARI connected)", connected_s, "s")
    reliability.figure("caller-side silence spanning the kill (RTP)", silence, "s")
    reliability.figure("message stored (after kill)", stored_s, "s")
    reliability.figure("mail delivered (after kill)", mail_s, "s")
    reliability.figure("recording kept", f"{info.duration_ms} ms long, {info.speech_ms} ms of "
                       f"sound, for {talk_s:.0f} s spoken ({talk_before_kill:.0f} s before the "
                       "kill)")
    reliability.figure("messages / mails after a 2nd restart", "1 / 1")
