"""Tables, the summary and the Markdown report of a benchmark run."""

from __future__ import annotations

from typing import Any

from bench.load import MODES, StepResult


def _m(r: StepResult, key: str, field: str) -> Any:
    value = r.app_metrics.get(key)
    return value.get(field) if isinstance(value, dict) else None


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 100 else f"{value:.0f}"
    return str(value)


HEADERS = ["mode", "offered CPS", "achieved CPS", "ok", "failed", "rtd p50/p99 ms",
           "max conc.", "TP queue max", "Asterisk CPU ms/call", "app CPU ms/call",
           "host CPU %", "first action p50/p99 ms", "Asterisk→first action p99 ms",
           "loop lag p99/max ms", "app RSS KB/call", "sustained"]


def row(r: StepResult) -> list[str]:
    tp_max = max((s.in_queue_total for s in r.tp_samples), default=None)
    app = MODES[r.mode].app
    return [
        r.mode, _fmt(r.rate), _fmt(r.achieved_cps), str(r.successful_calls),
        str(r.failed_calls),
        f"{_fmt(r.latency_ms.get('p50'))}/{_fmt(r.latency_ms.get('p99'))}",
        str(r.max_concurrent), _fmt(tp_max),
        _fmt(r.per_call_ms(r.asterisk_cpu_s)),
        _fmt(r.per_call_ms(r.app_cpu_s)) if app else "–",
        _fmt(r.host_cpu_pct),
        (f"{_fmt(_m(r, 'stasis_start_to_first_action_ms', 'p50'))}/"
         f"{_fmt(_m(r, 'stasis_start_to_first_action_ms', 'p99'))}") if app else "–",
        _fmt(_m(r, "asterisk_stasis_start_to_first_action_ms", "p99")) if app else "–",
        (f"{_fmt(_m(r, 'loop_lag_ms', 'p99'))}/{_fmt(_m(r, 'loop_lag_ms', 'max'))}")
        if app else "–",
        _fmt(r.rss_growth_per_call_kb("app")) if app else "–",
        "yes" if r.sustained else "no: " + "; ".join(r.reasons),
    ]


def table(results: list[StepResult], hold: StepResult | None) -> str:
    rows = [HEADERS, ["---"] * len(HEADERS)] + [row(r) for r in results]
    if hold is not None:
        rows.append(["**hold test** " + row(hold)[0], *row(hold)[1:]])
    return "\n".join("| " + " | ".join(cells) + " |" for cells in rows)


def summary(results: list[StepResult], hold: StepResult | None) -> dict[str, Any]:
    best: dict[str, float | None] = {}
    carried: dict[str, float | None] = {}
    passes: dict[str, dict[str, str]] = {}
    for mode in dict.fromkeys(r.mode for r in results):
        runs: dict[float, list[StepResult]] = {}
        for step in results:
            if step.mode == mode:
                runs.setdefault(step.rate, []).append(step)
        # A rate run more than once (the knee repeat) counts only if every run held.
        rates = [rate for rate, rs in runs.items() if all(r.sustained for r in rs)]
        best[mode] = max(rates) if rates else None
        rates = [rate for rate, rs in runs.items() if all(r.capacity_ok for r in rs)]
        carried[mode] = max(rates) if rates else None
        passes[mode] = {f"{rate:g}": f"{sum(r.sustained for r in rs)}/{len(rs)}"
                        for rate, rs in sorted(runs.items())}

    def ratio(figures: dict[str, float | None]) -> float | None:
        app, dialplan = figures.get("forward-app"), figures.get("forward-dialplan")
        return round(app / dialplan, 3) if app and dialplan else None

    out: dict[str, Any] = {"sustained_cps": best, "ratio_app_to_dialplan": ratio(best),
                           "carried_cps": carried,
                           "ratio_app_to_dialplan_carried": ratio(carried),
                           "sustained_runs": passes}
    # Per-call costs at the highest sustained rate of each mode.
    costs: dict[str, Any] = {}
    for mode, rate in best.items():
        r = next((x for x in results if x.mode == mode and x.rate == rate), None)
        if r is None:
            continue
        costs[mode] = {
            "asterisk_cpu_ms_per_call": r.per_call_ms(r.asterisk_cpu_s),
            "app_cpu_ms_per_call": r.per_call_ms(r.app_cpu_s) if MODES[mode].app else None,
            "first_action_ms": r.app_metrics.get("stasis_start_to_first_action_ms"),
            "asterisk_to_first_action_ms":
                r.app_metrics.get("asterisk_stasis_start_to_first_action_ms"),
            "loop_lag_ms": r.app_metrics.get("loop_lag_ms"),
        }
    out["at_best_rate"] = costs
    if hold is not None:
        out["hold_test"] = {
            "max_concurrent_calls": hold.max_concurrent,
            "failed_calls": hold.failed_calls,
            "successful_calls": hold.successful_calls,
            "app_rss_growth_kb_per_call": hold.rss_growth_per_call_kb("app"),
            "asterisk_rss_growth_kb_per_call": hold.rss_growth_per_call_kb("asterisk"),
            "sustained": hold.sustained,
            "reasons": hold.reasons,
        }
    return out


def markdown(meta: dict[str, Any], summ: dict[str, Any], results: list[StepResult],
             hold: StepResult | None) -> str:
    lines = [
        f"# Benchmark {meta['started']}{' (quick: not a result)' if meta['quick'] else ''}",
        "",
        f"`python -m bench.run` — {meta['machine']['cpus']} CPUs, Asterisk image "
        f"`{meta['machine']['asterisk_image']}`, steps of {meta['step_s']:g} s, calls held "
        f"{meta['hold_s']:g} s, run took {meta['elapsed_s']} s.",
        "",
        "## Sustained call rates",
        "",
        "| mode | what | sustained CPS (all criteria) | carried CPS (all but p99) |",
        "| --- | --- | --- | --- |",
    ]
    for mode, cps in summ["sustained_cps"].items():
        lines.append(f"| {mode} | {MODES[mode].title} | {_fmt(cps)} |"
                     f" {_fmt(summ['carried_cps'].get(mode))} |")
    lines += ["", "**Ratio app / dialplan (forward flow): "
              f"{_fmt(summ['ratio_app_to_dialplan'])} sustained, "
              f"{_fmt(summ['ratio_app_to_dialplan_carried'])} carried**", "",
              "Sustained runs per rate (a rate counts only if every run held):", ""]
    for mode, per_rate in summ.get("sustained_runs", {}).items():
        cells = ", ".join(f"{rate} CPS {count}" for rate, count in per_rate.items())
        lines.append(f"- {mode}: {cells}")
    lines.append("")
    if "hold_test" in summ:
        h = summ["hold_test"]
        lines += ["## Concurrency (hold test, forward-app)", "",
                  f"- max concurrent calls: {h['max_concurrent_calls']}, "
                  f"failed: {h['failed_calls']}, ok: {h['successful_calls']}",
                  f"- app RSS growth: {_fmt(h['app_rss_growth_kb_per_call'])} KB per "
                  f"concurrent call; Asterisk: {_fmt(h['asterisk_rss_growth_kb_per_call'])}"
                  " KB per concurrent call",
                  f"- passed: {'yes' if h['sustained'] else 'no: ' + '; '.join(h['reasons'])}",
                  ""]
    lines += ["## Every step", "", table(results, hold), "",
              "Columns: *rtd* = SIPp's INVITE→180 (forward) or INVITE→200 (voicemail, IVR); "
              "*TP queue max* = the largest sum of Asterisk taskprocessor queues sampled "
              "(`core show taskprocessors` every 5 s); CPU per call = process CPU time during "
              "the step / successful calls; *first action* = the app's call task start → "
              "first non-GET ARI request; *Asterisk→first action* counts from Asterisk's "
              "StasisStart timestamp (ms resolution); RSS per call = (peak − before) / peak "
              "concurrent calls.", "",
              "Sustained: achieved ≥ 99 % of offered, 0 failed calls, rtd p99 ≤ 100 ms, "
              "no growing taskprocessor backlog, nothing left over after the step.", ""]
    return "\n".join(lines)
