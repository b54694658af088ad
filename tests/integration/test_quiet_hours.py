"""おやすみモード through real peers: during a quiet window a call goes straight to the
voicemail center (or hears the refusal announcement) without ringing the subscriber's
phone, and an exception number is forwarded as usual. The store side: the setting round
trip, the limit of exception numbers, and the incoming-call statement reading it."""

from __future__ import annotations

import asyncio
from datetime import datetime

import psycopg
import pytest

from callflow.clock import JST
from callflow.quiet_hours import QuietAction, QuietHours, QuietWindow
from callflow.store import Database, LimitExceeded
from callflow.store.quiet_hours import get_quiet_hours, save_quiet_hours
from callflow.store.subscribers import incoming_call
from integration.support import new_subscriber
from labkit.appproc import AppProcess
from labkit.asterisk import AsteriskContainer
from labkit.harness.hearing import Ears, heard
from labkit.harness.sipp import CallResult, Hangup, Uas, Wait, place_call
from labkit.harness.wait import wait_until
from labkit.postgres import PgCluster

pytestmark = pytest.mark.lab

Sql = psycopg.Connection[tuple[object, ...]]
CALLER = "09012345678"
FAMILY = "08033334444"
DEST_QUIET, DEST_ANNOUNCE, DEST_FAMILY = "09087650001", "09087650002", "09087650003"


def assert_no_leak(result: CallResult, private: str) -> None:
    for message in result.received():
        assert private[1:] not in str(message), f"private number leaked:\n{message}"


async def wait_outcome(sql: Sql, number: str, outcome: str) -> None:
    def done() -> bool:
        row = sql.execute("SELECT outcome FROM call_history WHERE number = %s",
                          (number,)).fetchone()
        return row is not None and row[0] == outcome
    await wait_until(done, 15, f"history of {number}: {outcome}")


def window_around_now(minutes: int = 30) -> QuietWindow:
    """A window from `minutes` ago to `minutes` ahead (JST): near midnight it starts on the
    day before and crosses midnight, as a subscriber's night window does."""
    now = datetime.now(JST)
    minute = now.hour * 60 + now.minute
    weekday = now.weekday() if minute >= minutes else (now.weekday() - 1) % 7
    return QuietWindow(weekday, (minute - minutes) % 1440, (minute + minutes) % 1440)


def quiet_subscriber(sql: Sql, destination: str, **settings: object) -> str:
    number = new_subscriber(sql, forward_enabled=True, forward_ring_seconds=10, **settings)
    sql.execute("INSERT INTO forward_destinations (number, destination, active)"
                " VALUES (%s, %s, true)", (number, destination))
    return number


async def test_quiet_hours_voicemail_announcement_and_exception(
        app: AppProcess, asterisk: AsteriskContainer, sql: Sql, pg: PgCluster,
        ears: Ears) -> None:
    to_voicemail = quiet_subscriber(sql, DEST_QUIET, voicemail_enabled=True)
    to_announcement = quiet_subscriber(sql, DEST_ANNOUNCE, voicemail_enabled=True)
    with_family = quiet_subscriber(sql, DEST_FAMILY, voicemail_enabled=True)
    window = (window_around_now(),)
    async with Database(pg.url) as db:
        await save_quiet_hours(db, to_voicemail, QuietHours(True, QuietAction.VOICEMAIL, window,
                                                            ("0120-000-000",)))
        await save_quiet_hours(db, to_announcement,
                               QuietHours(True, QuietAction.ANNOUNCE, window))
        # written as a subscriber types it: stored normalised, matched as presented
        await save_quiet_hours(db, with_family, QuietHours(True, QuietAction.VOICEMAIL, window,
                                                           ("080-3333-4444",)))
    async with Uas(port=asterisk.config.ports.carrier, max_lifetime_s=120, mode="answer",
                   answer_after_s=0.5, hold_s=1.5) as uas:
        quiet, announced, family = await asyncio.gather(
            place_call(target=asterisk.sip_target, dialed=to_voicemail, caller=CALLER,
                       steps=[Wait(3.0), Hangup()], timeout_s=30),
            place_call(target=asterisk.sip_target, dialed=to_announcement, caller=CALLER,
                       wait_for_remote_bye=True, timeout_s=40),
            place_call(target=asterisk.sip_target, dialed=with_family, caller=FAMILY,
                       wait_for_remote_bye=True, timeout_s=30))
        invites = await uas.calls()
    # Only the exception number rang the subscriber's phone.
    assert [i.request_user for i in invites] == [DEST_FAMILY], invites
    assert family.answered and family.remote_hung_up, family.describe()
    # Straight to the voicemail greeting: answered at once, no ring time first.
    assert quiet.answered and quiet.setup_s is not None and quiet.setup_s < 4, quiet.describe()
    assert quiet.rtp is not None and quiet.rtp.voiced_s > 1.0
    assert announced.answered and announced.remote_hung_up, announced.describe()
    assert announced.rtp is not None
    text = await ears.hear(announced.rtp.wav())
    assert heard(["お客様のご希望によりおつなぎできません"], text), text
    for result, private in ((quiet, DEST_QUIET), (announced, DEST_ANNOUNCE),
                            (family, DEST_FAMILY)):
        assert_no_leak(result, private)
    await wait_outcome(sql, to_voicemail, "voicemail")
    await wait_outcome(sql, to_announcement, "quiet_hours")
    await wait_outcome(sql, with_family, "forwarded")


async def test_quiet_hours_store_and_incoming_lookup(pg: PgCluster, sql: Sql) -> None:
    number = new_subscriber(sql)
    night = QuietWindow(0, 22 * 60, 7 * 60)
    async with Database(pg.url) as db:
        assert await get_quiet_hours(db, number) == QuietHours()
        found = await incoming_call(db, number=number, presented=CALLER, channel_id="q1",
                                    dialed=number, caller=CALLER)
        assert found is not None and found.quiet is None  # never set: nothing to read
        setting = QuietHours(True, QuietAction.ANNOUNCE, (night, QuietWindow(5, 0, 0)),
                             ("+81 80-3333-4444", "0312345678"))
        await save_quiet_hours(db, number, setting)
        saved = await get_quiet_hours(db, number)
        assert set(saved.exceptions) == {FAMILY, "0312345678"} and saved.windows == setting.windows
        found = await incoming_call(db, number=number, presented=FAMILY, channel_id="q2",
                                    dialed=number, caller=FAMILY)
        assert found is not None and found.quiet is not None
        assert found.quiet.caller_excepted and found.quiet.action is QuietAction.ANNOUNCE
        assert found.quiet.windows == setting.windows
        found = await incoming_call(db, number=number, presented=CALLER, channel_id="q3",
                                    dialed=number, caller=CALLER)
        assert found is not None and found.quiet is not None
        assert not found.quiet.caller_excepted
        # Off: the windows stay for next time, the call path reads nothing of them.
        await save_quiet_hours(db, number, QuietHours(False, QuietAction.ANNOUNCE, (night,)))
        found = await incoming_call(db, number=number, presented=CALLER, channel_id="q4",
                                    dialed=number, caller=CALLER)
        assert found is not None and found.quiet is None
        too_many = tuple(f"03123400{i:02d}" for i in range(11))
        with pytest.raises(LimitExceeded):
            await save_quiet_hours(db, number, QuietHours(True, exceptions=too_many))
        # The schema refuses the 11th as well, whoever writes.
        await save_quiet_hours(db, number, QuietHours(True, exceptions=too_many[:10]))
    with pytest.raises(psycopg.errors.RaiseException):
        sql.execute("INSERT INTO quiet_hours_exceptions (number, caller) VALUES (%s, %s)",
                    (number, "0399999999"))
