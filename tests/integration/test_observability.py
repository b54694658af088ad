"""What operators watch, through real peers: both services' /metrics scraped over HTTP and
parsed with prometheus_client's parser, moving when a real SIPp call and a real portal login
happen; /health and /ready; the dialplan's fallback counted; JSON logs carrying the call's
context; and no PIN, code, password or SMS body in any log of real flows run at DEBUG."""

from __future__ import annotations

import json
import logging
import re
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from argon2 import PasswordHasher
from prometheus_client.parser import text_string_to_metric_families

from callflow.logs import JsonFormatter
from integration.support import new_subscriber
from labkit.appproc import AppProcess
from labkit.asterisk import AsteriskContainer
from labkit.harness.sipp import Dtmf, Wait, place_call
from labkit.harness.sipp import Step as SippStep
from labkit.harness.wait import wait_until
from labkit.portal_dev import PortalServer
from labkit.portal_testkit import api_login, last_sms_code, make_account
from labkit.postgres import PgCluster
from portal.config import PortalSettings

pytestmark = pytest.mark.lab

Sql = psycopg.Connection[tuple[object, ...]]
RETRIEVAL = "05033005000"
PIN_CHANGE = "05033005141"
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


# ------------------------------------------------------------------ helpers

def scrape(url: str) -> tuple[set[str], Samples]:
    """GET a Prometheus endpoint; (family names, {(sample name, labels): value})."""
    with urllib.request.urlopen(url, timeout=5) as r:
        assert r.status == 200
        assert r.headers["Content-Type"].startswith("text/plain")
        text = r.read().decode()
    families: set[str] = set()
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        families.add(family.name)
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return families, samples


def total(samples: Samples, name: str, **labels: str) -> float:
    """Sum of the samples called `name` whose labels include `labels`."""
    return sum(v for (n, ls), v in samples.items()
               if n == name and all((k, labels[k]) in ls for k in labels))


def status_of(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return int(r.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def keys(digits: str) -> Dtmf:
    return Dtmf(digits, mode="rfc4733", duration_s=0.08, gap_s=0.06)


def login(number: str, pin: str) -> list[SippStep]:
    return [Wait(1.0), keys(number + "#"), keys(pin + "#")]


async def dial(asterisk: AsteriskContainer, dialed: str, steps: list[SippStep]) -> None:
    result = await place_call(target=asterisk.sip_target, dialed=dialed, steps=steps,
                              digit_gap_s=0.08, wait_for_remote_bye=True, timeout_s=60)
    assert result.answered and result.remote_hung_up, result.describe()


class Captured(logging.Handler):
    """The product's records in this process (the portal runs in a thread here), as the
    portal's JSON log lines; the test's own tooling (SIPp harness, HTTP client) is left out."""

    PRODUCT = ("portal", "callflow", "uvicorn", "fastapi", "starlette")

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(JsonFormatter("portal"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.split(".")[0] in self.PRODUCT:
            self.lines.append(self.format(record))


@pytest.fixture(scope="module")
def portal(pg: PgCluster) -> Iterator[PortalServer]:
    server = PortalServer(PortalSettings(database_url=pg.url, portal_port=0,
                                         portal_secret="lab-test", portal_sms_provider="lab"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def json_app(app: AppProcess, tmp_path: Path) -> Iterator[AppProcess]:
    """The lab app restarted with JSON logs at DEBUG into a log of its own (build/test-app.log
    is shared by concurrent test runs); restored afterwards."""
    saved, saved_log = dict(app.env), app.log_path
    app.stop()
    app.env.update(ANSHIN_LOG_FORMAT="json", ANSHIN_LOG_LEVEL="DEBUG")
    app.log_path = tmp_path / "app.log"
    app.start()
    app.wait_connected()
    try:
        yield app
    finally:
        app.wait_idle()
        app.stop()
        app.env.clear()
        app.env.update(saved)
        app.log_path = saved_log
        app.start()
        app.wait_connected()


@pytest.fixture
def portal_logs() -> Iterator[Captured]:
    handler = Captured()
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def log_from(path: Path, offset: int) -> list[str]:
    with open(path, "rb") as f:
        f.seek(offset)
        return [line for line in f.read().decode(errors="replace").splitlines() if line.strip()]


# ------------------------------------------------------------------ tests

async def test_both_services_export_prometheus_metrics_that_move(
        app: AppProcess, asterisk: AsteriskContainer, sql: Sql, portal: PortalServer) -> None:
    app_url = f"http://127.0.0.1:{app.status_port}"
    assert status_of(app_url + "/health") == 200
    assert status_of(app_url + "/ready") == 200
    assert status_of(portal.url + "/health") == 200
    assert status_of(portal.url + "/ready") == 200

    app_families, before = scrape(app_url + "/metrics")
    assert {
        "anshin_calls", "anshin_live_calls", "anshin_stasis_start_to_first_action_seconds",
        "anshin_dtmf_to_prompt_seconds", "anshin_ari_connected", "anshin_ari_reconnects",
        "anshin_event_loop_lag_seconds", "anshin_mail_outbox_depth",
        "anshin_mail_outbox_oldest_age_seconds", "anshin_mail_delivery_failed",
        "anshin_ivr_lockouts_active", "anshin_call_requests", "anshin_voicemail_storage_bytes",
        "anshin_dialplan_fallback_announcements",
    } <= app_families
    assert total(before, "anshin_ari_connected") == 1
    portal_families, portal_before = scrape(portal.url + "/metrics")
    assert {"anshin_portal_logins", "anshin_portal_twofa_sent", "anshin_portal_twofa_checks",
            "anshin_portal_lockouts", "anshin_portal_request_duration_seconds"} <= portal_families

    # One real call with keys: the retrieval IVR, an empty mailbox (announced, hung up).
    number = new_subscriber(sql, voicemail_enabled=True,
                            voicemail_pin_hash=PasswordHasher().hash("4826"))
    await dial(asterisk, RETRIEVAL, login(number, "4826"))
    await wait_until(lambda: total(scrape(app_url + "/metrics")[1], "anshin_calls_total",
                                   route="retrieval_ivr") > total(
                         before, "anshin_calls_total", route="retrieval_ivr"),
                     15, "the call counted by route")
    _, after = scrape(app_url + "/metrics")
    for histogram in ("anshin_stasis_start_to_first_action_seconds_count",
                      "anshin_dtmf_to_prompt_seconds_count"):
        assert total(after, histogram) > total(before, histogram), histogram
    assert total(after, "anshin_event_loop_lag_seconds_count") > total(
        before, "anshin_event_loop_lag_seconds_count")
    assert total(after, "anshin_live_calls") == 0

    # The portal: a login with an SMS code.
    acct = make_account(sql)
    client, _csrf = api_login(portal.url, sql, acct)
    client.close()
    _, portal_after = scrape(portal.url + "/metrics")
    for name, labels in (("anshin_portal_logins_total", {"outcome": "ok"}),
                         ("anshin_portal_twofa_sent_total", {"method": "sms"}),
                         ("anshin_portal_twofa_checks_total", {"outcome": "ok"}),
                         ("anshin_portal_request_duration_seconds_count",
                          {"route": "/api/v1/login"})):
        assert total(portal_after, name, **labels) == total(portal_before, name, **labels) + 1, \
            (name, labels)


async def test_dialplan_fallback_is_counted_and_exported(
        app: AppProcess, asterisk: AsteriskContainer) -> None:
    app_url = f"http://127.0.0.1:{app.status_port}"
    name = "anshin_dialplan_fallback_announcements_total"
    before = total(scrape(app_url + "/metrics")[1], name)
    app.stop()
    try:
        await dial(asterisk, RETRIEVAL, [])  # no app: the dialplan announces and hangs up
    finally:
        app.start()
        app.wait_connected()
    # read over ARI on reconnect
    await wait_until(lambda: total(scrape(app_url + "/metrics")[1], name) == before + 1, 10,
                     "the fallback announcement counted")
    # not ready while stopped is what /ready is for; alive again now
    assert status_of(app_url + "/ready") == 200


async def test_no_secret_in_the_logs_of_real_flows(
        json_app: AppProcess, asterisk: AsteriskContainer, sql: Sql, portal: PortalServer,
        portal_logs: Captured) -> None:
    offset = json_app.log_path.stat().st_size
    old_pin, new_pin, portal_pin = "4826", "7391", "6157"
    number = new_subscriber(sql, voicemail_enabled=True,
                            voicemail_pin_hash=PasswordHasher().hash(old_pin))
    # IVR: PIN change (old PIN, new PIN twice), then the retrieval IVR with the new PIN.
    await dial(asterisk, PIN_CHANGE, [*login(number, old_pin), keys("3#"),
                                      keys(new_pin + "#"), keys(new_pin + "#"), Wait(2.0)])
    await dial(asterisk, RETRIEVAL, [*login(number, new_pin), Wait(2.0)])
    # and a call to the 050 number itself (its lines carry the number)
    called = new_subscriber(sql)
    await place_call(target=asterisk.sip_target, dialed=called, wait_for_remote_bye=True,
                     timeout_s=30)

    # Portal: login with password and SMS code, then the voicemail PIN changed in the API.
    acct = make_account(sql)
    client, csrf = api_login(portal.url, sql, acct)
    sms = sql.execute("SELECT body FROM sms_outbox WHERE to_number = %s ORDER BY id DESC"
                      " LIMIT 1", (acct.contacts[0],)).fetchone()
    assert sms is not None
    sms_body, code = str(sms[0]), last_sms_code(sql, acct.contacts[0])
    r = client.put(f"/api/v1/numbers/{acct.numbers[0]}/voicemail",
                   json={"enabled": True, "email": "owner@example.jp", "pin": portal_pin},
                   headers={"X-CSRF-Token": csrf})
    assert r.status_code == 200, r.text
    client.close()

    app_lines = log_from(json_app.log_path, offset)
    assert app_lines and portal_logs.lines
    for where, lines in (("app", app_lines), ("portal", portal_logs.lines)):
        text = "\n".join(lines)
        for pin in (old_pin, new_pin, portal_pin, code):
            assert not re.search(rf"(?<![0-9]){pin}(?![0-9])", text), (where, pin)
        for secret in (acct.password, sms_body):
            assert secret not in text, where
        # nor the keys one by one
        assert not re.search(r"DTMF\W*[0-9]", text), where

    # JSON lines; a call's lines carry its id (and the 050 number once known)
    records = [json.loads(line) for line in app_lines]
    ivr_lines = [r for r in records if str(r.get("msg", "")).startswith("call ")]
    assert ivr_lines and all("call_id" in r for r in ivr_lines)
    assert any(r.get("number") == called and "call_id" in r for r in records)
    portal_records = [json.loads(line) for line in portal_logs.lines]
    assert any(r.get("msg", "").startswith("login account=") and "request_id" in r
               for r in portal_records)

