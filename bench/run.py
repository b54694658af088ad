"""`python -m bench.run`: the app against a dialplan-only baseline on the same Asterisk.

Starts its own lab (Asterisk container on free loopback ports, throw-away PostgreSQL, the
app as a host process), then for each mode climbs a ladder of call rates until a step is
not sustained (then tries the midpoint once), holds ~500 concurrent app calls, and writes
bench/results/bench-<timestamp>.{json,md}. See bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from dataclasses import asdict
from datetime import datetime
from pathlib import Path

from bench import plot
from bench.lab import REPO, Lab, Numbers
from bench.load import MODES, StepResult, run_step
from bench.report import markdown, summary, table

# Rates (calls/s) per mode, tried in order until one is not sustained. Calibrated on the
# 2-core lab machine; --rates overrides them for every mode.
# The two forward modes climb the same ladder, so each rate compares like with like.
LADDERS: dict[str, list[float]] = {
    "forward-app": [120, 160, 190, 220],
    "forward-dialplan": [120, 160, 190, 220],
    "voicemail-app": [50],
    "retrieval-app": [50],
}
QUICK_LADDERS: dict[str, list[float]] = {
    "forward-dialplan": [20, 40],
    "forward-app": [20, 40],
    "voicemail-app": [10, 20],
    "retrieval-app": [10, 20],
}


#: the knee is found to within this fraction of its rate
KNEE_PRECISION = 0.05
#: at most this many extra steps per mode for it
MAX_BISECTIONS = 4


def next_bisection(steps: list[tuple[float, bool]], lowest_rung: float) -> float | None:
    """Pure: the next rate to try when bisecting for the knee, from (rate, sustained) steps
    run so far; None when the highest sustained rate and the lowest failed rate above it are
    within KNEE_PRECISION (or nothing failed). Nothing sustained: 3/4 of the lowest rung."""
    held = [rate for rate, ok in steps if ok]
    failed = [rate for rate, ok in steps if not ok]
    if not held:
        low = min([lowest_rung, *failed])
        return None if low <= 1 else float(round(0.75 * low))
    best = max(held)
    above = [rate for rate in failed if rate > best]
    if not above:
        return None
    ceiling = min(above)
    if ceiling - best <= KNEE_PRECISION * best:
        return None
    mid = float(round((best + ceiling) / 2))
    return mid if best < mid < ceiling else None


def _log(msg: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {msg}", flush=True)


def _line(r: StepResult) -> str:
    lat = r.latency_ms.get("p99")
    return (f"{r.mode:17} {r.rate:6g} CPS → {r.achieved_cps:7.2f} ok={r.successful_calls}"
            f" fail={r.failed_calls} p99={lat} ms conc={r.max_concurrent}"
            f" {'SUSTAINED' if r.sustained else 'not sustained: ' + '; '.join(r.reasons)}")


def climb(lab: Lab, mode_name: str, dialed: str, rates: list[float], step_s: float,
          hold_s: float, workdir: Path, refine: bool) -> list[StepResult]:
    mode = MODES[mode_name]
    results: list[StepResult] = []
    for rate in rates:
        r = run_step(lab, mode, dialed, rate, step_s, hold_s, workdir / f"{mode_name}-{rate:g}")
        _log(_line(r))
        results.append(r)
        # Climb while the rate is carried (latency is judged but does not stop the climb:
        # it is the figure most disturbed by other load on a shared machine).
        if not r.capacity_ok:
            break
    if refine:
        # Bisect between the highest sustained rate and the lowest rate above it that was
        # not, until the two are within KNEE_PRECISION of each other (the first report of
        # a slower host said 90 where 105 also held: its ladder went from 90 to 120).
        for _ in range(MAX_BISECTIONS):
            mid = next_bisection([(r.rate, r.sustained) for r in results], rates[0])
            if mid is None:
                break
            r2 = run_step(lab, mode, dialed, mid, step_s, hold_s,
                          workdir / f"{mode_name}-{mid:g}")
            _log(_line(r2))
            results.append(r2)
    return results


def repeat_knees(lab: Lab, numbers: Numbers, results: list[StepResult], step_s: float,
                 hold_s: float, workdir: Path, repeats: int) -> list[StepResult]:
    """Run each forward mode's highest sustained rate again, the modes alternating: one
    lucky step must not make the peak (a rate counts as sustained only if all its runs
    were; the report gives pass counts)."""
    knees = {m: max((r.rate for r in results if r.mode == m and r.sustained), default=None)
             for m in ("forward-app", "forward-dialplan")}
    extra: list[StepResult] = []
    for n in range(1, repeats + 1):
        for mode_name, rate in knees.items():
            if rate is None:
                continue
            dialed = getattr(numbers, MODES[mode_name].number_attr)
            r = run_step(lab, MODES[mode_name], dialed, rate, step_s, hold_s,
                         workdir / f"{mode_name}-{rate:g}-repeat{n}")
            _log(_line(r) + " (repeat)")
            extra.append(r)
    return extra


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    ap.add_argument("--quick", action="store_true",
                    help="short, low steps for development (not a result)")
    ap.add_argument("--modes", default=",".join(MODES),
                    help=f"comma-separated, from {', '.join(MODES)}")
    ap.add_argument("--rates", help="comma-separated CPS ladder for every mode")
    ap.add_argument("--step", type=float, help="seconds of load per step (default 60)")
    ap.add_argument("--hold", type=float, default=3.0, help="seconds a call stays up")
    ap.add_argument("--concurrency", type=int, default=500,
                    help="concurrent app calls to hold in the hold test (0 = skip)")
    ap.add_argument("--no-refine", action="store_true",
                    help="no bisection for the knee after a failed step")
    ap.add_argument("--knee-repeats", type=int, default=1,
                    help="extra runs of each forward mode's highest sustained rate")
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results")
    args = ap.parse_args(argv)
    if shutil.which("sipp") is None:
        print("sipp not found (apt-get install sip-tester)", file=sys.stderr)
        return 2
    step_s = args.step or (10.0 if args.quick else 60.0)
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    for m in modes:
        if m not in MODES:
            ap.error(f"unknown mode {m}")
    started = datetime.now()
    stamp = started.strftime("%Y%m%d-%H%M%S")
    workdir = REPO / "build" / "bench" / stamp
    lab = Lab(app_log=REPO / "build" / "bench-app.log")
    results: list[StepResult] = []
    hold_result: StepResult | None = None
    t0 = time.monotonic()
    try:
        _log("starting lab (PostgreSQL, Asterisk container, app)")
        lab.start()
        numbers = lab.provision()
        _log(f"lab up: SIP {lab.asterisk.sip_target if lab.asterisk else '?'};"
             f" numbers {numbers}")
        for mode_name in modes:
            ladders = QUICK_LADDERS if args.quick else LADDERS
            rates = ([float(x) for x in args.rates.split(",")] if args.rates
                     else ladders[mode_name])
            dialed = getattr(numbers, MODES[mode_name].number_attr)
            results += climb(lab, mode_name, dialed, rates, step_s, args.hold, workdir,
                             refine=not args.no_refine and not args.quick)
        if args.knee_repeats and not args.quick:
            results += repeat_knees(lab, numbers, results, step_s, args.hold, workdir,
                                    args.knee_repeats)
        if args.concurrency and "forward-app" in modes:
            # ~N calls up at once: a modest rate, calls held long enough to overlap.
            conc = args.concurrency if not args.quick else min(args.concurrency, 100)
            rate = 25.0 if not args.quick else 10.0
            ramp = conc * 1.1 / rate
            _log(f"hold test: {rate:g} CPS for {ramp:.0f} s, calls held {ramp:.0f} s")
            hold_result = run_step(lab, MODES["forward-app"], numbers.forward, rate, ramp,
                                   ramp, workdir / "hold")
            _log(_line(hold_result))
    finally:
        _log("stopping lab")
        lab.stop()
    elapsed = round(time.monotonic() - t0)
    meta = {
        "started": started.isoformat(timespec="seconds"),
        "elapsed_s": elapsed,
        "quick": args.quick,
        "step_s": step_s,
        "hold_s": args.hold,
        "modes": modes,
        "machine": {"cpus": _cpus(), "asterisk_image": _image()},
        "criteria": {"achieved_min": 0.99, "failed_calls": 0, "latency_p99_ms": 100,
                     "taskprocessor_backlog": "median in-queue total of the 2nd half of "
                     "the step ≤ 100 or ≤ the 1st half's"},
    }
    summ = summary(results, hold_result)
    doc = {"meta": meta, "summary": summ,
           "steps": [asdict(r) for r in results],
           "hold_test": asdict(hold_result) if hold_result else None}
    args.out.mkdir(parents=True, exist_ok=True)
    name = f"bench-{stamp}{'-quick' if args.quick else ''}"
    (args.out / f"{name}.json").write_text(json.dumps(doc, indent=1, ensure_ascii=False))
    md = markdown(meta, summ, results, hold_result)
    for mode_name in modes:
        plot.write(latency_plot(mode_name, results), args.out / f"{name}-{mode_name}")
    (args.out / f"{name}.md").write_text(md)
    print()
    print(table(results, hold_result))
    print()
    ratio = summ.get("ratio_app_to_dialplan")
    print(f"sustained CPS: {summ['sustained_cps']}  ratio app/dialplan (forward): {ratio}")
    print(f"carried CPS (all but p99): {summ['carried_cps']}"
          f"  ratio: {summ['ratio_app_to_dialplan_carried']}")
    print(f"wrote {args.out / name}.json and .md ({elapsed} s)")
    return 0


def latency_plot(mode_name: str, results: list[StepResult]) -> plot.Plot:
    """INVITE→180/200 p50 and p99 of one mode's steps against the offered rate: the knee is
    where p99 leaves the 100 ms line."""
    steps = [r for r in results if r.mode == mode_name]

    def points(key: str) -> list[tuple[float, float]]:
        return [(r.rate, float(v)) for r in steps if (v := r.latency_ms.get(key)) is not None]

    label = MODES[mode_name].latency_label
    return plot.Plot(
        title=f"{mode_name}: {label} against the offered rate", x_label="offered calls/s",
        y_label="ms", series=[plot.Series(f"{label} p50", "green", points("p50")),
                              plot.Series(f"{label} p99", "blue", points("p99"))],
        marks=[plot.Mark("100 ms (sustained limit)", "red", 100.0)])


def _cpus() -> int:
    import os
    return os.cpu_count() or 0


def _image() -> str:
    path = REPO / "build/asterisk-image"
    return path.read_text().strip() if path.exists() else ""


if __name__ == "__main__":
    sys.exit(main())
