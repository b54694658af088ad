"""Suite-wide test settings."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from labkit import testlogs

# A test that listens to a call transcribes all of it after the call ended: a call of about
# 100 s (the retrieval walk-through) plus its transcription does not fit the suite's default
# 120 s on a slower host, and Whisper's CPU per audio second differs between hosts.
LISTENING_TEST_TIMEOUT_S = 300


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        listens = "ears" in getattr(item, "fixturenames", ())
        if listens and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(LISTENING_TEST_TIMEOUT_S))


# ------------------------------------------------------------------ no secret in any log

LOGS = Path(__file__).resolve().parents[1] / "build" / "test-logs"
KEEP_SESSIONS = 5  # finished sessions' folders kept for reading


def pytest_configure(config: pytest.Config) -> None:
    """Name this session's log folder (labkit/testlogs.py): the app and portal processes the
    tests start keep their logs there. Concurrent sessions get their own; older ones pruned."""
    if os.environ.get(testlogs.ENV):
        return
    LOGS.mkdir(parents=True, exist_ok=True)
    folder = LOGS / f"{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{os.getpid()}"
    os.environ[testlogs.ENV] = str(folder)
    finished = [p for p in LOGS.iterdir() if p.is_dir() and not _running(p)]
    for old in sorted(finished)[:-KEEP_SESSIONS]:
        shutil.rmtree(old, ignore_errors=True)


def _running(folder: Path) -> bool:
    """Whether the session that named `folder` (…-<pid>) still runs: never prune its logs."""
    try:
        os.kill(int(folder.name.rsplit("-", 1)[1]), 0)
    except (IndexError, ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    return True


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """After every test and fixture is done (processes stopped, logs complete): fail the run
    if a log of the app or the portal gives away a PIN, 2FA code, password or SMS body the
    tests used. Runs for any selection of tests; a unit-only run has no logs to read."""
    folder = testlogs.session_dir()
    if folder is None or not folder.exists():
        return
    findings = list(testlogs.leaks(folder))
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    read = testlogs.logs_read(folder)
    if reporter is not None and read:
        reporter.write_line(f"log-secrets check: {len(read)} log(s) of the app and the "
                            f"portal in {folder}: {len(findings) or 'no'} finding(s)")
    if findings:
        if reporter is not None:
            for finding in findings[:50]:
                reporter.write_line(f"  SECRET IN LOG {finding}", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
