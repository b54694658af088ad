"""The notification mail: Japanese text, MIME encoding, attachments (pure, no network)."""

from __future__ import annotations

import email
import io
import wave
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.policy import default

from hypothesis import given, settings
from hypothesis import strategies as st

from callflow.mail.compose import (
    MAX_ATTACHMENT_BYTES,
    IncomingCall,
    OutgoingMail,
    build_mime,
    compose_notification,
    duration_text,
    jst_time,
)

NUMBER = "05012345678"
CENTER = "05033005000"
T0 = datetime(2014, 11, 14, 7, 55, 14, tzinfo=UTC)  # 16:55:14 JST


def wav(seconds: float) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\x00\x01" * int(8000 * seconds))
    return buf.getvalue()


def roundtrip(mail: OutgoingMail) -> EmailMessage:
    """What a mail client sees: the bytes on the wire parsed back."""
    raw = build_mime(mail, outbox_id=42, created_at=T0, from_addr="noreply@anshin.example.jp",
                     from_name="050あんしんナンバー").as_bytes()
    assert max(len(line) for line in raw.split(b"\r\n")) <= 998  # RFC 5322 line limit
    raw.decode("ascii")  # 7-bit clean: safe through any relay
    msg = email.message_from_bytes(raw, policy=default)
    assert isinstance(msg, EmailMessage)
    return msg


def body_text(msg: EmailMessage) -> str:
    part = msg.get_body(preferencelist=("plain",))
    assert part is not None
    content = part.get_content()
    assert isinstance(content, str)
    # base64 text carries canonical CRLF line breaks (RFC 2045)
    return content.replace("\r\n", "\n")


def test_message_mail_in_japanese_with_attachment() -> None:
    audio = wav(12.3)
    mail = compose_notification(
        IncomingCall(number=NUMBER, caller="09011112222", received_at=T0, duration_ms=12_300,
                     audio=audio),
        to_addr="taro@example.jp", attach=True, retrieval_number=CENTER)
    msg = roundtrip(mail)
    assert msg["Subject"] == "【050あんしんナンバー】メッセージをお預かりしました（090-1111-2222）"
    assert msg["To"] == "taro@example.jp"
    assert msg["From"].addresses[0].display_name == "050あんしんナンバー"
    assert msg["Message-ID"].startswith("<outbox.42.")
    assert msg["Date"].datetime == T0
    body = body_text(msg)
    assert "050あんしんナンバー（050-1234-5678）に着信がありました。" in body
    assert "発信者番号：090-1111-2222" in body
    assert "着信日時：2014/11/14 16:55:14" in body
    assert "録音時間 13秒" in body
    assert "message-20141114-165514.wav" in body
    [att] = list(msg.iter_attachments())
    assert att.get_content_type() == "audio/wav"
    assert att.get_filename() == "message-20141114-165514.wav"
    assert att.get_content() == audio


def test_every_call_mode_without_message_anonymous() -> None:
    mail = compose_notification(IncomingCall(number=NUMBER, caller=None, received_at=T0),
                                to_addr="a@example.jp", attach=True, retrieval_number=CENTER)
    msg = roundtrip(mail)
    assert msg["Subject"] == "【050あんしんナンバー】着信のお知らせ（非通知）"
    body = body_text(msg)
    assert "発信者番号：非通知" in body and "メッセージ：なし" in body
    assert not list(msg.iter_attachments())


def test_mailbox_full_is_explained() -> None:
    mail = compose_notification(
        IncomingCall(number=NUMBER, caller="0312345678", received_at=T0, mailbox_full=True),
        to_addr="a@example.jp", attach=False, retrieval_number=CENTER)
    assert "上限（20件）" in mail.body and "03-1234-5678" in mail.body


def test_no_attachment_when_not_wanted() -> None:
    mail = compose_notification(
        IncomingCall(number=NUMBER, caller="0312345678", received_at=T0, duration_ms=3000,
                     audio=wav(3)),
        to_addr="a@example.jp", attach=False, retrieval_number=CENTER)
    assert mail.attachment is None
    assert not list(roundtrip(mail).iter_attachments())


def test_attachment_too_large_is_noted_in_body() -> None:
    big = b"RIFF" + b"\x00" * MAX_ATTACHMENT_BYTES
    mail = compose_notification(
        IncomingCall(number=NUMBER, caller="0312345678", received_at=T0, duration_ms=180_000,
                     audio=big),
        to_addr="a@example.jp", attach=True, retrieval_number=CENTER)
    assert mail.attachment is None and mail.attachment_name is None
    msg = roundtrip(mail)
    assert not list(msg.iter_attachments())
    assert "4MBを超えるため" in body_text(msg)
    assert "録音時間 3分00秒" in body_text(msg)
    # exactly 4 MB still goes
    ok = compose_notification(
        IncomingCall(number=NUMBER, caller=None, received_at=T0, duration_ms=1000,
                     audio=big[:MAX_ATTACHMENT_BYTES]),
        to_addr="a@example.jp", attach=True, retrieval_number=CENTER)
    assert ok.attachment is not None


def test_duration_and_time_formats() -> None:
    assert duration_text(1) == "1秒"
    assert duration_text(1000) == "1秒"
    assert duration_text(59_001) == "1分00秒"
    assert duration_text(180_000) == "3分00秒"
    assert duration_text(65_000) == "1分05秒"
    # JST has no DST; midnight rolls the date
    assert jst_time(datetime(2024, 12, 31, 15, 0, 0, tzinfo=UTC)) == "2025/01/01 00:00:00"


callers = st.one_of(
    st.none(),
    st.from_regex(r"0[1-9][0-9]{8,9}", fullmatch=True),
    st.from_regex(r"\+[1-9][0-9]{6,14}", fullmatch=True),
)


@settings(max_examples=60, deadline=None)
@given(caller=callers, duration_ms=st.one_of(st.none(), st.integers(0, 190_000)),
       offset_s=st.integers(0, 10 * 365 * 86400), attach=st.booleans())
def test_any_call_roundtrips_through_mime(caller: str | None, duration_ms: int | None,
                                          offset_s: int, attach: bool) -> None:
    when = datetime(2020, 1, 1, tzinfo=UTC) + timedelta(seconds=offset_s)
    audio = b"RIFF0000WAVE" if duration_ms is not None else None
    mail = compose_notification(
        IncomingCall(number=NUMBER, caller=caller, received_at=when, duration_ms=duration_ms,
                     audio=audio),
        to_addr="x@example.jp", attach=attach, retrieval_number=CENTER)
    msg = roundtrip(mail)
    assert msg["Subject"] == mail.subject
    body = body_text(msg)
    assert body == mail.body
    assert f"着信日時：{jst_time(when)}" in body
    assert ("非通知" in body) == (caller is None)
    if duration_ms is None:
        assert "メッセージ：なし" in body
    else:
        assert f"録音時間 {duration_text(duration_ms)}" in body
    assert (len(list(msg.iter_attachments())) == 1) == (attach and duration_ms is not None)


def test_notification_modes() -> None:
    from dataclasses import replace

    from callflow.mail.notify import wants_notification
    from callflow.store.subscribers import SubscriberNumber

    sub = SubscriberNumber(number=NUMBER, account_id=1, reject_anonymous=False,
                           block_action="announce", forward_enabled=False,
                           forward_ring_seconds=20, forward_show_caller="caller",
                           voicemail_enabled=True, notify_email="a@example.jp",
                           notify_only_recorded=False, attach_recording=False)
    assert wants_notification(sub, recorded=False) and wants_notification(sub, recorded=True)
    only = replace(sub, notify_only_recorded=True)
    assert not wants_notification(only, recorded=False) and wants_notification(only, recorded=True)
    assert not wants_notification(replace(sub, notify_email=None), recorded=True)
