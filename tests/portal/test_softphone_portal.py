"""The 050 number on a softphone in the portal's JSON API: the password is generated and
shown once (only its HA1 is stored), issuing again replaces it, revoking ends the account."""

from __future__ import annotations

import re

from callflow.softphone import REALM, ha1
from labkit.portal_dev import PortalServer
from labkit.portal_testkit import Sql, api_login, make_account


def test_softphone_account_issued_once_replaced_and_revoked(
        portal: PortalServer, portal_sql: Sql) -> None:
    acct = make_account(portal_sql)
    client, csrf = api_login(portal.url, portal_sql, acct)
    n, h = acct.numbers[0], {"X-CSRF-Token": csrf}
    try:
        assert client.get(f"/api/v1/numbers/{n}/softphone").json()["active"] is False
        assert client.post(f"/api/v1/numbers/{n}/softphone").status_code == 403  # no CSRF

        first = client.post(f"/api/v1/numbers/{n}/softphone", headers=h)
        assert first.status_code == 200, first.text
        issued = first.json()
        assert issued["username"] == "sp" + n and issued["realm"] == REALM
        assert len(issued["password"]) >= 22 and issued["transport"] == "tls"
        shown = client.get(f"/api/v1/numbers/{n}/softphone").json()
        assert shown["active"] and shown["username"] == issued["username"]
        assert issued["password"] not in str(shown)
        stored = portal_sql.execute("SELECT ha1 FROM softphone_accounts WHERE number = %s",
                                    (n,)).fetchone()
        assert stored == (ha1(issued["username"], issued["password"]),)

        second = client.post(f"/api/v1/numbers/{n}/softphone", headers=h).json()
        assert second["password"] != issued["password"]
        stored = portal_sql.execute("SELECT ha1 FROM softphone_accounts WHERE number = %s",
                                    (n,)).fetchone()
        assert stored == (ha1(second["username"], second["password"]),)

        off = client.put(f"/api/v1/numbers/{n}/softphone", headers=h, json={"rings": False})
        assert off.status_code == 200 and off.json()["rings"] is False, off.text

        gone = client.delete(f"/api/v1/numbers/{n}/softphone", headers=h)
        assert gone.status_code == 200 and gone.json() == {
            "active": False, "username": None, "created_at": None, "rings": None}
        assert client.put(f"/api/v1/numbers/{n}/softphone", headers=h,
                          json={"rings": True}).status_code == 404  # no account any more
        # someone else's number: 404
        other = make_account(portal_sql).numbers[0]
        assert client.post(f"/api/v1/numbers/{other}/softphone", headers=h).status_code == 404
    finally:
        client.close()


def test_softphone_page_issues_once_then_rings_off_and_revokes(
        portal: PortalServer, portal_sql: Sql) -> None:
    acct = make_account(portal_sql)
    client, csrf = api_login(portal.url, portal_sql, acct)
    n = acct.numbers[0]
    try:
        assert f"/n/{n}/softphone" in client.get(f"/n/{n}/").text
        page = client.get(f"/n/{n}/softphone")
        assert page.status_code == 200 and "未発行" in page.text
        # only issuing is possible before an account exists
        bad = client.post(f"/n/{n}/softphone/confirm",
                          data={"csrf_token": csrf, "choice": "ring_off"})
        assert bad.status_code == 400 and "発行されていません" in bad.text
        # 入力 → 確認 (nothing issued yet) → 設定する → the password, once
        confirm = client.post(f"/n/{n}/softphone/confirm",
                              data={"csrf_token": csrf, "choice": "issue"})
        assert confirm.status_code == 200 and "設定内容の確認" in confirm.text
        assert portal_sql.execute("SELECT count(*) FROM softphone_accounts WHERE number = %s",
                                  (n,)).fetchone() == (0,)
        done = client.post(f"/n/{n}/softphone/apply",
                           data={"csrf_token": csrf, "choice": "issue"})
        assert done.status_code == 200 and done.headers["cache-control"] == "no-store"
        password = re.search(r'id="sp-password"><code>([^<]+)<', done.text)
        assert password is not None
        stored = portal_sql.execute("SELECT ha1 FROM softphone_accounts WHERE number = %s",
                                    (n,)).fetchone()
        assert stored == (ha1("sp" + n, password.group(1)),)
        again = client.get(f"/n/{n}/softphone")
        assert "sp" + n in again.text and password.group(1) not in again.text
        # ring off, then stop
        for choice, seen in (("ring_off", "呼び出さない"), ("revoke", "未発行")):
            applied = client.post(f"/n/{n}/softphone/apply",
                                  data={"csrf_token": csrf, "choice": choice},
                                  follow_redirects=True)
            assert applied.status_code == 200 and "設定が完了しました" in applied.text
            assert seen in client.get(f"/n/{n}/softphone").text
        # another account's number
        other = make_account(portal_sql).numbers[0]
        assert client.get(f"/n/{other}/softphone").status_code == 404
    finally:
        client.close()
