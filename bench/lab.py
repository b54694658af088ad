"""The benchmark's own lab (like tests/integration/conftest.py): the project's Asterisk image
on free loopback ports, a throw-away PostgreSQL, the app as a host process; plus the
provisioning the load scenarios need and process CPU/RSS probes."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

import psycopg

from labkit.appproc import AppProcess
from labkit.asterisk import DOCKER, AsteriskContainer
from labkit.lab import app_env, new_asterisk
from labkit.postgres import PgCluster

REPO = Path(__file__).resolve().parents[1]
CLK_TCK = os.sysconf("SC_CLK_TCK")
FORWARD_DESTINATION = "09087654321"
CALLER = "09012345678"
RETRIEVAL_NUMBER = "05033005000"

# The dialplan-only baseline exists only in the benchmark's own Asterisk (appended to the
# rendered configuration), never in the shipped asterisk-conf/ and dialplan/: an endpoint
# that takes unauthenticated INVITEs straight into Dial() has no place in a service.
# A SIPp caller whose From user is "bench" is identified by username (before the ip match
# that makes any other loopback peer the carrier) and goes to [bench-baseline] instead of
# the Stasis app: the same call, same Asterisk, no app.
BENCH_PJSIP = """
; ---- bench: dialplan-only baseline (bench/lab.py) ----------------------------------------
[bench](endpoint-common)
context = bench-baseline
deny = 0.0.0.0/0.0.0.0
permit = 127.0.0.1/255.255.255.255
"""
# What the app does for a subscriber whose calls forward to a phone, without the app: the
# caller hears ringing while the carrier leg rings, is answered and bridged when it answers
# (the same Dial options for ringing as [anshin-forward]). Only an 11-digit 050 number
# matches, so the request URI cannot add a Dial target ('&') or argument (',').
BENCH_DIALPLAN = """
; ---- bench: dialplan-only baseline (bench/lab.py) ----------------------------------------
[bench-baseline]
exten => _050XXXXXXXX,1,Dial(PJSIP/${EXTEN}@carrier,30,r)
 same => n,Hangup()
"""
BENCH_CONFIG = {"pjsip.conf": BENCH_PJSIP, "extensions.conf": BENCH_DIALPLAN}


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def host_cpu() -> tuple[float, float]:
    """(busy, total) jiffies of the whole machine."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]
    return float(sum(values) - idle), float(sum(values))


@dataclass
class Numbers:
    forward: str  # subscriber number that forwards to FORWARD_DESTINATION
    voicemail: str  # subscriber number that goes straight to voicemail
    retrieval: str = RETRIEVAL_NUMBER


class Lab:
    def __init__(self, app_log: Path, rtp_ports: int = 6000,
                 extra_config: dict[str, str] | None = None) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="anshin-bench-"))
        os.chmod(self.dir, 0o755)
        self.app_log = app_log
        self.rtp_ports = rtp_ports
        self.pg = PgCluster(self.dir / "pg")
        self.asterisk: AsteriskContainer | None = None
        self.app: AppProcess | None = None
        self.asterisk_pid = 0
        # the baseline endpoint, plus what a benchmark adds to the same files
        self.extra_config = {name: text + (extra_config or {}).get(name, "")
                             for name, text in BENCH_CONFIG.items()}

    def start(self) -> None:
        self.pg.start()
        ast = new_asterisk(self.dir / "asterisk", "bench", rtp_ports=self.rtp_ports,
                           extra_config=self.extra_config)
        # ANSHIN_BENCH_ASTERISK_ENV="MALLOC_ARENA_MAX=2 …": the Asterisk process's environment
        # for an A/B (e.g. of glibc's allocator against RSS growth, bench.soak)
        for item in os.environ.get("ANSHIN_BENCH_ASTERISK_ENV", "").split():
            key, _, value = item.partition("=")
            ast.env[key] = value
        self.asterisk = ast
        ast.start()
        asyncio.run(ast.wait_ready())
        # Console verbosity costs Asterisk CPU per dialplan step; off in both modes alike.
        ast.cli("core set verbose 0")
        out = subprocess.run([DOCKER, "inspect", "-f", "{{.State.Pid}}", ast.name],
                             capture_output=True, text=True, check=True, timeout=20)
        self.asterisk_pid = int(out.stdout.strip())
        self.app_log.parent.mkdir(parents=True, exist_ok=True)
        self.app_log.unlink(missing_ok=True)
        self.app = AppProcess(
            env=app_env(ast, self.pg.url, ANSHIN_LOG_LEVEL=os.environ.get(
                "ANSHIN_BENCH_APP_LOG_LEVEL", "INFO")),
            log_path=self.app_log,
        )
        self.app.start()
        self.app.wait_connected()

    def provision(self) -> Numbers:
        with psycopg.connect(self.pg.url, autocommit=True) as conn:
            def subscriber(**settings: object) -> str:
                number = "050" + str(uuid.uuid4().int)[:8]
                row = conn.execute(
                    "INSERT INTO accounts (email, password_hash) VALUES (%s, 'x') RETURNING id",
                    (f"bench-{uuid.uuid4().hex[:8]}@example.jp",)).fetchone()
                assert row is not None
                conn.execute("INSERT INTO subscriber_numbers (number, account_id)"
                             " VALUES (%s, %s)", (number, row[0]))
                for key, value in settings.items():
                    conn.execute(f"UPDATE subscriber_numbers SET {key} = %s WHERE number = %s",
                                 (value, number))
                return number

            forward = subscriber(forward_enabled=True, forward_ring_seconds=20,
                                 voicemail_enabled=False)
            conn.execute("INSERT INTO forward_destinations (number, destination, active)"
                         " VALUES (%s, %s, true)", (forward, FORWARD_DESTINATION))
            voicemail = subscriber(forward_enabled=False, voicemail_enabled=True)
        return Numbers(forward=forward, voicemail=voicemail)

    # ---------------------------------------------------------------- probes

    @property
    def app_pid(self) -> int:
        assert self.app is not None and self.app.proc is not None
        return self.app.proc.pid

    def app_get(self, path: str) -> dict[str, object]:
        assert self.app is not None
        try:
            with urllib.request.urlopen(
                    f"http://127.0.0.1:{self.app.status_port}{path}", timeout=5) as r:
                data: dict[str, object] = json.loads(r.read())
                return data
        except OSError:
            return {}

    def app_reset_metrics(self) -> None:
        assert self.app is not None
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.app.status_port}/metrics/reset", method="POST", data=b"")
        with urllib.request.urlopen(req, timeout=5):
            pass

    def live_calls(self) -> int | None:
        value = self.app_get("/health").get("live_calls")
        return value if isinstance(value, int) else None

    def asterisk_channels(self) -> int | None:
        assert self.asterisk is not None
        try:
            out = self.asterisk.cli("core show channels count")
        except Exception:
            return None
        for line in out.splitlines():
            if "active channel" in line:
                return int(line.split()[0])
        return None

    def wait_drained(self, timeout: float = 60.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.live_calls() == 0 and self.asterisk_channels() == 0:
                return True
            time.sleep(0.5)
        return False

    def stop(self) -> None:
        if self.app is not None:
            self.app.stop()
        if self.asterisk is not None:
            log = REPO / "build" / "bench-asterisk.log"
            with contextlib.suppress(Exception):
                log.write_text(self.asterisk.logs())
            self.asterisk.stop()
        self.pg.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
