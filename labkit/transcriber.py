"""The voicemail transcription worker (python -m callflow.transcribe) as a host process, for
the tests and the transcription benchmark: started, stopped and killed like the app."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

#: the worker's log line once its recogniser is loaded and it takes jobs
READY_LINE = re.compile(r"transcription worker \S+ ready")


@dataclass
class TranscriberProcess:
    env: dict[str, str]  # ANSHIN_* settings (database URL, lease, poll interval…)
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None
    _log_offset: int = 0

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "callflow.transcribe"],
                                         env={**os.environ, **self.env},
                                         stdout=log, stderr=subprocess.STDOUT)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def log_since_start(self) -> str:
        try:
            with open(self.log_path, "rb") as f:
                f.seek(self._log_offset)
                return f.read().decode(errors="replace")
        except FileNotFoundError:
            return ""

    def wait_ready(self, timeout: float = 120.0) -> None:
        """Until the worker has loaded the recogniser and polls for jobs."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if READY_LINE.search(self.log_since_start()):
                return
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"transcription worker exited ({self.proc.returncode}):\n"
                                   f"{self.log_since_start()[-3000:]}")
            time.sleep(0.1)
        raise TimeoutError(f"transcription worker not ready after {timeout}s:\n"
                           f"{self.log_since_start()[-3000:]}")

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.proc = None

    def kill(self) -> None:
        self.stop(signal.SIGKILL)
