"""Every portal flow in headless Chromium at a phone viewport."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from callflow.numbers import display
from labkit.portal_dev import PortalServer
from labkit.portal_testkit import (
    Acct,
    Sql,
    last_sms_code,
    login_sms,
    make_account,
    unique_fixed,
    unique_mobile,
)

# Screenshots of the main pages at phone size. The committed set in docs/screenshots/ is
# refreshed on purpose with ANSHIN_SCREENSHOTS=docs/screenshots; ordinary runs write to build/.
SHOTS = Path(__file__).resolve().parents[2] / os.environ.get("ANSHIN_SCREENSHOTS",
                                                             "build/screenshots")


def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


@pytest.fixture
def acct(portal_sql: Sql) -> Acct:
    return make_account(portal_sql)


@pytest.fixture
def logged_in(page: Page, portal: PortalServer, portal_sql: Sql, acct: Acct) -> Page:
    login_sms(page, portal.url, portal_sql, acct)
    page.wait_for_url(f"**/n/{acct.numbers[0]}/")
    return page


def test_login_with_sms_code_opens_settings_overview(page: Page, portal: PortalServer,
                                                     portal_sql: Sql, acct: Acct) -> None:
    page.goto(portal.url + "/login")
    shot(page, "01-login")
    page.fill("#email", acct.email)
    page.fill("#password", acct.password)
    page.click("button:has-text('ログイン')")
    page.wait_for_url("**/login/2fa")
    # one contact number: no choice shown, only its last digits
    expect(page.locator("#only-contact")).to_contain_text(acct.contacts[0][-3:])
    expect(page.locator("input[name=contact][type=radio]")).to_have_count(0)
    shot(page, "02-twofa-select")
    page.check("#method-sms")
    page.click("button:has-text('送信')")
    page.wait_for_url("**/login/code")
    shot(page, "03-twofa-code")
    # the lab SMS inbox shows the message
    inbox = page.context.new_page()
    inbox.goto(portal.url + "/lab/sms")
    expect(inbox.locator("#sms")).to_contain_text(display(acct.contacts[0]))
    code = last_sms_code(portal_sql, acct.contacts[0])
    expect(inbox.locator("#sms")).to_contain_text(code)
    inbox.close()
    # full-width digits are normalised
    page.fill("#code", code.translate(str.maketrans("0123456789", "０１２３４５６７８９")))
    # trusting the browser is the user's choice, never the default
    expect(page.locator("input[name=trust]")).not_to_be_checked()
    page.check("input[name=trust]")
    page.click("button:has-text('認証する')")
    page.wait_for_url(f"**/n/{acct.numbers[0]}/")
    expect(page.locator("#current-number")).to_have_text(display(acct.numbers[0]))
    expect(page.locator("button:has-text('ログアウト')")).to_be_visible()
    expect(page.locator("#st-anonymous")).to_have_text("拒否しない")
    shot(page, "04-overview")
    # the trusted browser skips the second step next time
    page.click("button:has-text('ログアウト')")
    page.wait_for_url("**/login")
    page.fill("#email", acct.email)
    page.fill("#password", acct.password)
    page.click("button:has-text('ログイン')")
    page.wait_for_url(f"**/n/{acct.numbers[0]}/")


def test_wrong_code_resend_and_cancel(page: Page, portal: PortalServer, portal_sql: Sql,
                                      acct: Acct) -> None:
    page.goto(portal.url + "/login")
    page.fill("#email", acct.email)
    page.fill("#password", "wrong-password")
    page.click("button:has-text('ログイン')")
    expect(page.locator("#error-login")).to_have_text(
        "メールアドレスまたはパスワードが正しくありません。")
    page.fill("#password", acct.password)
    page.click("button:has-text('ログイン')")
    page.wait_for_url("**/login/2fa")
    page.click("button:has-text('送信')")
    page.wait_for_url("**/login/code")
    first = last_sms_code(portal_sql, acct.contacts[0])
    wrong = f"{(int(first) + 1) % 1_000_000:06d}"
    page.fill("#code", wrong)
    page.click("button:has-text('認証する')")
    expect(page.locator("#error-code")).to_have_text("認証番号が正しくありません。")
    page.fill("#code", "12ab")
    page.click("button:has-text('認証する')")
    expect(page.locator("#error-code")).to_have_text("認証番号は6桁の半角数字で入力してください。")
    shot(page, "05-twofa-wrong-code")
    page.click("button:has-text('再通知する')")
    expect(page.locator(".notice")).to_have_text("認証番号を再通知しました。")
    second = last_sms_code(portal_sql, acct.contacts[0])
    if second != first:  # the old code no longer works after a resend
        page.fill("#code", first)
        page.click("button:has-text('認証する')")
        expect(page.locator("#error-code")).to_be_visible()
    page.click("button:has-text('中止')")
    page.wait_for_url("**/login")
    # after 中止 the session is gone: the code page sends back to login
    page.goto(portal.url + "/login/code")
    page.wait_for_url("**/login")


def test_contact_choice_and_sms_only_for_mobiles(page: Page, portal: PortalServer,
                                                 portal_sql: Sql) -> None:
    acct = make_account(portal_sql, contacts=[unique_fixed(), unique_mobile()])
    page.goto(portal.url + "/login")
    page.fill("#email", acct.email)
    page.fill("#password", acct.password)
    page.click("button:has-text('ログイン')")
    page.wait_for_url("**/login/2fa")
    expect(page.locator("input[name=contact]")).to_have_count(2)
    page.locator("input[name=contact]").first.check()  # the landline
    page.check("#method-sms")
    page.click("button:has-text('送信')")
    expect(page.locator("#error-method")).to_contain_text("070、080、090")
    page.locator("input[name=contact]").nth(1).check()
    page.check("#method-sms")
    page.click("button:has-text('送信')")
    page.wait_for_url("**/login/code")
    page.fill("#code", last_sms_code(portal_sql, acct.contacts[1]))
    page.click("button:has-text('認証する')")
    page.wait_for_url(f"**/n/{acct.numbers[0]}/")


def test_number_picker(page: Page, portal: PortalServer, portal_sql: Sql) -> None:
    acct = make_account(portal_sql, numbers=2)
    login_sms(page, portal.url, portal_sql, acct)
    page.wait_for_url("**/numbers")
    expect(page.locator("input[name=number]")).to_have_count(2)
    shot(page, "06-number-picker")
    page.check(f"input[name=number][value='{acct.numbers[1]}']")
    page.click("button:has-text('次へ')")
    page.wait_for_url(f"**/n/{acct.numbers[1]}/")
    expect(page.locator("#current-number")).to_have_text(display(acct.numbers[1]))


def test_reject_anonymous_setting(logged_in: Page, portal_sql: Sql, acct: Acct) -> None:
    page = logged_in
    page.click("ul.menu a:has-text('非通知着信拒否設定')")
    expect(page.locator("input[value=allow]")).to_be_checked()
    page.check("input[value=reject]")
    shot(page, "07-anonymous")
    page.click("button:has-text('設定')")
    expect(page.locator("h2")).to_have_text("設定内容の確認")
    expect(page.locator("table.confirm")).to_contain_text("拒否する")
    row = portal_sql.execute("SELECT reject_anonymous FROM subscriber_numbers WHERE number = %s",
                             (acct.numbers[0],)).fetchone()
    assert row == (False,), "nothing changes before the confirmation"
    page.click("button:has-text('設定する')")
    expect(page.locator(".done")).to_have_text("設定が完了しました。")
    row = portal_sql.execute("SELECT reject_anonymous FROM subscriber_numbers WHERE number = %s",
                             (acct.numbers[0],)).fetchone()
    assert row == (True,)
    page.click("text=設定状況へ戻る")
    expect(page.locator("#st-anonymous")).to_have_text("拒否する")


def test_forwarding_setting(logged_in: Page, portal_sql: Sql, acct: Acct) -> None:
    page = logged_in
    page.click("ul.menu a:has-text('指定番号への接続')")
    page.check("input[name=enabled][value=on]")
    page.fill("#dest1", "０９０-１１１１-２２２２")  # full-width and hyphens are accepted
    page.fill("#dest2", "0311112222")
    page.fill("#dest3", "12")
    page.check("#active2")
    page.click("button:has-text('設定')")
    expect(page.locator("#error-dest3")).to_contain_text("10桁または11桁")
    # a 050 number would loop through the carrier: the subscriber's own, an IVR's, anyone's
    for loop, why in [(display(acct.numbers[0]), "この050番号自身は接続先に指定できません。"),
                      ("050-3300-5000", "050番号（IP電話の番号）は接続先に指定できません。"),
                      ("+1 415 555 0100", "国際電話の番号は接続先に指定できません。")]:
        page.fill("#dest3", loop)
        page.click("button:has-text('設定')")
        expect(page.locator("#error-dest3")).to_contain_text(why)
    page.fill("#dest3", "")
    page.select_option("#ring_seconds", "30")
    page.check("input[name=show_caller][value='050']")
    shot(page, "08-forwarding")
    page.click("button:has-text('設定')")
    expect(page.locator("table.confirm")).to_contain_text("03-1111-2222（接続先に指定）")
    expect(page.locator("table.confirm")).to_contain_text("30秒")
    shot(page, "09-forwarding-confirm")
    # 戻る on the confirmation keeps everything typed
    page.click("button:has-text('戻る')")
    expect(page.locator("#dest1")).to_have_value("０９０-１１１１-２２２２")
    expect(page.locator("#dest2")).to_have_value("0311112222")
    expect(page.locator("#active2")).to_be_checked()
    expect(page.locator("#ring_seconds")).to_have_value("30")
    expect(page.locator("input[name=show_caller][value='050']")).to_be_checked()
    page.click("button:has-text('設定')")
    page.click("button:has-text('設定する')")
    expect(page.locator(".done")).to_have_text("設定が完了しました。")
    # post/redirect/get: the 完了 page is a GET, reloading it stores nothing again
    assert "/done/" in page.url
    page.reload()
    expect(page.locator(".done")).to_have_text("設定が完了しました。")
    rows = portal_sql.execute("SELECT destination, active FROM forward_destinations"
                              " WHERE number = %s ORDER BY id", (acct.numbers[0],)).fetchall()
    assert rows == [("09011112222", False), ("0311112222", True)]
    st = portal_sql.execute("SELECT forward_enabled, forward_ring_seconds, forward_show_caller"
                            " FROM subscriber_numbers WHERE number = %s",
                            (acct.numbers[0],)).fetchone()
    assert st == (True, 30, "050")
    # the form shows the saved state; five destinations at most
    page.click("text=設定状況へ戻る")
    expect(page.locator("#st-forward")).to_contain_text("03-1111-2222")
    page.click("ul.menu a:has-text('指定番号への接続')")
    expect(page.locator("#dest2")).to_have_value("0311112222")
    expect(page.locator("input[name^=dest]")).to_have_count(5)


def test_voicemail_setting(logged_in: Page, portal_sql: Sql, acct: Acct) -> None:
    page = logged_in
    page.click("ul.menu a:has-text('メッセージ（留守番）センターへの接続')")
    page.check("input[name=enabled][value=on]")
    page.fill("#email", "not-an-address")
    page.click("button:has-text('設定')")
    expect(page.locator("#error-email")).to_have_text("メールアドレスの形式が正しくありません。")
    expect(page.locator("#error-pin")).to_have_text("暗証番号（4桁）を入力してください。")
    page.fill("#email", "me@example.jp")
    page.check("input[name=only_recorded]")
    page.check("input[name=attach]")
    page.fill("#pin", "1234")  # the PIN-change IVR's rule: no runs, no repeats
    page.fill("#pin_confirm", "1234")
    page.click("button:has-text('設定')")
    expect(page.locator("#error-pin")).to_contain_text("連続した数字")
    page.fill("#pin", "4826")
    page.fill("#pin_confirm", "4826")
    shot(page, "10-voicemail")
    page.click("button:has-text('設定')")
    expect(page.locator("table.confirm")).to_contain_text("me@example.jp")
    expect(page.locator("table.confirm")).to_contain_text("メッセージが録音された場合のみ通知")
    page.click("button:has-text('設定する')")
    expect(page.locator(".done")).to_have_text("設定が完了しました。")
    row = portal_sql.execute(
        "SELECT voicemail_enabled, notify_email, notify_only_recorded, attach_recording,"
        " voicemail_pin_hash FROM subscriber_numbers WHERE number = %s",
        (acct.numbers[0],)).fetchone()
    assert row is not None and row[:4] == (True, "me@example.jp", True, True)
    from portal.auth import verify_secret
    assert str(row[4]).startswith("$argon2") and verify_secret(str(row[4]), "4826")


def test_blocklist_add_delete_history_and_limit(logged_in: Page, portal_sql: Sql,
                                                acct: Acct) -> None:
    page = logged_in
    number = acct.numbers[0]
    portal_sql.execute(
        "INSERT INTO call_history (number, caller, caller_name, received_at) VALUES"
        " (%s, '05011113333', NULL, '2014-11-14 07:55:14+00'),"
        " (%s, '05011115555', NULL, '2014-11-14 07:54:17+00'),"
        " (%s, NULL, NULL, '2014-11-14 07:50:58+00')", (number, number, number))
    page.click("ul.menu a:has-text('指定番号着信拒否設定')")
    page.fill("#new_number", "+81 80-1111-1111")
    page.click("button:has-text('+追加')")
    expect(page.locator("#block-list")).to_contain_text("080-1111-1111")  # one display form
    page.fill("#new_number", "09012345678")
    page.click("button:has-text('+追加')")
    # from the incoming-call history
    page.click("button:has-text('着信履歴から設定')")
    expect(page.locator("#history-pick")).to_contain_text("2014/11/14 16:55:14")
    expect(page.locator("#history-pick")).to_contain_text("050-1111-3333")
    expect(page.locator("#history-pick")).to_contain_text("登録なし")
    expect(page.locator("#history-pick input[aria-label=非通知]")).to_be_disabled()
    shot(page, "11-block-from-history")
    page.check("#history-pick input[value]:not([disabled]) >> nth=1")
    page.click("button:has-text('設定')")
    expect(page.locator("#block-list")).to_contain_text("050-1111-5555")
    page.check("input[name=delete][value='09012345678']")
    shot(page, "12-blocklist")
    page.click("button[value=save]")
    expect(page.locator("table.confirm")).to_contain_text("080-1111-1111、050-1111-5555")
    # 戻る keeps the pending list (nothing is stored yet) and the 削除 ticks
    page.click("button:has-text('戻る')")
    expect(page.locator("#block-count")).to_have_text("3")
    expect(page.locator("input[name=delete][value='09012345678']")).to_be_checked()
    expect(page.locator("input[name=delete][value='08011111111']")).not_to_be_checked()
    assert portal_sql.execute("SELECT count(*) FROM block_list WHERE number = %s",
                              (number,)).fetchone() == (0,)
    page.click("button[value=save]")
    page.click("button:has-text('設定する')")
    expect(page.locator(".done")).to_have_text("設定が完了しました。")
    rows = portal_sql.execute("SELECT blocked FROM block_list WHERE number = %s ORDER BY 1",
                              (number,)).fetchall()
    assert [r[0] for r in rows] == ["05011115555", "08011111111"]
    # fill to 30, then the 31st is refused with a clear message
    for i in range(28):
        portal_sql.execute("INSERT INTO block_list (number, blocked) VALUES (%s, %s)",
                           (number, f"0312340{i:03d}"))
    page.goto(page.url.split("/n/")[0] + f"/n/{number}/blocklist")
    expect(page.locator("#block-count")).to_have_text("30")
    page.fill("#new_number", "0699998888")
    page.click("button:has-text('+追加')")
    expect(page.locator("#error-new_number")).to_contain_text("30件までです")
    shot(page, "13-blocklist-limit")
    count = portal_sql.execute("SELECT count(*) FROM block_list WHERE number = %s",
                               (number,)).fetchone()
    assert count == (30,)


def test_history_pages(logged_in: Page, portal_sql: Sql, acct: Acct) -> None:
    page = logged_in
    number = acct.numbers[0]
    portal_sql.execute(
        "INSERT INTO call_history (number, caller, caller_name, received_at) VALUES"
        " (%s, '0311112222', '山田', '2014-11-14 07:55:14+00'), (%s, NULL, NULL, now())",
        (number, number))
    page.click("nav.tabs >> text=着信")
    table = page.locator("#history")
    expect(table).to_contain_text("非通知")
    expect(table).to_contain_text("山田")
    expect(table).to_contain_text("03-1111-2222")  # the one hyphenated display form
    expect(table).to_contain_text("2014/11/14 16:55:14")
    shot(page, "14-history")


def test_callback_register_and_call(logged_in: Page, portal_sql: Sql, acct: Acct) -> None:
    page = logged_in
    page.click("nav.tabs >> text=発信")
    expect(page.locator("main")).to_contain_text("事前登録する必要があります")
    page.click("a.button:has-text('事前登録')")
    own = unique_mobile()
    page.fill("#phone", own)
    page.click("button:has-text('登録')")
    expect(page.locator(".notice")).to_contain_text("お客さまの電話番号を登録しました。")
    # the verification call asks for the code shown here (the call is the app's job)
    row = portal_sql.execute("SELECT code FROM call_requests WHERE account_id = %s"
                             " AND kind = 'verify_own_number' AND leg1 = %s",
                             (acct.id, own)).fetchone()
    assert row is not None and len(str(row[0])) == 6
    expect(page.locator("#own-numbers")).to_contain_text("確認のお電話中")
    expect(page.locator("#own-numbers .verify-code")).to_have_text(str(row[0]))
    expect(page.locator("#own-numbers button:has-text('確認電話')")).to_have_count(0)
    shot(page, "15-callback-register")
    portal_sql.execute("UPDATE call_requests SET status = 'completed' WHERE account_id = %s"
                       " AND kind = 'verify_own_number'", (acct.id,))
    portal_sql.execute("UPDATE own_numbers SET verified_at = now() WHERE number = %s", (own,))
    page.reload()
    expect(page.locator("#own-numbers")).to_contain_text("確認済み")
    page.click("button:has-text('優先設定')")
    expect(page.locator("#own-numbers")).to_contain_text("優先")
    page.click("text=発信画面へ戻る")
    page.fill("#destination", "0311112222")
    expect(page.locator("#own_number option:checked")).to_contain_text(display(own))
    shot(page, "16-callback")
    page.click("button:has-text('発信')")
    page.wait_for_url("**/call/*")
    expect(page.locator("#call-status")).to_be_visible()
    shot(page, "17-callback-status")
    row = portal_sql.execute("SELECT kind, number, leg1, destination FROM call_requests"
                             " WHERE account_id = %s AND kind = 'callback'",
                             (acct.id,)).fetchone()
    assert row == ("callback", acct.numbers[0], own, "0311112222")
    portal_sql.execute("UPDATE call_requests SET status = 'connected' WHERE account_id = %s"
                       " AND kind = 'callback'", (acct.id,))
    page.reload()
    expect(page.locator("#call-status")).to_have_text("通話中")
    page.goto(page.url.split("/call/")[0] + "/outgoing")
    expect(page.locator("#outgoing")).to_contain_text("03-1111-2222")


def test_failed_calls_say_why_and_can_be_retried(logged_in: Page, portal_sql: Sql,
                                                acct: Acct) -> None:
    """Issue 13 item 18: a failed callback says why (busy, no answer, a rule) and offers
    「もう一度発信する」; a failed verification call says why instead of 「確認待ち」 and
    offers another call (with a new code); the caps still apply to retries."""
    page = logged_in
    number = acct.numbers[0]
    own, other = unique_mobile(), unique_mobile()
    row = portal_sql.execute("INSERT INTO own_numbers (account_id, number, preferred, verified_at)"
                             " VALUES (%s, %s, true, now()) RETURNING id",
                             (acct.id, own)).fetchone()
    assert row is not None
    portal_sql.execute("INSERT INTO own_numbers (account_id, number) VALUES (%s, %s)",
                       (acct.id, other))
    failed = portal_sql.execute(
        "INSERT INTO call_requests (kind, account_id, number, leg1, destination, status, reason,"
        " finished_at) VALUES ('callback', %s, %s, %s, '0311112222', 'failed', 'dest_busy',"
        " now()) RETURNING id", (acct.id, number, own)).fetchone()
    assert failed is not None
    page.goto(page.url.split("/n/")[0] + f"/n/{number}/call/{failed[0]}")
    expect(page.locator("#call-status")).to_have_text("発信できませんでした")
    expect(page.locator("#call-reason")).to_have_text("相手先が話し中でした。")
    page.click("#call-retry button:has-text('もう一度発信する')")
    page.wait_for_url(f"**/n/{number}/call/*")
    assert not page.url.endswith(f"/call/{failed[0]}")
    expect(page.locator("#call-status")).to_have_attribute("data-status", "pending")
    retried = portal_sql.execute(
        "SELECT leg1, destination, status FROM call_requests WHERE account_id = %s"
        " AND kind = 'callback' ORDER BY id DESC LIMIT 1", (acct.id,)).fetchone()
    assert retried == (own, "0311112222", "pending")
    # a rule's refusal at dialling time names the rule; the retry obeys the caps
    portal_sql.execute("UPDATE call_requests SET status = 'failed', reason = 'rule_premium'"
                       " WHERE account_id = %s AND status = 'pending'", (acct.id,))
    page.reload()
    expect(page.locator("#call-reason")).to_contain_text("発信ルールにより発信できません。")
    expect(page.locator("#call-reason")).to_contain_text("0990")
    portal_sql.execute("INSERT INTO callback_account_limits (account_id, max_per_hour)"
                       " VALUES (%s, 2)", (acct.id,))
    page.click("#call-retry button:has-text('もう一度発信する')")
    expect(page.locator("main")).to_contain_text("発信回数の上限（1時間あたり2回）")
    page.goto(page.url.split("/n/")[0] + f"/n/{number}/outgoing")
    expect(page.locator("#outgoing")).to_contain_text("相手先が話し中でした。")
    # the own number whose verification call was not answered
    portal_sql.execute("INSERT INTO call_requests (kind, account_id, number, leg1, code, status,"
                       " reason, finished_at) VALUES ('verify_own_number', %s, %s, %s, '111111',"
                       " 'failed', 'leg1_no_answer', now())", (acct.id, number, other))
    page.goto(page.url.split("/n/")[0] + f"/n/{number}/call-register")
    other_row = page.locator("#own-numbers tr", has_text=display(other))
    expect(other_row).to_contain_text("確認できませんでした")
    expect(other_row).to_contain_text("お客さまの電話番号から応答がありませんでした。")
    other_row.locator("button:has-text('もう一度確認電話')").click()
    code = portal_sql.execute("SELECT code FROM call_requests WHERE account_id = %s"
                              " AND kind = 'verify_own_number' AND status = 'pending'",
                              (acct.id,)).fetchone()
    assert code is not None and code[0] != "111111"
    other_row = page.locator("#own-numbers tr", has_text=display(other))
    expect(other_row).to_contain_text("確認のお電話中")
    expect(other_row.locator(".verify-code")).to_have_text(str(code[0]))


def test_voicemail_messages_playback_and_delete(logged_in: Page, portal_sql: Sql,
                                                acct: Acct) -> None:
    import io
    import wave
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\x00\x10" * 8000)
    number = acct.numbers[0]
    row = portal_sql.execute(
        "INSERT INTO voicemail_messages (number, caller, duration_ms, audio)"
        " VALUES (%s, '09012345678', 1000, %s) RETURNING id", (number, buf.getvalue())).fetchone()
    assert row is not None
    page = logged_in
    page.click("ul.menu a:has-text('お預かりメッセージ')")
    audio = page.locator(f"#message-{row[0]} audio")
    expect(audio).to_be_visible()
    src = audio.get_attribute("src")
    assert src is not None
    resp = page.request.get(page.url.split("/n/")[0] + src)
    assert resp.status == 200 and resp.headers["content-type"] == "audio/wav"
    assert resp.body() == buf.getvalue()
    # the browser can decode and play it
    duration = page.evaluate(
        "async (src) => { const a = new Audio(src); await new Promise((ok, ko) => {"
        " a.onloadedmetadata = ok; a.onerror = ko; }); return a.duration; }", src)
    assert abs(float(duration) - 1.0) < 0.05
    shot(page, "18-messages")
    page.check(f"input[name=delete][value='{row[0]}']")
    page.click("button:has-text('削除')")
    expect(page.locator(".notice")).to_contain_text("1件のメッセージを削除しました。")
    expect(page.locator(f"#message-{row[0]}")).to_have_count(0)
    assert portal_sql.execute("SELECT count(*) FROM voicemail_messages WHERE number = %s",
                              (number,)).fetchone() == (0,)


def test_no_sms_choice_for_a_landline_only_contact(page: Page, portal: PortalServer,
                                                   portal_sql: Sql) -> None:
    acct = make_account(portal_sql, contacts=[unique_fixed()])
    page.goto(portal.url + "/login")
    page.fill("#email", acct.email)
    page.fill("#password", acct.password)
    page.click("button:has-text('ログイン')")
    page.wait_for_url("**/login/2fa")
    expect(page.locator("input[name=method]")).to_have_count(1)
    expect(page.locator("#method-sms")).to_have_count(0)
    expect(page.locator("#method-voice")).to_be_checked()


def test_refused_callback_redirects_and_reloads_place_nothing(
        logged_in: Page, portal_sql: Sql, acct: Acct) -> None:
    """Post/redirect/get: neither a refused nor a placed callback is placed again by reloading
    the page the browser lands on; an international destination gets its own message."""
    page = logged_in
    number = acct.numbers[0]
    own = unique_mobile()
    portal_sql.execute("INSERT INTO own_numbers (account_id, number, preferred, verified_at)"
                       " VALUES (%s, %s, true, now())", (acct.id, own))

    def placed() -> object:
        row = portal_sql.execute("SELECT count(*) FROM call_requests WHERE account_id = %s"
                                 " AND kind = 'callback'", (acct.id,)).fetchone()
        return row[0] if row else None

    page.goto(page.url.split("/n/")[0] + f"/n/{number}/call")
    for international in ("+1 415 555 0100", "010-1-415-555-0100", "00-1-415-555-0100"):
        page.fill("#destination", international)
        page.click("button:has-text('発信')")
        expect(page.locator("#error-destination")).to_have_text("国際電話には発信できません。")
        assert page.url.endswith(f"/n/{number}/call")  # a GET page, not the POST's answer
        expect(page.locator("#destination")).to_have_value(international)  # kept
    page.reload()
    expect(page.locator("#error-destination")).to_have_count(0)  # shown once
    assert placed() == 0
    page.fill("#destination", "03-1111-2222")
    page.click("button:has-text('発信')")
    page.wait_for_url(f"**/n/{number}/call/*")
    page.reload()
    page.reload()
    expect(page.locator("#call-status")).to_be_visible()
    assert placed() == 1


def test_unknown_pages_answer_in_japanese(page: Page, portal: PortalServer) -> None:
    response = page.goto(portal.url + "/no-such-page")
    assert response is not None and response.status == 404
    expect(page.locator("h1")).to_have_text("ページが見つかりません")
    expect(page.locator("html")).to_have_attribute("lang", "ja")
