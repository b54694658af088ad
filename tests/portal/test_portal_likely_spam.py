"""迷惑電話の可能性 in the portal: the count kept by the block-list writer through the API,
the label in the history (page and API) without who or how many, and the refusal setting
with its 確認 step (page) and the JSON API."""

from __future__ import annotations

import random
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


def reporters(sql: Sql, caller: str) -> object:
    row = sql.execute("SELECT reporters FROM likely_spam_numbers WHERE caller = %s",
                      (caller,)).fetchone()
    return row[0] if row else None


def test_blocking_through_the_api_keeps_the_count(
        owner: tuple[httpx.Client, str, Acct], portal_sql: Sql) -> None:
    client, csrf, acct = owner
    n, h = acct.numbers[0], {"X-CSRF-Token": csrf}
    spammer = "0120" + str(random.randrange(10**6)).zfill(6)
    r = client.post(f"/api/v1/numbers/{n}/blocklist", headers=h, json={"number": spammer})
    assert r.status_code == 200, r.text
    assert reporters(portal_sql, spammer) == 1
    r = client.delete(f"/api/v1/numbers/{n}/blocklist/{spammer}", headers=h)
    assert r.status_code == 200
    assert reporters(portal_sql, spammer) == 0


def test_label_in_history_and_the_refusal_setting_with_its_confirm_step(
        owner: tuple[httpx.Client, str, Acct], portal_sql: Sql) -> None:
    client, csrf, acct = owner
    n, h = acct.numbers[0], {"X-CSRF-Token": csrf}
    # calls as the app records them: one labelled, one not
    portal_sql.execute("INSERT INTO call_history (number, caller, outcome, likely_spam)"
                       " VALUES (%s, '0311112222', 'missed', false),"
                       " (%s, '0120444555', 'missed', true)", (n, n))
    page = client.get(f"/n/{n}/history")
    assert page.status_code == 200
    assert page.text.count("迷惑電話の可能性") == 1
    rows = client.get(f"/api/v1/numbers/{n}/history").json()
    assert [(r["caller"], r["likely_spam"]) for r in rows] == [("0120444555", True),
                                                               ("0311112222", False)]
    assert set(rows[0]) == {"caller", "name", "received_at", "likely_spam"}

    # the page: 入力 → 確認 (nothing stored yet) → 設定する → 完了
    form = client.get(f"/n/{n}/likely-spam")
    assert form.status_code == 200 and 'value="allow" checked' in form.text
    confirm = client.post(f"/n/{n}/likely-spam/confirm",
                          data={"csrf_token": csrf, "reject": "reject"})
    assert confirm.status_code == 200 and "設定内容の確認" in confirm.text
    assert client.get(f"/api/v1/numbers/{n}/settings").json()["reject_likely_spam"] is False
    done = client.post(f"/n/{n}/likely-spam/apply",
                       data={"csrf_token": csrf, "reject": "reject"}, follow_redirects=True)
    assert done.status_code == 200 and "設定が完了しました" in done.text
    assert client.get(f"/api/v1/numbers/{n}/settings").json()["reject_likely_spam"] is True
    assert "拒否する" in client.get(f"/n/{n}/").text
    # nothing chosen: the form again with the reason
    bad = client.post(f"/n/{n}/likely-spam/confirm", data={"csrf_token": csrf})
    assert bad.status_code == 400 and "選択してください" in bad.text

    # the API, back off
    r = client.put(f"/api/v1/numbers/{n}/likely-spam", headers=h, json={"reject": False})
    assert r.status_code == 200 and r.json()["reject_likely_spam"] is False
    assert client.put(f"/api/v1/numbers/{n}/likely-spam",
                      json={"reject": True}).status_code == 403  # no CSRF token


def test_another_account_cannot_change_it(owner: tuple[httpx.Client, str, Acct],
                                          portal_sql: Sql) -> None:
    client, csrf, _ = owner
    other = make_account(portal_sql).numbers[0]
    r = client.put(f"/api/v1/numbers/{other}/likely-spam", headers={"X-CSRF-Token": csrf},
                   json={"reject": True})
    assert r.status_code == 404
    assert client.get(f"/n/{other}/likely-spam").status_code == 404
    assert portal_sql.execute("SELECT count(*) FROM likely_spam_settings WHERE number = %s",
                              (other,)).fetchone() == (0,)
