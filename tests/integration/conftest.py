"""Lab fixtures: a throw-away PostgreSQL, the project's Asterisk image, a mail relay and the
app process (labkit.fixtures builds them; the reliability lab builds its own the same way).

Started once per test session. `./lab test` builds the Asterisk image and the prompts first
and passes them in ANSHIN_ASTERISK_IMAGE / ANSHIN_PROMPTS_DIR.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from integration.support import MailSink, new_subscriber
from labkit import fixtures
from labkit.appproc import AppProcess
from labkit.asterisk import AsteriskContainer
from labkit.harness.hearing import Ears
from labkit.postgres import PgCluster

__all__ = ["new_subscriber"]

BUILD = Path(__file__).resolve().parents[2] / "build"


@pytest.fixture(scope="session")
def lab_dir() -> Iterator[Path]:
    with fixtures.lab_dir("anshin-lab-") as path:
        yield path


@pytest.fixture(scope="session")
def pg(lab_dir: Path) -> Iterator[PgCluster]:
    with fixtures.pg_cluster(lab_dir / "pg") as cluster:
        yield cluster


@pytest.fixture(scope="session")
def asterisk(lab_dir: Path) -> Iterator[AsteriskContainer]:
    with fixtures.asterisk_container(lab_dir / "asterisk", "t",
                                     log_path=BUILD / "test-asterisk.log") as container:
        yield container


@pytest.fixture(scope="session")
def ears() -> Iterator[Ears]:
    """The offline Japanese recogniser, loaded once per session. Without it a test that hears
    fails (HearingUnavailable), it never skips. Transcripts and their CPU cost go to
    build/hearing.log."""
    listener = Ears()
    yield listener
    BUILD.mkdir(exist_ok=True)
    (BUILD / "hearing.log").write_text(listener.report() + "\n")


@pytest.fixture(scope="session")
def mail_sink() -> Iterator[MailSink]:
    with fixtures.mail_sink() as sink:
        yield sink


@pytest.fixture(scope="session")
def app_process(pg: PgCluster, asterisk: AsteriskContainer,
                mail_sink: MailSink) -> Iterator[AppProcess]:
    with fixtures.app_process(
            asterisk, pg.url, log_path=BUILD / "test-app.log",
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
    ) as proc:
        yield proc


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
