"""`python -m bench.overload --knee R`: the forward path offered 1×, 2×, 3× its sustained
rate R and then R again, with admission control on (dialplan/anshin.conf, [anshin-inbound]).

Goal (issue 15): beyond the knee the box still completes ≥ 90 % of R with normal latency,
refuses the excess fast (503 within 100 ms), and takes every call again once the burst
ends. Each step uses `scenarios/uac_forward_or_refused.xml` (a call is either forwarded or
refused with 503) against the same lab as `bench.run`. Writes
bench/results/overload-<time>.{json,md,svg,png} (the plot shows goodput, refusals and latency
against the offered rate). R is the sustained forward-app rate from a `bench.run` on the
same machine; `--limit` sets ANSHIN_SETUP_LIMIT for the run (A/B of the limit).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

from bench import plot
from bench.lab import REPO, Lab
from bench.load import MODES, StepResult, run_step

#: offered rate as multiples of the knee; the last step shows the recovery
MULTIPLES = (1.0, 2.0, 3.0, 1.0)
GOODPUT_MIN = 0.9  # of the knee, while overloaded
LATENCY_LIMIT_MS = 100.0


@dataclass(frozen=True)
class Verdict:
    multiple: float
    passed: bool
    reasons: list[str]


def judge(step: StepResult, knee: float, multiple: float, recovery: bool) -> Verdict:
    """Pure: did this step meet the overload goal?"""
    reasons: list[str] = []
    if step.failed_calls:
        reasons.append(f"{step.failed_calls} failed calls")
    admitted_p99 = step.latency_ms.get("p99")
    if admitted_p99 is None or admitted_p99 > LATENCY_LIMIT_MS:
        reasons.append(f"admitted INVITE→180 p99 {admitted_p99} ms > {LATENCY_LIMIT_MS:g}")
    if recovery or multiple <= 1.0:
        if step.refused_calls:
            reasons.append(f"{step.refused_calls} calls refused at the sustained rate")
        if step.goodput_cps < 0.99 * step.rate:
            reasons.append(f"goodput {step.goodput_cps} < 99% of {step.rate:g}")
    else:
        if step.goodput_cps < GOODPUT_MIN * knee:
            reasons.append(f"goodput {step.goodput_cps} < {GOODPUT_MIN:.0%} of the knee {knee:g}")
        refused_p99 = step.refused_latency_ms.get("p99")
        if step.refused_calls and (refused_p99 is None or refused_p99 > LATENCY_LIMIT_MS):
            reasons.append(f"INVITE→503 p99 {refused_p99} ms > {LATENCY_LIMIT_MS:g}")
    if not step.drained:
        reasons.append("calls/channels left over after the step")
    return Verdict(multiple, not reasons, reasons)


def goodput_plot(steps: list[StepResult], knee: float) -> plot.Plot:
    """Goodput and refusals per second and admitted p99 against the offered rate."""
    return plot.Plot(
        title=f"Overload: knee {knee:g} calls/s",
        x_label="offered calls/s", y_label="calls/s; ms",
        series=[
            plot.Series("goodput calls/s", "green", [(s.rate, s.goodput_cps) for s in steps]),
            plot.Series("refused calls/s", "red",
                        [(s.rate, s.refused_calls / s.duration_s) for s in steps
                         if s.duration_s]),
            plot.Series("admitted INVITE→180 p99 ms", "blue",
                        [(s.rate, float(p99)) for s in steps
                         if (p99 := s.latency_ms.get("p99")) is not None]),
        ],
        marks=[plot.Mark(f"{GOODPUT_MIN:.0%} of the knee", "green", GOODPUT_MIN * knee),
               plot.Mark(f"{LATENCY_LIMIT_MS:g} ms", "blue", LATENCY_LIMIT_MS)])


def markdown(meta: dict[str, object], steps: list[StepResult], verdicts: list[Verdict],
             svg_name: str) -> str:
    lines = [f"# Overload {meta['started']}", "",
             f"`python -m bench.overload --knee {meta['knee']}` — steps of {meta['step_s']} s,"
             f" calls held {meta['hold_s']} s, ANSHIN_SETUP_LIMIT {meta['setup_limit']},"
             f" run took {meta['elapsed_s']} s.", "",
             "| offered CPS | × knee | goodput CPS | refused | INVITE→503 p99 ms |"
             " admitted INVITE→180 p50/p99 ms | failed | Asterisk CPU ms/call | host CPU % |"
             " TP queue max | verdict |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for s, v in zip(steps, verdicts, strict=True):
        tp_max = max((t.in_queue_total for t in s.tp_samples), default=None)
        lines.append(
            f"| {s.rate:g} | {v.multiple:g} | {s.goodput_cps} | {s.refused_calls} |"
            f" {s.refused_latency_ms.get('p99')} | {s.latency_ms.get('p50')}/"
            f"{s.latency_ms.get('p99')} | {s.failed_calls} | {s.per_call_ms(s.asterisk_cpu_s)}"
            f" | {s.host_cpu_pct} | {tp_max} |"
            f" {'pass' if v.passed else 'FAIL: ' + '; '.join(v.reasons)} |")
    lines += ["", f"![goodput against offered rate]({svg_name})", "",
              f"Pass: overloaded steps complete ≥ {GOODPUT_MIN:.0%} of the knee with admitted"
              f" p99 ≤ {LATENCY_LIMIT_MS:g} ms and refusals within {LATENCY_LIMIT_MS:g} ms;"
              " the steps at the knee (first and last) refuse nothing. CPU per call counts"
              " admitted and refused calls alike (successful SIPp calls).", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.overload", description=__doc__)
    ap.add_argument("--knee", type=float, required=True,
                    help="the sustained forward-app rate (CPS) measured by bench.run")
    ap.add_argument("--step", type=float, default=60.0, help="seconds of load per step")
    ap.add_argument("--hold", type=float, default=3.0, help="seconds a call stays up")
    ap.add_argument("--limit", type=int, help="ANSHIN_SETUP_LIMIT for this run")
    ap.add_argument("--multiples", default=",".join(f"{m:g}" for m in MULTIPLES),
                    help="offered rates as multiples of the knee, in order")
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results")
    args = ap.parse_args(argv)
    if shutil.which("sipp") is None:
        print("sipp not found (apt-get install sip-tester)", file=sys.stderr)
        return 2
    multiples = [float(m) for m in args.multiples.split(",")]
    started = datetime.now()
    stamp = started.strftime("%Y%m%d-%H%M%S")
    workdir = REPO / "build" / "bench" / f"overload-{stamp}"
    lab = Lab(app_log=REPO / "build" / "bench-app.log")
    steps: list[StepResult] = []
    verdicts: list[Verdict] = []
    t0 = time.monotonic()
    limit = "30 (shipped)"
    try:
        lab.start()
        numbers = lab.provision()
        assert lab.asterisk is not None
        if args.limit is not None:
            lab.asterisk.cli(f"dialplan set global ANSHIN_SETUP_LIMIT {args.limit}")
            limit = str(args.limit)
        seen_peak = False
        for i, multiple in enumerate(multiples):
            rate = round(args.knee * multiple, 1)
            step = run_step(lab, MODES["overload-app"], numbers.forward, rate, args.step,
                            args.hold, workdir / f"{i}-{rate:g}")
            recovery = seen_peak and multiple <= 1.0
            seen_peak = seen_peak or multiple > 1.0
            verdict = judge(step, args.knee, multiple, recovery)
            steps.append(step)
            verdicts.append(verdict)
            print(f"[{datetime.now():%H:%M:%S}] {rate:g} CPS ({multiple:g}×): goodput"
                  f" {step.goodput_cps}, refused {step.refused_calls}"
                  f" (p99 {step.refused_latency_ms.get('p99')} ms), admitted p99"
                  f" {step.latency_ms.get('p99')} ms, failed {step.failed_calls}:"
                  f" {'pass' if verdict.passed else 'FAIL ' + '; '.join(verdict.reasons)}",
                  flush=True)
    finally:
        lab.stop()
    meta: dict[str, object] = {
        "started": started.isoformat(timespec="seconds"), "knee": args.knee,
        "step_s": args.step, "hold_s": args.hold, "setup_limit": limit,
        "elapsed_s": round(time.monotonic() - t0)}
    args.out.mkdir(parents=True, exist_ok=True)
    name = f"overload-{stamp}"
    plot.write(goodput_plot(steps, args.knee), args.out / name)
    (args.out / f"{name}.md").write_text(markdown(meta, steps, verdicts, f"{name}.svg"))
    (args.out / f"{name}.json").write_text(json.dumps(
        {"meta": meta, "steps": [asdict(s) for s in steps],
         "verdicts": [asdict(v) for v in verdicts]}, indent=1, ensure_ascii=False))
    passed = sum(v.passed for v in verdicts)
    print(f"{passed}/{len(verdicts)} steps passed; wrote {args.out / name}.md")
    return 0 if passed == len(verdicts) else 1


if __name__ == "__main__":
    sys.exit(main())
