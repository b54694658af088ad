"""Portal test fixtures: a throw-away PostgreSQL (the integration suite's `pg`), the portal in
a thread, accounts made with the operator CLI's functions, and headless Chromium at a phone
viewport (Debian's /usr/bin/chromium; no browser download)."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from integration.conftest import lab_dir, pg  # noqa: F401  (fixtures)
from playwright.sync_api import Browser, Page, sync_playwright

from labkit.portal_dev import PortalServer
from labkit.portal_testkit import CHROMIUM, CHROMIUM_ARGS, PHONE, Sql
from labkit.postgres import PgCluster as PgClusterT
from portal.config import PortalSettings


@pytest.fixture(scope="session")
def portal_sql(pg: PgClusterT) -> Iterator[Sql]:  # noqa: F811
    with psycopg.connect(pg.url, autocommit=True) as conn:
        yield conn


@pytest.fixture(scope="session")
def portal(pg: PgClusterT) -> Iterator[PortalServer]:  # noqa: F811
    server = PortalServer(PortalSettings(database_url=pg.url, portal_port=0,
                                         portal_secret="test-secret", portal_sms_provider="lab",
                                         portal_lab_pages=True))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
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
