"""Item 2: two app instances on one Asterisk, each with its own Stasis application names, are
restarted one after the other under a steady load of mixed calls - voicemail deposits,
retrieval-IVR logins and forwarded calls - once gracefully (SIGTERM: drain, exit, start
again) and once by a crash (kill -9, started again at once, as a supervisor would). Every
call completes: none fails, none hears the dialplan's fallback announcement, no message is
lost and no mail is sent twice. After a crash the restarted instance takes its calls over
(callflow/adoption.py) instead of letting them end first."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass

import psycopg
import pytest
from argon2 import PasswordHasher
from integration.support import MailSink, new_subscriber

from callflow.ari import AriClient
from labkit import fixtures
from labkit.appproc import AppProcess
from labkit.asterisk import AsteriskContainer
from labkit.harness.sipp import CallResult, Dtmf, Hangup, Speak, Step, Uas, Wait, place_call
from labkit.harness.wait import wait_until
from labkit.postgres import PgCluster
from reliability.conftest import APP_SETTINGS, BUILD
from reliability.results import Row
from reliability.support import TcpProxy, wait_no_channels, wait_ready

pytestmark = pytest.mark.lab

Sql = psycopg.Connection[tuple[object, ...]]
DEST = "09087654321"
GREETING_S = 11.0
CALL_EVERY_S = 1.0
LOAD_S = 42.0
TWO = {"ANSHIN_ARI_APP_INSTANCES": "2", "ANSHIN_DRAIN_SECONDS": "25"}


@dataclass
class Placed:
    kind: str
    number: str
    result: CallResult | None = None
    error: str = ""


def ok(call: Placed) -> bool:
    r = call.result
    if r is None or not r.answered:
        return False
    if call.kind == "ivr":  # logged in, heard "no messages", hung up by the app
        return r.remote_hung_up
    return r.local_hung_up and not r.remote_hung_up  # talked to the end, never cut


async def terminate(app: AppProcess, timeout: float = 40.0) -> float:
    """SIGTERM (drain) and wait for the exit; seconds it took."""
    assert app.proc is not None
    t0 = time.monotonic()
    app.proc.send_signal(signal.SIGTERM)
    while app.proc.poll() is None:
        assert time.monotonic() - t0 < timeout, "the instance did not exit after its drain"
        await asyncio.sleep(0.1)
    assert app.proc.returncode == 0, app.log_tail()
    app.proc = None
    return time.monotonic() - t0


async def crash(app: AppProcess) -> float:
    """kill -9 (no drain: the calls stay in Asterisk for the restarted instance)."""
    app.kill()
    return 0.0


#: how an instance is stopped, its row in docs/reliability.md
STOPS = {
    "sigterm": (terminate, "Two app instances restarted one after the other (SIGTERM: "
                           "drain, exit, start) under a steady load of mixed calls"),
    "sigkill": (crash, "Two app instances killed (kill -9) one after the other, each "
                       "restarted at once, under a steady load of mixed calls"),
}


@pytest.fixture(params=list(STOPS))
def stop_kind(request: pytest.FixtureRequest) -> str:
    kind: str = request.param
    # the row's fault text depends on the parameter (the reliability fixture reads it)
    request.node.add_marker(pytest.mark.reliability(2, STOPS[kind][1]))
    return kind


@pytest.mark.timeout(300)
async def test_rolling_restart_under_load(
        stop_kind: str, app: AppProcess, asterisk: AsteriskContainer, pg: PgCluster,
        sql: Sql, mail_sink: MailSink, ari_proxy: TcpProxy, reliability: Row) -> None:
    stop = STOPS[stop_kind][0]
    hasher = PasswordHasher()
    pin_hash = hasher.hash("4826")
    cfg = asterisk.config
    # instance A: the suite's app, now serving half of the names; instance B: the other half
    app.stop()
    app.env.update({**TWO, "ANSHIN_ARI_APP_INSTANCE": "0"})
    app.start()
    app.wait_connected()
    placed: list[Placed] = []
    try:
        with fixtures.app_process(
                asterisk, pg.url, log_path=BUILD / "app-b.log", **APP_SETTINGS, **TWO,
                ANSHIN_ARI_APP_INSTANCE="1",
                ANSHIN_ARI_URL=f"http://127.0.0.1:{ari_proxy.port}/ari",
                ANSHIN_SMTP_PORT=str(mail_sink.port)) as other:
            async with AriClient(asterisk.ari_url, cfg.ari_user, cfg.ari_password,
                                 "rel-probe", timeout=5) as ari, \
                    Uas(port=cfg.ports.carrier, mode="answer", answer_after_s=0.5,
                        hold_s=None, max_lifetime_s=180):
                fallbacks_before = int(await ari.get_global_var("ANSHIN_FALLBACKS") or 0)
                load = asyncio.create_task(_load(sql, asterisk, pin_hash, placed))
                await asyncio.sleep(8.0)  # calls of every kind in progress on both
                drains = []
                gaps = []
                for instance in (app, other):
                    drains.append(await stop(instance))
                    t_down = time.monotonic()
                    instance.start()
                    await wait_ready(instance, 30, "the instance back")
                    gaps.append(time.monotonic() - t_down)
                    await asyncio.sleep(1.0)
                await load
                fallbacks_after = int(await ari.get_global_var("ANSHIN_FALLBACKS") or 0)
            await wait_no_channels(asterisk, 60)
            other.wait_idle(30)
    finally:
        app.stop()
        for key in (*TWO, "ANSHIN_ARI_APP_INSTANCE"):
            app.env.pop(key, None)
        app.start()
        app.wait_connected()
    failed = [c for c in placed if not ok(c)]
    assert not failed, "\n".join(
        f"{c.kind} {c.number}: {c.error or (c.result.describe() if c.result else '')}"
        for c in failed)
    assert fallbacks_after == fallbacks_before
    # every message stored once, every mail sent once
    deposits = [c for c in placed if c.kind == "voicemail"]
    for c in deposits:
        count = sql.execute("SELECT count(*) FROM voicemail_messages WHERE number = %s",
                            (c.number,)).fetchone()
        assert count == (1,), (c.number, count)
    await wait_until(lambda: all(len(mail_sink.to(_addr(c.number))) >= 1 for c in deposits),
                     30, "every message's mail")
    await asyncio.sleep(2.0)  # a duplicate would follow within a few mail polls
    duplicates = [c.number for c in deposits if len(mail_sink.to(_addr(c.number))) != 1]
    assert not duplicates
    longest: dict[str, float] = {}
    for c in placed:
        assert c.result is not None and c.result.rtp is not None
        pauses = [length for _, length in c.result.rtp.pauses]
        longest[c.kind] = max([longest.get(c.kind, 0.0), *pauses])
    kinds = {k: sum(1 for c in placed if c.kind == k) for k in ("voicemail", "ivr", "forward")}
    calls = (f"{len(placed)} calls at one a second ({kinds['voicemail']} voicemail "
             f"deposits, {kinds['ivr']} IVR logins, {kinds['forward']} forwarded calls)")
    if stop_kind == "sigterm":
        reliability.note(f"{calls} while instance A, then B, got SIGTERM: each stopped taking "
                         "new calls (the dialplan skipped its application names), let its "
                         "calls end, exited and came back; new calls went to the other "
                         "instance. Every call completed, no fallback announcement, every "
                         "message stored and mailed once.")
    else:
        reliability.note(f"{calls} while instance A, then B, was killed (kill -9) and "
                         "started again at once: new calls found the killed instance's "
                         "application names without a WebSocket (Stasis FAILED) and the "
                         "dialplan moved them to the other instance; the calls in progress "
                         "on the killed one stayed in Asterisk and the restarted instance "
                         "took them over (IVR step again, recordings stored whole; forwarded "
                         "calls carried by Dial). Every call completed, no fallback "
                         "announcement, every message stored and mailed once.")
    reliability.figure("failed calls / fallback announcements", f"{len(failed)} / "
                       f"{fallbacks_after - fallbacks_before}")
    reliability.figure("messages stored / mails (deposits)",
                       f"{len(deposits)} / {len(deposits)} of {len(deposits)}")
    if stop_kind == "sigterm":
        reliability.figure("SIGTERM → exit (drain), A / B",
                           f"{drains[0]:.1f} s / {drains[1]:.1f} s")
    reliability.figure("exit → instance ready again, A / B",
                       f"{gaps[0]:.2f} s / {gaps[1]:.2f} s")
    reliability.figure("longest pause in the audio a caller received (RTP), voicemail / IVR "
                       "/ forward", " / ".join(f"{longest.get(k, 0.0):.2f} s"
                                             for k in ("voicemail", "ivr", "forward")))


def _addr(number: str) -> str:
    return f"roll-{number}@example.jp"


async def _load(sql: Sql, asterisk: AsteriskContainer, pin_hash: str,
                placed: list[Placed]) -> None:
    """One call a second for LOAD_S, the kinds in turn; returns when all have ended."""
    calls: list[asyncio.Task[None]] = []
    kinds: list[tuple[str, Callable[[], tuple[str, list[Step], bool]]]] = [
        ("voicemail", lambda: _deposit(sql)), ("ivr", lambda: _ivr(sql, pin_hash)),
        ("forward", lambda: _forward(sql))]
    t0 = time.monotonic()
    i = 0
    while time.monotonic() - t0 < LOAD_S:
        kind, make = kinds[i % len(kinds)]
        number, steps, wait_bye = make()
        call = Placed(kind, number)
        placed.append(call)
        calls.append(asyncio.create_task(_place(asterisk, call, steps, wait_bye)))
        i += 1
        await asyncio.sleep(CALL_EVERY_S)
    await asyncio.gather(*calls)


async def _place(asterisk: AsteriskContainer, call: Placed, steps: list[Step],
                 wait_bye: bool) -> None:
    try:
        call.result = await place_call(target=asterisk.sip_target, dialed=call.number,
                                       caller="08012340000", steps=steps,
                                       digit_gap_s=0.08, wait_for_remote_bye=wait_bye,
                                       timeout_s=90)
    except Exception as exc:
        call.error = repr(exc)


def _deposit(sql: Sql) -> tuple[str, list[Step], bool]:
    number = new_subscriber(sql, voicemail_enabled=True, forward_enabled=False,
                            notify_only_recorded=True)
    sql.execute("UPDATE subscriber_numbers SET notify_email = %s WHERE number = %s",
                (_addr(number), number))
    return number, [Wait(GREETING_S), Speak(2.5), Hangup()], False


def _ivr(sql: Sql, pin_hash: str) -> tuple[str, list[Step], bool]:
    number = new_subscriber(sql, voicemail_enabled=True, voicemail_pin_hash=pin_hash)
    keys = [Dtmf(number + "#", mode="rfc4733", duration_s=0.08, gap_s=0.06),
            Dtmf("4826#", mode="rfc4733", duration_s=0.08, gap_s=0.06)]
    return "05033005000", [Wait(1.0), *keys], True


def _forward(sql: Sql) -> tuple[str, list[Step], bool]:
    number = new_subscriber(sql, forward_enabled=True, voicemail_enabled=False)
    sql.execute("INSERT INTO forward_destinations (number, destination, active)"
                " VALUES (%s, %s, true)", (number, DEST))
    return number, [Speak(5.0), Hangup()], False

