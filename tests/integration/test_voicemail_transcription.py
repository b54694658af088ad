"""Voicemail transcription through real peers (issue 20, docs/transcription.md): a SIPp
caller speaks an Open JTalk sentence after the beep, Asterisk records it at 8 kHz, the app
saves it with a transcription job and holds the notification, a worker process
(python -m callflow.transcribe) writes the text, the mail (aiosmtpd) carries it above the
attachment and the portal lists and finds it.

The app runs here with ANSHIN_TRANSCRIBE=1 (restarted for this module, then back to the
suite's settings); two workers share the jobs. Spoken messages are short: each costs ~1.5 s
of CPU to transcribe on this machine.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from callflow.mail.compose import TRANSCRIPT_HEADING
from integration.support import MailSink, body_of, parse_mail
from labkit.appproc import AppProcess
from labkit.asterisk import AsteriskContainer
from labkit.harness.hearing import cer, heard
from labkit.harness.sipp import Dtmf, Voice, Wait, place_call
from labkit.harness.speech import spoken
from labkit.harness.wait import wait_until
from labkit.portal_dev import PortalServer
from labkit.portal_testkit import Acct, api_login, make_account
from labkit.postgres import PgCluster
from labkit.transcriber import TranscriberProcess
from portal.config import PortalSettings

pytestmark = pytest.mark.lab

Sql = psycopg.Connection[tuple[object, ...]]
BUILD = Path(__file__).resolve().parents[2] / "build"
GREETING_S = 11.0
#: how long a notification waits for its text here (ANSHIN_TRANSCRIPT_WAIT_S)
WAIT_S = 25.0
#: a worker's lease on a job: short, so that a killed worker's job is taken again soon
LEASE_S = 4.0
APPOINTMENT = "お世話になっております。山田です。明日の打ち合わせは午後三時からに変更になりました。"
PARCEL = "田中です。荷物が届きましたので、お電話ください。"


@pytest.fixture(scope="module")
def transcribing_app(app_process: AppProcess) -> Iterator[AppProcess]:
    saved = dict(app_process.env)
    app_process.stop()
    app_process.env.update(ANSHIN_TRANSCRIBE="1", ANSHIN_TRANSCRIPT_WAIT_S=str(WAIT_S))
    app_process.start()
    app_process.wait_connected()
    yield app_process
    app_process.stop()
    app_process.env.clear()
    app_process.env.update(saved)
    app_process.start()
    app_process.wait_connected()


@pytest.fixture(scope="module")
def workers(pg: PgCluster) -> Iterator[list[TranscriberProcess]]:
    env = {"ANSHIN_PROFILE": "lab", "ANSHIN_DATABASE_URL": pg.url, "ANSHIN_TRANSCRIBE": "1",
           "ANSHIN_TRANSCRIBE_LEASE_S": str(LEASE_S), "ANSHIN_TRANSCRIBE_POLL_INTERVAL": "0.2",
           "ANSHIN_TRANSCRIBE_THREADS": "1"}
    procs = [TranscriberProcess(env, BUILD / f"test-transcriber-{i}.log") for i in (1, 2)]
    for proc in procs:
        proc.log_path.unlink(missing_ok=True)
        proc.start()
    try:
        for proc in procs:
            proc.wait_ready()
        yield procs
    finally:
        for proc in procs:
            proc.stop()


@pytest.fixture(scope="module")
def portal_url(pg: PgCluster) -> Iterator[str]:
    server = PortalServer(PortalSettings(database_url=pg.url, portal_port=0,
                                         portal_secret="lab-test", portal_sms_provider="lab",
                                         portal_lab_pages=True))
    server.start()
    yield server.url
    server.stop()


def mailbox(sql: Sql) -> tuple[Acct, str]:
    acct = make_account(sql)
    addr = f"tr-{uuid.uuid4().hex[:10]}@example.jp"
    sql.execute("UPDATE subscriber_numbers SET voicemail_enabled = true, forward_enabled = false,"
                " notify_email = %s, notify_only_recorded = true, attach_recording = true"
                " WHERE number = %s", (addr, acct.numbers[0]))
    return acct, addr


async def leave_message(asterisk: AsteriskContainer, number: str, sentence: str) -> None:
    """Call, speak ``sentence`` after the beep, press #, wait for the app's BYE."""
    result = await place_call(target=asterisk.sip_target, dialed=number, caller="09011112222",
                              steps=[Wait(GREETING_S), Voice(spoken(sentence)), Wait(0.5),
                                     Dtmf("#")],
                              wait_for_remote_bye=True, timeout_s=40)
    assert result.answered and result.remote_hung_up, result.describe()


def job(sql: Sql, number: str) -> tuple[object, ...] | None:
    """(status, text, attempts, leased_by) of the number's one message's job."""
    return sql.execute(
        "SELECT t.status, t.text, t.attempts, t.leased_by FROM voicemail_transcripts t"
        " JOIN voicemail_messages m ON m.id = t.message_id WHERE m.number = %s",
        (number,)).fetchone()


def timings(sql: Sql, number: str) -> tuple[float | None, float]:
    """Seconds from the message's save (the caller's # / hang-up) to its text (None: no
    text yet) and to its mail's delivery, by the database's clock."""
    row = sql.execute(
        "SELECT extract(epoch FROM t.done_at - t.created_at),"
        " extract(epoch FROM o.sent_at - t.created_at)"
        " FROM voicemail_transcripts t JOIN voicemail_messages m ON m.id = t.message_id"
        " JOIN mail_outbox o ON o.voicemail_message_id = m.id WHERE m.number = %s",
        (number,)).fetchone()
    assert row is not None and row[1] is not None, row
    return (None if row[0] is None else float(row[0]),  # type: ignore[arg-type]
            float(row[1]))  # type: ignore[arg-type]


def outbox_sent(sql: Sql, addr: str) -> bool:
    return sql.execute("SELECT count(*) FROM mail_outbox WHERE to_addr = %s"
                       " AND sent_at IS NOT NULL", (addr,)).fetchone() == (1,)


def note(line: str) -> None:
    """Measurements for docs/transcription.md: build/transcription.log."""
    BUILD.mkdir(exist_ok=True)
    with (BUILD / "transcription.log").open("a") as f:
        f.write(line + "\n")


async def test_the_text_is_in_the_mail_above_the_recording_and_in_the_portal(
        app: AppProcess, transcribing_app: AppProcess, workers: list[TranscriberProcess],
        asterisk: AsteriskContainer, sql: Sql, mail_sink: MailSink, portal_url: str) -> None:
    acct, addr = mailbox(sql)
    number = acct.numbers[0]
    await leave_message(asterisk, number, APPOINTMENT)
    await wait_until(lambda: mail_sink.to(addr), WAIT_S + 15, "the notification mail")
    await wait_until(lambda: outbox_sent(sql, addr), 10, "the outbox row marked sent")
    [raw] = mail_sink.to(addr)
    row = job(sql, number)
    assert row is not None and row[0] == "done" and row[2] == 1, row
    text = str(row[1])
    error_rate = cer(APPOINTMENT, text)
    text_s, mail_s = timings(sql, number)
    note(f"deposit: text {text_s:.1f} s, mail {mail_s:.1f} s after the save,"
         f" CER {error_rate:.3f}: {text}")
    assert heard(["山田", "打ち合わせ", "変更"], text), text
    assert error_rate <= 0.15, text
    # released by the worker, not by the end of the wait
    assert mail_s < WAIT_S, mail_s
    msg = parse_mail(raw)
    body = body_of(msg).replace("\r\n", "\n")
    assert f"{TRANSCRIPT_HEADING}\n「{text}」" in body
    assert body.index("メッセージ：あり") < body.index(TRANSCRIPT_HEADING) \
        < body.index("録音されたメッセージを添付しています")
    [att] = list(msg.iter_attachments())
    assert att.get_content_type() == "audio/wav"

    client, _csrf = api_login(portal_url, sql, acct)
    try:
        page = client.get(f"/n/{number}/messages")
        assert page.status_code == 200 and text in page.text
        # a Japanese substring of the text finds it, words it does not hold find nothing
        found = client.get(f"/n/{number}/messages", params={"q": text[5:9]})
        assert text in found.text and "を含むメッセージ：1件" in found.text
        none = client.get(f"/n/{number}/messages", params={"q": "請求書"})
        assert text not in none.text and "該当するメッセージはありません。" in none.text
        [api_msg] = client.get(f"/api/v1/numbers/{number}/messages").json()
        assert api_msg["transcript"] == text
    finally:
        client.close()


async def test_a_worker_killed_mid_job_leaves_it_to_another_and_one_mail_goes(
        app: AppProcess, transcribing_app: AppProcess, workers: list[TranscriberProcess],
        asterisk: AsteriskContainer, sql: Sql, mail_sink: MailSink) -> None:
    acct, addr = mailbox(sql)
    number = acct.numbers[0]
    # the message is saved at the #, while the caller still hears 「お預かりしました」
    call = asyncio.create_task(leave_message(asterisk, number, PARCEL))

    def leased() -> tuple[object, ...] | None:
        row = job(sql, number)
        return row if row is not None and row[0] == "pending" and row[3] else None

    await wait_until(leased, 40, "a worker to take the job", interval=0.02)
    taken = leased()
    assert taken is not None, "the job finished before the worker could be killed"
    # the lease holder's name is host/pid/random (callflow/store/once.py instance_name)
    [victim] = [w for w in workers if str(taken[3]).split("/")[1] == str(w.pid)]
    victim.kill()  # stays down: the next test stops the workers anyway
    await call
    await wait_until(lambda: mail_sink.to(addr), WAIT_S + 15, "the notification mail")
    await wait_until(lambda: outbox_sent(sql, addr), 10, "the outbox row marked sent")
    row = job(sql, number)
    assert row is not None and row[0] == "done" and row[2] == 2, row  # the second try
    assert str(row[3]) != str(taken[3])
    text = str(row[1])
    assert heard(["田中", "荷物", "電話"], text), text
    [raw] = mail_sink.to(addr)
    assert f"「{text}」" in body_of(parse_mail(raw))


async def test_without_a_worker_the_mail_goes_after_the_wait_and_the_text_follows(
        app: AppProcess, transcribing_app: AppProcess, workers: list[TranscriberProcess],
        asterisk: AsteriskContainer, sql: Sql, mail_sink: MailSink) -> None:
    for worker in workers:
        worker.stop()
    acct, addr = mailbox(sql)
    number = acct.numbers[0]
    await leave_message(asterisk, number, PARCEL)
    await wait_until(lambda: mail_sink.to(addr), WAIT_S + 15, "the notification mail")
    await wait_until(lambda: outbox_sent(sql, addr), 10, "the outbox row marked sent")
    assert timings(sql, number)[1] >= WAIT_S - 0.5  # it waited …
    [raw] = mail_sink.to(addr)
    body = body_of(parse_mail(raw))
    assert "メッセージ：あり" in body and TRANSCRIPT_HEADING not in body  # … and went without
    workers[0].start()
    workers[0].wait_ready()
    await wait_until(lambda: (job(sql, number) or ("",))[0] == "done", 30, "the text")
    row = job(sql, number)
    assert row is not None and heard(["田中", "荷物"], str(row[1])), row
    assert len(mail_sink.to(addr)) == 1  # the text does not send the mail again
