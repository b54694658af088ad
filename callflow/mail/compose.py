"""Pure mail logic: the Japanese notification text, its MIME form, and the retry schedule.

The outbox stores the composed text (subject, body, attachment); the MIME message is built
at send time from the outbox row, so its Date and Message-ID are the same on every retry
(a client that does get a duplicate after a crash mid-send can tell).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime

from callflow.clock import JST
from callflow.numbers import display
from callflow.store.voicemail import MAILBOX_LIMIT

SERVICE = "050あんしんナンバー"
ANONYMOUS = "非通知"
MAX_ATTACHMENT_BYTES = 4 * 1024 * 1024  # R-IN-5: attachments ≤ 4 MB


@dataclass(frozen=True)
class IncomingCall:
    """What a notification reports."""

    number: str  # the subscriber's 050 number
    caller: str | None  # normalised caller number, None = 非通知
    received_at: datetime  # aware
    duration_ms: int | None = None  # set when a message was recorded
    audio: bytes | None = None  # the recording (WAV), when it is to be attached
    mailbox_full: bool = False  # the caller could not leave a message: MAILBOX_LIMIT stored
    likely_spam: bool = False  # 迷惑電話の可能性: many subscribers block the caller


@dataclass(frozen=True)
class OutgoingMail:
    to_addr: str
    subject: str
    body: str
    attachment: bytes | None = None
    attachment_name: str | None = None


def jst_time(moment: datetime) -> str:
    """``2014/11/14 16:55:14`` in Japan time (the format the service shows everywhere)."""
    return moment.astimezone(JST).strftime("%Y/%m/%d %H:%M:%S")


def caller_text(caller: str | None) -> str:
    return ANONYMOUS if caller is None else display(caller)


def duration_text(duration_ms: int) -> str:
    """``12秒`` / ``1分05秒``; rounded up so a short message never shows 0秒."""
    seconds = max(1, math.ceil(duration_ms / 1000))
    minutes, seconds = divmod(seconds, 60)
    return f"{minutes}分{seconds:02d}秒" if minutes else f"{seconds}秒"


def attachment_name(received_at: datetime) -> str:
    # ASCII only: a non-ASCII file name needs RFC 2231 encoding, which some clients mangle.
    return received_at.astimezone(JST).strftime("message-%Y%m%d-%H%M%S.wav")


#: the label of a caller number many subscribers block (the history and the portal say it too)
LIKELY_SPAM = "迷惑電話の可能性"


def compose_notification(call: IncomingCall, *, to_addr: str, attach: bool,
                         retrieval_number: str) -> OutgoingMail:
    recorded = call.duration_ms is not None
    who = caller_text(call.caller)
    if call.likely_spam:
        who = f"{who}・{LIKELY_SPAM}"
    if recorded:
        subject = f"【{SERVICE}】メッセージをお預かりしました（{who}）"
    else:
        subject = f"【{SERVICE}】着信のお知らせ（{who}）"
    center = display(retrieval_number)
    lines = [
        f"{SERVICE}（{display(call.number)}）に着信がありました。",
        "",
        f"発信者番号：{who}",
        f"着信日時：{jst_time(call.received_at)}",
    ]
    if call.likely_spam:
        lines.append(f"※{LIKELY_SPAM}：多くのお客さまが着信拒否している番号です。"
                     "お心当たりのない場合はご注意ください。")
    attachment: bytes | None = None
    name: str | None = None
    if call.duration_ms is not None:
        lines += [
            f"メッセージ：あり（録音時間 {duration_text(call.duration_ms)}）",
            "",
            f"メッセージは、メッセージセンター（{center}）でお聞きいただけます。",
        ]
        if attach and call.audio is not None:
            if len(call.audio) <= MAX_ATTACHMENT_BYTES:
                attachment, name = call.audio, attachment_name(call.received_at)
                lines.append(f"録音されたメッセージを添付しています（{name}）。")
            else:
                lines.append("※録音されたメッセージは4MBを超えるため、"
                             "このメールには添付していません。")
    else:
        lines.append("メッセージ：なし")
        if call.mailbox_full:
            lines += ["", f"※メッセージのお預かり件数が上限（{MAILBOX_LIMIT}件）に達しているため、"
                      "録音できませんでした。不要なメッセージを消去してください。"]
    lines += ["", "--", SERVICE, "このメールは送信専用です。ご返信いただいてもお答えできません。"]
    return OutgoingMail(to_addr=to_addr, subject=subject, body="\n".join(lines) + "\n",
                        attachment=attachment, attachment_name=name)


#: the heading of a message's text in the notification (docs/transcription.md)
TRANSCRIPT_HEADING = "メッセージの内容（自動で文字にしたもので、実際と異なる場合があります）："
_MESSAGE_LINE = "メッセージ：あり"


def with_transcript(body: str, text: str) -> str:
    """The notification ``body`` with the message's ``text`` right under its 「メッセージ：
    あり」 line (so above the attached recording); unchanged when the text is empty. A body
    without that line (no message) gets none."""
    text = " ".join(text.split())
    if not text:
        return body
    lines = body.split("\n")
    for i, line in enumerate(lines):
        if line.startswith(_MESSAGE_LINE):
            return "\n".join([*lines[: i + 1], "", TRANSCRIPT_HEADING, f"「{text}」",
                              *lines[i + 1 :]])
    return body


def build_mime(mail: OutgoingMail, *, outbox_id: int, created_at: datetime,
               from_addr: str, from_name: str) -> EmailMessage:
    """The RFC 5322 message for one outbox row.

    UTF-8 throughout, body base64 (safe through any relay, no 8BITMIME needed), Subject
    and the From display name as RFC 2047 encoded words (done by the email package).
    """
    msg = EmailMessage(policy=SMTP)
    msg["From"] = Address(display_name=from_name, addr_spec=from_addr)
    msg["To"] = mail.to_addr
    msg["Subject"] = mail.subject
    msg["Date"] = format_datetime(created_at.astimezone(JST))
    domain = from_addr.rpartition("@")[2] or "localhost"
    msg["Message-ID"] = f"<outbox.{outbox_id}.{int(created_at.timestamp())}@{domain}>"
    msg.set_content(mail.body, charset="utf-8", cte="base64")
    if mail.attachment is not None:
        msg.add_attachment(mail.attachment, maintype="audio", subtype="wav",
                           filename=mail.attachment_name or "message.wav")
    return msg


def retry_delay(attempts: int, *, base: float, cap: float) -> float:
    """Seconds to wait after the ``attempts``-th failed try: base, 2·base, 4·base … ≤ cap."""
    if attempts < 1:
        return 0.0
    # min() on the exponent first keeps 2**n from overflowing after many attempts.
    return min(cap, base * 2.0 ** min(attempts - 1, 60))
