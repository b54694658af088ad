"""名乗り確認 (call screening) through real peers: the caller (SIPp) says their name into
early media, the subscriber's lab phone (a SIPp UAS registered as 09000000001) answers,
hears the name and 「さんからの電話です。…」 and presses a key with RFC 4733 DTMF.

- 1: the caller is connected (the first 200 OK the caller gets) and media flows both ways;
- 2: the phone is hung up and the caller - never answered before - reaches the voicemail
  center; the message is stored; the subscriber heard the offer (Ears); meanwhile the
  caller heard ringback; the phone hanging up without a key does the same;
- a caller the subscriber accepted before (a 'forwarded' call in the history) rings
  straight through, without the question.
The caller never gets the subscriber's key (no DTMF towards the caller) nor any private
number on any message.
"""

from __future__ import annotations

import asyncio
import uuid
from array import array

import psycopg
import pytest

from callflow.ari import AriClient
from callflow.store import Database, LimitExceeded
from callflow.store.call_screening import get_call_screening, get_exceptions, set_call_screening
from callflow.store.forwarding import save_forwarding
from callflow.store.subscribers import incoming_call
from integration.support import new_subscriber
from integration.test_ring_several import PHONE1, assert_no_leak, lab_phone, outcome
from labkit.appproc import AppProcess
from labkit.asterisk import AsteriskContainer
from labkit.harness.hearing import Ears, heard
from labkit.harness.rtp import RtpStats
from labkit.harness.sipp import CallResult, Dtmf, Hangup, Speak, Voice, Wait, place_call
from labkit.harness.speech import spoken
from labkit.harness.wait import wait_until
from labkit.postgres import PgCluster

pytestmark = pytest.mark.lab

Sql = psycopg.Connection[tuple[object, ...]]
CALLER = "0312345678"
ASK_NAME_S = 3.5  # 「おそれいりますが、お名前をお話しください。」 before the recording starts
GREETING_S = 11.0  # the voicemail greeting and beep (test_voicemail_deposit.py)


async def screened_number(pg: PgCluster, sql: Sql) -> str:
    number = new_subscriber(sql, voicemail_enabled=True)
    async with Database(pg.url) as db:
        await save_forwarding(db, number, enabled=True, destinations=[PHONE1], active=PHONE1,
                              ring_seconds=20, show_caller="caller")
        await set_call_screening(db, number, True)
        assert await get_call_screening(db, number)
    return number


def name_then_quiet() -> list[Wait | Voice]:
    """The caller's early media: silence through the question, the name, then silence
    (2 s of it end the recording)."""
    return [Wait(ASK_NAME_S), Voice(spoken("やまだはなこです")), Wait(3.0)]


async def name_recordings(asterisk: AsteriskContainer) -> list[str]:
    cfg = asterisk.config
    async with AriClient(asterisk.ari_url, cfg.ari_user, cfg.ari_password, "anshin-test",
                         timeout=5) as ari:
        stored = await ari.list_stored_recordings()
    return [r.name for r in stored if r.name.startswith("screening-")]


async def name_recordings_gone(asterisk: AsteriskContainer) -> None:
    """The caller's recorded name is deleted once the call has ended (it is personal data
    needed only while the phones ring)."""
    async def none_left() -> bool:
        return not await name_recordings(asterisk)
    await wait_until(none_left, 10, "the name recording deleted")


def tone_share(rtp: RtpStats, start: float, end: float) -> float:
    """The share of 20 ms frames with sound between two loop times of what a caller heard
    (ringback: 1 s of tone every 3 s)."""
    assert rtp.first_at is not None
    samples = array("h", rtp.pcm)
    first, last = (round((t - rtp.first_at) * 8000) for t in (start, end))
    frames = [samples[i:i + 160] for i in range(max(first, 0), min(last, len(samples)), 160)]
    return sum(max(map(abs, f)) > 1000 for f in frames if f) / max(len(frames), 1)


def assert_caller_never_answered_before(result: CallResult) -> None:
    """The caller got ringing and early media, and exactly one 200 for the INVITE."""
    assert result.received("INVITE", status=183), result.describe()
    assert len(result.received("INVITE", status=200)) == 1, result.describe()
    assert result.rtp is not None and result.rtp.dtmf_digits == "", "the key leaked"


async def test_pressing_1_connects(app: AppProcess, asterisk: AsteriskContainer, sql: Sql,
                                   pg: PgCluster) -> None:
    number = await screened_number(pg, sql)
    async with lab_phone(asterisk, PHONE1, mode="answer", answer_after_s=0.5, hold_s=None,
                         steps=[Wait(2.0), Dtmf("1"), Speak(3.0)]) as phone:
        result = await place_call(target=asterisk.sip_target, dialed=number, caller=CALLER,
                                  early_steps=name_then_quiet(), steps=[Speak(5.0)],
                                  hold_s=1.5, timeout_s=45)
        assert result.answered, result.describe()
        # the setup included the question, the name and the subscriber's decision
        assert result.setup_s is not None and result.setup_s > ASK_NAME_S + 2, result.setup_s
        (invite,) = await phone.calls()
        assert invite.from_user == CALLER
        heard_by_phone = phone.rtp_stats()
    assert_caller_never_answered_before(result)
    # both ways: the phone's speech reached the caller after the answer, and the caller's
    # 5 s (75 % voiced) reached the phone - before its key, 2 s after answering, the phone
    # can have heard at most 2 s of the name and the offer
    assert result.rtp is not None and result.rtp.voiced_s > 2.5
    assert heard_by_phone.voiced_s > 3.5, heard_by_phone
    assert_no_leak(result)
    await outcome(sql, number, "forwarded")
    await name_recordings_gone(asterisk)


async def test_pressing_2_sends_the_caller_to_voicemail(
        app: AppProcess, asterisk: AsteriskContainer, sql: Sql, pg: PgCluster,
        ears: Ears) -> None:
    number = await screened_number(pg, sql)
    async with lab_phone(asterisk, PHONE1, mode="answer", answer_after_s=0.5, hold_s=None,
                         steps=[Wait(9.0), Dtmf("2"), Wait(3.0)]) as phone:
        call = asyncio.create_task(place_call(
            target=asterisk.sip_target, dialed=number, caller=CALLER,
            early_steps=name_then_quiet(), steps=[Wait(GREETING_S), Speak(3.0), Hangup()],
            timeout_s=60))
        # while the phone listens, the name is a recording Asterisk keeps
        await wait_until(lambda: name_recordings(asterisk), 30, "the caller's name recorded")
        await phone.wait_for(lambda ms: any(m.direction == "received" and m.method == "ACK"
                                            for m in ms), timeout_s=20)
        answered_at = asyncio.get_running_loop().time()  # the phone now hears the offer
        result = await call
        assert result.answered, result.describe()
        offered = await ears.hear(phone.rtp_stats().wav())
    assert heard(["さんからの電話です", "おつなぎする場合は"], offered), offered
    assert_caller_never_answered_before(result)
    # meanwhile the caller heard ringback: audio kept coming, and not only silence
    assert result.rtp is not None
    assert [result.rtp.pause_around(answered_at + dt) for dt in (1, 4, 7)] == [0, 0, 0]
    assert tone_share(result.rtp, answered_at + 1, answered_at + 8) > 0.2
    assert_no_leak(result)

    def stored() -> bool:
        row = sql.execute("SELECT count(*) FROM voicemail_messages WHERE number = %s",
                          (number,)).fetchone()
        return row is not None and row[0] == 1
    await wait_until(stored, 20, "the caller's message stored")
    await outcome(sql, number, "voicemail")
    await name_recordings_gone(asterisk)


async def test_the_phone_hanging_up_on_the_offer_sends_the_caller_to_voicemail(
        app: AppProcess, asterisk: AsteriskContainer, sql: Sql, pg: PgCluster) -> None:
    """No key: the phone hangs up in the middle of 「…さんからの電話です…」. Dial still reads
    the answer preset before the offer, so the caller is not connected to a phone that is
    gone (answered and cut off) but reaches the voicemail center."""
    number = await screened_number(pg, sql)
    async with lab_phone(asterisk, PHONE1, mode="answer", answer_after_s=0.5, hold_s=2.0):
        result = await place_call(target=asterisk.sip_target, dialed=number, caller=CALLER,
                                  early_steps=name_then_quiet(),
                                  steps=[Wait(GREETING_S), Hangup()], timeout_s=45)
    assert result.answered, result.describe()
    assert result.rtp is not None and result.rtp.voiced_s > ASK_NAME_S + 3  # + the greeting
    assert_caller_never_answered_before(result)
    assert not result.remote_hung_up, "cut off instead of the voicemail center"
    assert_no_leak(result)
    await outcome(sql, number, "voicemail")


async def test_a_caller_accepted_before_rings_straight_through(
        app: AppProcess, asterisk: AsteriskContainer, sql: Sql, pg: PgCluster) -> None:
    number = await screened_number(pg, sql)
    sql.execute("INSERT INTO call_history (number, caller, outcome) VALUES (%s, %s,"
                " 'forwarded')", (number, CALLER))
    async with lab_phone(asterisk, PHONE1, mode="answer", answer_after_s=0.5, hold_s=1.0):
        result = await place_call(target=asterisk.sip_target, dialed=number, caller=CALLER,
                                  wait_for_remote_bye=True, timeout_s=20)
    assert result.answered and result.remote_hung_up, result.describe()
    assert not result.received("INVITE", status=183), "asked for a name"
    assert result.setup_s is not None and result.setup_s < ASK_NAME_S
    assert_no_leak(result)


async def test_who_is_screened_comes_with_the_incoming_call(pg: PgCluster, sql: Sql) -> None:
    """The one incoming-call statement says whether to screen: never when off; when on,
    everyone but a caller the subscriber accepted before or listed (withheld: always)."""
    number = new_subscriber(sql)
    family, stranger = "09011112222", "0120000111"

    async def screened(caller: str | None) -> bool:
        incoming = await incoming_call(db, number=number, presented=caller,
                                       channel_id=f"t-{uuid.uuid4().hex}", dialed=number,
                                       caller=caller)
        assert incoming is not None
        return incoming.screen

    sql.execute("INSERT INTO call_history (number, caller, outcome) VALUES (%s, %s,"
                " 'forwarded'), (%s, %s, 'voicemail')", (number, CALLER, number, stranger))
    async with Database(pg.url) as db:
        assert [await screened(c) for c in (CALLER, stranger, family, None)] == [False] * 4
        await set_call_screening(db, number, True, ["090-1111-2222"])
        assert await get_exceptions(db, number) == (family,)
        assert [await screened(c) for c in (CALLER, stranger, family, None)] \
            == [False, True, False, True]
        await set_call_screening(db, number, True)  # the list kept
        assert await get_exceptions(db, number) == (family,)
        with pytest.raises(LimitExceeded):
            await set_call_screening(db, number, True, [f"0311110{i:03}" for i in range(11)])
        await set_call_screening(db, number, False, [])
        assert await get_exceptions(db, number) == ()
        assert not await screened(stranger)
