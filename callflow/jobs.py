"""Background jobs the app runs beside the calls (each a coroutine that loops until cancelled).

Add a feature's job here; `App.run` starts them all in its task group and cancels them on
shutdown. A job must survive its own errors (log and retry), never end by itself, and be
right with any number of instances running it at once (row claims, `store.once.alone` for a
round, or work local to the node: docs/operations.md, "Work that happens once").
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from datetime import timedelta
from typing import Any

from callflow.features.callback.worker import call_request_worker
from callflow.features.ivr.jobs import voicemail_expiry_job
from callflow.features.voicemail.recovery import recording_recovery_job
from callflow.mail.sender import mail_sender_job
from callflow.periodic import repeat
from callflow.services import Services
from callflow.softphone_sync import register_guard_job, softphone_sync_job
from callflow.store import likely_spam
from callflow.store.once import alone
from callflow.store.retention import RetentionPeriods, purge_expired

Job = Callable[[Services], Coroutine[Any, Any, None]]

log = logging.getLogger("callflow.retention")


def retention_periods(services: Services) -> RetentionPeriods:
    s = services.settings
    return RetentionPeriods(history=timedelta(days=s.retention_history_days),
                            outbox=timedelta(days=s.retention_outbox_days),
                            sessions=timedelta(days=s.retention_sessions_days),
                            billing=timedelta(days=s.retention_billing_days))


async def retention_once(services: Services) -> dict[str, int] | None:
    """One round: rows deleted per table, or None when another instance was doing it."""
    async with alone(services.db, "retention") as mine:
        if not mine:
            log.debug("retention: another instance is running it, round skipped")
            return None
        deleted = await purge_expired(services.db, services.clock.now(),
                                      retention_periods(services))
        if deleted:
            log.info("retention: deleted %s", ", ".join(f"{n} {t}" for t, n in deleted.items()))
        # 迷惑電話の可能性: block-list entries older than 90 days stop counting
        await likely_spam.refresh(services.db)
    return deleted


async def retention_job(services: Services) -> None:
    """Delete rows past their retention period (callflow/store/retention.py), at start-up and
    every `retention_interval` seconds. Every app instance runs it on its own timer; a round
    that finds another instance running it is skipped (store/once.py), and the deletes are
    idempotent, so a later round finds nothing left."""
    await repeat("retention", lambda: retention_once(services),
                 services.settings.retention_interval, log)


def all_jobs() -> list[tuple[str, Job]]:
    return [
        ("voicemail-expiry", voicemail_expiry_job),
        ("mail-sender", mail_sender_job),
        ("recording-recovery", recording_recovery_job),
        ("call-requests", call_request_worker),
        ("retention", retention_job),
        ("softphone-sync", softphone_sync_job),
        ("register-guard", register_guard_job),
    ]
