"""The portal against the real telephony lab: a login whose code arrives by a real voice call
(R-ACC-3), and a setting changed in the browser that changes the next real call."""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from playwright.async_api import Page, async_playwright, expect

from labkit.appproc import AppProcess
from labkit.asterisk import AsteriskContainer
from labkit.harness.hearing import Ears, digit_runs
from labkit.harness.sipp import Uas, place_call
from labkit.portal_dev import PortalServer
from labkit.postgres import PgCluster
from portal import admin
from portal.config import PortalSettings

pytestmark = pytest.mark.lab

Sql = psycopg.Connection[tuple[object, ...]]
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run"]
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "locale": "ja-JP"}
PASSWORD = "lab-portal-password"


@pytest.fixture(scope="module")
def portal_url(pg: PgCluster) -> Iterator[str]:
    server = PortalServer(PortalSettings(database_url=pg.url, portal_port=0,
                                         portal_secret="lab-test", portal_sms_provider="lab",
                                         portal_lab_pages=True))
    server.start()
    yield server.url
    server.stop()


def account(sql: Sql, contact: str) -> tuple[str, str, int]:
    email = f"lab{uuid.uuid4().hex[:10]}@example.jp"
    acct = admin.create_account(sql, email, PASSWORD)
    number = admin.add_number(sql, email, "050" + str(uuid.uuid4().int)[:8])
    admin.add_contact(sql, email, contact)
    return email, number, acct


async def password_step(page: Page, base: str, email: str) -> None:
    await page.goto(base + "/login")
    await page.fill("#email", email)
    await page.fill("#password", PASSWORD)
    await page.click("button:has-text('ログイン')")
    await page.wait_for_url("**/login/2fa")


async def test_login_with_a_code_read_out_by_a_real_call(
        app: AppProcess, asterisk: AsteriskContainer, sql: Sql, portal_url: str,
        ears: Ears) -> None:
    contact = "03" + str(uuid.uuid4().int)[:8]  # a landline: only the voice call is offered
    email, number, acct = account(sql, contact)
    async with Uas(port=asterisk.config.ports.carrier, mode="answer", answer_after_s=0.3,
                   max_lifetime_s=120) as uas, async_playwright() as p:
        browser = await p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        page = await (await browser.new_context(**PHONE)).new_page()  # type: ignore[arg-type]
        await password_step(page, portal_url, email)
        await expect(page.locator("#method-voice")).to_be_checked()
        await page.click("button:has-text('送信')")
        await page.wait_for_url("**/login/code")
        # the app calls the contact number through the carrier gateway, which answers
        invites = await uas.wait_for_calls(1, timeout_s=30)
        assert invites[0].request_user == contact
        deadline = time.monotonic() + 60
        while True:
            row = sql.execute("SELECT status, code FROM call_requests WHERE account_id = %s"
                              " AND kind = 'twofa_voice' ORDER BY id DESC LIMIT 1",
                              (acct,)).fetchone()
            assert row is not None
            if row[0] in ("completed", "failed") or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)
        assert row[0] == "completed", row
        sent = uas.messages()
        assert any(m.direction == "sent" and m.status == 200 and m.cseq_method == "INVITE"
                   for m in sent), "the call was answered"
        # the call read the code out twice: what the phone heard. The recogniser may write a
        # digit said twice in a row once (「2 2」 as 「2」: CI heard 605226 as 6 0 5 2 6), so
        # a heard run may be the code with such repeats merged.
        code = str(row[1])
        text = await ears.hear(uas.rtp_stats().wav())
        merged = re.sub(r"(\d)\1+", r"\1", code)
        heard = [run for run in digit_runs(text) if run in (code, merged)]
        assert len(heard) == 2, (code, text)
        # the subscriber types the code
        await page.fill("#code", code)
        await page.click("button:has-text('認証する')")
        await page.wait_for_url(f"**/n/{number}/")
        await browser.close()


async def test_reject_anonymous_set_in_the_browser_rejects_the_next_anonymous_call(
        app: AppProcess, asterisk: AsteriskContainer, sql: Sql, portal_url: str) -> None:
    mobile = "090" + str(uuid.uuid4().int)[:8]
    email, number, _acct = account(sql, mobile)
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        page = await (await browser.new_context(**PHONE)).new_page()  # type: ignore[arg-type]
        await password_step(page, portal_url, email)
        await page.check("#method-sms")
        await page.click("button:has-text('送信')")
        await page.wait_for_url("**/login/code")
        body = sql.execute("SELECT body FROM sms_outbox WHERE to_number = %s ORDER BY id DESC",
                           (mobile,)).fetchone()
        assert body is not None
        m = re.search(r"(\d{6})", str(body[0]))
        assert m is not None
        await page.fill("#code", m.group(1))
        await page.click("button:has-text('認証する')")
        await page.wait_for_url(f"**/n/{number}/")
        await page.click("ul.menu a:has-text('非通知着信拒否設定')")
        await page.check("input[value=reject]")
        await page.click("button:has-text('設定')")
        await page.click("button:has-text('設定する')")
        await expect(page.locator(".done")).to_have_text("設定が完了しました。")
        await browser.close()
    t0 = time.time()
    result = await place_call(target=asterisk.sip_target, dialed=number, caller="anonymous",
                              wait_for_remote_bye=True, timeout_s=25)
    assert result.remote_hung_up, result.describe()
    deadline = time.monotonic() + 10
    while True:
        rows = sql.execute("SELECT caller, outcome FROM call_history WHERE number = %s"
                           " AND received_at >= to_timestamp(%s)", (number, t0 - 1)).fetchall()
        if rows or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.2)
    assert rows == [(None, "rejected_anonymous")]
