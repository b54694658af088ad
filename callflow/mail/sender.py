"""The mail sender job: delivers due outbox rows through the SMTP relay (aiosmtplib).

One row per transaction: claim (FOR UPDATE SKIP LOCKED) → SMTP → mark sent, all before the
commit, so a row is delivered once even with several app instances. A failed try is
recorded on the row (attempts, last_error) and retried later with exponential backoff; a
relay outage therefore delays mail and never loses it. Only a relay that keeps refusing a
message permanently (5xx) makes the job give it up, after `mail_max_attempts` tries.
"""

from __future__ import annotations

import asyncio
import logging

import aiosmtplib

from callflow.config import Settings
from callflow.mail.compose import build_mime, retry_delay
from callflow.mail.outbox import OutboxRow, claim_due, mark_failed_attempt, mark_sent
from callflow.periodic import repeat
from callflow.services import Services

log = logging.getLogger("callflow.mail")


def is_permanent(exc: BaseException) -> bool:
    """A 5xx answer: the relay will refuse this message again (bad recipient, too big…)."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        return bool(exc.recipients) and all(500 <= r.code < 600 for r in exc.recipients)
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return 500 <= exc.code < 600
    return False


def next_retry(attempts: int, *, permanent: bool, settings: Settings) -> float | None:
    """Seconds until the next try after ``attempts`` failed ones; None = give up."""
    if permanent and attempts >= settings.mail_max_attempts:
        return None
    return retry_delay(attempts, base=settings.mail_retry_base, cap=settings.mail_retry_max)


async def smtp_send(settings: Settings, row: OutboxRow) -> None:
    message = build_mime(row.mail, outbox_id=row.id, created_at=row.created_at,
                         from_addr=settings.mail_from, from_name=settings.mail_from_name)
    # aiosmtplib's timeout bounds each SMTP step; the outer one bounds the whole exchange
    # (connect, EHLO, STARTTLS, MAIL, RCPT, DATA, QUIT).
    async with asyncio.timeout(settings.smtp_timeout * 3):
        await aiosmtplib.send(
            message, sender=settings.mail_from, recipients=[row.to_addr],
            hostname=settings.smtp_host, port=settings.smtp_port,
            timeout=settings.smtp_timeout, start_tls=settings.smtp_starttls or False,
            username=settings.smtp_username, password=settings.smtp_password)


async def deliver_one(services: Services) -> bool:
    """Try the oldest due row; False when nothing was due."""
    settings = services.settings
    async with services.db.transaction() as conn:
        row = await claim_due(conn)
        if row is None:
            return False
        try:
            await smtp_send(settings, row)
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            attempts = row.attempts + 1
            retry_in = next_retry(attempts, permanent=is_permanent(exc), settings=settings)
            error = f"{type(exc).__name__}: {exc}"
            await mark_failed_attempt(conn, row.id, error=error, retry_in=retry_in)
            if retry_in is None:
                log.error("mail %d to %s given up after %d tries: %s",
                          row.id, row.to_addr, attempts, error)
            else:
                log.warning("mail %d to %s not sent (try %d, next in %.0fs): %s",
                            row.id, row.to_addr, attempts, retry_in, error)
            return True
        await mark_sent(conn, row.id)
    log.info("mail %d sent to %s", row.id, row.to_addr)
    return True


async def mail_sender_job(services: Services) -> None:
    """Runs forever: deliver everything due, then sleep for the poll interval."""

    async def deliver_due() -> None:
        while await deliver_one(services):
            pass

    await repeat("mail sender", deliver_due, services.settings.mail_poll_interval, log)
