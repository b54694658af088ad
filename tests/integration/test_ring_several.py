"""Ringing several phones through real peers: the subscriber's two lab phones (SIPp UASes
registered as 09000000001/2) and the carrier gateway (a SIPp UAS) for an ordinary mobile.

- at once: the gateway's phone is busy, the first lab phone rings, the second answers -
  the caller is connected to it, the ringing one gets CANCEL with "Call completed
  elsewhere" (no missed call shown), the busy one did not end the others;
- in order: the first rings for its own ring time, then the second rings and answers;
- nobody answers: the caller reaches the voicemail center as today.
Each test checks that no private number reaches the caller.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import psycopg
import pytest

from callflow.store import Database
from callflow.store.forwarding import list_destinations, save_forwarding
from integration.support import new_subscriber
from labkit.appproc import AppProcess
from labkit.asterisk import AsteriskContainer
from labkit.harness.register import register
from labkit.harness.sipp import CallResult, Hangup, SipMessage, Uas, Wait, place_call
from labkit.harness.wait import wait_until
from labkit.ports import free_port
from labkit.postgres import PgCluster

pytestmark = pytest.mark.lab

Sql = psycopg.Connection[tuple[object, ...]]
PHONE1, PHONE2 = "09000000001", "09000000002"  # the lab phones (labkit.lab.LAB_PHONES)
MOBILE = "09087654321"  # not a lab phone: through the carrier gateway
CALLER = "0312345678"
ELSEWHERE = 'SIP;cause=200;text="Call completed elsewhere"'


@asynccontextmanager
async def lab_phone(asterisk: AsteriskContainer, number: str,
                    **uas: object) -> AsyncIterator[Uas]:
    """A SIPp UAS registered as the lab phone `number` (unregistered afterwards)."""
    port = free_port()
    password = asterisk.config.phone_password
    await register(asterisk.sip_target, number, password, port)
    try:
        async with Uas(port=port, max_lifetime_s=120, **uas) as phone:  # type: ignore[arg-type]
            yield phone
    finally:
        await register(asterisk.sip_target, number, password, port, expires=0)


async def subscriber(pg: PgCluster, sql: Sql, mode: str, destinations: list[str],
                     ring_each: list[int | None] | None = None) -> str:
    number = new_subscriber(sql, voicemail_enabled=True)
    async with Database(pg.url) as db:
        await save_forwarding(db, number, enabled=True, destinations=destinations, active=None,
                              ring_seconds=5, show_caller="caller", mode=mode,
                              ring_each=ring_each)
        assert [d.destination for d in await list_destinations(db, number)] == destinations
    return number


def invites(msgs: list[SipMessage]) -> list[SipMessage]:
    return [m for m in msgs if m.direction == "received" and m.method == "INVITE"]


def cancels(msgs: list[SipMessage]) -> list[SipMessage]:
    return [m for m in msgs if m.direction == "received" and m.method == "CANCEL"]


def assert_no_leak(result: CallResult) -> None:
    received = result.received()
    assert received, result.describe()
    for message in received:
        for private in (PHONE1, PHONE2, MOBILE):
            assert private[1:] not in str(message), f"{private} leaked:\n{message}"


async def outcome(sql: Sql, number: str, wanted: str) -> None:
    def done() -> bool:
        row = sql.execute("SELECT outcome FROM call_history WHERE number = %s",
                          (number,)).fetchone()
        return row is not None and row[0] == wanted
    await wait_until(done, 15, f"history of {number}: {wanted}")


async def test_at_once_first_answer_wins_and_the_others_are_cancelled(
        app: AppProcess, asterisk: AsteriskContainer, sql: Sql, pg: PgCluster) -> None:
    number = await subscriber(pg, sql, "simultaneous", [MOBILE, PHONE1, PHONE2])
    async with Uas(port=asterisk.config.ports.carrier, max_lifetime_s=120,
                   mode="busy") as carrier, \
            lab_phone(asterisk, PHONE1, mode="ring") as ringing, \
            lab_phone(asterisk, PHONE2, mode="answer", answer_after_s=2.0,
                      hold_s=2.0) as answering:
        result = await place_call(target=asterisk.sip_target, dialed=number, caller=CALLER,
                                  wait_for_remote_bye=True, timeout_s=30)
        assert result.answered and result.remote_hung_up, result.describe()
        # The busy phone answered 486 at once; the two others kept ringing until one took it.
        assert [i.request_user for i in await carrier.calls()] == [MOBILE]
        (invite,) = await answering.calls()
        assert invite.from_user == CALLER
        msgs = await ringing.wait_for(lambda ms: bool(cancels(ms)), timeout_s=10)
        assert len(invites(msgs)) == 1
        reasons = cancels(msgs)[0].headers.get("reason", [])
        assert ELSEWHERE in reasons, cancels(msgs)[0]
    assert result.setup_s is not None and result.setup_s >= 1.5  # answered by phone 2
    assert_no_leak(result)
    await outcome(sql, number, "forwarded")


async def test_in_order_each_rings_its_own_time(app: AppProcess, asterisk: AsteriskContainer,
                                               sql: Sql, pg: PgCluster) -> None:
    number = await subscriber(pg, sql, "sequential", [PHONE1, PHONE2], ring_each=[5, 10])
    async with lab_phone(asterisk, PHONE1, mode="ring") as first, \
            lab_phone(asterisk, PHONE2, mode="answer", answer_after_s=0.5,
                      hold_s=1.5) as second:
        result = await place_call(target=asterisk.sip_target, dialed=number, caller=CALLER,
                                  wait_for_remote_bye=True, timeout_s=40)
        assert result.answered and result.remote_hung_up, result.describe()
        first_msgs = await first.wait_for(lambda ms: bool(cancels(ms)), timeout_s=10)
        (second_invite,) = invites(second.messages())
    (first_invite,) = invites(first_msgs)
    assert first_invite.timestamp is not None and second_invite.timestamp is not None
    gap = (second_invite.timestamp - first_invite.timestamp).total_seconds()
    assert 4.5 <= gap < 8, gap  # phone 1 rang its 5 s, then phone 2 at once
    # Not answered elsewhere: phone 1 was simply not answered in its time.
    assert ELSEWHERE not in cancels(first_msgs)[0].headers.get("reason", [])
    assert result.received("INVITE", status=180), "the caller hears ringback throughout"
    assert_no_leak(result)
    await outcome(sql, number, "forwarded")


async def test_nobody_answers_voicemail_as_today(app: AppProcess, asterisk: AsteriskContainer,
                                                 sql: Sql, pg: PgCluster) -> None:
    number = await subscriber(pg, sql, "simultaneous", [PHONE1, PHONE2])
    async with lab_phone(asterisk, PHONE1, mode="ring") as one, \
            lab_phone(asterisk, PHONE2, mode="ring") as two:
        result = await place_call(target=asterisk.sip_target, dialed=number, caller=CALLER,
                                  steps=[Wait(3.0), Hangup()], timeout_s=40)
        assert result.answered, result.describe()
        for phone in (one, two):
            await phone.wait_for(lambda ms: bool(cancels(ms)), timeout_s=5)
    assert result.setup_s is not None and result.setup_s >= 4.5  # both rang the 5 s
    assert result.rtp is not None and result.rtp.voiced_s > 1.0  # the voicemail greeting
    assert_no_leak(result)
    await outcome(sql, number, "voicemail")


async def test_saving_five_destinations_twice_keeps_order_and_ring_times(
        pg: PgCluster, sql: Sql) -> None:
    number = new_subscriber(sql)
    five = [f"031111000{i}" for i in range(5)]
    async with Database(pg.url) as db:
        for order in (five, list(reversed(five))):
            await save_forwarding(db, number, enabled=True, destinations=order, active=None,
                                  ring_seconds=20, show_caller="caller", mode="sequential",
                                  ring_each=[10, None, 15, None, 60])
            saved = await list_destinations(db, number)
            assert [d.destination for d in saved] == order
            assert [d.ring_seconds for d in saved] == [10, None, 15, None, 60]
