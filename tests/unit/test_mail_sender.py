"""Retry schedule, error classification, and one SMTP exchange with a real aiosmtpd server."""

from __future__ import annotations

import asyncio
import email
from datetime import UTC, datetime
from email.policy import default
from typing import Any

import aiosmtplib
import pytest
from aiosmtpd.controller import Controller
from hypothesis import given
from hypothesis import strategies as st

from callflow.config import Settings
from callflow.mail.compose import retry_delay
from callflow.mail.outbox import OutboxRow
from callflow.mail.sender import is_permanent, next_retry, smtp_send
from labkit.ports import free_port


def test_retry_schedule_doubles_up_to_the_cap() -> None:
    delays = [retry_delay(n, base=30, cap=3600) for n in range(1, 10)]
    assert delays == [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]
    assert retry_delay(0, base=30, cap=3600) == 0
    assert retry_delay(10_000, base=30, cap=3600) == 3600  # no overflow


@given(st.integers(1, 5000), st.floats(0.01, 100), st.floats(1, 10_000))
def test_retry_delay_is_monotonic_and_bounded(n: int, base: float, cap: float) -> None:
    d = retry_delay(n, base=base, cap=cap)
    assert 0 < d <= cap
    assert retry_delay(n + 1, base=base, cap=cap) >= d


def test_transient_errors_retry_forever_permanent_ones_give_up() -> None:
    s = Settings(mail_max_attempts=3, mail_retry_base=1, mail_retry_max=8)
    assert next_retry(50, permanent=False, settings=s) == 8
    assert next_retry(2, permanent=True, settings=s) == 2
    assert next_retry(3, permanent=True, settings=s) is None


def test_permanent_means_5xx() -> None:
    assert is_permanent(aiosmtplib.SMTPResponseException(550, "no such user"))
    assert not is_permanent(aiosmtplib.SMTPResponseException(451, "try later"))
    assert not is_permanent(aiosmtplib.SMTPConnectError("refused"))
    assert not is_permanent(OSError("refused"))
    refused = aiosmtplib.SMTPRecipientsRefused(
        [aiosmtplib.SMTPRecipientRefused(550, "unknown", "a@example.jp")])
    assert is_permanent(refused)


class Collect:
    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 OK"


async def test_smtp_send_delivers_to_a_real_server() -> None:
    handler = Collect()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        settings = Settings(smtp_port=port, smtp_timeout=5, mail_from="noreply@anshin.example.jp")
        row = OutboxRow(id=7, created_at=datetime(2024, 5, 1, tzinfo=UTC), to_addr="t@example.jp",
                        subject="【050あんしんナンバー】着信のお知らせ（非通知）", body="本文\n",
                        attachment=None, attachment_name=None, attempts=0)
        await smtp_send(settings, row)
    finally:
        controller.stop()
    [(sender, rcpts, content)] = handler.messages
    assert sender == "noreply@anshin.example.jp" and rcpts == ["t@example.jp"]
    msg = email.message_from_bytes(content, policy=default)
    assert msg["Subject"] == "【050あんしんナンバー】着信のお知らせ（非通知）"


async def test_smtp_send_to_a_closed_port_fails_fast() -> None:
    settings = Settings(smtp_port=free_port(), smtp_timeout=2)
    row = OutboxRow(id=1, created_at=datetime.now(UTC), to_addr="t@example.jp", subject="s",
                    body="b", attachment=None, attachment_name=None, attempts=0)
    async with asyncio.timeout(5):
        with pytest.raises((aiosmtplib.SMTPException, OSError)):
            await smtp_send(settings, row)
