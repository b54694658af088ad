"""The retention job (callflow/jobs.py retention_once → callflow/store/retention.py) against
the real PostgreSQL: each kind of row is deleted once past its period, by the app's clock
(moved 3 days ahead here, so rows the database's now() would keep are due), and nothing
younger, nor any mail still to be delivered, is touched."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from callflow.ari import AriClient
from callflow.clock import FixedClock
from callflow.config import Settings
from callflow.jobs import all_jobs, retention_job, retention_once
from callflow.services import Services
from callflow.store import Database
from integration.support import new_subscriber
from labkit.postgres import PgCluster

pytestmark = pytest.mark.lab

Sql = psycopg.Connection[tuple[object, ...]]
DAY = timedelta(days=1)


def insert_id(sql: Sql, statement: str, *params: object) -> int:
    row = sql.execute(statement + " RETURNING id", params).fetchone()
    assert row is not None and isinstance(row[0], int)
    return row[0]


def exists(sql: Sql, table: str, row_id: int) -> bool:
    return sql.execute(f"SELECT 1 FROM {table} WHERE id = %s", (row_id,)).fetchone() is not None


async def test_retention_deletes_each_kind_of_row_after_its_period(pg: PgCluster,
                                                                   sql: Sql) -> None:
    now = datetime.now(UTC)
    number = new_subscriber(sql)
    (account,) = sql.execute("SELECT account_id FROM subscriber_numbers WHERE number = %s",
                             (number,)).fetchone() or (0,)
    old: dict[str, list[int]] = {}
    kept: dict[str, list[int]] = {}

    def history(age: timedelta) -> int:
        return insert_id(sql, "INSERT INTO call_history (number, caller, received_at)"
                              " VALUES (%s, '09011112222', %s)", number, now - age)

    def log(age: timedelta) -> int:
        return insert_id(sql, "INSERT INTO call_log (channel_id, dialed, route, started_at)"
                              " VALUES ('c', %s, 'inbound', %s)", number, now - age)

    # the app's clock is 3 days ahead: 88 days old is 91 for the job, 86 days is 89
    old["call_history"] = [history(88 * DAY)]
    kept["call_history"] = [history(86 * DAY)]
    old["call_log"] = [log(88 * DAY)]
    kept["call_log"] = [log(86 * DAY)]

    def mail(sent: timedelta | None, failed: timedelta | None, created: timedelta) -> int:
        return insert_id(
            sql, "INSERT INTO mail_outbox (to_addr, subject, body, created_at, sent_at, failed_at)"
                 " VALUES ('a@example.jp', 's', 'b', %s, %s, %s)", now - created,
            None if sent is None else now - sent, None if failed is None else now - failed)

    old["mail_outbox"] = [mail(28 * DAY, None, 28 * DAY), mail(None, 28 * DAY, 29 * DAY)]
    # delivered recently, and never delivered at all (a relay outage delays, never loses)
    kept["mail_outbox"] = [mail(26 * DAY, None, 40 * DAY), mail(None, None, 400 * DAY)]

    def sms(age: timedelta) -> int:
        return insert_id(sql, "INSERT INTO sms_outbox (to_number, body, provider, created_at)"
                              " VALUES ('09011112222', 'x', 'lab', %s)", now - age)

    old["sms_outbox"] = [sms(28 * DAY)]
    kept["sms_outbox"] = [sms(26 * DAY)]

    def request(kind: str, status: str, finished: timedelta) -> int:
        return insert_id(
            sql, "INSERT INTO call_requests (kind, account_id, number, leg1, status, created_at,"
                 " finished_at) VALUES (%s, %s, %s, '09011112222', %s, %s, %s)",
            kind, account, number if kind == "callback" else None, status,
            now - finished - DAY, now - finished)

    # 2FA / verification requests (they hold codes) follow the outbox period; callback
    # requests and their billing legs the billing period (7 years = 2557 days)
    old["call_requests"] = [request("twofa_voice", "completed", 28 * DAY),
                            request("callback", "completed", 2555 * DAY)]
    kept["call_requests"] = [request("verify_own_number", "failed", 26 * DAY),
                             request("callback", "completed", 2553 * DAY)]
    legs = {r: insert_id(sql, "INSERT INTO callback_legs (request_id, leg, from_number, to_number,"
                              " billable_seconds) VALUES (%s, 1, %s, '09011112222', 60)",
                         r, number)
            for r in (old["call_requests"][1], kept["call_requests"][1])}
    old["callback_legs"] = [legs[old["call_requests"][1]]]
    kept["callback_legs"] = [legs[kept["call_requests"][1]]]

    def session(token: str, expired: timedelta) -> str:
        sql.execute("INSERT INTO portal_sessions (token_hash, account_id, csrf_token, expires_at)"
                    " VALUES (%s, %s, 'c', %s)", (token, account, now - expired))
        return token

    old_session = session(f"old-{number}", 5 * DAY)  # 8 days for the job: past 7
    kept_session = session(f"kept-{number}", 3 * DAY)
    old["twofa_sends"] = [insert_id(sql, "INSERT INTO twofa_sends (account_id, contact_number,"
                                         " sent_at) VALUES (%s, '09011112222', %s)",
                                    account, now - 5 * DAY)]
    kept["twofa_sends"] = [insert_id(sql, "INSERT INTO twofa_sends (account_id, contact_number)"
                                          " VALUES (%s, '09011112222')", account)]

    settings = Settings(database_url=pg.url)
    assert (settings.retention_history_days, settings.retention_outbox_days,
            settings.retention_sessions_days, settings.retention_billing_days) == (90, 30, 7, 2557)
    assert ("retention", retention_job) in all_jobs()
    async with Database(pg.url) as db:
        services = Services(settings=settings, db=db,
                            ari=AriClient("http://127.0.0.1:9/ari", "u", "p", "anshin"),
                            clock=FixedClock(now + 3 * DAY))
        deleted = await retention_once(services)
        assert deleted is not None  # no other instance was running it
        for table in ("call_history", "call_log", "mail_outbox", "sms_outbox", "twofa_sends",
                      "portal_sessions"):
            assert deleted.get(table, 0) >= 1, (table, deleted)
        assert deleted.get("call_requests", 0) >= 1 and deleted.get("callback billing") == 1
        # a second run finds nothing more of ours (idempotent; every instance runs it)
        await retention_once(services)

    for table, ids in old.items():
        assert not any(exists(sql, table, i) for i in ids), table
    for table, ids in kept.items():
        assert all(exists(sql, table, i) for i in ids), table
    sessions = {str(r[0]) for r in sql.execute(
        "SELECT token_hash FROM portal_sessions WHERE account_id = %s", (account,)).fetchall()}
    assert sessions == {kept_session} and old_session not in sessions
