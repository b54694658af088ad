"""おやすみモード in the portal: the 入力→確認→完了 page in headless Chromium at phone size, and
the JSON API (GET/PUT /api/v1/numbers/{n}/quiet-hours)."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import Page, expect

from labkit.portal_dev import PortalServer
from labkit.portal_testkit import Acct, Sql, api_login, login_sms, make_account
from portal import forms


@pytest.fixture
def acct(portal_sql: Sql) -> Acct:
    return make_account(portal_sql)


def stored(sql: Sql, number: str) -> tuple[object, ...]:
    head = sql.execute("SELECT enabled, action FROM quiet_hours WHERE number = %s",
                       (number,)).fetchone()
    windows = sql.execute("SELECT weekday, start_minute, end_minute FROM quiet_hours_windows"
                          " WHERE number = %s ORDER BY weekday", (number,)).fetchall()
    exceptions = sql.execute("SELECT caller FROM quiet_hours_exceptions WHERE number = %s"
                             " ORDER BY caller", (number,)).fetchall()
    return head, windows, exceptions


def test_quiet_hours_page(page: Page, portal: PortalServer, portal_sql: Sql,
                          acct: Acct) -> None:
    number = acct.numbers[0]
    login_sms(page, portal.url, portal_sql, acct)
    page.wait_for_url(f"**/n/{number}/")
    expect(page.locator("#st-quiet")).to_have_text("利用しない")
    page.click("ul.menu a:has-text('おやすみモード')")
    expect(page.locator("input[type=time]")).to_have_count(14)
    page.check("input[name=enabled][value=on]")
    page.check("input[name=handling][value=announce]")
    for day in range(5):  # 月～金 22:00～翌07:00
        page.fill(f"#start{day}", "22:00")
        page.fill(f"#end{day}", "07:00")
    page.fill("#start5", "13:00")  # 土: the end is missing
    page.fill("#exceptions", "090-1111-2222\nabc")
    page.click("button:has-text('設定')")
    expect(page.locator("#error-day5")).to_contain_text("両方入力してください")
    expect(page.locator("#error-exceptions")).to_contain_text("abc")
    page.fill("#start5", "")
    page.fill("#exceptions", "090-1111-2222\n０３-１２３４-５６７８")
    page.screenshot(path="build/quiet-hours.png", full_page=True)
    page.click("button:has-text('設定')")
    expect(page.locator("h2")).to_have_text("設定内容の確認")
    table = page.locator("table.confirm")
    expect(table).to_contain_text("お断りのアナウンスを流す")
    expect(table.locator("tr:has-text('月曜日')")).to_contain_text("22:00～翌07:00")
    expect(table.locator("tr:has-text('土曜日')")).to_contain_text("なし")
    expect(table).to_contain_text("090-1111-2222、03-1234-5678")
    assert stored(portal_sql, number)[0] is None, "nothing is stored before 設定する"
    # 戻る keeps what was typed
    page.click("button:has-text('戻る')")
    expect(page.locator("#start4")).to_have_value("22:00")
    expect(page.locator("input[name=handling][value=announce]")).to_be_checked()
    page.click("button:has-text('設定')")
    page.click("button:has-text('設定する')")
    expect(page.locator(".done")).to_have_text("設定が完了しました。")
    head, windows, exceptions = stored(portal_sql, number)
    assert head == (True, "announce")
    assert windows == [(d, 22 * 60, 7 * 60) for d in range(5)]
    assert exceptions == [("0312345678",), ("09011112222",)]
    page.click("text=設定状況へ戻る")
    expect(page.locator("#st-quiet")).to_have_text("利用する")
    page.click("ul.menu a:has-text('おやすみモード')")
    expect(page.locator("#end0")).to_have_value("07:00")
    expect(page.locator("#start6")).to_have_value("")


def test_quiet_hours_api(portal: PortalServer, portal_sql: Sql, acct: Acct) -> None:
    client, csrf = api_login(portal.url, portal_sql, acct)
    n = acct.numbers[0]
    h = {"X-CSRF-Token": csrf}
    try:
        assert client.get(f"/api/v1/numbers/{n}/quiet-hours").json() == {
            "enabled": False, "action": "voicemail", "windows": [], "exceptions": []}
        body = {"enabled": True, "action": "voicemail",
                "windows": [{"weekday": 6, "start": "23:30", "end": "06:00"}],
                "exceptions": ["+81 90-1111-2222"]}
        r = client.put(f"/api/v1/numbers/{n}/quiet-hours", json=body, headers=h)
        assert r.status_code == 200, r.text
        assert r.json()["exceptions"] == ["09011112222"]
        assert client.get(f"/api/v1/numbers/{n}/quiet-hours").json()["windows"] == [
            {"weekday": 6, "start": "23:30", "end": "06:00"}]
        bad = [({**body, "windows": [{"weekday": 1, "start": "25:00", "end": "06:00"}]},
                "day1"),
               ({**body, "windows": []}, "windows"),
               ({**body, "exceptions": [f"03123400{i:02d}" for i in range(11)]},
                "exceptions")]
        for payload, field in bad:
            r = client.put(f"/api/v1/numbers/{n}/quiet-hours", json=payload, headers=h)
            assert r.status_code == 422, r.text
            assert r.json()["detail"][0]["field"] == field, r.text
        assert "10件まで" in forms.quiet_exception_limit_message()
        r = client.put(f"/api/v1/numbers/{n}/quiet-hours", json=body)  # no CSRF header
        assert r.status_code == 403
        other = make_account(portal_sql)
        r = client.get(f"/api/v1/numbers/{other.numbers[0]}/quiet-hours")
        assert r.status_code == 404
    finally:
        client.close()


def test_unauthenticated_api_is_refused(portal: PortalServer, acct: Acct) -> None:
    r = httpx.get(f"{portal.url}/api/v1/numbers/{acct.numbers[0]}/quiet-hours")
    assert r.status_code in (401, 403)
