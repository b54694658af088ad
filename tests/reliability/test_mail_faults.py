"""Item 5: the SMTP relay is down for a minute (answering 421 to every connection), and the
app is killed meanwhile. Retry schedule shortened for the lab: 0.5 s doubling, cap 8 s."""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid

import psycopg
import pytest
from integration.support import MailSink, new_subscriber

from labkit.appproc import AppProcess
from labkit.asterisk import AsteriskContainer
from labkit.harness.sipp import Hangup, Wait, place_call
from labkit.harness.wait import wait_until
from reliability.results import Row
from reliability.support import RefusingRelay

pytestmark = pytest.mark.lab

Sql = psycopg.Connection[tuple[object, ...]]
OUTAGE_S = 60.0
RETRY_CAP_S = 8.0


def clusters(times: list[float], gap: float = 1.0) -> list[float]:
    """Start times of bursts of attempts (the queued mails are retried together, each on its
    own schedule, so one burst spreads over up to a second). With the lab's backoff (0.5 s
    base) the first waits are 0.5, 1 and 2 s: the first burst may hold the first two or three
    tries, so the first gap between bursts is 2–4 s; the later ones reach the cap."""
    starts: list[float] = []
    last = float("-inf")
    for t in sorted(times):
        if t - last > gap:
            starts.append(t)
        last = t
    return starts


@pytest.mark.reliability(5, "SMTP relay down for 60 s (421 to every connection); the app "
                            "is killed with mail queued")
async def test_relay_outage(app: AppProcess, asterisk: AsteriskContainer, sql: Sql,
                            mail_sink: MailSink, reliability: Row) -> None:
    addrs = [f"rel-{uuid.uuid4().hex[:10]}@example.jp" for _ in range(3)]
    numbers = [new_subscriber(sql, voicemail_enabled=True, forward_enabled=False,
                              notify_email=a, notify_only_recorded=False) for a in addrs]
    mail_sink.stop()
    relay = RefusingRelay(mail_sink.port)
    try:
        t_down = time.monotonic()
        # three callers hang up during the greeting: an "every call" mail each
        calls = await asyncio.gather(*[
            place_call(target=asterisk.sip_target, dialed=n, caller="0312345678",
                       steps=[Wait(3.0), Hangup()], timeout_s=20) for n in numbers])
        for c in calls:
            assert c.answered, c.describe()
        await asyncio.sleep(OUTAGE_S / 2 - (time.monotonic() - t_down))
        app.kill()  # the queue is in the database: nothing is lost with the process
        app.start()
        app.wait_connected()
        await asyncio.sleep(OUTAGE_S - (time.monotonic() - t_down))
    finally:
        relay.close()
        mail_sink.start()
    t_up = time.monotonic()
    await wait_until(lambda: all(mail_sink.to(a) for a in addrs), RETRY_CAP_S + 10,
                     "every queued mail after the relay came back")
    delivered_s = time.monotonic() - t_up
    await asyncio.sleep(3.0)  # many poll intervals: nothing is sent twice
    assert [len(mail_sink.to(a)) for a in addrs] == [1, 1, 1]
    rows = sql.execute("SELECT attempts, sent_at IS NOT NULL FROM mail_outbox"
                       " WHERE to_addr = ANY(%s)", (addrs,)).fetchall()
    assert len(rows) == 3 and all(sent for _, sent in rows)
    attempts = sorted(int(str(a)) for a, _ in rows)
    bursts = clusters(relay.attempts)
    gaps = [round(b - a, 1) for a, b in itertools.pairwise(bursts)]
    # exponential backoff up to the cap: a short gap first, then gaps near the cap
    assert gaps and gaps[0] < RETRY_CAP_S * 0.6, gaps
    steady = gaps[-3:]
    assert all(RETRY_CAP_S * 0.8 <= g <= RETRY_CAP_S * 2.5 for g in steady), gaps
    assert attempts[0] >= 5 and attempts[-1] <= 20, attempts
    reliability.note("The mails were queued in the outbox (same transaction as the call's "
                     "outcome), retried with exponential backoff against the refusing "
                     "relay, survived a kill -9 of the app (the queue is in PostgreSQL) and "
                     "were delivered exactly once each soon after the relay came back.")
    reliability.figure("relay outage", OUTAGE_S, "s")
    reliability.figure("tries per mail (incl. the successful one)",
                       "/".join(str(a) for a in attempts))
    reliability.figure("gaps between retry bursts", " ".join(f"{g:g}" for g in gaps), "s")
    reliability.figure("all delivered after the relay is back", delivered_s, "s")
    reliability.figure("mails per recipient", "1 / 1 / 1")
