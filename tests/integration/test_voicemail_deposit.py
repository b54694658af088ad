"""Voicemail deposit and e-mail notification through real peers: SIPp → Asterisk → the app
→ PostgreSQL, mail through the outbox to aiosmtpd (R-IN-4, R-IN-5).

Subscribers here have forwarding off and the voicemail center on, so the inbound flow sends
calls straight to `take_message`. The greeting (vm_greeting + beep) lasts ~10 s; callers
start talking after 11 s.
"""

from __future__ import annotations

import asyncio
import io
import uuid
import wave
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

import psycopg
import pytest

from callflow.features.voicemail.audio import analyse_wav, recording_name
from callflow.mail.compose import jst_time
from integration.support import MailSink, body_of, new_subscriber, parse_mail
from labkit.appproc import AppProcess
from labkit.asterisk import AsteriskContainer
from labkit.harness.hearing import Ears, heard_in_order
from labkit.harness.sipp import Dtmf, Hangup, Speak, Wait, place_call
from labkit.harness.wait import wait_until

pytestmark = pytest.mark.lab

Sql = psycopg.Connection[tuple[object, ...]]
GREETING_S = 11.0


def subscriber(sql: Sql, **settings: object) -> tuple[str, str]:
    addr = f"vm-{uuid.uuid4().hex[:10]}@example.jp"
    number = new_subscriber(sql, voicemail_enabled=True, forward_enabled=False,
                            notify_email=addr, **settings)
    return number, addr


def messages(sql: Sql, number: str) -> list[tuple[object, ...]]:
    return sql.execute(
        "SELECT id, caller, duration_ms, heard, audio, recording_name, received_at"
        " FROM voicemail_messages WHERE number = %s ORDER BY id", (number,)).fetchall()


def outbox_sent(sql: Sql, addr: str) -> bool:
    """The sender marks a row sent only after the relay accepted the mail, and never sends a
    sent row again: once this holds, every copy the relay will ever get has arrived."""
    return sql.execute("SELECT count(*) FROM mail_outbox WHERE to_addr = %s"
                       " AND sent_at IS NOT NULL", (addr,)).fetchone() == (1,)


def leftover_recordings(asterisk: AsteriskContainer, number: str) -> list[str]:
    return [p.name for p in (asterisk.run_dir / "recordings").glob(f"vm-{number}-*")]


async def test_message_recorded_stored_and_mailed_with_attachment(
        app: AppProcess, asterisk: AsteriskContainer, sql: Sql, mail_sink: MailSink) -> None:
    number, addr = subscriber(sql, notify_only_recorded=True, attach_recording=True)
    call_start = datetime.now(UTC)
    result = await place_call(target=asterisk.sip_target, dialed=number, caller="09011112222",
                              steps=[Wait(GREETING_S), Speak(3.0), Dtmf("#")],
                              wait_for_remote_bye=True, timeout_s=35)
    call_end = datetime.now(UTC)
    assert result.answered and result.remote_hung_up, result.describe()
    # after '#' the caller hears 「メッセージをお預かりしました。」 (~3.5 s) before the BYE
    assert result.remote_bye_after_s is not None and result.remote_bye_after_s > GREETING_S + 5
    [row] = messages(sql, number)
    _, caller, duration_ms, heard, audio, name, received_at = row
    assert caller == "09011112222" and heard is False
    # the time the call reached voicemail (app clock; the mail's 着信日時), an aware instant
    assert isinstance(received_at, datetime) and received_at.utcoffset() is not None
    assert call_start <= received_at <= call_end, (call_start, received_at, call_end)
    assert isinstance(name, str) and name.startswith(f"vm-{number}-09011112222-")
    assert isinstance(audio, bytes)
    with wave.open(io.BytesIO(audio)) as w:
        assert (w.getframerate(), w.getsampwidth(), w.getnchannels()) == (8000, 2, 1)
        wav_s = w.getnframes() / 8000
    info = analyse_wav(audio)
    # 3 s of speech-like audio gated 0.3 s on / 0.1 s off: ~2.25 s of sound; the file also
    # holds the ~1 s of silence between the beep and the caller starting to talk
    assert 1900 <= info.speech_ms <= 2700, info
    assert 3.0 <= wav_s <= 5.0
    assert isinstance(duration_ms, int) and abs(duration_ms - wav_s * 1000) < 50
    assert leftover_recordings(asterisk, number) == []  # Asterisk's copy deleted

    await wait_until(lambda: mail_sink.to(addr), 10, "the notification mail")
    await wait_until(lambda: outbox_sent(sql, addr), 10, "the outbox row marked sent")
    [raw] = mail_sink.to(addr)  # once marked sent, nothing sends it again
    msg = parse_mail(raw)
    assert msg["Subject"] == "【050あんしんナンバー】メッセージをお預かりしました（090-1111-2222）"
    body = body_of(msg)
    assert "発信者番号：090-1111-2222" in body
    assert "メッセージ：あり（録音時間 " in body
    [att] = list(msg.iter_attachments())
    assert att.get_content_type() == "audio/wav"
    assert att.get_content() == audio


async def test_deposit_follows_the_apps_shifted_clock(
        app: AppProcess, asterisk: AsteriskContainer, sql: Sql, mail_sink: MailSink) -> None:
    """The deposit takes the app's one clock, the one the IVR's lockouts and expiry follow:
    with ANSHIN_CLOCK_OFFSET_S set, the message, the call's history row and the mail (text
    and Date) all carry the shifted time."""
    shift = timedelta(days=2, hours=3)
    number, addr = subscriber(sql, notify_only_recorded=True, attach_recording=False)
    app.stop()
    app.env["ANSHIN_CLOCK_OFFSET_S"] = str(shift.total_seconds())
    try:
        app.start()
        app.wait_connected()
        call_start = datetime.now(UTC)
        result = await place_call(target=asterisk.sip_target, dialed=number,
                                  caller="09011112222",
                                  steps=[Wait(GREETING_S), Speak(2.0), Dtmf("#")],
                                  wait_for_remote_bye=True, timeout_s=35)
        call_end = datetime.now(UTC)
        assert result.answered, result.describe()
        await wait_until(lambda: mail_sink.to(addr), 15, "the notification mail")
    finally:
        app.stop()
        app.env.pop("ANSHIN_CLOCK_OFFSET_S", None)
        app.start()
        app.wait_connected()
    shifted = (call_start + shift, call_end + shift)
    [row] = messages(sql, number)
    received_at = row[6]
    assert isinstance(received_at, datetime)
    assert shifted[0] <= received_at <= shifted[1], (shifted, received_at)
    history = sql.execute("SELECT received_at FROM call_history WHERE number = %s",
                          (number,)).fetchall()
    assert [h[0] for h in history] and all(
        isinstance(h[0], datetime) and shifted[0] <= h[0] <= shifted[1] for h in history)
    [raw] = mail_sink.to(addr)
    msg = parse_mail(raw)
    assert f"着信日時：{jst_time(received_at)}" in body_of(msg)
    date = parsedate_to_datetime(str(msg["Date"]))
    assert shifted[0] - timedelta(seconds=1) <= date <= shifted[1] + timedelta(seconds=1)


async def test_hangup_before_speaking_leaves_nothing_and_no_mail_in_recorded_mode(
        app: AppProcess, asterisk: AsteriskContainer, sql: Sql, mail_sink: MailSink) -> None:
    number, addr = subscriber(sql, notify_only_recorded=True)
    # one caller hangs up during the greeting, one right after the beep
    for hang_up_at in (4.0, GREETING_S + 0.5):
        result = await place_call(target=asterisk.sip_target, dialed=number,
                                  caller="0312345678", steps=[Wait(hang_up_at), Hangup()],
                                  timeout_s=25)
        assert result.answered and result.local_hung_up, result.describe()
    # both calls' tasks over: whatever the app does after a hang-up is done
    await wait_until(lambda: (app.health() or {}).get("live_calls") == 0, 15,
                     "the app to finish both calls")
    assert messages(sql, number) == []
    assert leftover_recordings(asterisk, number) == []
    assert mail_sink.to(addr) == []
    assert sql.execute("SELECT count(*) FROM mail_outbox WHERE to_addr = %s",
                       (addr,)).fetchone() == (0,)


async def test_every_call_mode_mails_once_through_a_relay_outage(
        app: AppProcess, asterisk: AsteriskContainer, sql: Sql, mail_sink: MailSink) -> None:
    number, addr = subscriber(sql, notify_only_recorded=False, attach_recording=True)
    mail_sink.stop()
    try:
        result = await place_call(target=asterisk.sip_target, dialed=number,
                                  caller="anonymous", steps=[Wait(3.0), Hangup()], timeout_s=20)
        assert result.answered, result.describe()

        def failed_twice() -> bool:
            row = sql.execute("SELECT attempts, last_error, sent_at FROM mail_outbox"
                              " WHERE to_addr = %s", (addr,)).fetchone()
            return row is not None and int(row[0]) >= 2 and row[1] is not None  # type: ignore[call-overload]

        await wait_until(failed_twice, 15, "two failed delivery attempts")
    finally:
        mail_sink.start()
    await wait_until(lambda: mail_sink.to(addr), 10, "the mail after the relay came back")
    await wait_until(lambda: outbox_sent(sql, addr), 10, "the outbox row marked sent")
    [raw] = mail_sink.to(addr)  # once marked sent, nothing sends it again
    row = sql.execute("SELECT attempts, sent_at FROM mail_outbox WHERE to_addr = %s",
                      (addr,)).fetchone()
    assert row is not None and row[1] is not None and int(row[0]) >= 3  # type: ignore[call-overload]
    msg = parse_mail(raw)
    assert msg["Subject"] == "【050あんしんナンバー】着信のお知らせ（非通知）"
    body = body_of(msg)
    assert "発信者番号：非通知" in body and "メッセージ：なし" in body
    assert not list(msg.iter_attachments())
    assert messages(sql, number) == []


async def test_full_mailbox_plays_vm_full_and_records_nothing(
        app: AppProcess, asterisk: AsteriskContainer, sql: Sql, mail_sink: MailSink) -> None:
    number, addr = subscriber(sql, notify_only_recorded=False)
    for i in range(20):
        sql.execute("INSERT INTO voicemail_messages (number, caller, duration_ms, audio,"
                    " recording_name) VALUES (%s, '0311112222', 1000, 'x', %s)",
                    (number, f"seed-{number}-{i}"))
    result = await place_call(target=asterisk.sip_target, dialed=number, caller="0312345678",
                              steps=[Wait(3.0), Speak(3.0)], wait_for_remote_bye=True,
                              timeout_s=25)
    assert result.answered and result.remote_hung_up, result.describe()
    # vm_full (~9.6 s) instead of the greeting, then the app hangs up: no beep, no recording
    assert result.rtp is not None and result.rtp.voiced_s > 6, result.describe()
    assert result.remote_bye_after_s is not None and result.remote_bye_after_s < 14
    assert len(messages(sql, number)) == 20
    assert leftover_recordings(asterisk, number) == []
    await wait_until(lambda: mail_sink.to(addr), 10, "the every-call mail")
    body = body_of(parse_mail(mail_sink.to(addr)[0]))
    assert "メッセージ：なし" in body and "上限（20件）" in body


async def test_silent_caller_ends_by_max_silence_without_a_message(
        app: AppProcess, asterisk: AsteriskContainer, sql: Sql) -> None:
    number, _ = subscriber(sql, notify_only_recorded=True)
    result = await place_call(target=asterisk.sip_target, dialed=number, caller="0312345678",
                              steps=[Wait(GREETING_S)], wait_for_remote_bye=True, timeout_s=40)
    assert result.answered and result.remote_hung_up, result.describe()
    # greeting ~10 s + 8 s of silence, then the app hangs up by itself
    assert result.remote_bye_after_s is not None and result.remote_bye_after_s < 25
    assert messages(sql, number) == []


async def test_app_killed_during_the_message_recovers_it_with_its_mail(
        app: AppProcess, asterisk: AsteriskContainer, sql: Sql, mail_sink: MailSink) -> None:
    number, addr = subscriber(sql, notify_only_recorded=True, attach_recording=False)
    call = asyncio.create_task(place_call(
        target=asterisk.sip_target, dialed=number, caller="08033334444",
        steps=[Wait(GREETING_S), Speak(3.0), Hangup()], timeout_s=30))
    await asyncio.sleep(GREETING_S + 1.5)
    app.kill()  # SIGKILL mid-message: nothing in the app gets to save anything
    result = await call
    assert result.answered and result.local_hung_up, result.describe()
    assert messages(sql, number) == []
    # Asterisk kept recording without the app and holds the file
    assert len(leftover_recordings(asterisk, number)) == 1
    app.start()
    app.wait_connected()
    await wait_until(lambda: messages(sql, number), 15, "the recovered message")
    [row] = messages(sql, number)
    assert row[1] == "08033334444"
    assert isinstance(row[4], bytes) and analyse_wav(row[4]).speech_ms >= 1900
    assert leftover_recordings(asterisk, number) == []
    await wait_until(lambda: mail_sink.to(addr), 10, "the recovered message's mail")
    msg = parse_mail(mail_sink.to(addr)[0])
    assert msg["Subject"] == "【050あんしんナンバー】メッセージをお預かりしました（080-3333-4444）"


def test_recording_names_are_what_the_recovery_parses() -> None:
    # guard: the test above relies on this prefix to find Asterisk's files
    assert recording_name("05012345678", None, datetime.now(UTC)).startswith(
        "vm-05012345678-anon-")


async def test_a_message_longer_than_the_maximum_is_cut_kept_and_closed(
        app: AppProcess, asterisk: AsteriskContainer, sql: Sql, ears: Ears) -> None:
    """The 3-minute cut (ANSHIN_VOICEMAIL_MAX_SECONDS, 180 in production; 4 here so that the
    test takes seconds): a caller still talking at the maximum is cut, the message is kept,
    and the caller hears the closing words before the app hangs up."""
    number, _addr = subscriber(sql, notify_only_recorded=True)
    try:
        app.stop()
        app.env["ANSHIN_VOICEMAIL_MAX_SECONDS"] = "4"
        app.start()
        app.wait_connected()
        result = await place_call(target=asterisk.sip_target, dialed=number,
                                  caller="09011112222", steps=[Wait(GREETING_S), Speak(12.0)],
                                  wait_for_remote_bye=True, timeout_s=40)
        assert result.answered and result.remote_hung_up, result.describe()
        # cut: the app hung up while the caller was still talking
        bye = result.remote_bye_after_s
        assert bye is not None and bye < GREETING_S + 12.0, result.describe()
        [row] = messages(sql, number)
        duration_ms = row[2]
        assert isinstance(duration_ms, int) and 3000 <= duration_ms <= 5000, duration_ms
        assert result.rtp is not None
        text = await ears.hear(result.rtp.wav())
        assert heard_in_order(["発信音のあとに", "メッセージをお預かりしました"], text), text
    finally:
        app.stop()
        app.env.pop("ANSHIN_VOICEMAIL_MAX_SECONDS", None)
        app.start()
        app.wait_connected()


async def test_app_killed_during_a_silent_recording_still_mails_the_call(
        app: AppProcess, asterisk: AsteriskContainer, sql: Sql, mail_sink: MailSink) -> None:
    """Every-call mode: the app dies while the caller is silent after the beep and the caller
    hangs up without a word. The recovery sweep of the restarted app finds no message in the
    recording, and the subscriber still gets the call's mail (メッセージ：なし), once."""
    number, addr = subscriber(sql, notify_only_recorded=False)
    call = asyncio.create_task(place_call(
        target=asterisk.sip_target, dialed=number, caller="08055556666",
        steps=[Wait(GREETING_S + 2.5), Hangup()], timeout_s=30))
    await asyncio.sleep(GREETING_S + 1.0)
    app.kill()  # SIGKILL while recording silence
    result = await call
    assert result.answered and result.local_hung_up, result.describe()
    assert len(leftover_recordings(asterisk, number)) == 1
    app.start()
    app.wait_connected()
    await wait_until(lambda: not leftover_recordings(asterisk, number), 15,
                     "the recovery sweep taking the recording")
    await wait_until(lambda: mail_sink.to(addr), 10, "the call's mail")
    await wait_until(lambda: outbox_sent(sql, addr), 10, "the outbox row marked sent")
    [raw] = mail_sink.to(addr)
    msg = parse_mail(raw)
    assert msg["Subject"] == "【050あんしんナンバー】着信のお知らせ（080-5555-6666）"
    assert "メッセージ：なし" in body_of(msg)
    assert messages(sql, number) == []
