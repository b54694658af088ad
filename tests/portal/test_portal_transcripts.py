"""お預かりメッセージ with transcription (docs/transcription.md): each message's text in the
list, the note while it is being made, and the search box over the subscriber's own
messages only. Messages and texts are written straight into the database here; the real call
path is tests/integration/test_voicemail_transcription.py."""

from __future__ import annotations

import io
import wave

from playwright.sync_api import Page, expect

from labkit.portal_dev import PortalServer
from labkit.portal_testkit import Sql, login_sms, make_account


def message(sql: Sql, number: str, text: str | None, status: str | None = "done") -> int:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\x00\x00" * 8000)
    row = sql.execute("INSERT INTO voicemail_messages (number, caller, duration_ms, audio)"
                      " VALUES (%s, '09012345678', 1000, %s) RETURNING id",
                      (number, buf.getvalue())).fetchone()
    assert row is not None
    if status is not None:
        sql.execute("INSERT INTO voicemail_transcripts (message_id, status, text)"
                    " VALUES (%s, %s, %s)", (row[0], status, text))
    assert isinstance(row[0], int)
    return row[0]


def test_texts_are_listed_and_the_search_finds_only_own_messages(
        page: Page, portal: PortalServer, portal_sql: Sql) -> None:
    mine, other = make_account(portal_sql), make_account(portal_sql)
    number = mine.numbers[0]
    parcel = message(portal_sql, number, "田中です。荷物が届きましたので、お電話ください。")
    meeting = message(portal_sql, number, "山田です。明日の打ち合わせはZoomで行います。")
    pending = message(portal_sql, number, None, "pending")
    untranscribed = message(portal_sql, number, None, None)  # made while it was off
    message(portal_sql, other.numbers[0], "田中です。ほかの人の荷物です。")

    login_sms(page, portal.url, portal_sql, mine)
    page.wait_for_url(f"**/n/{number}/")
    page.click("ul.menu a:has-text('お預かりメッセージ')")
    expect(page.locator(f"#message-{parcel} .transcript")).to_have_text(
        "田中です。荷物が届きましたので、お電話ください。")
    expect(page.locator(f"#message-{pending} .transcript")).to_have_text("（文字に変換しています）")
    expect(page.locator(f"#message-{untranscribed} .transcript")).to_have_count(0)

    page.fill("#message-search", "荷物")
    page.click("form.search button")
    expect(page.locator(".message")).to_have_count(1)  # not the other subscriber's 荷物
    expect(page.locator(f"#message-{parcel}")).to_be_visible()
    expect(page.locator("main")).to_contain_text("「荷物」を含むメッセージ：1件")
    expect(page.locator("#message-search")).to_have_value("荷物")

    page.fill("#message-search", "ｚｏｏｍ")  # full-width, other case
    page.click("form.search button")
    expect(page.locator(".message")).to_have_count(1)
    expect(page.locator(f"#message-{meeting}")).to_be_visible()

    page.fill("#message-search", "請求書")
    page.click("form.search button")
    expect(page.locator(".message")).to_have_count(0)
    expect(page.locator("main")).to_contain_text("該当するメッセージはありません。")
    page.click("a:has-text('すべて表示')")
    expect(page.locator(".message")).to_have_count(4)

    # messages without texts (transcription off): the page as it was, no search box
    portal_sql.execute("DELETE FROM voicemail_transcripts WHERE message_id = ANY(%s)",
                       ([parcel, meeting, pending],))
    page.reload()
    expect(page.locator(".message")).to_have_count(4)
    expect(page.locator("#message-search")).to_have_count(0)
    expect(page.locator(".transcript")).to_have_count(0)
