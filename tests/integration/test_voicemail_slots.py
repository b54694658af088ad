"""The 20-message limit as callers meet it: a mailbox slot is reserved before the greeting,
so a caller who hears the beep is always stored and a caller who cannot be stored hears
vm_full instead of the greeting (real PostgreSQL; SIPp → Asterisk → the app)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

import psycopg
import pytest

from callflow.store import Database, LimitExceeded
from callflow.store.voicemail import release_slot, reserve_slot, save_message
from integration.support import MailSink, body_of, new_subscriber, parse_mail
from labkit.appproc import AppProcess
from labkit.asterisk import AsteriskContainer
from labkit.harness.hearing import BEEP_HZ, Ears, heard, missing_words, tone_starts
from labkit.harness.sipp import Dtmf, Speak, Wait, place_call
from labkit.postgres import PgCluster

pytestmark = pytest.mark.lab

Sql = psycopg.Connection[tuple[object, ...]]


def mailbox_with(sql: Sql, stored: int, **settings: object) -> tuple[str, str]:
    addr = f"vm-{uuid.uuid4().hex[:10]}@example.jp"
    number = new_subscriber(sql, voicemail_enabled=True, forward_enabled=False,
                            notify_email=addr, **settings)
    for i in range(stored):
        sql.execute("INSERT INTO voicemail_messages (number, caller, duration_ms, audio,"
                    " recording_name) VALUES (%s, '0311112222', 1000, 'x', %s)",
                    (number, f"seed-{number}-{i}"))
    return number, addr


def stored_callers(sql: Sql, number: str) -> list[object]:
    return [r[0] for r in sql.execute(
        "SELECT caller FROM voicemail_messages WHERE number = %s AND recording_name LIKE 'vm-%%'"
        " ORDER BY id", (number,)).fetchall()]


def mail_to(mail_sink: MailSink, addr: str) -> list[EmailMessage]:
    return [parse_mail(raw) for raw in mail_sink.to(addr)]


async def test_two_callers_for_the_last_slot_one_records_the_other_hears_full_first(
        app: AppProcess, asterisk: AsteriskContainer, sql: Sql, mail_sink: MailSink,
        ears: Ears) -> None:
    number, addr = mailbox_with(sql, 19, notify_only_recorded=False)
    speak_at = 13.0  # after the greeting + beep (~10 s), with room for the other's vm_full
    callers = ("09011110001", "09011110002")
    results = await asyncio.gather(*(
        place_call(target=asterisk.sip_target, dialed=number, caller=c,
                   steps=[Wait(speak_at), Speak(3.0), Dtmf("#")],
                   wait_for_remote_bye=True, timeout_s=40) for c in callers))
    by_caller = dict(zip(callers, results, strict=True))
    for r in results:
        assert r.answered and r.remote_hung_up, r.describe()
    [recorder] = stored_callers(sql, number)
    assert sql.execute("SELECT count(*) FROM voicemail_messages WHERE number = %s",
                       (number,)).fetchone() == (20,)
    [refused] = [c for c in callers if c != recorder]
    # The refused caller heard vm_full (~9.6 s of announcement, no greeting/beep) and was
    # hung up on before starting to speak: nobody spoke into a message that was dropped.
    bye = by_caller[refused].remote_bye_after_s
    assert bye is not None and bye < speak_at, by_caller[refused].describe()
    rtp = by_caller[refused].rtp
    assert rtp is not None and rtp.voiced_s > 6
    # ... and what it heard was the full-box announcement, with no beep and no greeting
    text = await ears.hear(rtp.wav())
    assert heard(["お預かりできる件数をこえているため", "録音することができません"], text), text
    assert missing_words(["発信音のあとに"], text) == ["発信音のあとに"], text
    assert tone_starts(rtp.wav(), BEEP_HZ) == [], "the refused caller heard a beep"
    # the recorder heard 「メッセージをお預かりしました」 after '#'
    assert isinstance(recorder, str)
    bye = by_caller[recorder].remote_bye_after_s
    assert bye is not None and bye > speak_at + 3
    rec_rtp = by_caller[recorder].rtp
    assert rec_rtp is not None
    assert len(tone_starts(rec_rtp.wav(), BEEP_HZ)) == 1, "the recorder heard one beep"
    # every-call mode: the recorder's mail carries the message; the refused caller's says
    # the mailbox was full — and there is no third mail about a discarded message
    for _ in range(75):  # up to 15 s
        if len(mail_sink.to(addr)) >= 2:
            break
        await asyncio.sleep(0.2)
    await asyncio.sleep(1.0)  # a few sender polls: nothing else is coming
    mails = mail_to(mail_sink, addr)
    assert len(mails) == 2
    with_message = [m for m in mails if "メッセージ：あり" in body_of(m)]
    without = [m for m in mails if "メッセージ：なし" in body_of(m)]
    assert len(with_message) == 1 and len(without) == 1
    assert "上限（20件）" not in body_of(with_message[0])
    assert "上限（20件）" in body_of(without[0])
    assert f"発信者番号：{refused[:3]}-{refused[3:7]}-{refused[7:]}" in body_of(without[0])
    assert sql.execute("SELECT count(*) FROM voicemail_reservations WHERE number = %s",
                       (number,)).fetchone() == (0,)


async def test_mailbox_slots_are_atomic_released_and_lapse(pg: PgCluster, sql: Sql) -> None:
    number, _ = mailbox_with(sql, 19)
    now = datetime.now(UTC)
    hold = now + timedelta(minutes=2)
    async with Database(pg.url) as db:
        # five callers at once for the last slot: exactly one gets it
        granted = await asyncio.gather(*(
            reserve_slot(db, number=number, recording_name=f"race-{number}-{i}", now=now,
                         expires_at=hold) for i in range(5)))
        assert sorted(granted) == [False] * 4 + [True]
        winner = f"race-{number}-{granted.index(True)}"

        # A recording made without a slot (the database was unreachable at the greeting)
        # cannot take the one promised to the caller who is talking.
        with pytest.raises(LimitExceeded):
            async with db.transaction() as conn:
                await save_message(conn, number=number, caller=None, received_at=now,
                                   duration_ms=2000, audio=b"x", recording_name="no-slot",
                                   now=now)
        # The holder hangs up without a message: released, the next caller gets it.
        await release_slot(db, winner)
        assert await reserve_slot(db, number=number, recording_name=f"next-{number}",
                                  now=now, expires_at=hold)
        # That process dies: its slot lapses at expires_at and is free again.
        assert not await reserve_slot(db, number=number, recording_name=f"blocked-{number}",
                                      now=hold - timedelta(seconds=1), expires_at=hold)
        later = hold + timedelta(seconds=1)
        assert await reserve_slot(db, number=number, recording_name=f"after-{number}",
                                  now=later, expires_at=later + timedelta(minutes=2))
        # A reserved recording is stored into its own slot and the reservation goes with it.
        async with db.transaction() as conn:
            mid = await save_message(conn, number=number, caller=None, received_at=later,
                                     duration_ms=2000, audio=b"x",
                                     recording_name=f"after-{number}", now=later)
        assert mid is not None
    assert sql.execute("SELECT count(*) FROM voicemail_messages WHERE number = %s",
                       (number,)).fetchone() == (20,)
    # the lapsed one was cleared by the next reservation; the used one went with its message
    assert sql.execute("SELECT recording_name FROM voicemail_reservations WHERE number = %s",
                       (number,)).fetchall() == []
