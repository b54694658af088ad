"""あんしん発信 latency: request -> leg-1 INVITE, and leg-1 answer -> leg-2 INVITE.

Run (as root, after `./lab test` or `./lab up` has built the Asterisk image once):

    .venv/bin/python -m bench.callback_latency                 # 40 callbacks, 4 at a time
    .venv/bin/python -m bench.callback_latency --calls 100 --concurrency 8

It starts its own lab (bench/lab.py: a throw-away PostgreSQL, the project's Asterisk image
on free ports, the app as a host process logging to build/bench-callback-app.log) and one
SIPp UAS as the carrier gateway answering every leg after 200 ms (the destination hangs
up 1 s after answering). Each callback uses a fresh subscriber with a verified own number
and is requested through the portal API (callflow.features.callback.service.request_callback).

Measured, per callback:
* request -> leg-1 INVITE: wall clock when request_callback() returned (the row is
  committed; the trigger's NOTIFY wakes a worker) -> SIPp's receive time of the INVITE to
  the own number (same host clock; includes LISTEN/NOTIFY, claim, originate, Asterisk);
* leg-1 answer -> leg-2 INVITE: SIPp's send time of the 200 OK on leg 1 -> its receive
  time of the INVITE to the destination (both SIPp's clock; includes ACK, StasisStart,
  the prompt start and the originate of leg 2).
Prints median and p99 of each (p99 = the maximum for small runs). Under 3 minutes.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import psycopg

from bench.lab import Lab
from callflow.features.callback import service
from callflow.store import Database
from labkit.harness.callback_uas import Behaviour, routed_uas_scenario
from labkit.harness.sipp import SipMessage, Uas

REPO = Path(__file__).resolve().parents[1]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def provision(url: str, n: int) -> list[tuple[int, str, str, str]]:
    """n x (account, 050 number, own number, destination), own numbers verified."""
    out = []
    with psycopg.connect(url, autocommit=True) as conn:
        for i in range(n):
            row = conn.execute("INSERT INTO accounts (email, password_hash) VALUES (%s, 'x')"
                               " RETURNING id", (f"cb-{uuid.uuid4().hex[:10]}@example.jp",)
                               ).fetchone()
            assert row is not None
            account = int(str(row[0]))
            number = f"0508{uuid.uuid4().int % 10**7:07d}"
            own, dest = f"0901{i:07d}", f"0310{i:06d}"
            conn.execute("INSERT INTO subscriber_numbers (number, account_id) VALUES (%s, %s)",
                         (number, account))
            conn.execute("INSERT INTO own_numbers (account_id, number, preferred, verified_at)"
                         " VALUES (%s, %s, true, now())", (account, own))
            out.append((account, number, own, dest))
    return out


def invite_to(messages: list[SipMessage], user: str) -> SipMessage | None:
    return next((m for m in messages if m.direction == "received" and m.method == "INVITE"
                 and m.to_user == user and m.to_tag is None), None)


def ok_sent(messages: list[SipMessage], call_id: str | None) -> SipMessage | None:
    return next((m for m in messages if m.direction == "sent" and m.status == 200
                 and m.cseq_method == "INVITE" and m.header("call-id") == call_id), None)


async def run(lab: Lab, calls: int, concurrency: int) -> None:
    assert lab.asterisk is not None
    subs = provision(lab.pg.url, calls + 4)
    scenario = routed_uas_scenario({}, Behaviour(mode="answer", ring_ms=200, hold_ms=1000))
    async with Uas(port=lab.asterisk.config.ports.carrier, max_lifetime_s=600,
                   custom_scenario=scenario) as uas, Database(lab.pg.url) as db:
        requested: dict[str, float] = {}
        sem = asyncio.Semaphore(concurrency)

        async def one(account: int, number: str, own: str, dest: str) -> None:
            async with sem:
                await service.request_callback(db, account, number, dest)
                requested[own] = time.time()
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline:
                    await asyncio.sleep(0.2)
                    async with db.connection() as conn:
                        cur = await conn.execute(
                            "SELECT status FROM call_requests WHERE number = %s", (number,))
                        row = await cur.fetchone()
                    if row and row[0] in ("completed", "failed", "expired"):
                        return

        warm = subs[:4]
        await asyncio.gather(*(one(*s) for s in warm))  # unmeasured warm-up
        for _, _, own, _ in warm:
            requested.pop(own, None)
        t0 = time.monotonic()
        await asyncio.gather(*(one(*s) for s in subs[4:]))
        elapsed = time.monotonic() - t0
        messages = uas.messages()
    to_leg1: list[float] = []
    answer_to_leg2: list[float] = []
    for _account, _number, own, dest in subs[4:]:
        inv1 = invite_to(messages, own)
        ok1 = ok_sent(messages, inv1.header("call-id")) if inv1 else None
        inv2 = invite_to(messages, dest)
        if not (inv1 and ok1 and inv2 and inv1.timestamp and ok1.timestamp
                and inv2.timestamp):
            print(f"callback {own} -> {dest}: incomplete", file=sys.stderr)
            continue
        # SIPp logs local wall-clock time without a zone: astimezone() reads it as local
        to_leg1.append((inv1.timestamp.astimezone(UTC).timestamp() - requested[own]) * 1e3)
        answer_to_leg2.append((inv2.timestamp - ok1.timestamp).total_seconds() * 1e3)
    print(f"callbacks measured: {len(to_leg1)}/{calls} in {elapsed:.1f}s "
          f"(concurrency {concurrency}), {datetime.now(UTC):%Y-%m-%d %H:%M}Z")
    for name, values in (("request -> leg-1 INVITE", to_leg1),
                         ("leg-1 answer (200 sent) -> leg-2 INVITE", answer_to_leg2)):
        if values:
            print(f"{name:42s} median {statistics.median(values):7.1f} ms   "
                  f"p99 {percentile(values, 0.99):7.1f} ms   max {max(values):7.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=40)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()
    lab = Lab(REPO / "build" / "bench-callback-app.log", rtp_ports=800)
    try:
        lab.start()
        asyncio.run(run(lab, args.calls, args.concurrency))
    finally:
        lab.stop()


if __name__ == "__main__":
    main()
