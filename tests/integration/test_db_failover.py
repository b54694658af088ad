"""Database failover (docs/operations.md "Streaming replica and failover"): the primary
PostgreSQL dies under light call load, its hot standby is promoted (`pg_ctl promote`), and the
app and the portal, both on the multi-host URL (`target_session_attrs=read-write`), carry on
on the new primary by themselves: no restart, no setting changed.

Load: two callers leave voicemail and hang up before the primary dies (their messages and
mails are committed), two are talking to the recorder when it dies, one calls after the
promotion while they are still talking. Afterwards every one of the five messages is in the
promoted database with its every-call mail delivered, and a portal login (password + SMS
code) works. The gap (primary gone → app and portal ready again) is written to
build/test-db-failover.txt.

Replication is synchronous in the lab pair (labkit/replica.py): the primary "crashes" (an
immediate shutdown, nothing flushed or sent at the end), and still nothing the app was told
is committed may be missing on the standby.
"""

from __future__ import annotations

import asyncio
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from integration.support import MailSink, new_subscriber
from labkit import fixtures
from labkit.appproc import AppProcess
from labkit.asterisk import AsteriskContainer
from labkit.harness.sipp import CallResult, Dtmf, Speak, Wait, place_call
from labkit.harness.wait import wait_until
from labkit.portal_dev import PortalServer
from labkit.portal_testkit import api_login, make_account
from labkit.replica import ReplicatedPg
from portal.config import PortalSettings

pytestmark = pytest.mark.lab

Sql = psycopg.Connection[tuple[object, ...]]
GREETING_S = 11.0  # the voicemail greeting and beep (test_voicemail_deposit.py)
REPORT = Path(__file__).resolve().parents[2] / "build" / "test-db-failover.txt"


@pytest.fixture
def pair(lab_dir: Path) -> Iterator[ReplicatedPg]:
    with fixtures.replicated_pg(lab_dir / "pg-failover") as replicated:
        yield replicated


@pytest.fixture
def failover_app(app: AppProcess, pair: ReplicatedPg) -> Iterator[AppProcess]:
    """The lab's app restarted on the pair's multi-host URL; back on the lab's database after."""
    original = app.env["ANSHIN_DATABASE_URL"]
    app.stop()
    app.env["ANSHIN_DATABASE_URL"] = pair.url
    try:
        app.start()
        app.wait_connected()
        yield app
        app.wait_idle()
    finally:
        app.stop()
        app.env["ANSHIN_DATABASE_URL"] = original
        app.start()
        app.wait_connected()


@pytest.fixture
def portal(pair: ReplicatedPg) -> Iterator[PortalServer]:
    server = PortalServer(PortalSettings(database_url=pair.url, portal_port=0,
                                         portal_secret="lab-test", portal_sms_provider="lab"))
    server.start()
    yield server
    server.stop()


def ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/ready", timeout=3) as r:
            return bool(r.status == 200)
    except (OSError, ValueError):  # 503 (an HTTPError) while the database is away
        return False


def voicemail_box(sql: Sql) -> tuple[str, str]:
    addr = f"fo-{uuid.uuid4().hex[:10]}@example.jp"
    number = new_subscriber(sql, voicemail_enabled=True, forward_enabled=False,
                            notify_email=addr, notify_only_recorded=True,
                            attach_recording=False)
    return number, addr


async def leave_message(asterisk: AsteriskContainer, number: str, speak_s: float,
                        after_s: float = 0.0) -> CallResult:
    await asyncio.sleep(after_s)
    return await place_call(target=asterisk.sip_target, dialed=number, caller="09011112222",
                            steps=[Wait(GREETING_S), Speak(speak_s), Dtmf("#")],
                            wait_for_remote_bye=True, timeout_s=60)


def message_count(url: str, numbers: list[str]) -> int:
    with psycopg.connect(url, autocommit=True, connect_timeout=3) as sql:
        row = sql.execute("SELECT count(*) FROM voicemail_messages WHERE number = ANY(%s)",
                          (numbers,)).fetchone()
    return int(str(row[0])) if row else 0



async def messages_are(url: str, numbers: list[str], expected: int) -> bool:
    return await asyncio.to_thread(message_count, url, numbers) == expected


async def test_primary_dies_under_calls_standby_promoted_nothing_committed_lost(
        failover_app: AppProcess, pair: ReplicatedPg, asterisk: AsteriskContainer,
        mail_sink: MailSink, portal: PortalServer) -> None:
    app_url = f"http://127.0.0.1:{failover_app.status_port}"
    with psycopg.connect(pair.url, autocommit=True) as sql:
        boxes = [voicemail_box(sql) for _ in range(5)]
        acct = make_account(sql)
        # a login before: the portal's pool holds connections to the primary that will die
        client, _ = api_login(portal.url, sql, acct)
        client.close()
    numbers = [n for n, _ in boxes]
    done_before, talking, after = boxes[:2], boxes[2:4], boxes[4]

    calls = [asyncio.create_task(leave_message(asterisk, n, 3.0)) for n, _ in done_before]
    # these two reach the recorder 4 s later and talk for 14 s: still talking at the crash
    calls += [asyncio.create_task(leave_message(asterisk, n, 14.0, after_s=4.0))
              for n, _ in talking]
    await wait_until(lambda: messages_are(pair.primary.url, [n for n, _ in done_before], 2),
                     40, "the first two messages committed on the primary")
    assert not any(c.done() for c in calls[2:]), "the later callers were still talking"

    t_crash = time.monotonic()
    await asyncio.to_thread(pair.crash_primary)
    await asyncio.to_thread(pair.promote)
    t_promoted = time.monotonic()
    app_gap = await wait_until(lambda: asyncio.to_thread(ready, app_url), 60,
                               "the app ready on the promoted standby")
    portal_gap = await wait_until(lambda: asyncio.to_thread(ready, portal.url), 60,
                                  "the portal ready on the promoted standby")
    assert not pair.in_recovery(pair.standby)

    # a new caller on the promoted database, while the two are still talking
    t_call = time.monotonic()
    later = await leave_message(asterisk, after[0], 3.0)
    assert later.answered and later.remote_hung_up, later.describe()
    first_call_s = time.monotonic() - t_call
    for call in await asyncio.gather(*calls):
        assert call.answered and call.remote_hung_up, call.describe()

    # every message, committed before the crash, recorded across it, or after it, is in the
    # promoted database (a recording whose save failed is imported by the recovery sweep)
    await wait_until(lambda: messages_are(pair.url, numbers, 5), 30,
                     "all five messages in the promoted database")
    with psycopg.connect(pair.url, autocommit=True) as sql:
        per_number: dict[object, object] = dict(sql.execute(
            "SELECT number, count(*) FROM voicemail_messages WHERE number = ANY(%s)"
            " GROUP BY number", (numbers,)).fetchall())
        assert per_number == {n: 1 for n in numbers}
        # and every mail went out (the outbox rows are on the new primary, all sent)
        await wait_until(lambda: all(mail_sink.to(addr) for _, addr in boxes), 30,
                         "every caller's mail delivered")
        unsent = sql.execute("SELECT count(*) FROM mail_outbox WHERE to_addr = ANY(%s)"
                             " AND sent_at IS NULL", ([a for _, a in boxes],)).fetchone()
        assert unsent == (0,)
        # the portal: a whole login (password, SMS code, verify) on the new primary
        client, _ = api_login(portal.url, sql, acct)
        assert client.get("/api/v1/numbers").status_code == 200
        client.close()

    REPORT.parent.mkdir(exist_ok=True)
    REPORT.write_text(
        f"primary crashed → standby promoted: {t_promoted - t_crash:.2f} s (pg_ctl promote -w)\n"
        f"promoted → app /ready: {app_gap:.2f} s; → portal /ready: {app_gap + portal_gap:.2f} s\n"
        f"first voicemail call after the failover: {first_call_s:.1f} s (greeting, 3 s"
        " message, goodbye)\n")
