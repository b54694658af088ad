"""Portal test fixtures: a throw-away PostgreSQL (the integration suite's `pg`), the portal in
a thread, accounts made with the operator CLI's functions, and headless Chromium at a phone
viewport (Debian's /usr/bin/chromium; no browser download)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

import psycopg
import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from labkit.postgres import PgCluster as PgClusterT
from portal import admin
from portal.config import PortalSettings
from portal.devserver import PortalServer
from tests.integration.conftest import lab_dir, pg  # noqa: F401  (fixtures)

Sql = psycopg.Connection[tuple[object, ...]]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True,
         "device_scale_factor": 2, "locale": "ja-JP", "timezone_id": "Asia/Tokyo"}
PASSWORD = "correct-horse-battery"


@dataclass
class Acct:
    email: str
    password: str
    numbers: list[str]
    contacts: list[str]
    id: int = 0
    extra: dict[str, str] = field(default_factory=dict)


def unique_050() -> str:
    return "050" + str(uuid.uuid4().int)[:8]


def unique_mobile() -> str:
    return "090" + str(uuid.uuid4().int)[:8]


def unique_fixed() -> str:
    return "03" + str(uuid.uuid4().int)[:8]


def make_account(sql: Sql, *, numbers: int = 1, contacts: list[str] | None = None) -> Acct:
    email = f"u{uuid.uuid4().hex[:12]}@example.jp"
    acct_id = admin.create_account(sql, email, PASSWORD)
    nums = [admin.add_number(sql, email, unique_050()) for _ in range(numbers)]
    cts = [admin.add_contact(sql, email, c) for c in (contacts or [unique_mobile()])]
    return Acct(email, PASSWORD, nums, cts, acct_id)


def last_sms_code(sql: Sql, to_number: str) -> str:
    row = sql.execute("SELECT body FROM sms_outbox WHERE to_number = %s ORDER BY id DESC LIMIT 1",
                      (to_number,)).fetchone()
    assert row is not None, f"no SMS to {to_number}"
    m = re.search(r"認証番号は (\d{6})", str(row[0]))
    assert m is not None
    return m.group(1)


@pytest.fixture(scope="session")
def portal_sql(pg: PgClusterT) -> Iterator[Sql]:
    with psycopg.connect(pg.url, autocommit=True) as conn:
        yield conn


@pytest.fixture(scope="session")
def portal(pg: PgClusterT) -> Iterator[PortalServer]:
    server = PortalServer(PortalSettings(database_url=pg.url, portal_port=0,
                                         portal_secret="test-secret", portal_sms_provider="lab"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(**PHONE)  # type: ignore[arg-type]
    context.set_default_timeout(10_000)
    pg_page = context.new_page()
    yield pg_page
    context.close()


def login_sms(page: Page, base: str, sql: Sql, acct: Acct, *, trust: bool = True) -> None:
    """The whole login in the browser: password, SMS (the lab inbox), code."""
    page.goto(base + "/login")
    page.fill("#email", acct.email)
    page.fill("#password", acct.password)
    page.click("button:has-text('ログイン')")
    page.wait_for_url("**/login/2fa")
    page.check("#method-sms")
    page.click("button:has-text('送信')")
    page.wait_for_url("**/login/code")
    page.fill("#code", last_sms_code(sql, acct.contacts[0]))
    if not trust:
        page.uncheck("input[name=trust]")
    page.click("button:has-text('認証する')")

