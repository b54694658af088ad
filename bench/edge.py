"""What the Kamailio edge costs, measured in one run: the same forwarded-call load offered to
one node direct, to one node behind the edge and to two nodes behind the edge; then a node
killed (SIGKILL) under that load behind the edge.

    .venv/bin/python -m bench.edge                 # ~6 min on 2 cores; writes bench/results/
    .venv/bin/python -m bench.edge --rate 10 --step 20 --repeats 1 --no-failover   # quick

The call is the product's main path, a 050 number forwarded to a phone: caller → (edge →)
node → app → `[anshin-forward]` Dial → (edge →) the carrier gateway (a SIPp UAS that answers
and hangs up after --hold s). Behind the edge both legs cross it, and RTP goes through its
relay (rtpengine, userspace), as production runs it (docs/edge.md).

Everything runs on one machine with 2 shared cores: the edge, both nodes, both apps,
PostgreSQL and SIPp take turns on the same CPUs, so two nodes cannot be faster than one here.
What this shows is the edge's overhead (INVITE→180 latency, CPU) and that calls spread and
survive a node's death. The capacity of N real hosts follows from the per-component CPU
per call printed here: a node host with C cores carries about C / (Asterisk + app CPU-s per
call) calls/s at full load, the edge host about C / (edge CPU-s per call).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import psycopg

from bench.lab import FORWARD_DESTINATION, cpu_seconds
from bench.load import SCENARIOS, _pct, _rtt
from labkit.appproc import AppProcess
from labkit.asterisk import DOCKER, AsteriskContainer
from labkit.fixtures import app_process, asterisk_container, lab_dir, pg_cluster
from labkit.multinode import MultiNodeLab, multinode_lab
from labkit.ports import free_port

REPO = Path(__file__).resolve().parents[1]
LOGS = REPO / "build" / "bench-edge"
CALLER = "09012345678"
LAYOUTS = ("direct", "edge-1", "edge-2")


@dataclass
class Member:
    """One node's processes, for CPU accounting."""

    name: str
    asterisk: AsteriskContainer
    app: AppProcess

    def asterisk_pid(self) -> int:
        out = subprocess.run([DOCKER, "inspect", "-f", "{{.State.Pid}}", self.asterisk.name],
                             capture_output=True, text=True, check=True, timeout=20)
        return int(out.stdout.strip())

    def app_pid(self) -> int:
        assert self.app.proc is not None
        return self.app.proc.pid

    def calls_handled(self) -> int:
        value = (self.app.health() or {}).get("calls_handled", 0)
        return value if isinstance(value, int) else 0


@dataclass
class Layout:
    name: str
    target: str  # where SIPp sends the calls
    carrier_port: int  # where the forwarded leg arrives
    members: list[Member]
    lab: MultiNodeLab | None = None  # behind the edge

    def edge_cpu(self) -> float:
        return self.lab.edge.cpu_seconds() if self.lab is not None else 0.0


@dataclass
class Step:
    layout: str
    rate: float
    offered: int
    ok: int = 0
    failed: int = 0
    p50_ms: float | None = None
    p99_ms: float | None = None
    edge_cpu_s: float = 0.0
    node_cpu_s: dict[str, tuple[float, float]] = field(default_factory=dict)  # (ast, app)
    calls: dict[str, int] = field(default_factory=dict)

    def ms_per_call(self, cpu_s: float) -> float | None:
        return round(cpu_s * 1000 / self.ok, 2) if self.ok else None

    def node_ms_per_call(self) -> float | None:
        """Asterisk + app CPU per call, summed over the nodes (one node's share of a call)."""
        return self.ms_per_call(sum(a + b for a, b in self.node_cpu_s.values()))


def provision_forward(database_url: str) -> str:
    """A 050 number forwarding to FORWARD_DESTINATION (as bench.lab provisions it)."""
    number = "050" + str(uuid.uuid4().int)[:8]
    with psycopg.connect(database_url, autocommit=True) as conn:
        row = conn.execute("INSERT INTO accounts (email, password_hash) VALUES (%s, 'x')"
                           " RETURNING id", (f"bench-{uuid.uuid4().hex[:8]}@example.jp",)
                           ).fetchone()
        assert row is not None
        conn.execute("INSERT INTO subscriber_numbers (number, account_id, forward_enabled,"
                     " forward_ring_seconds, voicemail_enabled) VALUES (%s, %s, true, 20,"
                     " false)", (number, row[0]))
        conn.execute("INSERT INTO forward_destinations (number, destination, active)"
                     " VALUES (%s, %s, true)", (number, FORWARD_DESTINATION))
    return number


@contextlib.contextmanager
def layout(name: str, run_dir: Path, database_url: str) -> Iterator[Layout]:
    LOGS.mkdir(parents=True, exist_ok=True)
    if name == "direct":
        with asterisk_container(run_dir / "direct", "bd", log_path=LOGS / "direct-asterisk.log",
                                rtp_ports=2000) as ast, \
                app_process(ast, database_url, log_path=LOGS / "direct-app.log",
                            ANSHIN_LOG_LEVEL="INFO") as app:
            ast.cli("core set verbose 0")
            yield Layout(name, ast.sip_target, ast.config.ports.carrier,
                         [Member("node-a", ast, app)])
        return
    nodes = int(name.split("-")[1])
    with multinode_lab(run_dir / name, database_url, nodes=nodes, log_dir=LOGS / name,
                       ANSHIN_LOG_LEVEL="INFO") as lab:
        for node in lab.nodes:
            node.asterisk.cli("core set verbose 0")
        yield Layout(name, lab.sip_target, lab.carrier_port,
                     [Member(n.name, n.asterisk, n.app) for n in lab.nodes], lab)


def _sipp(args: list[str], workdir: Path, name: str) -> subprocess.Popen[bytes]:
    with open(workdir / f"{name}.err", "wb") as err:
        return subprocess.Popen(["sipp", *args], cwd=workdir, stdout=subprocess.DEVNULL,
                                stderr=err, start_new_session=True)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def run_step(lay: Layout, number: str, rate: float, duration_s: float, hold_s: float,
             *, kill_at_s: float | None = None) -> tuple[Step, dict[str, float]]:
    """Offer `rate` calls/s for `duration_s`; with `kill_at_s`, SIGKILL the first node then
    (behind the edge) and measure how long until the edge sends it no new call."""
    workdir = Path(tempfile.mkdtemp(prefix="bench-edge-"))
    offered = max(1, round(rate * duration_s))
    step = Step(lay.name, rate, offered)
    hold_ms = str(int(hold_s * 1000))
    failover: dict[str, float] = {}
    uas = _sipp(["-sf", str(SCENARIOS / "uas_answer_hangup.xml"), "-i", "127.0.0.1",
                 "-p", str(lay.carrier_port), "-mi", "127.0.0.1", "-mp", str(free_port()),
                 "-d", hold_ms, "-nostdin", "-trace_err", "-recv_timeout", "60000"],
                workdir, "uas")
    try:
        time.sleep(0.3)
        pids = {m.name: (m.asterisk_pid(), m.app_pid()) for m in lay.members}
        calls0 = {m.name: m.calls_handled() for m in lay.members}
        cpu0 = {n: (cpu_seconds(a), cpu_seconds(b)) for n, (a, b) in pids.items()}
        edge0 = lay.edge_cpu()
        uac = _sipp([lay.target, "-sf", str(SCENARIOS / "uac_forward.xml"), "-s", number,
                     "-set", "caller", CALLER, "-i", "127.0.0.1", "-p", str(free_port()),
                     "-mi", "127.0.0.1", "-mp", str(free_port()), "-r", f"{rate:g}",
                     "-rp", "1000", "-m", str(offered), "-l", str(int(rate * (hold_s + 10) * 2)),
                     "-d", hold_ms, "-recv_timeout", "30000", "-nostdin", "-trace_stat",
                     "-stf", "stat.csv", "-fd", "1", "-trace_rtt", "-rtt_freq", "1",
                     "-trace_err"], workdir, "uac")
        killed = None
        if kill_at_s is not None and lay.lab is not None:
            time.sleep(kill_at_s)
            killed = lay.lab.nodes[0]
            live = (killed.app.health() or {}).get("live_calls", 0)
            failover["calls on the node"] = float(live) if isinstance(live, int) else 0.0
            cpu_before_kill = cpu_seconds(pids[killed.name][0])
            t_kill = time.monotonic()
            killed.kill()
            while killed.sip_uri in lay.lab.edge.active_nodes():
                if time.monotonic() - t_kill > 30:
                    break
                time.sleep(0.05)
            failover["kill → no new call sent to it (s)"] = round(time.monotonic() - t_kill, 2)
        try:
            uac.wait(timeout=duration_s + hold_s + 90)
        except subprocess.TimeoutExpired:
            uac.send_signal(signal.SIGUSR1)
            uac.wait(timeout=30)
        for name, (a, b) in pids.items():
            if killed is not None and name == killed.name:
                step.node_cpu_s[name] = (cpu_before_kill - cpu0[name][0], 0.0)
                continue
            step.node_cpu_s[name] = (cpu_seconds(a) - cpu0[name][0],
                                     cpu_seconds(b) - cpu0[name][1])
        step.edge_cpu_s = lay.edge_cpu() - edge0
        step.calls = {m.name: m.calls_handled() - calls0[m.name] for m in lay.members
                      if killed is None or m.name != killed.name}
        rows = list(csv.DictReader((workdir / "stat.csv").open(newline=""), delimiter=";"))
        step.ok = int(rows[-1]["SuccessfulCall(C)"]) if rows else 0
        step.failed = int(rows[-1]["FailedCall(C)"]) if rows else 0
        _times, values = _rtt(workdir)
        step.p50_ms, step.p99_ms = _pct(values, 0.5), _pct(values, 0.99)
        if step.failed:
            # SIPp's own account of the failed calls, kept for the reader of the report
            errors = "".join(p.read_text(errors="replace")[-20000:]
                             for p in sorted(workdir.glob("*error*")))
            (LOGS / f"{lay.name}-sipp-errors.log").write_text(errors)
        if killed is not None:
            asyncio.run(killed.restart())
    finally:
        _stop(uas)
        shutil.rmtree(workdir, ignore_errors=True)
    return step, failover


def _fmt(value: float | None, unit: str = "") -> str:
    return "–" if value is None else f"{value:g}{unit}"


def markdown(meta: dict[str, str], steps: list[Step], failover: dict[str, float],
             failover_step: Step | None) -> str:
    lines = [f"# Edge benchmark {meta['started']}", "",
             " · ".join(f"{k}: {v}" for k, v in meta.items() if k != "started"), "",
             "| layout | rate | offered | ok | failed | INVITE→180 p50 / p99 ms | edge CPU ms/call"
             " | node CPU ms/call (Asterisk+app) | calls per node |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for s in steps:
        lines.append(f"| {s.layout} | {s.rate:g} | {s.offered} | {s.ok} | {s.failed} | "
                     f"{_fmt(s.p50_ms)} / {_fmt(s.p99_ms)} | {_fmt(s.ms_per_call(s.edge_cpu_s))}"
                     f" | {_fmt(s.node_ms_per_call())} | "
                     + ", ".join(f"{k} {v}" for k, v in s.calls.items()) + " |")
    lines += ["", "## Per layout (median over repeats)", ""]
    for name in LAYOUTS:
        runs = [s for s in steps if s.layout == name]
        if not runs:
            continue
        p50 = _pct([s.p50_ms for s in runs if s.p50_ms is not None], 0.5)
        edge = _pct([v for s in runs if (v := s.ms_per_call(s.edge_cpu_s)) is not None], 0.5)
        node = _pct([v for s in runs if (v := s.node_ms_per_call()) is not None], 0.5)
        passes = sum(1 for s in runs if s.failed == 0 and s.ok == s.offered)
        lines.append(f"- **{name}**: {passes}/{len(runs)} runs with every call completed; "
                     f"INVITE→180 p50 {_fmt(p50)} ms; edge {_fmt(edge)} ms CPU per call; "
                     f"nodes {_fmt(node)} ms CPU per call")
    direct = [s.p50_ms for s in steps if s.layout == "direct" and s.p50_ms is not None]
    edged = [s.p50_ms for s in steps if s.layout == "edge-1" and s.p50_ms is not None]
    if direct and edged:
        d, e = _pct(direct, 0.5), _pct(edged, 0.5)
        if d and e:
            lines.append(f"- edge overhead on INVITE→180 (p50, edge-1 − direct): "
                         f"{e - d:+.1f} ms")
    edge_ms = [v for s in steps if s.layout != "direct"
               and (v := s.ms_per_call(s.edge_cpu_s)) is not None]
    node_ms = [v for s in steps if (v := s.node_ms_per_call()) is not None]
    if edge_ms and node_ms:
        e, n = _pct(edge_ms, 0.5), _pct(node_ms, 0.5)
        if e and n:
            lines += ["", "## Capacity of real hosts (from the CPU per call above)", "",
                      f"- one edge core: about {1000 / e:.0f} forwarded calls/s "
                      "(signalling both legs and relaying their media set-up)",
                      f"- one node core (Asterisk + app): about {1000 / n:.0f} forwarded "
                      "calls/s at full CPU; N node hosts of C cores: N × C × that",
                      "- measured on 2 shared cores with everything on one machine: the "
                      "figures are CPU cost, not a speed-up; RTP relaying adds per-packet CPU "
                      "at the edge for the length of each call (not in the set-up figure)."]
    if failover_step is not None:
        lines += ["", "## A node killed under load (edge-2)", "",
                  f"- offered {failover_step.offered} at {failover_step.rate:g}/s; "
                  f"ok {failover_step.ok}, failed {failover_step.failed}"]
        lines += [f"- {k}: {v:g}" for k, v in failover.items()]
        lines.append("- calls taken by the surviving node during the run: "
                     + ", ".join(f"{k} {v}" for k, v in failover_step.calls.items()))
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.edge", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rate", type=float, default=20.0, help="calls/s offered in every step")
    ap.add_argument("--step", type=float, default=30.0, help="seconds of load per step")
    ap.add_argument("--hold", type=float, default=2.0, help="seconds a call stays up")
    ap.add_argument("--repeats", type=int, default=2, help="steps per layout (alternating)")
    ap.add_argument("--no-failover", action="store_true", help="skip the node-kill step")
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results")
    args = ap.parse_args(argv)
    started = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    meta = {"started": started, "host": os.uname().nodename, "cores": str(os.cpu_count()),
            "rate": f"{args.rate:g}/s", "step": f"{args.step:g} s", "hold": f"{args.hold:g} s"}
    steps: list[Step] = []
    failover: dict[str, float] = {}
    failover_step: Step | None = None
    with lab_dir("anshin-bench-edge-") as run_dir, pg_cluster(run_dir / "pg") as pg:
        number = provision_forward(pg.url)
        for repeat in range(args.repeats):
            for name in LAYOUTS:
                with layout(name, run_dir / f"{name}-{repeat}", pg.url) as lay:
                    step, _ = run_step(lay, number, args.rate, args.step, args.hold)
                    steps.append(step)
                    print(f"{name} #{repeat + 1}: ok {step.ok}/{step.offered} p50 "
                          f"{_fmt(step.p50_ms)} ms edge {_fmt(step.ms_per_call(step.edge_cpu_s))}"
                          f" ms/call nodes {_fmt(step.node_ms_per_call())} ms/call "
                          f"{step.calls}", flush=True)
        if not args.no_failover:
            with layout("edge-2", run_dir / "failover", pg.url) as lay:
                failover_step, failover = run_step(lay, number, args.rate, args.step,
                                                   args.hold, kill_at_s=args.step / 3)
                print(f"failover: ok {failover_step.ok}/{failover_step.offered} {failover}",
                      flush=True)
    text = markdown(meta, steps, failover, failover_step)
    args.out.mkdir(parents=True, exist_ok=True)
    out = args.out / f"edge-{started}.md"
    out.write_text(text)
    print(text)
    print(f"written: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
