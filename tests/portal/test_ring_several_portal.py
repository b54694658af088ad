"""Ringing several phones in the portal: the forwarding page's mode and per-destination ring
times (入力→確認→完了, headless Chromium at phone size) and the JSON API."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from labkit.portal_dev import PortalServer
from labkit.portal_testkit import Acct, Sql, api_login, login_sms, make_account


@pytest.fixture
def acct(portal_sql: Sql) -> Acct:
    return make_account(portal_sql)


def saved(sql: Sql, number: str) -> tuple[object, list[tuple[object, ...]]]:
    mode = sql.execute("SELECT forward_mode FROM subscriber_numbers WHERE number = %s",
                       (number,)).fetchone()
    rows = sql.execute("SELECT destination, ring_seconds FROM forward_destinations"
                       " WHERE number = %s ORDER BY position", (number,)).fetchall()
    return mode, rows


def test_ring_several_phones_in_order(page: Page, portal: PortalServer, portal_sql: Sql,
                                      acct: Acct) -> None:
    number = acct.numbers[0]
    login_sms(page, portal.url, portal_sql, acct)
    page.wait_for_url(f"**/n/{number}/")
    page.click("ul.menu a:has-text('指定番号への接続')")
    page.check("input[name=enabled][value=on]")
    page.check("input[name=mode][value=sequential]")
    page.fill("#dest1", "090-1111-2222")
    page.select_option("#ring1", "10")
    page.fill("#dest2", "03-1111-2222")  # no ring time of its own: the common one
    page.select_option("#ring_seconds", "30")
    page.screenshot(path="build/forwarding-several.png", full_page=True)
    page.click("button:has-text('設定')")  # no 接続先 chosen: not needed for this mode
    expect(page.locator("h2")).to_have_text("設定内容の確認")
    table = page.locator("table.confirm")
    expect(table).to_contain_text("接続先を順番に呼び出す")
    expect(table.locator("tr:has-text('接続先1')")).to_contain_text("090-1111-2222（10秒）")
    expect(table.locator("tr:has-text('接続先2')")).to_contain_text("03-1111-2222（30秒）")
    assert saved(portal_sql, number) == (("single",), []), "nothing stored before 設定する"
    page.click("button:has-text('戻る')")
    expect(page.locator("input[name=mode][value=sequential]")).to_be_checked()
    expect(page.locator("#ring1")).to_have_value("10")
    page.click("button:has-text('設定')")
    page.click("button:has-text('設定する')")
    expect(page.locator(".done")).to_have_text("設定が完了しました。")
    assert saved(portal_sql, number) == (("sequential",), [("09011112222", 10),
                                                          ("0311112222", None)])
    page.click("text=設定状況へ戻る")
    expect(page.locator("#st-forward")).to_have_text("接続する（順番に2件）")
    page.click("ul.menu a:has-text('指定番号への接続')")
    expect(page.locator("input[name=mode][value=sequential]")).to_be_checked()
    expect(page.locator("#ring1")).to_have_value("10")
    expect(page.locator("#ring2")).to_have_value("")


def test_ring_several_phones_api(portal: PortalServer, portal_sql: Sql, acct: Acct) -> None:
    client, csrf = api_login(portal.url, portal_sql, acct)
    n = acct.numbers[0]
    h = {"X-CSRF-Token": csrf}
    try:
        r = client.put(f"/api/v1/numbers/{n}/forwarding", headers=h, json={
            "enabled": True, "destinations": ["09011112222", "0311112222", "0311113333"],
            "mode": "simultaneous", "ring_seconds": 25})
        assert r.status_code == 200, r.text
        body = r.json()
        assert (body["forward_mode"], body["forward_active"]) == ("simultaneous", None)
        assert body["forward_destinations"] == ["09011112222", "0311112222", "0311113333"]
        r = client.put(f"/api/v1/numbers/{n}/forwarding", headers=h, json={
            "enabled": True, "destinations": ["0311113333", "09011112222"],
            "mode": "sequential", "ring_each": [15, 7]})
        assert r.status_code == 422
        assert r.json()["detail"][0]["field"] == "ring2"
        r = client.put(f"/api/v1/numbers/{n}/forwarding", headers=h, json={
            "enabled": True, "destinations": ["0311113333", "09011112222"],
            "mode": "sequential", "ring_each": [15, None]})
        assert r.status_code == 200, r.text
        assert r.json()["forward_destinations"] == ["0311113333", "09011112222"]
        assert r.json()["forward_ring_each"] == [15, None]
        other = make_account(portal_sql)
        r = client.put(f"/api/v1/numbers/{other.numbers[0]}/forwarding", headers=h, json={
            "enabled": True, "destinations": ["0311113333"], "mode": "simultaneous"})
        assert r.status_code == 404
    finally:
        client.close()
