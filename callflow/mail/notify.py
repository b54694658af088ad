"""E-mail notification of an incoming call (R-IN-5), enqueued in the transactional outbox.

Modes (the subscriber's settings page, 「メッセージが録音された場合通知」):
* every incoming call (notify_only_recorded = False): a mail for each call, with or without
  a message;
* only when a message was recorded (notify_only_recorded = True).
The recording is attached when attach_recording is set (≤ 4 MB; otherwise the mail says so).

Contract with the inbound flow: `take_message` (voicemail deposit) sends the notification
for every call that reaches it; the inbound flow calls `notify_incoming_call` only for calls
that do not reach voicemail.
"""

from __future__ import annotations

from datetime import datetime

from callflow.mail.compose import IncomingCall, compose_notification
from callflow.mail.outbox import enqueue, enqueue_once
from callflow.services import Services
from callflow.store import likely_spam
from callflow.store.database import Connection
from callflow.store.subscribers import SubscriberNumber


def wants_notification(subscriber: SubscriberNumber, *, recorded: bool) -> bool:
    if not subscriber.notify_email:
        return False
    return recorded or not subscriber.notify_only_recorded


async def notify_incoming_call_in(conn: Connection, services: Services,
                                  subscriber: SubscriberNumber, *, caller: str | None,
                                  received_at: datetime, message_id: int | None,
                                  duration_ms: int | None = None, audio: bytes | None = None,
                                  mailbox_full: bool = False,
                                  recording: str | None = None) -> int | None:
    """Enqueue the notification on ``conn`` (inside the caller's transaction, e.g. the one
    that saved the message); the outbox id, or None when the subscriber wants no mail.
    A call without a message names its voicemail ``recording``: its mail is queued once per
    recording, however many instances conclude it (None when one is queued already).

    With a ``message_id`` but no ``duration_ms``/``audio``, they are read from the message.
    """
    recorded = message_id is not None
    if not wants_notification(subscriber, recorded=recorded) or not subscriber.notify_email:
        return None
    if recorded and (duration_ms is None or (audio is None and subscriber.attach_recording)):
        cur = await conn.execute(
            "SELECT duration_ms, CASE WHEN %s THEN audio END FROM voicemail_messages"
            " WHERE id = %s", (subscriber.attach_recording, message_id))
        row = await cur.fetchone()
        if row is not None:
            duration_ms = int(row[0])  # type: ignore[call-overload]
            audio = bytes(row[1]) if row[1] is not None else None  # type: ignore[call-overload]
        duration_ms = duration_ms or 0
    # 迷惑電話の可能性, read here (one row by primary key) so that every mail of a call —
    # forwarded, missed, a message, one recovered after a crash — says it alike
    spam = likely_spam.is_likely_spam(await likely_spam.reporters(conn, caller),
                                      services.settings.likely_spam_min_subscribers)
    mail = compose_notification(
        IncomingCall(number=subscriber.number, caller=caller, received_at=received_at,
                     duration_ms=duration_ms if recorded else None,
                     audio=audio if subscriber.attach_recording else None,
                     mailbox_full=mailbox_full, likely_spam=spam),
        to_addr=subscriber.notify_email, attach=subscriber.attach_recording,
        retrieval_number=services.settings.retrieval_number)
    if recorded and services.settings.transcribe:
        # the message's transcription job was made with it: wait for the text a while
        return await enqueue(conn, mail, created_at=services.clock.now(), waits_for=message_id,
                             hold_s=services.settings.transcript_wait_s)
    if recording is not None and not recorded:
        return await enqueue_once(conn, mail, created_at=services.clock.now(),
                                  recording_name=recording)
    return await enqueue(conn, mail, created_at=services.clock.now())


async def notify_incoming_call(services: Services, subscriber: SubscriberNumber, *,
                               caller: str | None, received_at: datetime,
                               message_id: int | None = None) -> None:
    """Enqueue the notification for one incoming call, if the subscriber's mode wants it.
    Raises StoreError when the database is unavailable."""
    if not wants_notification(subscriber, recorded=message_id is not None):
        return
    async with services.db.transaction() as conn:
        await notify_incoming_call_in(conn, services, subscriber, caller=caller,
                                      received_at=received_at, message_id=message_id)
