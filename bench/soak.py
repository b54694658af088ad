"""`python -m bench.soak --rate R --minutes M`: mixed traffic for a long time, sampled every
10 s, to show the box stays flat.

Traffic (shares of R calls/s, each its own SIPp caller against the same lab as `bench.run`):
forwarded calls 60 % (answered by the carrier-side SIPp, held `--hold` s), voicemail
deposits 20 % (greeting, a few seconds of the caller's line, hang-up) and retrieval-IVR
calls 20 % (greeting, hang-up). Run it at ~60 % of the forward knee (`bench.run`).

Sampled every `--every` s: Asterisk RSS and open fds, the app's RSS, fds, threads and asyncio
tasks, its event-loop lag p99 (`/metrics.json`, reset per sample), live calls, PostgreSQL
table + index sizes and the mail outbox depth.

Verdict: after the warm-up (`--warmup` minutes) the slope of each process figure (least
squares, per minute) must stay under its threshold (THRESHOLDS below: e.g. Asterisk RSS
≤ 1 MB/min, i.e. ≤ 1.4 GB a day, an order of magnitude under what issue 15 saw), and no call
may fail. PostgreSQL's tables grow by design (every call writes its history row until the
retention job deletes it after its period), so they are reported as bytes per call, not
judged flat. Writes bench/results/soak-<time>.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path

import psycopg

from bench.lab import CALLER, REPO, Lab, rss_kb
from bench.load import SCENARIOS, SIPP, _sipp_stats
from labkit.ports import free_port

#: share of the offered rate per traffic kind: (name, scenario, Numbers attribute)
MIX = (("forward", "uac_forward.xml", "forward", 0.6),
       ("voicemail", "uac_answer.xml", "voicemail", 0.2),
       ("retrieval", "uac_answer.xml", "retrieval", 0.2))

#: largest slope per minute after the warm-up that still counts as flat
THRESHOLDS: dict[str, float] = {
    "asterisk_rss_kb": 1024.0,
    "asterisk_fds": 1.0,
    "app_rss_kb": 512.0,
    "app_fds": 1.0,
    "app_threads": 0.5,
    "app_tasks": 1.0,
    "outbox_depth": 1.0,
}


@dataclass
class SoakSample:
    t_s: float
    asterisk_rss_kb: int
    asterisk_fds: int
    app_rss_kb: int
    app_fds: int
    app_threads: int
    app_tasks: int | None
    live_calls: int | None
    loop_lag_p99_ms: float | None
    outbox_depth: int
    db_bytes: int
    calls_logged: int


@dataclass
class Slope:
    figure: str
    per_min: float
    threshold: float | None
    flat: bool


@dataclass
class SoakResult:
    samples: list[SoakSample] = field(default_factory=list)
    calls: dict[str, dict[str, int]] = field(default_factory=dict)
    slopes: list[Slope] = field(default_factory=list)
    db_bytes_per_call: float | None = None
    passed: bool = False
    reasons: list[str] = field(default_factory=list)


def slope_per_min(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, value) points, per minute."""
    n = len(points)
    if n < 2:
        return 0.0
    mx = sum(t for t, _ in points) / n
    my = sum(v for _, v in points) / n
    var = sum((t - mx) ** 2 for t, _ in points)
    if var == 0:
        return 0.0
    return 60.0 * sum((t - mx) * (v - my) for t, v in points) / var


def judge(result: SoakResult, warmup_s: float) -> None:
    """Pure: slopes after the warm-up against THRESHOLDS, and failed calls."""
    after = [s for s in result.samples if s.t_s >= warmup_s]
    result.slopes = []
    for figure, threshold in THRESHOLDS.items():
        points = [(s.t_s, float(v)) for s in after
                  if (v := getattr(s, figure)) is not None]
        per_min = round(slope_per_min(points), 3)
        result.slopes.append(Slope(figure, per_min, threshold, per_min <= threshold))
    if len(after) >= 2 and after[-1].calls_logged > after[0].calls_logged:
        result.db_bytes_per_call = round(
            (after[-1].db_bytes - after[0].db_bytes)
            / (after[-1].calls_logged - after[0].calls_logged), 1)
    result.reasons = [f"{s.figure} grows {s.per_min}/min > {s.threshold}"
                      for s in result.slopes if not s.flat]
    if len(after) < 3:
        result.reasons.append("fewer than 3 samples after the warm-up")
    failed = sum(c.get("failed", 0) for c in result.calls.values())
    if failed:
        result.reasons.append(f"{failed} failed calls")
    result.passed = not result.reasons


def _fds(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0


def _threads(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    return 0


def _sample(lab: Lab, t_s: float, db: psycopg.Connection[tuple[object, ...]]) -> SoakSample:
    health = lab.app_get("/health")
    metrics = lab.app_get("/metrics.json")
    lab.app_reset_metrics()
    lag = metrics.get("loop_lag_ms")
    tasks = health.get("tasks")
    live = health.get("live_calls")
    row = db.execute(
        "SELECT (SELECT count(*) FROM mail_outbox WHERE sent_at IS NULL),"
        " (SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c"
        "  WHERE c.relkind = 'r' AND c.relnamespace = 'public'::regnamespace),"
        " (SELECT count(*) FROM call_log)").fetchone()
    assert row is not None
    return SoakSample(
        t_s=round(t_s, 1),
        asterisk_rss_kb=rss_kb(lab.asterisk_pid), asterisk_fds=_fds(lab.asterisk_pid),
        app_rss_kb=rss_kb(lab.app_pid), app_fds=_fds(lab.app_pid),
        app_threads=_threads(lab.app_pid),
        app_tasks=tasks if isinstance(tasks, int) else None,
        live_calls=live if isinstance(live, int) else None,
        loop_lag_p99_ms=lag.get("p99") if isinstance(lag, dict) else None,
        outbox_depth=int(str(row[0])), db_bytes=int(str(row[1])),
        calls_logged=int(str(row[2])))


def run(lab: Lab, rate: float, minutes: float, hold_s: float, every_s: float,
        workdir: Path) -> SoakResult:
    assert lab.asterisk is not None
    numbers = lab.provision()
    duration_s = minutes * 60
    workdir.mkdir(parents=True, exist_ok=True)
    procs: list[tuple[str, subprocess.Popen[bytes], Path]] = []
    uas = subprocess.Popen(
        [SIPP, "-sf", str(SCENARIOS / "uas_answer_hangup.xml"), "-i", "127.0.0.1",
         "-p", str(lab.asterisk.config.ports.carrier), "-mi", "127.0.0.1",
         "-mp", str(free_port()), "-d", str(int(hold_s * 1000)), "-nostdin",
         "-recv_timeout", "60000"],
        cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.3)
    for name, scenario, attr, share in MIX:
        kind_dir = workdir / name
        kind_dir.mkdir(exist_ok=True)
        kind_rate = rate * share
        calls = max(1, round(kind_rate * duration_s))
        procs.append((name, subprocess.Popen(
            [SIPP, lab.asterisk.sip_target, "-sf", str(SCENARIOS / scenario),
             "-s", getattr(numbers, attr), "-set", "caller", CALLER, "-i", "127.0.0.1",
             "-p", str(free_port()), "-mi", "127.0.0.1", "-mp", str(free_port()),
             "-r", f"{kind_rate:g}", "-rp", "1000", "-m", str(calls),
             "-l", str(max(100, int(kind_rate * (hold_s + 30) * 2))),
             "-d", str(int(hold_s * 1000)), "-recv_timeout", "30000", "-nostdin",
             "-trace_stat", "-stf", "stat.csv", "-fd", "10", "-trace_err"],
            cwd=kind_dir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL), kind_dir))
    result = SoakResult()
    t0 = time.monotonic()
    deadline = t0 + duration_s + hold_s + 120  # bounded: SIPp may not end by itself
    with psycopg.connect(lab.pg.url, autocommit=True) as db:
        while any(p.poll() is None for _, p, _ in procs) and time.monotonic() < deadline:
            sample = _sample(lab, time.monotonic() - t0, db)
            result.samples.append(sample)
            print(f"[{datetime.now():%H:%M:%S}] t={sample.t_s:.0f}s Asterisk"
                  f" {sample.asterisk_rss_kb} KB {sample.asterisk_fds} fds, app"
                  f" {sample.app_rss_kb} KB {sample.app_fds} fds {sample.app_tasks} tasks,"
                  f" live {sample.live_calls}, lag p99 {sample.loop_lag_p99_ms} ms,"
                  f" outbox {sample.outbox_depth}, db {sample.db_bytes // 1024} KB",
                  flush=True)
            time.sleep(every_s)
    for name, proc, kind_dir in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGUSR1)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        stats = _sipp_stats(kind_dir / "stat.csv") if (kind_dir / "stat.csv").exists() else {}
        result.calls[name] = {"ok": int(stats.get("SuccessfulCall(C)") or 0),
                              "failed": int(stats.get("FailedCall(C)") or 0)}
    uas.terminate()
    uas.wait(timeout=10)
    return result


def markdown(meta: dict[str, object], result: SoakResult) -> str:
    lines = [f"# Soak {meta['started']}", "",
             f"`python -m bench.soak --rate {meta['rate']} --minutes {meta['minutes']}` —"
             f" warm-up {meta['warmup_min']} min, sampled every {meta['every_s']} s,"
             f" calls held {meta['hold_s']} s.", "",
             f"**{'PASS' if result.passed else 'FAIL: ' + '; '.join(result.reasons)}**", "",
             "| calls | ok | failed |", "| --- | --- | --- |"]
    lines += [f"| {k} | {v['ok']} | {v['failed']} |" for k, v in result.calls.items()]
    lines += ["", "| figure (after warm-up) | slope per minute | threshold | flat |",
              "| --- | --- | --- | --- |"]
    lines += [f"| {s.figure} | {s.per_min} | {s.threshold} | {'yes' if s.flat else 'NO'} |"
              for s in result.slopes]
    lines += ["", f"PostgreSQL tables + indexes: {result.db_bytes_per_call} bytes per call"
              " (history and call log rows, kept for their retention period).", "",
              "| t s | Asterisk RSS KB | fds | app RSS KB | fds | threads | tasks | live calls |"
              " loop lag p99 ms | outbox | db KB |",
              "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    lines += [f"| {s.t_s:.0f} | {s.asterisk_rss_kb} | {s.asterisk_fds} | {s.app_rss_kb} |"
              f" {s.app_fds} | {s.app_threads} | {s.app_tasks} | {s.live_calls} |"
              f" {s.loop_lag_p99_ms} | {s.outbox_depth} | {s.db_bytes // 1024} |"
              for s in result.samples]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__)
    ap.add_argument("--rate", type=float, required=True, help="calls/s, all kinds together")
    ap.add_argument("--minutes", type=float, default=30.0)
    ap.add_argument("--warmup", type=float, default=5.0, help="minutes not judged")
    ap.add_argument("--every", type=float, default=10.0, help="seconds between samples")
    ap.add_argument("--hold", type=float, default=5.0, help="seconds a call stays up")
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results")
    args = ap.parse_args(argv)
    if shutil.which("sipp") is None:
        print("sipp not found (apt-get install sip-tester)", file=sys.stderr)
        return 2
    started = datetime.now()
    stamp = started.strftime("%Y%m%d-%H%M%S")
    lab = Lab(app_log=REPO / "build" / "bench-app.log")
    try:
        lab.start()
        result = run(lab, args.rate, args.minutes, args.hold, args.every,
                     REPO / "build" / "bench" / f"soak-{stamp}")
    finally:
        lab.stop()
    judge(result, args.warmup * 60)
    meta: dict[str, object] = {"started": started.isoformat(timespec="seconds"),
                               "rate": args.rate, "minutes": args.minutes,
                               "warmup_min": args.warmup, "every_s": args.every,
                               "hold_s": args.hold}
    args.out.mkdir(parents=True, exist_ok=True)
    name = f"soak-{stamp}"
    (args.out / f"{name}.md").write_text(markdown(meta, result))
    (args.out / f"{name}.json").write_text(json.dumps(
        {"meta": meta, "result": asdict(result)}, indent=1, ensure_ascii=False))
    print(markdown(meta, result).split("\n\n")[2])
    print(f"wrote {args.out / name}.md")
    return 0 if result.passed else 1


if __name__ == "__main__":
    sys.exit(main())
