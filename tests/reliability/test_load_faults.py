"""Item 7: a steady SIPp load (10 calls/s for 30 s, each to a 050 number that is not in
service: the app looks it up, logs it, plays a ~3 s announcement and hangs up) while the app
is killed (kill -9) and restarted once."""

from __future__ import annotations

import asyncio
import csv
import shutil
import tempfile
import time
from pathlib import Path

import psycopg
import pytest

from labkit.appproc import AppProcess
from labkit.asterisk import AsteriskContainer
from labkit.ports import free_port
from reliability.results import Row
from reliability.support import channel_log, health, wait_health, wait_no_channels, wait_ready

pytestmark = pytest.mark.lab

Sql = psycopg.Connection[tuple[object, ...]]
SCENARIO = Path(__file__).resolve().parent / "load_uac.xml"
RATE = 10
DURATION_S = 30
KILL_AT_S = 12.0
DIALED = "05099997777"


def _error_tail(workdir: Path) -> str:
    errors = next(workdir.glob("*_errors.log"), None)
    return errors.read_text(errors="replace")[-2000:] if errors else ""


@pytest.mark.timeout(180)
@pytest.mark.reliability(7, f"Steady load ({RATE} calls/s for {DURATION_S} s) and the app "
                            "killed (kill -9) and restarted once")
async def test_app_restart_under_load(app: AppProcess, asterisk: AsteriskContainer,
                                      sql: Sql, reliability: Row) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="rel-load-"))
    offered = RATE * DURATION_S
    since = time.time()
    log_start = app.log_path.stat().st_size
    try:
        sipp = await asyncio.create_subprocess_exec(
            "sipp", asterisk.sip_target, "-sf", str(SCENARIO), "-s", DIALED,
            "-i", "127.0.0.1", "-p", str(free_port()), "-mi", "127.0.0.1",
            "-mp", str(free_port()), "-r", str(RATE), "-rp", "1000", "-m", str(offered),
            "-l", "300", "-recv_timeout", "30000", "-nostdin",
            "-trace_stat", "-stf", "stat.csv", "-fd", "1", "-trace_err",
            cwd=workdir, stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL, start_new_session=True)
        t_start = time.monotonic()
        await asyncio.sleep(KILL_AT_S)
        live_before = (await health(app)).get("live_calls")
        app.kill()
        t_kill = time.monotonic()
        app.start()
        back_s = await wait_ready(app, 30, "the app to come back")
        await asyncio.wait_for(sipp.wait(), DURATION_S + 60)
        wall_s = time.monotonic() - t_start
        rows = list(csv.DictReader((workdir / "stat.csv").open(newline=""), delimiter=";"))
        last = rows[-1]
        created = int(last["TotalCallCreated"])
        ok = int(last["SuccessfulCall(C)"])
        failed = int(last["FailedCall(C)"])
        error_tail = _error_tail(workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    await wait_health(app, lambda h: h.get("live_calls") == 0, 30, "no live call")
    await wait_no_channels(asterisk, timeout=30)
    handled = [r for r in channel_log(sql, since) if r[1] == DIALED]
    log = app.log_path.read_bytes()[log_start:].decode(errors="replace")
    orphans = log.count("orphan after reconnect, hanging up")
    # calls that arrived while the app was away: Stasis FAILED → dialplan announcement
    fallback = ok - len(handled)
    first_after = sql.execute(
        "SELECT extract(epoch FROM min(started_at)) FROM call_log WHERE dialed = %s"
        " AND started_at > to_timestamp(%s)", (DIALED, since + (t_kill - t_start) + 0.2)
    ).fetchone()
    assert first_after is not None and first_after[0] is not None
    service_back_s = float(str(first_after[0])) - (since + (t_kill - t_start))
    assert created == offered
    assert failed <= 0.01 * offered, f"{failed} failed calls:\n{error_tail}"
    assert ok + failed == offered
    assert len({r[0] for r in handled}) == len(handled)  # no call handled twice
    reliability.note(f"{offered} calls offered by SIPp at {RATE}/s; the app was killed "
                     f"{KILL_AT_S:.0f} s in with {live_before} calls in progress. Calls in "
                     "progress were hung up by the new app's resync (their announcement "
                     "cut short); calls arriving while it was away got the dialplan's "
                     "「ただいま…」 announcement; no channel or call task was left.")
    reliability.figure("failed calls (no 200 or no BYE)", f"{failed} of {offered}")
    reliability.figure("answered by the app / by the dialplan fallback",
                       f"{len(handled)} / {fallback}")
    reliability.figure("calls cut short by the kill (hung up by resync)", orphans)
    reliability.figure("kill → app connected", back_s, "s")
    reliability.figure("kill → first new call handled by the app", service_back_s, "s")
    reliability.figure("SIPp run", wall_s, "s")
