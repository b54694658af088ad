"""One load step: a SIPp UAC at a fixed rate (and a SIPp UAS on the carrier port when the flow
forwards), with Asterisk / app probes sampled while it runs."""

from __future__ import annotations

import contextlib
import csv
import re
import signal
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench.lab import CALLER, Lab, cpu_seconds, host_cpu, rss_kb
from labkit.ports import free_port

SCENARIOS = Path(__file__).resolve().parent / "scenarios"
SIPP = "sipp"


@dataclass(frozen=True)
class Mode:
    name: str
    title: str
    scenario: str  # UAC scenario file in bench/scenarios
    caller: str  # From user: "bench" selects the dialplan-only baseline endpoint
    number_attr: str  # which Numbers field is dialed
    uas: bool  # a forward target answers on the carrier port
    latency_label: str  # what SIPp's rtd 1 measures
    app: bool  # the app handles these calls (app metrics apply)
    refusable: bool = False  # admission control may refuse calls (503): overload steps


MODES: dict[str, Mode] = {m.name: m for m in (
    Mode("forward-app", "forward to a phone, app (ARI)", "uac_forward.xml", CALLER,
         "forward", True, "INVITE→180", True),
    Mode("forward-dialplan", "forward to a phone, dialplan only (Dial)", "uac_forward.xml",
         "bench", "forward", True, "INVITE→180", False),
    Mode("voicemail-app", "voicemail deposit, app", "uac_answer.xml", CALLER, "voicemail",
         False, "INVITE→200", True),
    Mode("retrieval-app", "retrieval IVR (050-3300-5000), app", "uac_answer.xml", CALLER,
         "retrieval", False, "INVITE→200", True),
    # The forward-app path offered beyond its knee: admitted calls are forwarded, the
    # excess is refused by admission control (dialplan/anshin.conf [anshin-inbound]).
    Mode("overload-app", "forward to a phone beyond the knee, app + admission control",
         "uac_forward_or_refused.xml", CALLER, "forward", True, "INVITE→180", True,
         refusable=True),
)}


@dataclass
class Sample:
    t: float
    asterisk_rss_kb: int
    app_rss_kb: int
    app_live_calls: int | None


@dataclass
class TpSample:
    t: float
    in_queue_total: int
    top: list[tuple[str, int]]  # the deepest queues


@dataclass
class StepResult:
    mode: str
    rate: float
    duration_s: float
    hold_s: float
    offered_calls: int
    created_calls: int = 0
    successful_calls: int = 0
    failed_calls: int = 0
    achieved_cps: float = 0.0
    latency_ms: dict[str, float | None] = field(default_factory=dict)
    max_concurrent: int = 0
    tp_samples: list[TpSample] = field(default_factory=list)
    samples: list[Sample] = field(default_factory=list)
    asterisk_cpu_s: float = 0.0
    app_cpu_s: float = 0.0
    host_cpu_pct: float = 0.0
    app_metrics: dict[str, object] = field(default_factory=dict)
    rss_before_kb: dict[str, int] = field(default_factory=dict)
    drained: bool = True
    # overload steps: calls refused with 503, INVITE→503, and the admitted calls per second
    refused_calls: int = 0
    refused_latency_ms: dict[str, float | None] = field(default_factory=dict)
    goodput_cps: float = 0.0
    sustained: bool = False  # every criterion
    capacity_ok: bool = False  # every criterion but the latency one
    reasons: list[str] = field(default_factory=list)
    wall_s: float = 0.0

    # derived figures for the report
    def per_call_ms(self, cpu_s: float) -> float | None:
        return round(cpu_s * 1000 / self.successful_calls, 3) if self.successful_calls else None

    def rss_growth_per_call_kb(self, which: str) -> float | None:
        peak = max((getattr(s, f"{which}_rss_kb") for s in self.samples), default=0)
        before = self.rss_before_kb.get(which, 0)
        if not self.max_concurrent or not peak:
            return None
        return round((peak - before) / self.max_concurrent, 2)


def _pct(values: list[float], p: float) -> float | None:
    if not values:
        return None
    data = sorted(values)
    return data[min(len(data) - 1, int(p * len(data)))]


def parse_taskprocessors(text: str) -> tuple[int, list[tuple[str, int]]]:
    """`core show taskprocessors`: Processor, Processed, In Queue, Max Depth, Low water,
    High water (Asterisk 22 adds Low/High time(us))."""
    queues: list[tuple[str, int]] = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 6 and all(p.isdigit() for p in parts[1:6]):
            queues.append((parts[0], int(parts[2])))
    queues.sort(key=lambda q: -q[1])
    return sum(q for _, q in queues), [q for q in queues[:3] if q[1] > 0]


def queues_growing(samples: list[TpSample], threshold: int = 100) -> bool:
    """A backlog that keeps building: the second half of the step holds more than
    `threshold` queued tasks on median and more than the first half did."""
    if len(samples) < 4:
        return False
    totals = [s.in_queue_total for s in samples]
    half = len(totals) // 2
    first = sorted(totals[:half])[half // 2]
    second_sorted = sorted(totals[half:])
    second = second_sorted[len(second_sorted) // 2]
    return second > threshold and second > first


class _Sampler(threading.Thread):
    def __init__(self, lab: Lab, tp_every: float) -> None:
        super().__init__(daemon=True)
        self.lab = lab
        self.tp_every = tp_every
        self.stop_event = threading.Event()
        self.samples: list[Sample] = []
        self.tp: list[TpSample] = []

    def run(self) -> None:
        t0 = time.monotonic()
        next_tp = t0 + 1.0
        assert self.lab.asterisk is not None
        while not self.stop_event.is_set():
            now = time.monotonic()
            with contextlib.suppress(OSError):
                self.samples.append(Sample(now - t0, rss_kb(self.lab.asterisk_pid),
                                           rss_kb(self.lab.app_pid), self.lab.live_calls()))
            if now >= next_tp:
                next_tp = now + self.tp_every
                with contextlib.suppress(Exception):
                    total, top = parse_taskprocessors(
                        self.lab.asterisk.cli("core show taskprocessors"))
                    self.tp.append(TpSample(round(now - t0, 1), total, top))
            self.stop_event.wait(1.0)


def _sipp_stats(stat_csv: Path) -> dict[str, str]:
    rows = list(csv.DictReader(stat_csv.open(newline=""), delimiter=";"))
    return rows[-1] if rows else {}


def _max_current(stat_csv: Path) -> int:
    with stat_csv.open(newline="") as f:
        return max((int(r.get("CurrentCall") or 0)
                    for r in csv.DictReader(f, delimiter=";")), default=0)


def _rtt(workdir: Path, rtd: str = "1") -> tuple[list[float], list[float]]:
    """(arrival times ms, response times ms) of one response-time counter (rtd) from SIPp's
    -trace_rtt files."""
    times: list[float] = []
    values: list[float] = []
    for path in workdir.glob("*_rtt.csv"):
        with path.open(newline="") as f:
            for row in csv.DictReader(f, delimiter=";"):
                if row.get("rtd_no", rtd) != rtd:
                    continue
                with contextlib.suppress(KeyError, ValueError):
                    times.append(float(row["Date_ms"]))
                    values.append(float(row["response_time_ms"]))
    return times, values


def _received(workdir: Path, status: int) -> int:
    """How many `status` responses the scenario's recv lines took (-trace_counts)."""
    total = 0
    pattern = re.compile(rf"^\d+_{status}_Recv$")
    for path in workdir.glob("*_counts.csv"):
        rows = list(csv.DictReader(path.open(newline=""), delimiter=";"))
        if rows:
            total += sum(int(v or 0) for k, v in rows[-1].items() if k and pattern.match(k))
    return total


def run_step(lab: Lab, mode: Mode, dialed: str, rate: float, duration_s: float,
             hold_s: float, workdir: Path, *, tp_every: float = 5.0,
             latency_limit_ms: float = 100.0, extra_args: Sequence[str] = ()) -> StepResult:
    assert lab.asterisk is not None
    workdir.mkdir(parents=True, exist_ok=True)
    offered = max(1, round(rate * duration_s))
    res = StepResult(mode.name, rate, duration_s, hold_s, offered)
    hold_ms = str(int(hold_s * 1000))
    uas: subprocess.Popen[bytes] | None = None
    if mode.uas:
        with open(workdir / "uas.err", "wb") as err:
            uas = subprocess.Popen(
                [SIPP, "-sf", str(SCENARIOS / "uas_answer_hangup.xml"), "-i", "127.0.0.1",
                 "-p", str(lab.asterisk.config.ports.carrier), "-mi", "127.0.0.1",
                 "-mp", str(free_port()), "-d", hold_ms, "-nostdin", "-trace_err",
                 "-recv_timeout", "60000"],
                cwd=workdir, stdout=subprocess.DEVNULL, stderr=err)
        time.sleep(0.3)
    if mode.app:
        lab.app_reset_metrics()
    res.rss_before_kb = {"asterisk": rss_kb(lab.asterisk_pid), "app": rss_kb(lab.app_pid)}
    cpu0 = (cpu_seconds(lab.asterisk_pid), cpu_seconds(lab.app_pid), host_cpu())
    sampler = _Sampler(lab, tp_every)
    sampler.start()
    limit = max(200, int(rate * (hold_s + 10) * 2))
    t0 = time.monotonic()
    with open(workdir / "uac.err", "wb") as err:
        uac = subprocess.Popen(
            [SIPP, lab.asterisk.sip_target, "-sf", str(SCENARIOS / mode.scenario), "-s", dialed,
             "-set", "caller", mode.caller, "-i", "127.0.0.1", "-p", str(free_port()),
             "-mi", "127.0.0.1", "-mp", str(free_port()),
             "-r", f"{rate:g}", "-rp", "1000", "-m", str(offered), "-l", str(limit),
             "-d", hold_ms, "-recv_timeout", "30000", "-nostdin",
             "-trace_stat", "-stf", "stat.csv", "-fd", "1",
             "-trace_rtt", "-rtt_freq", "1", "-trace_err",
             *(["-trace_counts"] if mode.refusable else []), *extra_args],
            cwd=workdir, stdout=subprocess.DEVNULL, stderr=err)
    try:
        uac.wait(timeout=duration_s + hold_s + 60)
    except subprocess.TimeoutExpired:
        uac.send_signal(signal.SIGUSR1)  # SIPp: stop creating calls, finish and exit
        res.reasons.append("SIPp did not finish in time")
        try:
            uac.wait(timeout=20)
        except subprocess.TimeoutExpired:
            uac.kill()
            uac.wait()
    res.wall_s = round(time.monotonic() - t0, 1)
    sampler.stop_event.set()
    sampler.join(timeout=30)
    cpu1 = (cpu_seconds(lab.asterisk_pid), cpu_seconds(lab.app_pid), host_cpu())
    res.asterisk_cpu_s = round(cpu1[0] - cpu0[0], 3)
    res.app_cpu_s = round(cpu1[1] - cpu0[1], 3)
    busy = cpu1[2][0] - cpu0[2][0]
    total = cpu1[2][1] - cpu0[2][1]
    res.host_cpu_pct = round(100 * busy / total, 1) if total else 0.0
    if uas is not None:
        uas.terminate()
        try:
            uas.wait(timeout=10)
        except subprocess.TimeoutExpired:
            uas.kill()
            uas.wait()
    res.samples = sampler.samples
    res.tp_samples = sampler.tp
    if mode.app:
        res.app_metrics = lab.app_get("/metrics.json")
    stat_csv = workdir / "stat.csv"
    if stat_csv.exists():
        stats = _sipp_stats(stat_csv)
        res.created_calls = int(stats.get("TotalCallCreated") or 0)
        res.successful_calls = int(stats.get("SuccessfulCall(C)") or 0)
        res.failed_calls = int(stats.get("FailedCall(C)") or 0)
        res.max_concurrent = _max_current(stat_csv)
    times, values = _rtt(workdir)
    res.latency_ms = {"p50": _pct(values, 0.5), "p99": _pct(values, 0.99),
                      "max": max(values) if values else None}
    if len(times) > 1 and times[-1] > times[0]:
        # Calls that got their timed response, over the span in which they got it.
        span_s = (max(times) - min(times)) / 1000 * len(times) / (len(times) - 1)
        res.achieved_cps = round(res.successful_calls / span_s, 2) if span_s else 0.0
    if mode.refusable:
        res.refused_calls = _received(workdir, 503)
        _t, refused = _rtt(workdir, "2")
        res.refused_latency_ms = {"p50": _pct(refused, 0.5), "p99": _pct(refused, 0.99),
                                  "max": max(refused) if refused else None}
        if len(times) > 1 and times[-1] > times[0]:
            span_s = (max(times) - min(times)) / 1000 * len(times) / (len(times) - 1)
            res.goodput_cps = round(len(times) / span_s, 2) if span_s else 0.0
    res.drained = lab.wait_drained()
    _judge(res, mode, latency_limit_ms)
    return res


def _judge(res: StepResult, mode: Mode, latency_limit_ms: float) -> None:
    if res.achieved_cps < 0.99 * res.rate:
        res.reasons.append(f"achieved {res.achieved_cps} < 99% of {res.rate:g} CPS")
    if res.successful_calls < res.offered_calls:
        res.reasons.append(f"{res.successful_calls}/{res.offered_calls} calls succeeded")
    if res.failed_calls:
        res.reasons.append(f"{res.failed_calls} failed calls")
    if queues_growing(res.tp_samples):
        res.reasons.append("Asterisk taskprocessor queues kept growing")
    if not res.drained:
        res.reasons.append("calls/channels left over after the step")
    res.capacity_ok = not res.reasons
    p99 = res.latency_ms.get("p99")
    if p99 is None or p99 > latency_limit_ms:
        res.reasons.append(f"{mode.latency_label} p99 {p99} ms > {latency_limit_ms:g} ms")
    res.sustained = not res.reasons
