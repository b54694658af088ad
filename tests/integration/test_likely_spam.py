"""迷惑電話の可能性 through real peers: a number blocked by N test accounts (through the
block-list writer, as the portal does) is labelled for the (N+1)th subscriber — in the
history row and in the notification mail of a real SIPp call — and a subscriber who chose so
sends the next call from it straight to the rejection announcement.

The subscriber has neither forwarding nor voicemail, so a call hears 「ただいま電話をおつなぎ
することができません。」 and ends as "missed" with an every-call mail: short calls, one mail
each.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid

import psycopg
import pytest

from callflow.config import Settings
from callflow.store import Database
from callflow.store.blocklist import add_blocked, remove_blocked
from callflow.store.likely_spam import refresh, set_reject
from integration.support import MailSink, body_of, new_subscriber, parse_mail
from labkit.appproc import AppProcess
from labkit.asterisk import AsteriskContainer
from labkit.harness.sipp import place_call
from labkit.harness.wait import wait_until
from labkit.postgres import PgCluster

pytestmark = pytest.mark.lab

Sql = psycopg.Connection[tuple[object, ...]]
N = Settings().likely_spam_min_subscribers  # the app runs with the default (5)


def history(sql: Sql, number: str) -> list[tuple[object, ...]]:
    return sql.execute("SELECT caller, outcome, likely_spam FROM call_history"
                       " WHERE number = %s ORDER BY id", (number,)).fetchall()


async def call_ends(sql: Sql, number: str, calls: int, outcome: str) -> tuple[object, ...]:
    """The last call's history row once its outcome is written (when the call ends)."""
    deadline = time.monotonic() + 15
    while True:
        rows = history(sql, number)
        if len(rows) == calls and rows[-1][1] == outcome:
            return rows[-1]
        if time.monotonic() > deadline:
            raise AssertionError(f"history of {number}: {rows}")
        await asyncio.sleep(0.2)


async def test_a_number_blocked_by_n_accounts_is_labelled_then_refused_by_choice(
        app: AppProcess, asterisk: AsteriskContainer, sql: Sql, pg: PgCluster,
        mail_sink: MailSink) -> None:
    spammer = "090" + str(random.randrange(10**8)).zfill(8)
    shown = f"{spammer[:3]}-{spammer[3:7]}-{spammer[7:]}"
    addr = f"spam-{uuid.uuid4().hex[:10]}@example.jp"
    number = new_subscriber(sql, notify_email=addr, notify_only_recorded=False)
    blockers = [new_subscriber(sql) for _ in range(N)]

    async def dial() -> None:
        result = await place_call(target=asterisk.sip_target, dialed=number, caller=spammer,
                                  wait_for_remote_bye=True, timeout_s=30)
        assert result.answered and result.remote_hung_up, result.describe()

    async with Database(pg.url) as db:
        # N - 1 accounts, one of them twice (two forms of one number count once), and one
        # that blocked and removed it again: not yet labelled
        for blocker in blockers[:-1]:
            await add_blocked(db, blocker, "+81 " + spammer[1:])
        await add_blocked(db, blockers[0], shown)
        await add_blocked(db, blockers[-1], spammer)
        assert await remove_blocked(db, blockers[-1], spammer)
        await dial()
        assert await call_ends(sql, number, 1, "missed") == (spammer, "missed", False)
        await wait_until(lambda: mail_sink.to(addr), 15, "the first mail")
        first = parse_mail(mail_sink.to(addr)[0])
        assert "迷惑電話の可能性" not in str(first["Subject"]) + body_of(first)

        # the Nth account blocks it (from its history, say): the next call is labelled
        await add_blocked(db, blockers[-1], spammer)
        await dial()
        assert await call_ends(sql, number, 2, "missed") == (spammer, "missed", True)
        await wait_until(lambda: len(mail_sink.to(addr)) == 2, 15, "the second mail")
        mail = parse_mail(mail_sink.to(addr)[1])
        assert mail["Subject"] == (
            f"【050あんしんナンバー】着信のお知らせ（{shown}・迷惑電話の可能性）")
        body = body_of(mail)
        assert f"発信者番号：{shown}・迷惑電話の可能性" in body, body
        assert "多くのお客さまが着信拒否している番号です" in body
        # nothing tells who blocked it, nor how many
        for blocker in blockers:
            assert blocker not in body and blocker[1:] not in body

        # the subscriber chooses to refuse such calls: the next one hears the rejection
        # announcement and hangs up, and a refused call sends no mail
        await set_reject(db, number, True)
        await dial()
    assert await call_ends(sql, number, 3, "rejected_likely_spam") == (
        spammer, "rejected_likely_spam", True)
    await asyncio.sleep(1.0)  # the sender polls every 0.3 s: no third mail is coming
    assert len(mail_sink.to(addr)) == 2


def reporters(sql: Sql, caller: str) -> object:
    row = sql.execute("SELECT reporters FROM likely_spam_numbers WHERE caller = %s",
                      (caller,)).fetchone()
    return row[0] if row else None


async def test_concurrent_blocks_all_count_and_old_ones_age_out_at_the_recount(
        sql: Sql, pg: PgCluster) -> None:
    caller = "0120" + str(random.randrange(10**6)).zfill(6)
    blockers = [new_subscriber(sql) for _ in range(8)]
    async with Database(pg.url, max_size=8) as db:
        # eight accounts at once: each recount waits for the other's commit (one lock per
        # number), so none is lost
        await asyncio.gather(*(add_blocked(db, b, caller) for b in blockers))
        assert reporters(sql, caller) == 8
        # an entry older than 90 days counts until the retention job's recount
        sql.execute("UPDATE block_list SET created_at = now() - interval '91 days'"
                    " WHERE number = %s AND blocked = %s", (blockers[0], caller))
        assert reporters(sql, caller) == 8
        assert await refresh(db) >= 1
        assert reporters(sql, caller) == 7
        for b in blockers:
            await remove_blocked(db, b, caller)
        assert reporters(sql, caller) == 0
        await refresh(db)  # nobody blocks it any more: the row goes
        assert reporters(sql, caller) is None
