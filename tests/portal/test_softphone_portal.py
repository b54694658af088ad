"""The 050 number on a softphone in the portal's JSON API: the password is generated and
shown once (only its HA1 is stored), issuing again replaces it, revoking ends the account."""

from __future__ import annotations

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
