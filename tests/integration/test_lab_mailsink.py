"""The mail sink of `./lab up` end to end: started as the stack starts it (`python -m
labkit.mailsink --port … --maildir …`, as a process), it receives a notification mail from
the app's own SMTP sender and stores it in the Maildir's new/.

Both ways the folder can look at start-up: created beforehand (as `labkit.stack.prepare`
does for the container's bind mount: the case that used to fail every delivery) and not
there yet."""

from __future__ import annotations

import asyncio
import email
import sys
import time
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import default
from pathlib import Path

import pytest

from callflow.config import Settings
from callflow.mail.compose import IncomingCall, compose_notification
from callflow.mail.outbox import OutboxRow
from callflow.mail.sender import smtp_send
from labkit.ports import free_port

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("folder_exists", [True, False], ids=["prepared-folder", "no-folder"])
async def test_stack_mail_sink_stores_the_apps_mail_in_new(tmp_path: Path,
                                                           folder_exists: bool) -> None:
    maildir = tmp_path / "stack" / "mail"
    if folder_exists:
        maildir.mkdir(parents=True)  # what `./lab up` (labkit.stack.prepare) leaves
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "labkit.mailsink", "--port", str(port), "--maildir",
        str(maildir), cwd=REPO, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT)
    try:
        assert proc.stdout is not None
        async with asyncio.timeout(20):
            banner = (await proc.stdout.readline()).decode()
        assert banner.startswith("mail sink on 127.0.0.1:"), banner
        received_at = datetime(2026, 11, 29, 5, 30, tzinfo=UTC)
        mail = compose_notification(
            IncomingCall(number="05012345678", caller="09011112222", received_at=received_at,
                         duration_ms=4200, audio=b"RIFF-fake-wav"),
            to_addr="demo@example.jp", attach=True, retrieval_number="05033005000")
        row = OutboxRow(id=1, created_at=received_at, to_addr=mail.to_addr,
                        subject=mail.subject, body=mail.body, attachment=mail.attachment,
                        attachment_name=mail.attachment_name, attempts=0)
        settings = Settings(smtp_host="127.0.0.1", smtp_port=port, smtp_timeout=5)
        await smtp_send(settings, row)  # raised SMTPDataError 500 (no tmp/) before the fix

        deadline = time.monotonic() + 10
        while not list((maildir / "new").glob("*")):
            assert time.monotonic() < deadline, "no mail in new/"
            await asyncio.sleep(0.1)
        [stored] = list((maildir / "new").iterdir())
        msg = email.message_from_bytes(stored.read_bytes(), policy=default)
        assert isinstance(msg, EmailMessage)
        assert msg["Subject"] == ("【050あんしんナンバー】メッセージをお預かりしました"
                                  "（090-1111-2222）")
        assert msg["To"] == "demo@example.jp"
        [att] = list(msg.iter_attachments())
        assert att.get_content() == b"RIFF-fake-wav"
    finally:
        proc.terminate()
        async with asyncio.timeout(10):
            await proc.wait()
