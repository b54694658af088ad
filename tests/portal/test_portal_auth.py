"""Login defences against a real PostgreSQL and the running portal: the 2FA lockout (also under
concurrent wrong codes), the lab-only SMS inbox, no database rows for anonymous visitors, and
password hashing that neither stalls other pages nor piles up."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import httpx
import pytest
from argon2 import PasswordHasher
from hypothesis import given
from hypothesis import strategies as st
from playwright.sync_api import Page, expect

from labkit.portal_dev import PortalServer
from labkit.portal_testkit import Acct, Sql, last_sms_code, make_account, request_sms_code
from labkit.postgres import PgCluster
from portal import auth
from portal.config import PortalSettings

LOCKED = "ロック"


def poll(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.005)


def password_stage(base: str, acct: Acct, password: str | None = None
                   ) -> tuple[httpx.Client, httpx.Response]:
    c = httpx.Client(base_url=base, timeout=60)
    t = c.get("/api/v1/session").json()["csrf_token"]
    r = c.post("/api/v1/login", json={"email": acct.email,
                                      "password": password or acct.password},
               headers={"X-CSRF-Token": t})
    return c, r


def code_stage(base: str, acct: Acct) -> tuple[httpx.Client, dict[str, str]]:
    """Logged in with the password, a code sent by SMS: the client and its CSRF header."""
    c, r = password_stage(base, acct)
    assert r.status_code == 200, r.text
    h = {"X-CSRF-Token": r.json()["csrf_token"]}
    assert c.post("/api/v1/twofa/send", json={"method": "sms"}, headers=h).status_code == 200
    return c, h


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


def message(r: httpx.Response) -> str:
    detail = r.json()["detail"]
    return str(detail if isinstance(detail, str) else detail[0]["message"])


# ------------------------------------------------------------------ 2FA lockout (item 8)

@given(st.integers(1, 8), st.integers(0, 30))
def test_never_more_checked_attempts_than_the_limit(limit: int, tries: int) -> None:
    locked, failures, allowed = False, 0, 0
    for _ in range(tries):
        a = auth.next_attempt(locked=locked, window_over=False, failures=failures, limit=limit)
        if a.allowed:
            allowed += 1
            failures, locked = a.failures, a.locks
    assert allowed == min(tries, limit)
    assert locked == (tries >= limit)


def test_five_wrong_codes_lock_even_a_new_right_code(portal: PortalServer,
                                                     portal_sql: Sql) -> None:
    acct = make_account(portal_sql)
    c, h = code_stage(portal.url, acct)
    code = last_sms_code(portal_sql, acct.contacts[0])
    answers = [message(c.post("/api/v1/twofa/verify", json={"code": wrong(code)}, headers=h))
               for _ in range(5)]
    assert answers[:4] == ["認証番号が正しくありません。"] * 4
    assert LOCKED in answers[4]
    row = portal_sql.execute("SELECT locked_until > now() FROM portal_lockouts WHERE key = %s",
                             (f"twofa:{acct.id}",)).fetchone()
    assert row == (True,)
    # neither the code sent nor a new one gets in; no new code is even sent
    r = c.post("/api/v1/twofa/verify", json={"code": code}, headers=h)
    assert r.status_code == 422 and LOCKED in message(r)
    r = c.post("/api/v1/twofa/resend", headers=h)
    assert r.status_code == 422 and LOCKED in message(r)
    assert last_sms_code(portal_sql, acct.contacts[0]) == code
    c.close()


def test_concurrent_wrong_codes_cannot_outrun_the_lock(portal: PortalServer,
                                                       portal_sql: Sql) -> None:
    acct = make_account(portal_sql)
    c, h = code_stage(portal.url, acct)
    code = last_sms_code(portal_sql, acct.contacts[0])
    answers: list[str] = []
    start = threading.Barrier(12)

    def guess(i: int) -> None:
        start.wait()
        r = c.post("/api/v1/twofa/verify", json={"code": f"{(int(code) + 1 + i) % 10**6:06d}"},
                   headers=h)
        answers.append(message(r))

    threads = [threading.Thread(target=guess, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(answers) == 12
    # at most five codes were ever compared; every later guess was refused unchecked
    assert answers.count("認証番号が正しくありません。") <= 4
    assert sum(LOCKED in a for a in answers) >= 8
    row = portal_sql.execute("SELECT sum(attempts) FROM twofa_challenges WHERE account_id = %s",
                             (acct.id,)).fetchone()
    assert row is not None and row[0] is not None and int(str(row[0])) <= 5
    r = c.post("/api/v1/twofa/verify", json={"code": code}, headers=h)
    assert r.status_code == 422 and LOCKED in message(r)
    c.close()


def test_lock_shown_in_the_browser_refuses_the_right_code(page: Page, portal: PortalServer,
                                                          portal_sql: Sql) -> None:
    acct = make_account(portal_sql)
    request_sms_code(page, portal.url, acct)
    code = last_sms_code(portal_sql, acct.contacts[0])
    for _ in range(5):
        page.fill("#code", wrong(code))
        page.click("button:has-text('認証する')")
    expect(page.locator("#error-code")).to_contain_text("一時的にロックしています")
    page.fill("#code", code)
    with page.expect_navigation():
        page.click("button:has-text('認証する')")
    expect(page.locator("#error-code")).to_contain_text("一時的にロックしています")
    assert "/login/code" in page.url
    assert portal_sql.execute("SELECT 1 FROM portal_sessions WHERE account_id = %s"
                              " AND stage = 'full'", (acct.id,)).fetchone() is None


# ------------------------------------------------------------------ lab pages (item 9)

def test_lab_sms_inbox_exists_only_when_the_lab_turns_it_on(pg: PgCluster,
                                                            portal: PortalServer) -> None:
    defaults = PortalSettings.model_fields
    assert defaults["portal_lab_pages"].default is False
    assert defaults["portal_sms_provider"].default != "lab"
    assert httpx.get(portal.url + "/lab/sms", timeout=10).status_code == 200
    # SMS kept in the lab outbox, but the lab pages not turned on: no inbox, no link to it
    server = PortalServer(PortalSettings(database_url=pg.url, portal_port=0,
                                         portal_secret="x" * 40,
                                         portal_sms_provider="lab")).start()
    try:
        r = httpx.get(server.url + "/lab/sms", timeout=10)
        assert r.status_code == 404 and "ページが見つかりません" in r.text
        assert "/lab/sms" not in httpx.get(server.url + "/login", timeout=10).text
    finally:
        server.stop()


# ------------------------------------------------------------------ anonymous sessions (item 14)

def _sessions(sql: Sql) -> int:
    row = sql.execute("SELECT count(*) FROM portal_sessions").fetchone()
    assert row is not None
    return int(str(row[0]))


def test_anonymous_visits_store_nothing_and_expired_sessions_go(portal: PortalServer,
                                                               portal_sql: Sql) -> None:
    acct = make_account(portal_sql)
    before = _sessions(portal_sql)
    for _ in range(20):
        assert httpx.get(portal.url + "/login", timeout=10).status_code == 200
        assert httpx.get(portal.url + "/api/v1/session", timeout=10).json()["stage"] == "anonymous"
    assert _sessions(portal_sql) == before
    # the login form's CSRF token still binds to this browser, without a row
    c = httpx.Client(base_url=portal.url, timeout=10)
    other = httpx.Client(base_url=portal.url, timeout=10)
    mine = c.get("/api/v1/session").json()["csrf_token"]
    theirs = other.get("/api/v1/session").json()["csrf_token"]
    assert mine != theirs
    body = {"email": acct.email, "password": "wrong password"}
    assert c.post("/api/v1/login", json=body).status_code == 403
    assert c.post("/api/v1/login", json=body, headers={"X-CSRF-Token": theirs}).status_code == 403
    r = c.post("/api/v1/login", json=body, headers={"X-CSRF-Token": mine})
    assert r.status_code == 401
    assert c.post("/login", data={"email": acct.email, "password": "x"}).status_code == 403
    assert _sessions(portal_sql) == before
    # an expired session row is purged when someone logs in
    portal_sql.execute("INSERT INTO portal_sessions (token_hash, account_id, stage, csrf_token,"
                       " expires_at) VALUES ('expired-test-row', %s, 'full', 'x',"
                       " now() - interval '1 minute')", (acct.id,))
    r = c.post("/api/v1/login", json={"email": acct.email, "password": acct.password},
               headers={"X-CSRF-Token": mine})
    assert r.status_code == 200 and r.json()["stage"] == "password"
    assert portal_sql.execute("SELECT 1 FROM portal_sessions WHERE token_hash ="
                              " 'expired-test-row'").fetchone() is None
    assert _sessions(portal_sql) == before + 1
    c.close()
    other.close()


# ------------------------------------------------------------------ password hashing (item 13)

@pytest.fixture
def slow_password_acct(portal_sql: Sql) -> Acct:
    """An account whose stored hash takes about a second to check (argon2 reads its cost
    from the stored hash), so a few logins keep the hashing threads busy for a while."""
    acct = make_account(portal_sql)
    slow = PasswordHasher(time_cost=24, memory_cost=65536, parallelism=1).hash(acct.password)
    portal_sql.execute("UPDATE accounts SET password_hash = %s WHERE id = %s", (slow, acct.id))
    return acct


def _logins_in_background(base: str, acct: Acct, n: int
                          ) -> tuple[list[threading.Thread], list[httpx.Response]]:
    done: list[httpx.Response] = []

    def login() -> None:
        c, r = password_stage(base, acct, "not the password")
        done.append(r)
        c.close()

    threads = [threading.Thread(target=login) for _ in range(n)]
    for t in threads:
        t.start()
    return threads, done


def test_a_login_flood_does_not_stall_other_pages(portal: PortalServer, portal_sql: Sql,
                                                  slow_password_acct: Acct) -> None:
    hashing = portal.portal.passwords
    threads, done = _logins_in_background(portal.url, slow_password_acct, 4)
    poll(lambda: hashing.running == 2, "both hashing threads busy")
    # pages are answered while the hashes run, before any of those logins is
    assert httpx.get(portal.url + "/login", timeout=10).status_code == 200
    assert httpx.get(portal.url + "/api/v1/session", timeout=10).status_code == 200
    assert done == []
    for t in threads:
        t.join()
    assert [r.status_code for r in done] == [401] * 4


@pytest.fixture
def one_hash_portal(pg: PgCluster) -> Iterator[PortalServer]:
    server = PortalServer(PortalSettings(database_url=pg.url, portal_port=0,
                                         portal_secret="y" * 40, portal_sms_provider="lab"),
                          passwords=auth.PasswordHashing(workers=1, waiting=0)).start()
    yield server
    server.stop()


def test_hashes_beyond_the_queue_are_refused_in_japanese(one_hash_portal: PortalServer,
                                                         portal_sql: Sql,
                                                         slow_password_acct: Acct) -> None:
    hashing = one_hash_portal.portal.passwords
    threads, done = _logins_in_background(one_hash_portal.url, slow_password_acct, 1)
    poll(lambda: hashing.running == 1, "the hashing thread busy")
    c, r = password_stage(one_hash_portal.url, slow_password_acct)
    assert r.status_code == 503 and "混み合っています" in r.json()["detail"]
    c.close()
    for t in threads:
        t.join()
    assert [r.status_code for r in done] == [401]
    # the refused login was never checked, so it does not count towards the lockout
    row = portal_sql.execute("SELECT failures FROM portal_lockouts WHERE key = %s",
                             ("login:" + slow_password_acct.email,)).fetchone()
    assert row == (1,)
