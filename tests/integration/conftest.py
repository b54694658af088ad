"""Lab fixtures: a throw-away PostgreSQL, the project's Asterisk image, and the app process.

Started once per test session. `./lab test` builds the Asterisk image and the prompts first
and passes them in ANSHIN_ASTERISK_IMAGE / ANSHIN_PROMPTS_DIR.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from integration.support import MailSink, new_subscriber
from labkit.appproc import AppProcess
from labkit.asterisk import AsteriskContainer
from labkit.lab import app_env, new_asterisk
from labkit.postgres import PgCluster

__all__ = ["new_subscriber"]

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def lab_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="anshin-lab-"))
    os.chmod(path, 0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def pg(lab_dir: Path) -> Iterator[PgCluster]:
    cluster = PgCluster(lab_dir / "pg")
    cluster.start()
    yield cluster
    cluster.stop()


@pytest.fixture(scope="session")
def asterisk(lab_dir: Path) -> Iterator[AsteriskContainer]:
    container = new_asterisk(lab_dir / "asterisk", "t")
    container.start()
    try:
        asyncio.run(container.wait_ready())
        yield container
    finally:
        (lab_dir / "asterisk.log").write_text(container.logs())
        log_copy = REPO / "build" / "test-asterisk.log"
        log_copy.parent.mkdir(exist_ok=True)
        shutil.copy(lab_dir / "asterisk.log", log_copy)
        container.stop()


@pytest.fixture(scope="session")
def mail_sink() -> Iterator[MailSink]:
    sink = MailSink()
    sink.start()
    yield sink
    sink.stop()


@pytest.fixture(scope="session")
def app_process(pg: PgCluster, asterisk: AsteriskContainer, lab_dir: Path,
                mail_sink: MailSink) -> Iterator[AppProcess]:
    proc = AppProcess(
        env=app_env(
            asterisk, pg.url,
            ANSHIN_LOG_LEVEL="DEBUG",
            # IVR digit timeouts shortened so that timeout branches test in seconds.
            ANSHIN_IVR_FIRST_DIGIT_TIMEOUT="4",
            ANSHIN_IVR_INTER_DIGIT_TIMEOUT="3",
            # Mail to the test's aiosmtpd; a short retry schedule for the relay-down test.
            ANSHIN_SMTP_PORT=str(mail_sink.port),
            ANSHIN_SMTP_TIMEOUT="5",
            ANSHIN_MAIL_POLL_INTERVAL="0.3",
            ANSHIN_MAIL_RETRY_BASE="0.5",
            ANSHIN_MAIL_RETRY_MAX="2",
            ANSHIN_RECORDING_RECOVERY_INTERVAL="5",
        ),
        log_path=REPO / "build" / "test-app.log",
    )
    proc.log_path.unlink(missing_ok=True)
    proc.start()
    proc.wait_connected()
    yield proc
    proc.stop()


@pytest.fixture
def app(app_process: AppProcess) -> Iterator[AppProcess]:
    """The running app, connected to Asterisk; restarted first if a test stopped it.
    After the test, no call may be left live in the app."""
    if app_process.proc is None or app_process.proc.poll() is not None:
        app_process.proc = None
        app_process.start()
    app_process.wait_connected()
    yield app_process
    if app_process.proc is not None and app_process.proc.poll() is None:
        app_process.wait_idle()


@pytest.fixture
def sql(pg: PgCluster) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    with psycopg.connect(pg.url, autocommit=True) as conn:
        yield conn
