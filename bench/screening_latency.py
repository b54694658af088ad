"""Screening decision latency: StasisStart → the first ARI action of an inbound call.

Run (as root, after `./lab test` or `./lab up` has built the Asterisk image once):

    .venv/bin/python -m bench.screening_latency            # 240 calls, 8 at a time
    .venv/bin/python -m bench.screening_latency --calls 400 --concurrency 16

It starts its own lab like the integration tests (a throw-away PostgreSQL, the project's
Asterisk image on free ports, the app as a host process logging to
build/bench-screening-app.log) and places SIPp calls to four subscribers, round robin:
blocked caller with busy (first action: hang up 486), anonymous caller with rejection on
(answer), forwarding to a ringing gateway (continue into the dialplan's Dial; the
subscription and dial instructions go out during the history insert), voicemail directly
(answer). Callers hang up / cancel quickly; after a short unmeasured warm-up a run takes
well under a minute.

What is measured: the app logs, per inbound call, the time from the moment its StasisStart
reached the call task (`Call.started`) to just before it issues the first ARI request of
the decision - routing lookup, the screening inputs (caller presentation from Asterisk and
block list / forward destination from PostgreSQL, concurrently), the pure decision and the
history insert. Also printed: the caller-visible INVITE → 486 time of the busy calls.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import psycopg

from labkit.appproc import AppProcess
from labkit.asterisk import AsteriskContainer
from labkit.harness.sipp import Hangup, Uas, Wait, place_call
from labkit.lab import app_env, new_asterisk
from labkit.postgres import PgCluster

REPO = Path(__file__).resolve().parents[1]

LINE = re.compile(r"call (\S+) to \d+ .*: (\w+) first_action_ms=([0-9.]+)")
BLOCKED_CALLER = "09011119999"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def provision(url: str) -> dict[str, str]:
    numbers: dict[str, str] = {}
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("INSERT INTO accounts (email, password_hash) VALUES (%s, 'x')"
                           " RETURNING id", (f"bench-{uuid.uuid4().hex[:8]}@example.jp",)
                           ).fetchone()
        assert row is not None
        settings = {
            "busy": "block_action = 'busy'",
            "anonymous": "reject_anonymous = true",
            "forward": "forward_enabled = true, forward_ring_seconds = 30",
            "voicemail": "voicemail_enabled = true",
        }
        for i, (name, update) in enumerate(settings.items()):
            number = f"0507777{i:04d}"
            conn.execute("INSERT INTO subscriber_numbers (number, account_id) VALUES (%s, %s)",
                         (number, row[0]))
            conn.execute(f"UPDATE subscriber_numbers SET {update} WHERE number = %s", (number,))
            numbers[name] = number
        conn.execute("INSERT INTO block_list (number, blocked) VALUES (%s, %s)",
                     (numbers["busy"], BLOCKED_CALLER))
        # the blocked caller is on every list's neighbour too: 30 entries make the lookup real
        for k in range(29):
            conn.execute("INSERT INTO block_list (number, blocked) VALUES (%s, %s)",
                         (numbers["busy"], f"03000{k:05d}"))
        conn.execute("INSERT INTO forward_destinations (number, destination, active)"
                     " VALUES (%s, '09087654321', true)", (numbers["forward"],))
    return numbers


async def run_calls(asterisk: AsteriskContainer, numbers: dict[str, str], calls: int,
                    concurrency: int) -> tuple[list[float], int]:
    kinds = list(numbers)
    sem = asyncio.Semaphore(concurrency)
    busy_setup: list[float] = []
    failures = 0

    async def one(i: int) -> None:
        nonlocal failures
        kind = kinds[i % len(kinds)]
        async with sem:
            if kind == "busy":
                r = await place_call(target=asterisk.sip_target, dialed=numbers[kind],
                                     caller=BLOCKED_CALLER, timeout_s=20)
                if r.final_status == 486 and r.setup_s is not None:
                    busy_setup.append(r.setup_s * 1000)
                else:
                    failures += 1
            elif kind == "forward":
                r = await place_call(target=asterisk.sip_target, dialed=numbers[kind],
                                     caller="0312345678", cancel_after_s=1.0, timeout_s=20)
                failures += 0 if r.cancelled else 1
            else:
                r = await place_call(target=asterisk.sip_target, dialed=numbers[kind],
                                     caller="anonymous" if kind == "anonymous" else "0312345678",
                                     steps=[Wait(0.3), Hangup()], timeout_s=20)
                failures += 0 if r.answered else 1

    async with Uas(port=asterisk.config.ports.carrier, mode="ring", max_lifetime_s=600):
        await asyncio.gather(*(one(i) for i in range(calls)))
    return busy_setup, failures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=240)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()

    lab = Path(tempfile.mkdtemp(prefix="anshin-bench-"))
    os.chmod(lab, 0o755)
    pg = PgCluster(lab / "pg")
    asterisk = new_asterisk(lab / "asterisk", "bench")
    log_path = REPO / "build" / "bench-screening-app.log"
    log_path.unlink(missing_ok=True)
    app: AppProcess | None = None
    pg.start()
    try:
        asterisk.start()
        asyncio.run(asterisk.wait_ready())
        app = AppProcess(env=app_env(asterisk, pg.url, ANSHIN_LOG_LEVEL="INFO"),
                         log_path=log_path)
        app.start()
        app.wait_connected()
        numbers = provision(pg.url)
        # Warm-up (not measured): fills the app's DB pool and Asterisk's caches, as in
        # steady-state service.
        asyncio.run(run_calls(asterisk, numbers, 4 * args.concurrency, args.concurrency))
        app.wait_idle(timeout=30)
        offset = log_path.stat().st_size
        t0 = time.monotonic()
        busy_setup, failures = asyncio.run(
            run_calls(asterisk, numbers, args.calls, args.concurrency))
        elapsed = time.monotonic() - t0
        app.wait_idle(timeout=30)
    finally:
        if app is not None:
            app.stop()
        asterisk.stop()
        pg.stop()
        shutil.rmtree(lab, ignore_errors=True)

    by_action: dict[str, list[float]] = {}
    with log_path.open(errors="replace") as log:
        log.seek(offset)
        measured = log.read()
    for m in LINE.finditer(measured):
        by_action.setdefault(m.group(2), []).append(float(m.group(3)))
    everything = [v for vs in by_action.values() for v in vs]
    print(f"{args.calls} calls, {args.concurrency} concurrent, {elapsed:.1f} s,"
          f" {failures} failed calls; {len(everything)} screening decisions logged")
    print(f"{'decision':<18}{'n':>5}{'median ms':>11}{'p99 ms':>9}{'max ms':>9}")
    for name, values in [*sorted(by_action.items()), ("all", everything)]:
        if values:
            print(f"{name:<18}{len(values):>5}{statistics.median(values):>11.2f}"
                  f"{percentile(values, 0.99):>9.2f}{max(values):>9.2f}")
    if busy_setup:
        print(f"caller-visible INVITE→486 (blocked, busy): median"
              f" {statistics.median(busy_setup):.1f} ms, p99 {percentile(busy_setup, 0.99):.1f} ms")


if __name__ == "__main__":
    main()
