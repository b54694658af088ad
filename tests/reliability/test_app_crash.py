"""Item 1: the app is killed (kill -9) while a caller is leaving a message, and restarted at
once (as a supervisor would). Extends test_voicemail_deposit's kill test (which restarts
the app only after the caller has finished): here the new app finds the caller still in
Stasis and talking."""

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
    call = asyncio.create_task(place_call(
        target=asterisk.sip_target, dialed=number, caller="08055556666",
        steps=[Wait(GREETING_S), Speak(8.0), Hangup()], wait_for_remote_bye=True,
        timeout_s=40))
    await asyncio.sleep(GREETING_S + talk_before_kill)
    app.kill()
    t_kill = time.monotonic()
    app.start()
    app.wait_connected()
    connected_s = time.monotonic() - t_kill
    result = await call
    bye_s = time.monotonic() - t_kill
    assert result.answered, result.describe()
    # The restarted app cannot resume the recording task (no state survives): its resync
    # hangs the orphaned caller up, and Asterisk closes the file it was recording.
    assert result.remote_hung_up, result.describe()
    await wait_until(lambda: _messages(sql, number), 20, "the recovered message")
    stored_s = time.monotonic() - t_kill
    [(_, caller, audio)] = _messages(sql, number)
    assert caller == "08055556666"
    assert isinstance(audio, bytes)
    speech_ms = analyse_wav(audio).speech_ms
    # the caller's gated speech is on 75% of the time: ~2.2 s of sound before the kill
    assert speech_ms >= 0.75 * talk_before_kill * 1000 * 0.8, speech_ms
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
    reliability.note("The new app's resync found the caller still in Stasis (talking) and "
                     "hung up; Asterisk closed the recording, the recovery sweep imported it "
                     "(message + mail in one transaction) and deleted Asterisk's copy. The "
                     "audio up to the restart is kept; what the caller said after the "
                     "restart's resync is lost (the call was ended). A second restart "
                     "imported nothing twice.")
    reliability.figure("app back (kill → ARI connected)", connected_s, "s")
    reliability.figure("caller hung up by resync (after kill)", bye_s, "s")
    reliability.figure("message stored (after kill)", stored_s, "s")
    reliability.figure("mail delivered (after kill)", mail_s, "s")
    reliability.figure("speech kept", f"{speech_ms} ms of ~{int(talk_before_kill * 750)} ms "
                       "spoken before the kill")
    reliability.figure("messages / mails after a 2nd restart", "1 / 1")
