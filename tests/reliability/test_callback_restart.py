"""Item 2: あんしん発信 (two-leg callback) across an app restart. kill -9 while the two legs
talk (bridged) and while leg 2 still rings: the restarted app takes the callback over
(App._watch_bridge; callflow/features/callback/resume.py), the call goes on and the billing
rows are closed by the new process. And SIGTERM: a draining instance places no new call
request (callflow/features/callback/worker.py); the request waits for an instance that is
not draining."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

import psycopg
import pytest
import pytest_asyncio
from integration.test_callback import (
    DEST,
    OWN,
    carrier,
    dialog,
    legs,
    media_both_ways,
    speech_pcap,
    subscriber,
    wait_request,
)

from callflow.ari import AriClient
from callflow.features.callback import service
from callflow.store import Database
from labkit.appproc import AppProcess
from labkit.asterisk import AsteriskContainer
from labkit.harness.callback_uas import Behaviour
from labkit.harness.sipp import SipMessage
from labkit.harness.wait import wait_until
from labkit.postgres import PgCluster
from reliability.results import Row
from reliability.support import wait_health, wait_no_channels, wait_ready

pytestmark = pytest.mark.lab

Sql = psycopg.Connection[tuple[object, ...]]


@pytest_asyncio.fixture
async def db(pg: PgCluster) -> AsyncIterator[Database]:
    async with Database(pg.url) as database:
        yield database


def status(sql: Sql, rid: int) -> str:
    row = sql.execute("SELECT status FROM call_requests WHERE id = %s", (rid,)).fetchone()
    assert row is not None
    return str(row[0])


def bye_to(messages: list[SipMessage], user: str) -> bool:
    return any(m.method == "BYE" and m.direction == "received"
               for m in dialog(messages, user))


def closed_legs(sql: Sql, rid: int) -> dict[int, tuple[str, int]]:
    """leg → (result, billable seconds); every leg must be ended."""
    out = {}
    for leg, row in legs(sql, rid).items():
        ended, result, billable = row[5], row[6], row[7]
        assert isinstance(ended, datetime), row
        out[leg] = (str(result), int(str(billable)))
    return out


@pytest.mark.reliability(2, "App killed (kill -9) during a callback (あんしん発信) whose two "
                            "legs talk, restarted at once")
async def test_kill_while_callback_legs_talk(
        app: AppProcess, asterisk: AsteriskContainer, sql: Sql, db: Database,
        tmp_path: Path, reliability: Row) -> None:
    account, number, _own = subscriber(sql)
    pcap = speech_pcap(tmp_path, 12.0)
    hold_s = 9.0  # the destination hangs up 9 s after its answer
    routes = {OWN: Behaviour(ring_ms=300, pcap=pcap),
              DEST: Behaviour(ring_ms=300, hold_ms=int(hold_s * 1000), pcap=pcap)}
    cfg = asterisk.config
    async with carrier(asterisk, routes) as uas, \
            AriClient(asterisk.ari_url, cfg.ari_user, cfg.ari_password, "rel-cb") as ari:
        rid = await service.request_callback(db, account, number, DEST)
        await wait_request(sql, rid, ("connected",), 20)
        await wait_until(lambda: media_both_ways(ari, rid), 10,
                         "one bridge with both legs and media both ways")
        app.kill()
        t_kill = time.monotonic()
        app.start()
        back_s = await wait_ready(app, 30, "the app back")
        # still bridged after the restart (the new process keeps the bridge)
        await wait_until(lambda: media_both_ways(ari, rid), 5, "media after the restart")
        assert status(sql, rid) == "connected"
        final = await wait_request(sql, rid, ("completed", "failed"), 30)
        done_s = time.monotonic() - t_kill
        messages = uas.messages()
    assert final == ("completed", None)
    assert bye_to(messages, OWN), "leg 1 not hung up after the destination left"
    billed = closed_legs(sql, rid)
    assert billed[1][0] == billed[2][0] == "answered", billed
    assert billed[2][1] >= hold_s - 1, billed
    await wait_no_channels(asterisk)
    reliability.note("Killed with both legs bridged: media went on in Asterisk; the new "
                     "process's resync found the bridge with both legs orphaned, kept it "
                     "and watched it (App._watch_bridge). When the destination hung up it "
                     "hung up leg 1, destroyed the bridge, closed both billing rows and "
                     "completed the request.")
    reliability.figure("kill → app ready", back_s, "s")
    reliability.figure("kill → request completed (destination's hang-up)", done_s, "s")
    reliability.figure("billed leg 1 / leg 2", f"{billed[1][1]} s / {billed[2][1]} s "
                       f"(destination held {hold_s:.0f} s)")


@pytest.mark.reliability(2, "App killed (kill -9) while a callback's second leg rings, "
                            "restarted at once; the destination answers after the restart")
async def test_kill_while_callback_leg2_rings(
        app: AppProcess, asterisk: AsteriskContainer, sql: Sql, db: Database,
        tmp_path: Path, reliability: Row) -> None:
    account, number, _own = subscriber(sql, ring2=15)
    pcap = speech_pcap(tmp_path, 12.0)
    ring_s, hold_s = 6.0, 4.0  # the destination rings 6 s, answers, hangs up 4 s later
    routes = {OWN: Behaviour(ring_ms=300, pcap=pcap),
              DEST: Behaviour(ring_ms=int(ring_s * 1000), hold_ms=int(hold_s * 1000),
                              pcap=pcap)}
    cfg = asterisk.config
    async with carrier(asterisk, routes) as uas, \
            AriClient(asterisk.ari_url, cfg.ari_user, cfg.ari_password, "rel-cb") as ari:
        rid = await service.request_callback(db, account, number, DEST)
        await uas.wait_for(lambda ms: any(m.method == "INVITE" and m.to_user == DEST
                                          for m in ms), timeout_s=20)
        app.kill()
        t_kill = time.monotonic()
        app.start()
        back_s = await wait_ready(app, 30, "the app back")
        await wait_health(app, lambda h: h.get("live_calls") == 1, 10,
                          "the callback taken over")
        await wait_until(lambda: media_both_ways(ari, rid), 20,
                         "both legs bridged by the new process")
        bridged_s = time.monotonic() - t_kill
        final = await wait_request(sql, rid, ("completed", "failed"), 30)
        messages = uas.messages()
    assert final == ("completed", None)
    assert bye_to(messages, OWN), "leg 1 not hung up after the destination left"
    billed = closed_legs(sql, rid)
    assert billed[1][0] == billed[2][0] == "answered", billed
    assert billed[2][1] >= hold_s - 1, billed
    await wait_no_channels(asterisk)
    reliability.note("Killed while leg 2 rang (leg 1 answered, hearing the ringback): "
                     "Asterisk went on dialling. The new process's resync found leg 1 alone "
                     "in Stasis, recognised the callback by its channel id, read the request "
                     "and the billing rows, stopped the dead process's ringback, played its "
                     "own and waited for leg 2 (callflow/features/callback/resume.py); when "
                     "the destination answered it bridged the legs and, at the hang-up, "
                     "closed both billing rows and completed the request.")
    reliability.figure("kill → app ready", back_s, "s")
    reliability.figure("kill → legs bridged (the destination answers ~6 s after its INVITE)",
                       bridged_s, "s")
    reliability.figure("billed leg 1 / leg 2", f"{billed[1][1]} s / {billed[2][1]} s "
                       f"(destination held {hold_s:.0f} s)")


@pytest.mark.reliability(2, "SIGTERM (drain) while a callback is connected; a new call "
                            "request arrives during the drain")
async def test_draining_instance_places_no_new_call_request(
        app: AppProcess, asterisk: AsteriskContainer, sql: Sql, db: Database,
        tmp_path: Path, reliability: Row) -> None:
    account, number, _own = subscriber(sql)
    account2, number2, _own2 = subscriber(sql)
    pcap = speech_pcap(tmp_path, 10.0)
    hold_s = 8.0
    routes = {OWN: Behaviour(ring_ms=300, pcap=pcap),
              DEST: Behaviour(ring_ms=300, hold_ms=int(hold_s * 1000), pcap=pcap)}
    async with carrier(asterisk, routes):
        first = await service.request_callback(db, account, number, DEST)
        await wait_request(sql, first, ("connected",), 20)
        # SIGTERM, waiting for the exit as long as the drain may take (the drain waits
        # for the connected callback)
        stopping = asyncio.ensure_future(asyncio.to_thread(app.stop, drain=True))
        t_term = time.monotonic()
        await wait_health(app, lambda h: h.get("draining") is True, 10, "draining")
        second = await service.request_callback(db, account2, number2, DEST)
        await asyncio.sleep(2.0)  # quiet period: > the NOTIFY wake-up and a claim
        assert status(sql, second) == "pending", "a draining instance placed a new call"
        assert status(sql, first) == "connected"
        code = await stopping
        drain_s = time.monotonic() - t_term
        assert drain_s >= hold_s - 3, "the drain did not wait for the callback"
        assert code == 0, app.log_tail()
        assert await wait_request(sql, first, ("completed", "failed"), 5) == \
            ("completed", None)
        assert status(sql, second) == "pending"
        app.start()
        await wait_ready(app, 30, "the app back")
        t_up = time.monotonic()
        await wait_request(sql, second, ("connected",), 20)
        taken_s = time.monotonic() - t_up
        assert await wait_request(sql, second, ("completed", "failed"), 30) == \
            ("completed", None)
    await wait_no_channels(asterisk)
    reliability.note("The draining instance let its connected callback talk to its end "
                     "and took no new call request meanwhile (the request stayed pending, "
                     "for another instance or, here, the restarted one); it exited when the "
                     "callback ended, and the restarted instance placed the waiting "
                     "request.")
    reliability.figure("SIGTERM → exit (the callback's end)", drain_s, "s")
    reliability.figure("restarted instance ready → waiting request connected", taken_s, "s")
