"""The JSON API: login with two factors, settings, cross-account authorization, CSRF,
security headers, the SMS gateway, and a property test over the OpenAPI document."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any
from urllib.parse import quote

import httpx
import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from labkit.portal_dev import PortalServer
from labkit.portal_testkit import Acct, Sql, api_login, last_sms_code, make_account, unique_mobile
from labkit.postgres import PgCluster
from portal.config import PortalSettings


@pytest.fixture
def owner(portal: PortalServer, portal_sql: Sql) -> Iterator[tuple[httpx.Client, str, Acct]]:
    acct = make_account(portal_sql)
    client, csrf = api_login(portal.url, portal_sql, acct)
    yield client, csrf, acct
    client.close()


def test_settings_api(owner: tuple[httpx.Client, str, Acct]) -> None:
    client, csrf, acct = owner
    n = acct.numbers[0]
    h = {"X-CSRF-Token": csrf}
    assert client.get("/api/v1/numbers").json() == [n]
    r = client.put(f"/api/v1/numbers/{n}/anonymous", json={"reject_anonymous": True}, headers=h)
    assert r.status_code == 200 and r.json()["reject_anonymous"] is True
    r = client.put(f"/api/v1/numbers/{n}/forwarding", headers=h, json={
        "enabled": True, "destinations": ["09011112222", "0311112222"], "active": "0311112222",
        "ring_seconds": 15, "show_caller": "caller"})
    assert r.status_code == 200, r.text
    assert r.json()["forward_active"] == "0311112222"
    r = client.put(f"/api/v1/numbers/{n}/forwarding", headers=h, json={
        "enabled": True, "destinations": [f"0311112{i:03d}" for i in range(6)],
        "active": "0311112000"})
    assert r.status_code == 422
    assert "5件まで" in r.json()["detail"][0]["message"]
    r = client.put(f"/api/v1/numbers/{n}/voicemail", headers=h,
                   json={"enabled": True, "email": "a@example.jp", "pin": "12"})
    assert r.status_code == 422
    assert r.json()["detail"] == [{"field": "pin",
                                   "message": "暗証番号は4桁の半角数字で入力してください。"}]
    for i in range(30):
        r = client.post(f"/api/v1/numbers/{n}/blocklist", headers=h,
                        json={"number": f"+81 3-1234-{i:04d}"})
        assert r.status_code == 200, r.text
    r = client.post(f"/api/v1/numbers/{n}/blocklist", headers=h, json={"number": "0399999999"})
    assert r.status_code == 422 and "30件まで" in r.json()["detail"][0]["message"]
    r = client.delete(f"/api/v1/numbers/{n}/blocklist/0312340000", headers=h)
    assert r.status_code == 200 and len(r.json()) == 29


def test_security_headers_and_cookie_flags(portal: PortalServer) -> None:
    r = httpx.get(portal.url + "/login", timeout=10)
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "no-referrer"
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie


def test_csrf_is_required(portal: PortalServer, owner: tuple[httpx.Client, str, Acct]) -> None:
    client, _csrf, acct = owner
    n = acct.numbers[0]
    r = client.put(f"/api/v1/numbers/{n}/anonymous", json={"reject_anonymous": True})
    assert r.status_code == 403
    r = client.put(f"/api/v1/numbers/{n}/anonymous", json={"reject_anonymous": True},
                   headers={"X-CSRF-Token": "forged"})
    assert r.status_code == 403
    # an HTML form posted without (or with another session's) token is refused too
    r = client.post(f"/n/{n}/anonymous/apply", data={"reject": "reject"})
    assert r.status_code == 403 and "不正な操作" in r.text
    r = client.post(f"/n/{n}/anonymous/apply", data={"reject": "reject", "csrf_token": "x" * 43})
    assert r.status_code == 403
    assert client.get(f"/api/v1/numbers/{n}/settings").json()["reject_anonymous"] is False


def test_one_account_never_reaches_another_accounts_numbers(
        portal: PortalServer, portal_sql: Sql, owner: tuple[httpx.Client, str, Acct]) -> None:
    client, csrf, _acct = owner
    other = make_account(portal_sql)
    victim = other.numbers[0]
    portal_sql.execute("INSERT INTO voicemail_messages (number, duration_ms, audio)"
                       " VALUES (%s, 10, '\\x00') RETURNING id", (victim,))
    msg = portal_sql.execute("SELECT id FROM voicemail_messages WHERE number = %s",
                             (victim,)).fetchone()
    assert msg is not None
    h = {"X-CSRF-Token": csrf}
    for method, path, body in [
        ("GET", f"/api/v1/numbers/{victim}/settings", None),
        ("PUT", f"/api/v1/numbers/{victim}/anonymous", {"reject_anonymous": True}),
        ("POST", f"/api/v1/numbers/{victim}/blocklist", {"number": "0311112222"}),
        ("GET", f"/api/v1/numbers/{victim}/history", None),
        ("GET", f"/api/v1/numbers/{victim}/messages", None),
        ("DELETE", f"/api/v1/numbers/{victim}/messages/{msg[0]}", None),
        ("GET", f"/n/{victim}/", None),
        ("GET", f"/n/{victim}/blocklist", None),
        ("GET", f"/n/{victim}/messages/{msg[0]}.wav", None),
    ]:
        r = client.request(method, path, json=body, headers=h)
        assert r.status_code == 404, (method, path, r.status_code)
    r = client.post(f"/n/{victim}/anonymous/apply", data={"reject": "reject", "csrf_token": csrf})
    assert r.status_code == 404
    row = portal_sql.execute("SELECT reject_anonymous FROM subscriber_numbers WHERE number = %s",
                             (victim,)).fetchone()
    assert row == (False,)
    assert portal_sql.execute("SELECT count(*) FROM voicemail_messages WHERE number = %s",
                              (victim,)).fetchone() == (1,)
    # and anonymous visitors get nothing
    anon = httpx.get(portal.url + f"/api/v1/numbers/{victim}/settings", timeout=10)
    assert anon.status_code == 401


def test_codes_are_single_use_and_logins_lock(portal: PortalServer, portal_sql: Sql) -> None:
    acct = make_account(portal_sql)
    client, _csrf = api_login(portal.url, portal_sql, acct)
    code = last_sms_code(portal_sql, acct.contacts[0])
    # a used code cannot log in a second session
    second = httpx.Client(base_url=portal.url, timeout=10)
    t = second.get("/api/v1/session").json()["csrf_token"]
    t = second.post("/api/v1/login", json={"email": acct.email, "password": acct.password},
                    headers={"X-CSRF-Token": t}).json()["csrf_token"]
    r = second.post("/api/v1/twofa/verify", json={"code": code}, headers={"X-CSRF-Token": t})
    assert r.status_code == 422
    # five wrong passwords lock the account, even for the right password
    for _ in range(5):
        r = second.post("/api/v1/login", json={"email": acct.email, "password": "nope"},
                        headers={"X-CSRF-Token": t})
    assert r.status_code == 429
    r = second.post("/api/v1/login", json={"email": acct.email, "password": acct.password},
                    headers={"X-CSRF-Token": t})
    assert r.status_code == 429 and "ロック" in r.json()["detail"]
    row = portal_sql.execute("SELECT locked_until > now() FROM portal_lockouts WHERE key = %s",
                             ("login:" + acct.email,)).fetchone()
    assert row == (True,)
    client.close()
    second.close()


def test_expired_code_is_refused(portal: PortalServer, portal_sql: Sql) -> None:
    acct = make_account(portal_sql)
    c = httpx.Client(base_url=portal.url, timeout=10)
    t = c.get("/api/v1/session").json()["csrf_token"]
    t = c.post("/api/v1/login", json={"email": acct.email, "password": acct.password},
               headers={"X-CSRF-Token": t}).json()["csrf_token"]
    assert c.post("/api/v1/twofa/send", json={"method": "sms"},
                  headers={"X-CSRF-Token": t}).status_code == 200
    portal_sql.execute("UPDATE twofa_challenges SET expires_at = now() - interval '1 second'"
                       " WHERE account_id = %s", (acct.id,))
    r = c.post("/api/v1/twofa/verify", json={"code": last_sms_code(portal_sql, acct.contacts[0])},
               headers={"X-CSRF-Token": t})
    assert r.status_code == 422 and "有効期限" in r.json()["detail"][0]["message"]
    c.close()


class _Gateway(BaseHTTPRequestHandler):
    received: list[dict[str, Any]] = []  # noqa: RUF012

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append({"auth": self.headers.get("Authorization"),
                                    "json": json.loads(body)})
        self.send_response(202)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_sms_through_http_gateway(pg: PgCluster, portal_sql: Sql) -> None:
    gateway = HTTPServer(("127.0.0.1", 0), _Gateway)
    threading.Thread(target=gateway.serve_forever, daemon=True).start()
    server = PortalServer(PortalSettings(
        database_url=pg.url, portal_port=0, portal_secret="s", portal_sms_provider="http",
        portal_sms_gateway_url=f"http://127.0.0.1:{gateway.server_port}/send",
        portal_sms_gateway_token="tkn")).start()
    try:
        mobile = unique_mobile()
        acct = make_account(portal_sql, contacts=[mobile])
        c = httpx.Client(base_url=server.url, timeout=10)
        t = c.get("/api/v1/session").json()["csrf_token"]
        t = c.post("/api/v1/login", json={"email": acct.email, "password": acct.password},
                   headers={"X-CSRF-Token": t}).json()["csrf_token"]
        assert c.post("/api/v1/twofa/send", json={"method": "sms"},
                      headers={"X-CSRF-Token": t}).status_code == 200
        (msg,) = _Gateway.received
        assert msg["auth"] == "Bearer tkn" and msg["json"]["to"] == "+81" + mobile[1:]
        m = re.search(r"(\d{6})", msg["json"]["text"])
        assert m is not None
        r = c.post("/api/v1/twofa/verify", json={"code": m.group(1)}, headers={"X-CSRF-Token": t})
        assert r.status_code == 200 and r.json()["stage"] == "full"
        # a gateway that is down: a Japanese error, no 5xx
        gateway.shutdown()
        gateway.server_close()
        c2 = httpx.Client(base_url=server.url, timeout=20)
        t = c2.get("/api/v1/session").json()["csrf_token"]
        t = c2.post("/api/v1/login", json={"email": acct.email, "password": acct.password},
                    headers={"X-CSRF-Token": t}).json()["csrf_token"]
        r = c2.post("/api/v1/twofa/send", json={"method": "sms"}, headers={"X-CSRF-Token": t})
        assert r.status_code == 422 and "送信できませんでした" in r.json()["detail"][0]["message"]
    finally:
        server.stop()


# ------------------------------------------------------------------ OpenAPI property test

_values = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.text(max_size=30),
                    st.sampled_from(["05012345678", "0311112222", "１２３４", "+81 90-1234-5678",
                                     "", "a@example.jp", "caller", "050", "sms", "voice"]),
                    st.lists(st.text(max_size=15), max_size=7))


@pytest.fixture(scope="module")
def fuzz_client(portal: PortalServer, portal_sql: Sql) -> Iterator[tuple[httpx.Client, str,
                                                                           Acct, Any]]:
    acct = make_account(portal_sql)
    client, csrf = api_login(portal.url, portal_sql, acct)
    doc = client.get("/api/openapi.json").json()
    yield client, csrf, acct, doc
    client.close()


def test_openapi_document_describes_the_api(fuzz_client: tuple[httpx.Client, str, Acct, Any]
                                            ) -> None:
    doc = fuzz_client[3]
    assert doc["openapi"].startswith("3.")
    assert "/api/v1/numbers/{number}/settings" in doc["paths"]
    assert "/api/v1/twofa/verify" in doc["paths"]


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_no_server_errors_for_any_request_in_the_openapi_document(
        fuzz_client: tuple[httpx.Client, str, Acct, Any], data: st.DataObject) -> None:
    client, csrf, acct, doc = fuzz_client
    ops = sorted((path, method) for path, item in doc["paths"].items() for method in item
                 if not path.endswith(("/logout", "/login")))
    path, method = data.draw(st.sampled_from(ops))
    op = doc["paths"][path][method]
    url = path
    for param in re.findall(r"{(\w+)}", path):
        value = data.draw(st.one_of(st.just(acct.numbers[0]), st.text(
            alphabet=st.characters(blacklist_categories=["Cs"]), min_size=1, max_size=25),
            st.integers(-2**70, 2**70).map(str)))
        url = url.replace("{" + param + "}", quote(value, safe=""))
    body: Any = None
    if "requestBody" in op:
        ref = op["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        props = doc["components"]["schemas"][ref.rsplit("/", 1)[1]]["properties"]
        body = data.draw(st.one_of(
            st.fixed_dictionaries({k: _values for k in props}),
            st.fixed_dictionaries({}, optional={k: _values for k in props}),
            _values))
    headers = {"X-CSRF-Token": data.draw(st.sampled_from([csrf, "bad"]))}
    r = client.request(method.upper(), url, json=body, headers=headers)
    assert r.status_code < 500, (method, url, body, r.status_code, r.text[:300])


def test_operator_cli(pg: PgCluster, portal_sql: Sql, capsys: pytest.CaptureFixture[str]
                      ) -> None:
    from labkit.portal_testkit import unique_050
    from portal.admin import main
    db = ["--database-url", pg.url]
    email = "cli-" + unique_mobile() + "@example.jp"
    number = unique_050()
    assert main([*db, "account", email, "--password", "long-enough-pw"]) == 0
    # the PIN-change IVR's rule holds here too: no repeats, no runs
    for simple in ("0000", "1234"):
        assert main([*db, "number", email, number, "--pin", simple]) == 1
        assert "連続した数字" in capsys.readouterr().err
    assert main([*db, "number", email, number[:3] + "-" + number[3:], "--pin", "4826"]) == 0
    assert main([*db, "contact", email, "090-0000-0001", "--label", "携帯"]) == 0
    assert main([*db, "number", email, number]) == 0  # idempotent
    assert main([*db, "show", email]) == 0
    out = capsys.readouterr().out
    assert number in out and "09000000001" in out and "long-enough-pw" not in out
    other = "cli2-" + unique_mobile() + "@example.jp"
    assert main([*db, "account", other, "--password", "long-enough-pw"]) == 0
    assert main([*db, "number", other, number]) == 1  # belongs to another account
    assert main([*db, "number", other, "0312345678"]) == 1
    row = portal_sql.execute("SELECT voicemail_pin_hash FROM subscriber_numbers WHERE number = %s",
                             (number,)).fetchone()
    assert row is not None and str(row[0]).startswith("$argon2")


def test_forwarding_to_050_numbers_is_refused_in_japanese(
        owner: tuple[httpx.Client, str, Acct], portal_sql: Sql) -> None:
    """A 050 destination loops through the carrier (the subscriber's own number, the IVR
    numbers, any 050 number): the API refuses it as the pages do, whatever the form."""
    client, csrf, acct = owner
    n = acct.numbers[0]
    h = {"X-CSRF-Token": csrf}
    for dest, why in [(n, "この050番号自身は接続先に指定できません。"),
                      (n[:3] + "-" + n[3:7] + "-" + n[7:], "この050番号自身"),
                      ("05033005000", "050番号（IP電話の番号）は接続先に指定できません。"),
                      ("+81 50 3300 5141", "050番号（IP電話の番号）"),
                      ("+1 415 555 0100", "国際電話の番号は接続先に指定できません。")]:
        r = client.put(f"/api/v1/numbers/{n}/forwarding", headers=h, json={
            "enabled": True, "destinations": [dest], "active": dest})
        assert r.status_code == 422, (dest, r.text)
        assert r.json()["detail"][0] == {"field": "dest1", "message": r.json()["detail"][0][
            "message"]} and why in r.json()["detail"][0]["message"], r.text
    assert portal_sql.execute("SELECT count(*) FROM forward_destinations WHERE number = %s",
                              (n,)).fetchone() == (0,)
    # and the schema refuses it to any other writer
    with pytest.raises(psycopg.errors.CheckViolation):
        portal_sql.execute("INSERT INTO forward_destinations (number, destination)"
                           " VALUES (%s, '05033005000')", (n,))


def test_unknown_urls_and_bad_requests_answer_in_japanese(
        portal: PortalServer, owner: tuple[httpx.Client, str, Acct]) -> None:
    client, csrf, acct = owner
    n = acct.numbers[0]
    h = {"X-CSRF-Token": csrf}
    r = client.get("/api/v1/no-such-thing")
    assert r.status_code == 404 and r.json() == {"detail": "指定されたページは見つかりません。"}
    r = client.get("/no-such-page")
    assert r.status_code == 404 and "ページが見つかりません" in r.text
    assert r.headers["content-type"].startswith("text/html")
    r = client.post("/api/v1/numbers", headers=h)
    assert r.status_code == 405 and r.json() == {"detail": "この操作はできません。"}
    r = client.put(f"/api/v1/numbers/{n}/forwarding", headers=h,
                   json={"destinations": 5, "ring_seconds": "x" * 5, "show_caller": 1})
    assert r.status_code == 422
    assert {"field": "enabled", "message": "入力してください。"} in r.json()["detail"]
    assert {"field": "destinations", "message": "配列で指定してください。"} in r.json()["detail"]
    for body in r.json()["detail"]:  # no English left (quoted values are the API's own)
        assert not re.search(r"[A-Za-z]{2,}", re.sub(r"'[^']*'", "", body["message"])), body
    r = client.post(f"/api/v1/numbers/{n}/blocklist", headers={**h, "Content-Type":
                                                                "application/json"},
                    content=b"{not json")
    assert r.status_code == 422
    assert r.json()["detail"][0]["message"] == "リクエストの形式（JSON）が正しくありません。"


def test_unicode_digits_in_ids_are_not_server_errors(
        owner: tuple[httpx.Client, str, Acct], portal_sql: Sql) -> None:
    """'²' and '١' pass str.isdigit(); they must not reach int() or a header (500)."""
    client, csrf, acct = owner
    n = acct.numbers[0]
    h = {"X-CSRF-Token": csrf}
    msg = portal_sql.execute("INSERT INTO voicemail_messages (number, duration_ms, audio)"
                             " VALUES (%s, 10, '\\x00') RETURNING id", (n,)).fetchone()
    assert msg is not None
    for odd in ("²", "١", "١٢", "１", "1²", str(msg[0]) + "²"):
        q = quote(odd, safe="")
        for method, path in [("GET", f"/n/{n}/messages/{q}.wav"), ("GET", f"/n/{n}/call/{q}"),
                             ("GET", f"/api/v1/numbers/{n}/callback/{q}"),
                             ("DELETE", f"/api/v1/numbers/{n}/messages/{q}")]:
            r = client.request(method, path, headers=h)
            assert r.status_code in (404, 422), (method, path, r.status_code, r.text[:200])
        for path, form in [(f"/n/{n}/messages/delete", {"delete": odd}),
                           (f"/n/{n}/call", {"destination": "0311112222", "own_number": odd}),
                           (f"/n/{n}/call-register", {"action": "verify", "own_id": odd}),
                           (f"/n/{n}/blocklist", {"action": "pick", "history_id": odd})]:
            r = client.post(path, data={**form, "csrf_token": csrf})
            assert r.status_code < 500, (path, odd, r.status_code, r.text[:200])
    assert portal_sql.execute("SELECT count(*) FROM voicemail_messages WHERE number = %s",
                              (n,)).fetchone() == (1,)


def test_every_state_changing_form_redirects(owner: tuple[httpx.Client, str, Acct],
                                             portal_sql: Sql) -> None:
    """Post/redirect/get: after success or refusal every form that changes something answers
    303 to a GET page, so reloading what the browser shows never repeats the POST."""
    client, csrf, acct = owner
    n = acct.numbers[0]

    def post(path: str, **form: str | list[str]) -> httpx.Response:
        r = client.post(path, data={**form, "csrf_token": csrf})
        assert r.status_code == 303, (path, form, r.status_code, r.text[:300])
        return r

    fwd: dict[str, str | list[str]] = {"enabled": "on", "dest1": "0311112222", "active": "1",
                                       "ring_seconds": "20", "show_caller": "caller"}
    cases: list[tuple[str, dict[str, str | list[str]], str]] = [
        (f"/n/{n}/anonymous/apply", {"reject": "reject"}, f"/n/{n}/done/anonymous"),
        (f"/n/{n}/anonymous/apply", {"reject": "?"}, f"/n/{n}/anonymous"),
        (f"/n/{n}/forwarding/apply", fwd, f"/n/{n}/done/forwarding"),
        (f"/n/{n}/forwarding/apply", {**fwd, "dest1": n}, f"/n/{n}/forwarding"),
        (f"/n/{n}/voicemail/apply", {"enabled": "on", "email": "a@example.jp", "pin": "4826",
                                     "pin_confirm": "4826"}, f"/n/{n}/done/voicemail"),
        (f"/n/{n}/voicemail/apply", {"enabled": "on", "email": "a@example.jp", "pin": "0000",
                                     "pin_confirm": "0000"}, f"/n/{n}/voicemail"),
        (f"/n/{n}/blocklist/apply", {"entry": ["0311113333"]}, f"/n/{n}/done/blocklist"),
        (f"/n/{n}/blocklist/apply", {"entry": [f"03111{i:05d}" for i in range(31)]},
         f"/n/{n}/blocklist"),
        (f"/n/{n}/messages/delete", {}, f"/n/{n}/messages"),
        (f"/n/{n}/call", {"destination": "+1 415 555 0100", "own_number": "1"}, f"/n/{n}/call"),
        (f"/n/{n}/call-register", {"action": "register", "phone": "12"},
         f"/n/{n}/call-register"),
    ]
    for path, form, location in cases:
        assert post(path, **form).headers["location"] == location
        # the page there shows the outcome once, as a GET
        page = client.get(location)
        assert page.status_code == 200, (location, page.text[:300])
    # what the refusals said reached the pages
    post(f"/n/{n}/voicemail/apply", enabled="on", email="b@example.jp", pin="1234",
         pin_confirm="1234")
    page = client.get(f"/n/{n}/voicemail")
    assert "連続した数字" in page.text and 'value="b@example.jp"' in page.text
    assert client.get(f"/n/{n}/voicemail").text.count("連続した数字") == 0  # once
    row = portal_sql.execute("SELECT reject_anonymous, forward_enabled FROM subscriber_numbers"
                             " WHERE number = %s", (n,)).fetchone()
    assert row == (True, True)
    assert portal_sql.execute("SELECT blocked FROM block_list WHERE number = %s",
                              (n,)).fetchall() == [("0311113333",)]
    # the login forms too: a wrong password is not re-sent by a reload
    anon = httpx.Client(base_url=client.base_url, timeout=10)
    anon.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', anon.get("/login").text)
    assert token is not None
    r = anon.post("/login", data={"email": acct.email, "password": "wrong",
                                  "csrf_token": token.group(1)})
    assert r.status_code == 303 and r.headers["location"] == "/login"
    assert "正しくありません" in anon.get("/login").text
    anon.close()


def test_a_server_error_still_answers_in_japanese() -> None:
    """Any unexpected error: a Japanese page (or JSON), never Starlette's English text."""
    from fastapi.testclient import TestClient

    from portal.app import create_app
    app = create_app(PortalSettings(database_url="postgresql://nobody@127.0.0.1:1/none",
                                    portal_secret="s" * 40, portal_sms_provider="lab"))

    @app.get("/boom")
    @app.get("/api/v1/boom")
    async def boom() -> None:
        raise RuntimeError("a bug")

    client = TestClient(app, raise_server_exceptions=False)
    r = client.get("/boom")
    assert r.status_code == 500 and "エラーが発生しました" in r.text
    r = client.get("/api/v1/boom")
    assert r.status_code == 500 and r.json() == {"detail": "ただいまご利用いただけません。"}


def test_a_failed_callback_says_why(owner: tuple[httpx.Client, str, Acct],
                                    portal_sql: Sql) -> None:
    """Issue 13 item 18 in the API: the stable reason code and the portal's sentence."""
    client, _csrf, acct = owner
    n = acct.numbers[0]
    row = portal_sql.execute(
        "INSERT INTO call_requests (kind, account_id, number, leg1, destination, status, reason)"
        " VALUES ('callback', %s, %s, '09011110001', '0311112222', 'failed', 'dest_no_answer')"
        " RETURNING id", (acct.id, n)).fetchone()
    assert row is not None
    r = client.get(f"/api/v1/numbers/{n}/callback/{row[0]}")
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "failed" and r.json()["reason"] == "dest_no_answer"
    assert r.json()["reason_ja"] == "相手先から応答がありませんでした。"
