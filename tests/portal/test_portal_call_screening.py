"""名乗り確認 (call screening) in the portal: the setting with its 確認 step (page), the
overview, the JSON API, and another account's number out of reach."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from labkit.portal_dev import PortalServer
from labkit.portal_testkit import Acct, Sql, api_login, make_account


@pytest.fixture
def owner(portal: PortalServer, portal_sql: Sql) -> Iterator[tuple[httpx.Client, str, Acct]]:
    acct = make_account(portal_sql)
    client, csrf = api_login(portal.url, portal_sql, acct)
    yield client, csrf, acct
    client.close()


def test_the_setting_with_its_confirm_step_and_the_api(
        owner: tuple[httpx.Client, str, Acct]) -> None:
    client, csrf, acct = owner
    n, h = acct.numbers[0], {"X-CSRF-Token": csrf}
    assert client.get(f"/api/v1/numbers/{n}/settings").json()["call_screening"] is False
    # the page: 入力 → 確認 (nothing stored yet) → 設定する → 完了
    form = client.get(f"/n/{n}/screening")
    assert form.status_code == 200 and 'value="off" checked' in form.text
    assert "さんからの電話です" in form.text
    typed = {"csrf_token": csrf, "screening": "on", "exceptions": "090-1111-2222\n0311112222"}
    confirm = client.post(f"/n/{n}/screening/confirm", data=typed)
    assert confirm.status_code == 200 and "設定内容の確認" in confirm.text
    assert "090-1111-2222" in confirm.text
    assert client.get(f"/api/v1/numbers/{n}/settings").json()["call_screening"] is False
    back = client.post(f"/n/{n}/screening", data=typed)
    assert back.status_code == 200 and 'value="on" checked' in back.text
    assert "090-1111-2222" in back.text
    done = client.post(f"/n/{n}/screening/apply", data=typed, follow_redirects=True)
    assert done.status_code == 200 and "設定が完了しました" in done.text
    settings = client.get(f"/api/v1/numbers/{n}/settings").json()
    assert settings["call_screening"] is True
    assert sorted(settings["call_screening_exceptions"]) == ["0311112222", "09011112222"]
    assert 'id="st-screening">利用する' in client.get(f"/n/{n}/").text
    # nothing chosen: the form again with the reason
    bad = client.post(f"/n/{n}/screening/confirm", data={"csrf_token": csrf})
    assert bad.status_code == 400 and "選択してください" in bad.text
    eleven = "\n".join(f"0311110{i:03}" for i in range(11))
    bad = client.post(f"/n/{n}/screening/confirm",
                      data={"csrf_token": csrf, "screening": "on", "exceptions": eleven})
    assert bad.status_code == 400 and "10件まで" in bad.text

    # the API, back off
    r = client.put(f"/api/v1/numbers/{n}/call-screening", headers=h, json={"enabled": False})
    assert r.status_code == 200 and r.json()["call_screening"] is False
    assert sorted(r.json()["call_screening_exceptions"]) == ["0311112222", "09011112222"]
    r = client.put(f"/api/v1/numbers/{n}/call-screening", headers=h,
                   json={"enabled": False, "exceptions": ["abc"]})
    assert r.status_code == 422
    r = client.put(f"/api/v1/numbers/{n}/call-screening", headers=h,
                   json={"enabled": False, "exceptions": []})
    assert r.status_code == 200 and r.json()["call_screening_exceptions"] == []
    assert client.put(f"/api/v1/numbers/{n}/call-screening",
                      json={"enabled": True}).status_code == 403  # no CSRF token


def test_another_account_cannot_change_it(owner: tuple[httpx.Client, str, Acct],
                                          portal_sql: Sql) -> None:
    client, csrf, _ = owner
    other = make_account(portal_sql).numbers[0]
    r = client.put(f"/api/v1/numbers/{other}/call-screening", headers={"X-CSRF-Token": csrf},
                   json={"enabled": True})
    assert r.status_code == 404
    assert client.get(f"/n/{other}/screening").status_code == 404
    assert portal_sql.execute("SELECT count(*) FROM call_screening WHERE number = %s",
                              (other,)).fetchone() == (0,)
