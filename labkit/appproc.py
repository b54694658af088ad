"""Run the call-control app as a host process (tests and benchmarks restart and kill it)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from labkit import testlogs
from labkit.ports import free_port


@dataclass
class AppProcess:
    env: dict[str, str]
    log_path: Path
    status_port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {**os.environ, **self.env, "ANSHIN_STATUS_PORT": str(self.status_port)}
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "callflow"], env=env,
                                         stdout=log, stderr=subprocess.STDOUT)
        testlogs.keep(self.log_path, "app")  # the session's log-secrets check reads it

    def health(self) -> dict[str, object] | None:
        try:
            with urllib.request.urlopen(
                    f"http://127.0.0.1:{self.status_port}/health", timeout=2) as r:
                data: dict[str, object] = json.loads(r.read())
                return data
        except urllib.error.HTTPError as exc:
            data = json.loads(exc.read() or b"{}")
            return data
        except (OSError, ValueError):
            return None

    def ready(self) -> bool:
        """GET /ready: the app's ARI WebSocket is connected and its database answers."""
        try:
            with urllib.request.urlopen(
                    f"http://127.0.0.1:{self.status_port}/ready", timeout=3) as r:
                return bool(r.status == 200)
        except (OSError, ValueError):  # HTTPError (503: not ready) is an OSError
            return False

    def wait_connected(self, timeout: float = 30.0) -> float:
        """Wait until the app is ready (/ready: ARI connected, database reachable); seconds
        taken."""
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            if self.ready():
                return time.monotonic() - t0
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"app exited ({self.proc.returncode}):\n{self.log_tail()}")
            time.sleep(0.05)
        raise TimeoutError(f"app not connected after {timeout}s:\n{self.log_tail()}")

    def wait_idle(self, timeout: float = 15.0) -> None:
        """Wait until the app has no live call (no leaked call task)."""
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            h = self.health()
            if h and h.get("live_calls") == 0:
                return
            time.sleep(0.1)
        raise TimeoutError(f"app still has live calls: {self.health()}")

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except FileNotFoundError:
            return ""

    def drain_timeout(self) -> float:
        """How long a SIGTERM'd app may take to exit: its drain (ANSHIN_DRAIN_SECONDS, 30 s
        by default, as callflow.config) and 10 s to close."""
        value = {**os.environ, **self.env}.get("ANSHIN_DRAIN_SECONDS", "30")
        try:
            return float(value) + 10.0
        except ValueError:
            return 40.0

    def stop(self, sig: int = signal.SIGTERM, *, drain: bool = False) -> int | None:
        """Signal the app and wait for its exit; killed if it takes longer than 10 s, or
        with `drain` (SIGTERM: the app drains its calls first) longer than its drain. The
        exit status (None if it had already gone)."""
        if self.proc is None:
            return None
        code = self.proc.poll()
        if code is None:
            self.proc.send_signal(sig)
            try:
                code = self.proc.wait(timeout=self.drain_timeout() if drain else 10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                code = self.proc.wait(timeout=10)
        self.proc = None
        return code

    def kill(self) -> None:
        self.stop(signal.SIGKILL)
