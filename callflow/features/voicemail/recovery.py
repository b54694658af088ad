"""Recording recovery: import voicemail recordings Asterisk still holds.

A call task saves its own recording within a second of the recording's end. If the app was
killed in between (or the database was down), the file stays in Asterisk's recording
directory. This job — at start-up and then periodically — lists Asterisk's stored
recordings over ARI and imports every `vm-*` one that is not recording any more and not in
the database yet (message row and e-mail in one transaction), then deletes it from Asterisk.
A recording that holds no message still means a call: in 「すべての着信」 mode its mail
(メッセージ：なし) is sent here, as the dead call task would have.
Everything needed is in the recording's name, so any app instance can do it.

Per node: each app instance lists the recordings of ITS Asterisk (the one its ARI URL names),
and a recording only exists in that node's recording folder, so no other node's instance
could import it — a node's leftovers are imported by that node's instances once they (or
one of them) run again. The two instances of one node list the same folder: each recording
is imported under a per-recording advisory lock (`store.once.alone`), and the next
instance to see it finds it gone from Asterisk (imported and deleted) or already saved.
Recording names end in a random token, so names never clash between nodes.
"""

from __future__ import annotations

import asyncio
import logging

from callflow.ari import AriError, AriNotFound
from callflow.features.voicemail import deposit as voicemail_deposit
from callflow.features.voicemail.audio import PREFIX, RecordingName, parse_recording_name
from callflow.mail.notify import notify_incoming_call_in, wants_notification
from callflow.services import Services
from callflow.store import StoreError
from callflow.store.once import alone
from callflow.store.subscribers import SubscriberNumber, find_subscriber

log = logging.getLogger("callflow.voicemail")

#: the advisory lock's job name (with the recording's name as its key): the same key the
#: earlier session lock used, so instances of both releases exclude each other
RECOVERY_LOCK = "vm-recovery"


async def recover_recordings(services: Services) -> int:
    """One sweep; the number of messages imported."""
    imported = 0
    for stored in await services.ari.list_stored_recordings():
        if not stored.name.startswith(PREFIX):
            continue
        rec = parse_recording_name(stored.name)
        if rec is None or stored.name in voicemail_deposit.active_recordings:
            continue
        try:
            await services.ari.get_live_recording(stored.name)
            continue  # still being recorded: the caller is talking right now
        except AriNotFound:
            pass
        subscriber = await find_subscriber(services.db, rec.number)
        if subscriber is None:
            log.info("recording %s: number %s no longer exists, deleted", rec.name, rec.number)
            await voicemail_deposit.forget_recording(services, rec.name)
            continue
        async with alone(services.db, RECOVERY_LOCK, rec.name) as mine:
            if not mine:
                continue  # another app instance is importing it right now
            outcome, message_id = await voicemail_deposit.import_recording(
                services, rec, subscriber)
            log.info("recovery: recording %s: %s (message %s)", rec.name, outcome.value,
                     message_id)
            if outcome is voicemail_deposit.Outcome.SAVED:
                imported += 1
            elif outcome in (voicemail_deposit.Outcome.NO_MESSAGE,
                             voicemail_deposit.Outcome.FULL):
                await _mail_call_without_message(services, rec, subscriber,
                                                 full=outcome is voicemail_deposit.Outcome.FULL)
    return imported


async def _mail_call_without_message(services: Services, rec: RecordingName,
                                     subscriber: SubscriberNumber, *, full: bool) -> None:
    """「すべての着信」: the call whose task died still gets its mail (メッセージ：なし) —
    the call task would have sent it. Only once Asterisk's copy is gone: while the deletion
    fails, the next sweep finds the recording again and mails then."""
    if not wants_notification(subscriber, recorded=False):
        return
    if any(r.name == rec.name for r in await services.ari.list_stored_recordings()):
        return
    async with services.db.transaction() as conn:
        await notify_incoming_call_in(conn, services, subscriber, caller=rec.caller,
                                      received_at=rec.received_at, message_id=None,
                                      mailbox_full=full, recording=rec.name)


async def recording_recovery_job(services: Services) -> None:
    """Runs forever. Until a sweep has succeeded (Asterisk or the database may still be
    starting), retries every few seconds."""
    interval = services.settings.recording_recovery_interval
    while True:
        ok = False
        try:
            count = await recover_recordings(services)
            ok = True
            if count:
                log.warning("recovery: imported %d voicemail message(s) left in Asterisk", count)
        except (AriError, StoreError) as exc:
            log.info("recovery sweep failed: %s", exc)
        except Exception:  # a job must never die
            log.exception("recovery sweep: unexpected error")
        await asyncio.sleep(interval if ok else min(interval, 3.0))
