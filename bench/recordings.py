"""`python -m bench.recordings`: how many voicemail deposits the box records at the same time
with no audio lost, and what runs out first.

    .venv/bin/python -m bench.recordings                      # ~5 min on 2 cores
    .venv/bin/python -m bench.recordings --ladder 20,50 --hold 20   # development

Each rung starts N deposit calls within `--ramp` s, each to its own mailbox (the
`bench.native_voicemail` scenarios and provisioning): the caller hears the greeting and the
beep and SIPp *sends* speech-like RTP until it hangs up `--hold` s after the answer, so all N
record at once. After the rung every message must be stored (PostgreSQL
voicemail_messages), and each stored duration must be within `--tolerance` s of the
duration the first (smallest) rung stored — a recording that lost packets, started late or
was cut short is shorter. Per rung: calls ok/failed, messages stored, the shortest stored
duration against the reference, how long after the step (its calls ended and the app had
no live call left) the last message was still being imported into PostgreSQL (0: all were
in by then), CPU per call (Asterisk, app) and the host's CPU.
The ladder stops at the first rung that loses audio. Writes bench/results/recordings-<time>.md.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import psycopg

from bench.lab import REPO, Lab
from bench.load import Mode, run_step
from bench.native_voicemail import (
    MODES,
    clear_deposits,
    injection,
    provision,
    write_scenarios,
)

LADDER = [50, 100, 200, 300, 400]


@dataclass
class Rung:
    concurrent: int
    ok: int
    failed: int
    stored: int
    shortest_s: float | None
    median_s: float | None
    import_s: float | None  # after the step (its calls ended and drained): until all stored
    asterisk_ms_per_call: float | None
    app_ms_per_call: float | None
    host_cpu_pct: float
    max_concurrent: int


def durations(lab: Lab, numbers: list[str]) -> list[float]:
    with psycopg.connect(lab.pg.url, autocommit=True) as conn:
        return sorted(int(str(r[0])) / 1000 for r in conn.execute(
            "SELECT duration_ms FROM voicemail_messages WHERE number = ANY(%s)"
            " AND audio IS NOT NULL", (numbers,)).fetchall())


def wait_stored(lab: Lab, numbers: list[str], want: int, timeout_s: float) -> float | None:
    """Seconds until `want` messages are stored (None: not within `timeout_s`)."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout_s:
        if len(durations(lab, numbers)) >= want:
            return round(time.monotonic() - t0, 1)
        time.sleep(0.5)
    return None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.recordings", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ladder", default=",".join(str(n) for n in LADDER),
                    help="concurrent deposits per rung")
    ap.add_argument("--ramp", type=float, default=5.0, help="seconds to start a rung's calls")
    ap.add_argument("--hold", type=float, default=25.0,
                    help="seconds from the answer to the caller's hang-up (greeting ~9.6 s,"
                         " beep, then speech)")
    ap.add_argument("--tolerance", type=float, default=0.5,
                    help="seconds a stored message may be shorter than the reference")
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results")
    args = ap.parse_args(argv)
    ladder = [int(n) for n in args.ladder.split(",")]
    started = datetime.now()
    stamp = started.strftime("%Y%m%d-%H%M%S")
    workdir = REPO / "build" / "bench" / f"recordings-{stamp}"
    scenarios = write_scenarios(workdir / "scenarios")
    base = MODES["deposit-app"]
    mode = Mode(base.name, base.title, str(scenarios[base.scenario]), base.caller,
                base.number_attr, base.uas, base.latency_label, base.app)
    lab = Lab(app_log=REPO / "build" / "bench-app.log", rtp_ports=max(2000, 4 * max(ladder)))
    rungs: list[Rung] = []
    reference: float | None = None
    try:
        lab.start()
        numbers = provision(lab, max(ladder))
        for n in ladder:
            clear_deposits(lab, numbers[:n])
            inf = injection(workdir / f"rung-{n}.csv", numbers[:n], None)
            r = run_step(lab, mode, "-", n / args.ramp, args.ramp, args.hold,
                         workdir / f"rung-{n}", extra_args=["-inf", str(inf)])
            import_s = wait_stored(lab, numbers[:n], r.successful_calls, 120)
            got = durations(lab, numbers[:n])
            if reference is None and got:
                reference = got[len(got) // 2]
            rung = Rung(n, r.successful_calls, r.failed_calls, len(got),
                        got[0] if got else None, got[len(got) // 2] if got else None,
                        import_s, r.per_call_ms(r.asterisk_cpu_s), r.per_call_ms(r.app_cpu_s),
                        r.host_cpu_pct, r.max_concurrent)
            rungs.append(rung)
            whole = (rung.failed == 0 and rung.stored == n and rung.shortest_s is not None
                     and reference is not None
                     and rung.shortest_s >= reference - args.tolerance)
            print(f"[{datetime.now():%H:%M:%S}] {n} at once: ok {rung.ok} failed {rung.failed}"
                  f" stored {rung.stored} shortest {rung.shortest_s} s (reference {reference})"
                  f" import {import_s} s host CPU {rung.host_cpu_pct} %"
                  f" {'WHOLE' if whole else 'AUDIO LOST'}", flush=True)
            if not whole:
                break
    finally:
        lab.stop()
    lines = [f"# Concurrent recordings {started.isoformat(timespec='seconds')}", "",
             f"`python -m bench.recordings` — each rung starts N deposits within {args.ramp:g} s"
             f", callers hang up {args.hold:g} s after the answer; reference duration (the "
             f"first rung's median): {reference} s, tolerance {args.tolerance:g} s.", "",
             "| at once | ok | failed | stored | shortest / median s | import still running"
             " after the step s | Asterisk ms/call | app ms/call | host CPU % |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for g in rungs:
        lines.append(f"| {g.concurrent} (SIPp max {g.max_concurrent}) | {g.ok} | {g.failed} |"
                     f" {g.stored} | {g.shortest_s} / {g.median_s} | {g.import_s} |"
                     f" {g.asterisk_ms_per_call} | {g.app_ms_per_call} | {g.host_cpu_pct} |")
    args.out.mkdir(parents=True, exist_ok=True)
    out = args.out / f"recordings-{stamp}.md"
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
