"""Inbound calls to a 050 number through real peers (R-IN-1,2,3,6): SIPp caller → Asterisk →
the app → PostgreSQL, with a SIPp UAS as the carrier gateway the forward leg goes to.

Every forwarding test also checks that the subscriber's private number appears in no SIP
message the caller received (no connected-line update, PAI, RPID or display name).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime
from email.message import EmailMessage

import psycopg
import pytest

from callflow.store import Database, InvalidValue, LimitExceeded
from callflow.store.blocklist import add_blocked, list_blocked, remove_blocked
from callflow.store.forwarding import (
    activate_destination,
    add_destination,
    list_destinations,
)
from callflow.store.history import list_history, record_call
from callflow.store.subscribers import IncomingCall, incoming_call
from integration.support import MailSink, body_of, new_subscriber, parse_mail
from labkit.appproc import AppProcess
from labkit.asterisk import AsteriskContainer
from labkit.harness.hearing import Ears, heard
from labkit.harness.sipp import CallResult, Hangup, Speak, Uas, Wait, place_call
from labkit.harness.wait import wait_until
from labkit.postgres import PgCluster

pytestmark = pytest.mark.lab

Sql = psycopg.Connection[tuple[object, ...]]
DEST = "09087654321"  # the subscriber's private mobile: must never reach the caller
CALLER = "09012345678"


def add_forward(sql: Sql, number: str, destination: str = DEST) -> None:
    sql.execute("INSERT INTO forward_destinations (number, destination, active)"
                " VALUES (%s, %s, true)", (number, destination))


def history(sql: Sql, number: str) -> list[tuple[object, ...]]:
    return sql.execute("SELECT caller, caller_name, outcome FROM call_history"
                       " WHERE number = %s ORDER BY id", (number,)).fetchall()


async def wait_outcome(sql: Sql, number: str, outcome: str, count: int = 1,
                       timeout_s: float = 15.0) -> list[tuple[object, ...]]:
    """Outcomes are updated when the call ends in the app, a moment after SIP says so."""
    deadline = time.monotonic() + timeout_s
    while True:
        rows = history(sql, number)
        if len(rows) >= count and all(r[2] == outcome for r in rows):
            return rows
        if time.monotonic() > deadline:
            raise AssertionError(f"history of {number}: {rows}, wanted {count}x {outcome}")
        await asyncio.sleep(0.2)


def assert_no_leak(result: CallResult, private: str = DEST) -> None:
    """The private number in no form (national, +81…, digits without the trunk 0)."""
    received = [m for m in result.messages if m.direction == "received"]
    assert received, result.describe()
    for message in received:
        text = str(message)
        assert private[1:] not in text, f"private number leaked to the caller:\n{text}"


async def one_mail_to(mail_sink: MailSink, addr: str) -> EmailMessage:
    """The one notification mail sent to ``addr`` (waits for it, then a few sender polls
    for a second one that must not come)."""
    await wait_until(lambda: mail_sink.to(addr), 15, f"a mail to {addr}")
    await asyncio.sleep(1.0)  # the sender polls every 0.3 s: nothing else is coming
    mails = mail_sink.to(addr)
    assert len(mails) == 1, [parse_mail(m)["Subject"] for m in mails]
    return parse_mail(mails[0])


def every_call_address() -> str:
    return f"every-{uuid.uuid4().hex[:10]}@example.jp"


def uas_for(asterisk: AsteriskContainer, **kwargs: object) -> Uas:
    return Uas(port=asterisk.config.ports.carrier, max_lifetime_s=120, **kwargs)  # type: ignore[arg-type]


# ------------------------------------------------------------------ R-IN-1 anonymous

# An empty user part (`<sip:@host>`) is a SIP syntax error PJSIP drops before any
# dialplan (test_empty_from_user_is_dropped_by_pjsip shows what the caller gets), so
# "empty caller id" in the app is covered by the unit tests of identify_caller.
ANONYMOUS_FORMS = [
    dict(caller="anonymous"),  # "Anonymous" <sip:anonymous@anonymous.invalid>
    dict(caller="Anonymous", caller_name="", from_host="127.0.0.1"),
    dict(caller="unavailable"),
    dict(caller="09011112222", privacy_id=True),  # number in From, Privacy: id
    # number in P-Asserted-Identity + Privacy: id (how carriers withhold): trusted by PJSIP
    dict(caller="anonymous", privacy_id=True,
         extra_headers=["P-Asserted-Identity: <sip:09011112222@127.0.0.1>"]),
]


async def test_anonymous_callers_rejected_in_every_form(app: AppProcess,
                                                        asterisk: AsteriskContainer,
                                                        sql: Sql, ears: Ears) -> None:
    # Voicemail and forwarding are on: a rejected caller must reach neither.
    number = new_subscriber(sql, reject_anonymous=True, voicemail_enabled=True,
                            forward_enabled=True, forward_ring_seconds=5)
    add_forward(sql, number)
    async with uas_for(asterisk, mode="answer") as uas:
        results = await asyncio.gather(*[
            place_call(target=asterisk.sip_target, dialed=number, wait_for_remote_bye=True,
                       timeout_s=40, **form)  # type: ignore[arg-type]
            for form in ANONYMOUS_FORMS])
        for form, result in zip(ANONYMOUS_FORMS, results, strict=True):
            assert result.answered and result.remote_hung_up, (form, result.describe())
            assert result.rtp is not None and result.rtp.voiced_s > 3.0, form  # the announcement
        assert await uas.calls() == [], "a rejected caller must never be forwarded"
    # what the caller hears (the first form; they all hear the same prompt): why, and 186
    rtp = results[0].rtp
    assert rtp is not None
    text = await ears.hear(rtp.wav())
    assert heard(["通知されない方からのお電話はおつなぎできません", "186をつけて"], text), text
    rows = await wait_outcome(sql, number, "rejected_anonymous", count=len(ANONYMOUS_FORMS))
    assert all(r[0] is None and r[1] is None for r in rows), rows  # 非通知, 登録なし
    assert sql.execute("SELECT count(*) FROM voicemail_messages WHERE number = %s",
                       (number,)).fetchone() == (0,)


async def test_empty_from_user_is_dropped_by_pjsip(app: AppProcess,
                                                  asterisk: AsteriskContainer,
                                                  sql: Sql) -> None:
    """What a caller whose From is ``<sip:@host>`` (empty user; here the Contact too, as
    SIPp writes both from the caller) receives: nothing. PJSIP's parser rejects the header
    ("syntax error exception when parsing 'From' header") and drops the packet before any
    endpoint or dialplan, without a response; the caller's INVITE retransmissions go
    unanswered, and the app never sees the call (no history, no call log)."""
    number = new_subscriber(sql, reject_anonymous=True, voicemail_enabled=True)
    result = await place_call(target=asterisk.sip_target, dialed=number, caller="",
                              wait_for_remote_bye=True, timeout_s=8)
    assert result.final_status is None and not result.answered, result.describe()
    assert result.received() == [], result.describe()
    assert history(sql, number) == []
    assert sql.execute("SELECT count(*) FROM call_log WHERE dialed = %s",
                       (number,)).fetchone() == (0,)


async def test_anonymous_callers_accepted_when_rejection_off(app: AppProcess,
                                                             asterisk: AsteriskContainer,
                                                             sql: Sql) -> None:
    number = new_subscriber(sql, voicemail_enabled=True)
    forms = [ANONYMOUS_FORMS[0], ANONYMOUS_FORMS[3], ANONYMOUS_FORMS[4]]
    results = await asyncio.gather(*[
        place_call(target=asterisk.sip_target, dialed=number, steps=[Wait(3.0), Hangup()],
                   timeout_s=30, **form)  # type: ignore[arg-type]
        for form in forms])
    for form, result in zip(forms, results, strict=True):
        assert result.answered, (form, result.describe())
        assert result.rtp is not None and result.rtp.voiced_s > 1.0  # the voicemail greeting
    rows = await wait_outcome(sql, number, "voicemail", count=len(forms))
    # Privacy: id keeps the number from the subscriber too: logged as 非通知.
    assert [r[0] for r in rows] == [None] * len(forms), rows


# ------------------------------------------------------------------ R-IN-2 block list

async def test_blocked_caller_hears_announcement(app: AppProcess, asterisk: AsteriskContainer,
                                                 sql: Sql, pg: PgCluster, ears: Ears) -> None:
    number = new_subscriber(sql, voicemail_enabled=True, forward_enabled=True,
                            forward_ring_seconds=5)
    add_forward(sql, number)
    async with Database(pg.url) as db:
        # Stored in another written form than the caller presents.
        assert await add_blocked(db, number, "+81 90-1234-5678") == CALLER
    async with uas_for(asterisk, mode="answer") as uas:
        result = await place_call(target=asterisk.sip_target, dialed=number, caller=CALLER,
                                  caller_name="Yamada", wait_for_remote_bye=True, timeout_s=30)
        assert result.answered and result.remote_hung_up, result.describe()
        assert result.rtp is not None and result.rtp.voiced_s > 2.0
        assert await uas.calls() == [], "a blocked caller must never be forwarded"
    text = await ears.hear(result.rtp.wav())
    assert heard(["おかけになった電話番号への通話は", "お客様のご希望によりおつなぎできません"],
                 text), text
    assert await wait_outcome(sql, number, "blocked") == [(CALLER, "Yamada", "blocked")]


async def test_blocked_caller_gets_busy_without_answer(app: AppProcess,
                                                       asterisk: AsteriskContainer,
                                                       sql: Sql) -> None:
    number = new_subscriber(sql, block_action="busy", voicemail_enabled=True)
    sql.execute("INSERT INTO block_list (number, blocked) VALUES (%s, %s)", (number, CALLER))
    result = await place_call(target=asterisk.sip_target, dialed="+81" + number[1:],
                              caller="+81" + CALLER[1:], timeout_s=20)
    assert result.final_status == 486 and not result.answered, result.describe()
    assert await wait_outcome(sql, number, "blocked") == [(CALLER, None, "blocked")]


# ------------------------------------------------------------------ R-IN-3 forwarding

async def test_forwarded_call_is_bridged_and_hides_private_number(
        app: AppProcess, asterisk: AsteriskContainer, sql: Sql, mail_sink: MailSink) -> None:
    addr = every_call_address()  # 「すべての着信」: a mail for a forwarded call too
    number = new_subscriber(sql, forward_enabled=True, forward_ring_seconds=10,
                            voicemail_enabled=True, notify_email=addr,
                            notify_only_recorded=False)
    add_forward(sql, number)
    async with uas_for(asterisk, mode="answer", answer_after_s=1.0, play_audio_s=4.0) as uas:
        result = await place_call(target=asterisk.sip_target, dialed=number, caller=CALLER,
                                  caller_name="Yamada", steps=[Speak(3.0), Wait(2.0), Hangup()],
                                  timeout_s=30)
        assert result.answered, result.describe()
        # Media bridged both ways: the callee's speech reaches the caller and vice versa.
        assert result.rtp is not None and result.rtp.voiced_s > 1.5, result.describe()
        (invite,) = await uas.wait_for_calls(1)
        assert invite.request_user == DEST
        assert invite.from_user == CALLER  # the subscriber sees who is calling
        await uas.wait_for(lambda ms: any(m.method == "BYE" for m in ms), timeout_s=10)
        assert uas.rtp_stats().voiced_s > 1.0
    assert_no_leak(result)
    # No re-INVITE/UPDATE towards the caller at all (that is how a connected line would go).
    assert [m.method for m in result.received() if m.method in ("INVITE", "UPDATE")] == []
    assert await wait_outcome(sql, number, "forwarded") == [(CALLER, "Yamada", "forwarded")]
    mail = await one_mail_to(mail_sink, addr)
    assert "着信のお知らせ" in str(mail["Subject"])
    body = body_of(mail)
    assert "発信者番号：090-1234-5678" in body and "メッセージ：なし" in body, body


async def test_forward_shows_050_number_and_callee_hangup_ends_call(
        app: AppProcess, asterisk: AsteriskContainer, sql: Sql) -> None:
    number = new_subscriber(sql, forward_enabled=True, forward_show_caller="050")
    add_forward(sql, number)
    async with uas_for(asterisk, mode="answer", answer_after_s=0.5, hold_s=2.0) as uas:
        result = await place_call(target=asterisk.sip_target, dialed=number, caller=CALLER,
                                  wait_for_remote_bye=True, timeout_s=30)
        assert result.answered and result.remote_hung_up, result.describe()
        (invite,) = await uas.calls()
        assert invite.from_user == number
    assert_no_leak(result)
    await wait_outcome(sql, number, "forwarded")


async def test_withheld_caller_stays_withheld_when_forwarded(
        app: AppProcess, asterisk: AsteriskContainer, sql: Sql) -> None:
    # Privacy: id with the number in From: the subscriber's phone must not see it either.
    number = new_subscriber(sql, forward_enabled=True)
    add_forward(sql, number)
    async with uas_for(asterisk, mode="answer", answer_after_s=0.5, hold_s=1.0) as uas:
        result = await place_call(target=asterisk.sip_target, dialed=number,
                                  caller="09011112222", caller_name="Secret", privacy_id=True,
                                  wait_for_remote_bye=True, timeout_s=30)
        assert result.answered and result.remote_hung_up, result.describe()
        (invite,) = await uas.calls()
    assert "9011112222" not in str(invite) and "Secret" not in str(invite), str(invite)
    assert invite.from_user is not None and invite.from_user.lower() == "anonymous"
    assert await wait_outcome(sql, number, "forwarded") == [(None, None, "forwarded")]


async def test_forward_no_answer_goes_to_voicemail(app: AppProcess, asterisk: AsteriskContainer,
                                                   sql: Sql) -> None:
    number = new_subscriber(sql, forward_enabled=True, forward_ring_seconds=5,
                            voicemail_enabled=True)
    add_forward(sql, number)
    async with uas_for(asterisk, mode="ring") as uas:
        result = await place_call(target=asterisk.sip_target, dialed=number, caller=CALLER,
                                  steps=[Wait(3.0), Hangup()], timeout_s=40)
        assert result.answered, result.describe()
        assert result.setup_s is not None and result.setup_s >= 4.5  # rang ~5 s first
        assert result.received("INVITE", status=180), "the caller hears ringback meanwhile"
        assert result.rtp is not None and result.rtp.voiced_s > 1.0  # voicemail greeting
        await uas.wait_for(lambda ms: any(m.method == "CANCEL" for m in ms), timeout_s=5)
    assert_no_leak(result)
    await wait_outcome(sql, number, "voicemail")


async def test_forward_busy_goes_to_voicemail(app: AppProcess, asterisk: AsteriskContainer,
                                              sql: Sql) -> None:
    number = new_subscriber(sql, forward_enabled=True, forward_ring_seconds=20,
                            voicemail_enabled=True)
    add_forward(sql, number)
    async with uas_for(asterisk, mode="busy") as uas:
        result = await place_call(target=asterisk.sip_target, dialed=number, caller=CALLER,
                                  steps=[Wait(3.0), Hangup()], timeout_s=30)
        assert result.answered, result.describe()
        assert result.setup_s is not None and result.setup_s < 10  # not the 20 s ring time
        assert len(await uas.calls()) == 1
    assert_no_leak(result)
    await wait_outcome(sql, number, "voicemail")


async def test_forward_failure_without_voicemail_announces(app: AppProcess,
                                                           asterisk: AsteriskContainer,
                                                           sql: Sql, ears: Ears,
                                                           mail_sink: MailSink) -> None:
    addr = every_call_address()  # 「すべての着信」: a mail for the missed call
    number = new_subscriber(sql, forward_enabled=True, forward_ring_seconds=5,
                            notify_email=addr, notify_only_recorded=False)
    add_forward(sql, number)
    async with uas_for(asterisk, mode="ring"):
        result = await place_call(target=asterisk.sip_target, dialed=number, caller=CALLER,
                                  wait_for_remote_bye=True, timeout_s=40)
    assert result.answered and result.remote_hung_up, result.describe()
    assert result.rtp is not None and result.rtp.voiced_s > 2.0  # forward_failed
    text = await ears.hear(result.rtp.wav())
    assert heard(["ただいま電話をおつなぎすることができません"], text), text
    assert_no_leak(result)
    await wait_outcome(sql, number, "missed")
    mail = await one_mail_to(mail_sink, addr)
    assert "着信のお知らせ" in str(mail["Subject"])
    body = body_of(mail)
    assert "発信者番号：090-1234-5678" in body and "メッセージ：なし" in body, body
    assert DEST[1:] not in body  # the subscriber's forward target is not the caller


@pytest.mark.parametrize("refusal", [403, 503])
async def test_forward_refused_by_the_far_end_goes_to_voicemail(
        app: AppProcess, asterisk: AsteriskContainer, sql: Sql, refusal: int) -> None:
    # The carrier (or the forward target) answers the forward INVITE with a 4xx/5xx: Dial
    # ends CHANUNAVAIL/CONGESTION at once, and the caller reaches the voicemail greeting.
    number = new_subscriber(sql, forward_enabled=True, forward_ring_seconds=20,
                            voicemail_enabled=True)
    add_forward(sql, number)
    async with uas_for(asterisk, mode="reject", reject_code=refusal) as uas:
        result = await place_call(target=asterisk.sip_target, dialed=number, caller=CALLER,
                                  steps=[Wait(3.0), Hangup()], timeout_s=30)
        assert result.answered, result.describe()
        assert result.setup_s is not None and result.setup_s < 10  # not the 20 s ring time
        assert result.rtp is not None and result.rtp.voiced_s > 1.0  # the greeting
        assert len(await uas.calls()) == 1
    assert_no_leak(result)
    await wait_outcome(sql, number, "voicemail")


async def test_caller_hangup_while_ringing_cancels_forward(app: AppProcess,
                                                          asterisk: AsteriskContainer,
                                                          sql: Sql) -> None:
    number = new_subscriber(sql, forward_enabled=True, forward_ring_seconds=30,
                            voicemail_enabled=True)
    add_forward(sql, number)
    async with uas_for(asterisk, mode="ring") as uas:
        result = await place_call(target=asterisk.sip_target, dialed=number, caller=CALLER,
                                  cancel_after_s=2.0, timeout_s=20)
        assert result.cancelled and not result.answered, result.describe()
        t0 = time.monotonic()
        await uas.wait_for(lambda ms: any(m.method == "CANCEL" for m in ms), timeout_s=5)
        assert time.monotonic() - t0 < 5
    assert_no_leak(result)
    await wait_outcome(sql, number, "missed")


# ------------------------------------------------------------------ stores (portal API)

async def lookup(db: Database, number: str, presented: str | None) -> IncomingCall:
    found = await incoming_call(db, number=number, presented=presented, channel_id="lookup",
                                dialed=number, caller=presented)
    assert found is not None and found.subscriber.number == number
    return found


async def test_incoming_call_lookup_logs_the_call(pg: PgCluster, sql: Sql) -> None:
    number = new_subscriber(sql, forward_enabled=True)
    async with Database(pg.url) as db:
        found = await lookup(db, number, CALLER)
        assert (found.blocked, found.forward_destination) == (False, None)
        assert found.subscriber.forward_enabled
        assert await incoming_call(db, number="05000000000", presented=None,
                                   channel_id="nobody", dialed="050-0000-0000",
                                   caller=None) is None
    rows = sql.execute("SELECT channel_id, dialed, route, caller FROM call_log"
                       " WHERE channel_id IN ('lookup', 'nobody') AND dialed IN (%s, %s)",
                       (number, "050-0000-0000")).fetchall()
    assert sorted(rows, key=str) == sorted([("lookup", number, "subscriber", CALLER),
                                           ("nobody", "050-0000-0000", "not_in_service",
                                            None)], key=str)


async def test_block_list_store(pg: PgCluster, sql: Sql) -> None:
    number = new_subscriber(sql)
    async with Database(pg.url) as db:
        assert await add_blocked(db, number, "０９０－１２３４－５６７８") == CALLER
        assert await add_blocked(db, number, "+81 90 1234 5678") == CALLER  # same entry
        with pytest.raises(InvalidValue):
            await add_blocked(db, number, "not a number")
        with pytest.raises(InvalidValue):
            await add_blocked(db, number, "anonymous")
        for i in range(29):
            await add_blocked(db, number, f"03-0000-{i:04d}")
        assert len(await list_blocked(db, number)) == 30
        with pytest.raises(LimitExceeded) as exc:
            await add_blocked(db, number, "03-9999-9999")
        assert exc.value.limit == 30
        assert await add_blocked(db, number, CALLER) == CALLER  # re-adding is still fine
        assert (await lookup(db, number, CALLER)).blocked
        assert await remove_blocked(db, number, "+819012345678")
        assert not (await lookup(db, number, CALLER)).blocked
        await add_blocked(db, number, "03-9999-9999")  # room again


async def test_history_and_forward_destination_stores(pg: PgCluster, sql: Sql) -> None:
    number = new_subscriber(sql)
    async with Database(pg.url) as db:
        await record_call(db, number=number, caller=None, caller_name=None,
                          outcome="rejected_anonymous", channel_id="a",
                          received_at=datetime.now(UTC))
        await record_call(db, number=number, caller=CALLER, caller_name="Yamada",
                          outcome="forwarded", channel_id="b", received_at=datetime.now(UTC))
        rows = await list_history(db, number)
        assert [r.channel_id for r in rows] == ["b", "a"]  # newest first
        first = await add_destination(db, number, "090-8765-4321", activate=True)
        second = await add_destination(db, number, "03-1234-5678")
        assert (await lookup(db, number, None)).forward_destination == DEST
        await activate_destination(db, number, second.id)
        assert (await lookup(db, number, None)).forward_destination == "0312345678"
        assert [d.active for d in await list_destinations(db, number)] == [False, True]
        assert first.destination == DEST
        with pytest.raises(InvalidValue):
            await add_destination(db, number, "0990-123-456")  # premium rate
        with pytest.raises(InvalidValue):
            await add_destination(db, number, "050-1111-2222")  # another 050 number: loops
        for n in ("0311110001", "0311110002", "0311110003"):
            await add_destination(db, number, n)
        with pytest.raises(LimitExceeded):
            await add_destination(db, number, "0311110004")
