"""The reliability suite's own lab: PostgreSQL, Asterisk, the app (reaching ARI through a
proxy the tests can cut), a mail relay. Package-scoped: it is torn down when the suite's
last test is done, so restarts here never touch the integration tests' lab. After every
test the lab is brought back to healthy (proxy open, database up, relay up, app connected
and idle, no channel left in Asterisk), whatever the test did.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Generator, Iterator
from pathlib import Path

import psycopg
import pytest

from labkit import fixtures
from labkit.appproc import AppProcess
from labkit.asterisk import AsteriskContainer
from labkit.mailsink import MailSink
from labkit.postgres import PgCluster
from reliability import results
from reliability.support import TcpProxy, active_channels

REPO = Path(__file__).resolve().parents[2]
BUILD = REPO / "build" / "reliability"

# Settings of the app under test that differ from production, and why.
APP_SETTINGS = {
    "ANSHIN_LOG_LEVEL": "DEBUG",
    "ANSHIN_IVR_FIRST_DIGIT_TIMEOUT": "4",  # IVR timeout branches in seconds
    "ANSHIN_IVR_INTER_DIGIT_TIMEOUT": "3",
    "ANSHIN_SMTP_TIMEOUT": "5",
    "ANSHIN_MAIL_POLL_INTERVAL": "0.3",
    # The production schedule is 30 s doubling up to 1 h; here 0.5 s doubling up to 8 s, so
    # a one-minute outage walks the whole backoff curve to its cap (test_mail_faults).
    "ANSHIN_MAIL_RETRY_BASE": "0.5",
    "ANSHIN_MAIL_RETRY_MAX": "8",
    "ANSHIN_RECORDING_RECOVERY_INTERVAL": "3",
}


@pytest.fixture(scope="package")
def lab_dir() -> Iterator[Path]:
    with fixtures.lab_dir("anshin-rel-") as path:
        yield path


@pytest.fixture(scope="package")
def pg(lab_dir: Path) -> Iterator[PgCluster]:
    with fixtures.pg_cluster(lab_dir / "pg") as cluster:
        yield cluster


@pytest.fixture(scope="package")
def asterisk(lab_dir: Path) -> Iterator[AsteriskContainer]:
    # More RTP ports than the integration lab: the load faults run many calls at once.
    with fixtures.asterisk_container(lab_dir / "asterisk", "rel", rtp_ports=600,
                                     log_path=BUILD / "asterisk.log") as container:
        yield container


@pytest.fixture(scope="package")
def ari_proxy(asterisk: AsteriskContainer) -> Iterator[TcpProxy]:
    proxy = TcpProxy(asterisk.config.ports.http)
    yield proxy
    proxy.close()


@pytest.fixture(scope="package")
def mail_sink() -> Iterator[MailSink]:
    with fixtures.mail_sink() as sink:
        yield sink


@pytest.fixture(scope="package")
def app_process(pg: PgCluster, asterisk: AsteriskContainer, ari_proxy: TcpProxy,
                mail_sink: MailSink) -> Iterator[AppProcess]:
    # ARI through the proxy the tests cut to simulate a lost WebSocket.
    with fixtures.app_process(asterisk, pg.url, log_path=BUILD / "app.log", **APP_SETTINGS,
                              ANSHIN_ARI_URL=f"http://127.0.0.1:{ari_proxy.port}/ari",
                              ANSHIN_SMTP_PORT=str(mail_sink.port)) as proc:
        yield proc


def _heal(app: AppProcess, pg: PgCluster, asterisk: AsteriskContainer, proxy: TcpProxy,
          mail_sink: MailSink) -> None:
    """Whatever the test broke, bring it back."""
    proxy.restore()
    if pg.proc is None or pg.proc.poll() is not None:
        pg.proc = None
        pg.resume()
    mail_sink.start()
    if not asterisk.running():
        asterisk.start()
        asyncio.run(asterisk.wait_ready())
    if app.proc is None or app.proc.poll() is not None:
        app.proc = None
        app.start()
    app.wait_connected()


@pytest.fixture
def app(app_process: AppProcess, pg: PgCluster, asterisk: AsteriskContainer,
        ari_proxy: TcpProxy, mail_sink: MailSink) -> Iterator[AppProcess]:
    """The running app, connected; afterwards the lab is healed and must be clean: no live
    call in the app (no leaked task) and no channel in Asterisk."""
    _heal(app_process, pg, asterisk, ari_proxy, mail_sink)
    yield app_process
    _heal(app_process, pg, asterisk, ari_proxy, mail_sink)
    problems = []
    try:
        app_process.wait_idle(timeout=30)
    except TimeoutError as exc:
        problems.append(f"leaked call task(s): {exc}")
    for _ in range(60):
        if active_channels(asterisk) == 0:
            break
        time.sleep(0.5)
    else:
        problems.append(f"channels left in Asterisk:\n{asterisk.cli('core show channels')}")
    if problems:
        # Leave a clean lab for the next test, then fail this one.
        asterisk.cli("channel request hangup all")
        app_process.kill()
        app_process.start()
        app_process.wait_connected()
        pytest.fail("\n".join(problems))


@pytest.fixture
def sql(pg: PgCluster) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    with psycopg.connect(pg.url, autocommit=True) as conn:
        yield conn


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]
                              ) -> Generator[None, pytest.TestReport, None]:
    outcome = yield
    report = outcome.get_result()
    if report.when == "call" or (report.when == "setup" and report.failed):
        item.stash[_REPORT] = report


_REPORT = pytest.StashKey[pytest.TestReport]()


@pytest.fixture
def reliability(request: pytest.FixtureRequest) -> Iterator[results.Row]:
    """The test's row in docs/reliability.md: `item` and `fault` from the test's
    `@pytest.mark.reliability(item, fault)` marker."""
    marker = request.node.get_closest_marker("reliability")
    assert marker is not None, "mark the test with @pytest.mark.reliability(item, fault)"
    item, fault = marker.args
    row = results.Row(test_id=request.node.nodeid, item=int(item), fault=str(fault))
    print(f"\n[{fault}]")
    yield row
    report = request.node.stash.get(_REPORT, None)
    row.outcome = "passed" if report is not None and report.passed else "FAILED"
    results.store(row)


@pytest.fixture(scope="package", autouse=True)
def _render_reliability_doc() -> Iterator[None]:
    yield
    results.render(results.load())


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "reliability(item, fault): a row of docs/reliability.md")
