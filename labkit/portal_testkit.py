"""Helpers for the portal's tests and screenshot runs: accounts made with the operator CLI's
functions, reading 2FA codes from the lab SMS outbox, and the browser login."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import httpx
import psycopg

from labkit import testlogs
from portal import admin

if TYPE_CHECKING:
    from playwright.sync_api import Page

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
    # the session's log-secrets check looks for both in the app's and the portal's logs
    testlogs.note_secret(m.group(1), "number")
    testlogs.note_secret(str(row[0]), "text")
    return m.group(1)


def request_sms_code(page: Page, base: str, acct: Acct) -> None:
    """Login in the browser up to the code page: password, then an SMS code to the first
    contact number."""
    page.goto(base + "/login")
    page.fill("#email", acct.email)
    page.fill("#password", acct.password)
    page.click("button:has-text('ログイン')")
    page.wait_for_url("**/login/2fa")
    page.check("#method-sms")
    page.click("button:has-text('送信')")
    page.wait_for_url("**/login/code")


def login_sms(page: Page, base: str, sql: Sql, acct: Acct, *, trust: bool = True) -> None:
    """The whole login in the browser: password, SMS (the lab inbox), code."""
    request_sms_code(page, base, acct)
    page.fill("#code", last_sms_code(sql, acct.contacts[0]))
    if trust:  # 「このブラウザを信頼する」 is unticked unless the user ticks it
        page.check("input[name=trust]")
    page.click("button:has-text('認証する')")



def api_login(base: str, sql: Sql, acct: Acct) -> tuple[httpx.Client, str]:
    """The whole login through the JSON API: password, an SMS code (the lab outbox), verify.
    A logged-in client and its CSRF token."""
    client = httpx.Client(base_url=base, timeout=10)
    csrf = client.get("/api/v1/session").json()["csrf_token"]
    r = client.post("/api/v1/login", json={"email": acct.email, "password": acct.password},
                    headers={"X-CSRF-Token": csrf})
    assert r.status_code == 200, r.text
    csrf = r.json()["csrf_token"]
    r = client.post("/api/v1/twofa/send", json={"method": "sms"}, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 200, r.text
    r = client.post("/api/v1/twofa/verify", json={"code": last_sms_code(sql, acct.contacts[0])},
                    headers={"X-CSRF-Token": csrf})
    assert r.status_code == 200, r.text
    return client, r.json()["csrf_token"]
