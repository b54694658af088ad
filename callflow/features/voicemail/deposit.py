"""Voicemail deposit (R-IN-4): greeting, beep, a message of at most 3 minutes, stored with
its audio in PostgreSQL, and the e-mail notification (R-IN-5) in the same transaction.

Greeting: the subscriber's own (応答メッセージ, recorded in the retrieval IVR or uploaded in
the portal; `callflow.greeting_media`) when there is one, else vm_greeting; the beep follows.

Durability: the recording is named after its mailbox, caller and time
(`audio.recording_name`), and importing it is idempotent (recording_name is
UNIQUE; the message row and its outbox mail commit together; Asterisk's copy is deleted only
after the commit). If the app dies between the caller's hang-up and the commit, Asterisk
still holds the file and the recovery job (`recovery`) imports it later, mail
included — from any app instance.

Mailbox limit: a slot is reserved before the greeting (`store.voicemail.reserve_slot`), so a
caller who cannot be stored hears vm_full instead of the beep and a caller who hears the
beep is always stored; the slot is released when the call ends without a message.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from callflow import call_state
from callflow.ari import AriConflict, AriError, AriNotFound
from callflow.call import Call, CallerHungUp
from callflow.call_progress import keep_progress
from callflow.features.voicemail.audio import (
    AudioInfo,
    BadAudio,
    QuietLine,
    RecordingName,
    analyse_wav,
    parse_recording_name,
    recording_name,
)
from callflow.greeting_media import own_greeting_uri
from callflow.mail.notify import notify_incoming_call_in, wants_notification
from callflow.services import Services
from callflow.store import LimitExceeded, StoreError, transcripts
from callflow.store.subscribers import SubscriberNumber
from callflow.store.voicemail import (
    extend_reservation,
    message_id_for_recording,
    release_slot,
    reserve_slot,
    save_message,
)

log = logging.getLogger("callflow.voicemail")

# Recordings a call task of this process is still handling; the recovery sweep leaves them
# alone (a hint only: importing twice is harmless anyway).
active_recordings: set[str] = set()

_MAX_DURATION_MS = 190_000  # the schema's CHECK; a 180 s recording is a little over 180 000
# A caller's mailbox slot is held from the greeting on. If this process dies, the slot lapses
# after this long when no recording was started (the greeting and beep last ~10 s) …
_HOLD_UNTIL_RECORDING = timedelta(minutes=2)
# … or, once recording, this long after the longest message could have ended: Asterisk
# keeps recording without the app, and the recovery sweep (start-up, then every minute)
# imports the file into the slot held for it.
_HOLD_AFTER_RECORDING = timedelta(minutes=5)


class Outcome(enum.Enum):
    SAVED = "saved"
    DUPLICATE = "duplicate"  # saved already (by another task or instance)
    NO_MESSAGE = "no_message"  # hung up before the beep, silence, or too short
    FULL = "full"  # 20 messages stored
    GONE = "gone"  # Asterisk has no such recording (any more)
    DEFERRED = "deferred"  # left in Asterisk for the recovery sweep (database/ARI trouble)


async def release(services: Services, name: str) -> None:
    """Give the mailbox slot held for ``name`` back (nothing will be stored for it)."""
    try:
        await release_slot(services.db, name)
    except StoreError as exc:  # it lapses by itself (expires_at)
        log.warning("recording %s: cannot release its mailbox slot: %s", name, exc)


async def forget_recording(services: Services, name: str) -> None:
    """Delete Asterisk's copy (after the database has the message, or it is not wanted)."""
    try:
        await services.ari.delete_stored_recording(name)
    except AriNotFound:
        pass
    except AriError as exc:  # the recovery sweep will find it again and delete it then
        log.warning("recording %s: cannot delete from Asterisk: %s", name, exc)


async def import_recording(services: Services, rec: RecordingName,
                           subscriber: SubscriberNumber) -> tuple[Outcome, int | None]:
    """Fetch a finished recording over ARI and file it: message row + notification mail in
    one transaction, then delete Asterisk's copy. Idempotent. Raises StoreError (the
    recording then stays in Asterisk for a later sweep) and AriError other than 404."""
    async with services.db.connection() as conn:
        existing = await message_id_for_recording(conn, rec.name)
    if existing is not None:
        await forget_recording(services, rec.name)
        return Outcome.DUPLICATE, existing
    try:
        audio = await services.ari.get_stored_recording_file(rec.name)
    except AriNotFound:
        # Another instance may have imported and deleted it a moment ago.
        async with services.db.connection() as conn:
            existing = await message_id_for_recording(conn, rec.name)
        if existing:
            return Outcome.DUPLICATE, existing
        await release(services, rec.name)
        return Outcome.GONE, None
    try:
        info = analyse_wav(audio)
    except BadAudio as exc:
        log.warning("recording %s: unreadable (%s), discarded", rec.name, exc)
        info = AudioInfo(duration_ms=0, speech_ms=0)
    if not info.is_message:
        log.info("recording %s: %d ms, %d ms of sound: no message", rec.name,
                 info.duration_ms, info.speech_ms)
        await release(services, rec.name)
        await forget_recording(services, rec.name)
        return Outcome.NO_MESSAGE, None
    duration_ms = min(info.duration_ms, _MAX_DURATION_MS)
    try:
        async with services.db.transaction() as conn:
            message_id = await save_message(
                conn, number=rec.number, caller=rec.caller, received_at=rec.received_at,
                duration_ms=duration_ms, audio=audio, recording_name=rec.name,
                now=services.clock.now())
            if message_id is not None and services.settings.transcribe:
                await transcripts.add_job(conn, message_id)  # for the worker, off the call
            if message_id is not None:
                await notify_incoming_call_in(
                    conn, services, subscriber, caller=rec.caller,
                    received_at=rec.received_at, message_id=message_id,
                    duration_ms=duration_ms, audio=audio)
    except LimitExceeded:
        log.info("recording %s: mailbox %s is full, discarded", rec.name, rec.number)
        await forget_recording(services, rec.name)
        return Outcome.FULL, None
    await forget_recording(services, rec.name)
    if message_id is None:
        return Outcome.DUPLICATE, None
    log.info("voicemail %d saved for %s from %s (%d ms)", message_id, rec.number,
             rec.caller or "非通知", duration_ms)
    return Outcome.SAVED, message_id


_QUIET_POLL_S = 0.5


async def _end_quiet_line(call: Call, name: str, limit_s: float) -> None:
    """Stop the recording once the caller's phone has sent no RTP packet for ``limit_s``
    (runs beside the recording; Asterisk ends it for silent *packets* by itself)."""
    rule = QuietLine(limit_s)
    loop = asyncio.get_running_loop()
    while True:
        try:
            received = await call.rtp_packets_received()
        except (AriError, CallerHungUp) as exc:  # no RTP statistics: Asterisk's rule only
            log.debug("call %s: no RTP statistics (%r)", call.id, exc)
            return
        if rule.observe(received, loop.time()):
            log.info("call %s: no RTP for %.0fs, ending recording %s", call.id, limit_s, name)
            await call.stop_recording(name)
            return
        await asyncio.sleep(_QUIET_POLL_S)


async def _record(call: Call, services: Services, subscriber: SubscriberNumber,
                  name: str) -> tuple[Outcome, int | None]:
    rec = parse_recording_name(name)
    assert rec is not None
    # The slot is taken before the greeting, so a caller who hears the beep is always
    # stored: of two callers racing for the 20th message, the second hears vm_full instead.
    now = services.clock.now()
    try:
        reserved = await reserve_slot(services.db, number=subscriber.number,
                                      recording_name=name, now=now,
                                      expires_at=now + _HOLD_UNTIL_RECORDING)
    except StoreError as exc:
        # Record anyway: the file waits in Asterisk until the database is back (recovery),
        # and is stored then if a slot is free.
        log.warning("call %s: cannot reserve a mailbox slot (%s), recording anyway",
                    call.id, exc)
        reserved = True
    if not reserved:
        with contextlib.suppress(CallerHungUp):
            # The inbound channel may still be ringing (straight to voicemail) or answered
            # already (after a forwarding attempt); answering an up channel is a no-op.
            await call.answer()
            await call.play(["vm_full"])
        return Outcome.FULL, None
    outcome = Outcome.NO_MESSAGE
    try:
        outcome, message_id = await _greet_and_record(call, services, subscriber, rec)
    finally:
        # Nothing will be stored for this call: the slot is free for the next caller. (A
        # saved message consumed it already; a deferred recording keeps it for the
        # recovery sweep; a process that stops leaves it to the one taking the call over.)
        if outcome is not Outcome.DEFERRED and not _stopping():
            await release(services, name)
    return outcome, message_id


async def _greet_and_record(call: Call, services: Services, subscriber: SubscriberNumber,
                            rec: RecordingName, *, greeted: bool = False
                            ) -> tuple[Outcome, int | None]:
    """The greeting and the beep (only the beep when the caller `greeted` already), then
    the recording."""
    settings = services.settings
    name = rec.name
    if not greeted:
        # Named on the channel before the greeting: a new process that takes the call over
        # finds the recording (running, ended or not started yet) and the slot held for it.
        await _remember_recording(call, services, name)
    greeting = None if greeted else await _own_greeting(services, subscriber.number)
    try:
        await call.answer()
        if greeted:
            await call.play(["beep"])
        elif greeting is None:
            await call.play(["vm_greeting", "beep"])
        else:
            await call.play_media([greeting, *call.media(["beep"])])
    except CallerHungUp:
        return Outcome.NO_MESSAGE, None
    active_recordings.add(name)
    try:
        try:
            # Silence to the caller while recording: its 20 ms timer keeps Asterisk's
            # recorder reading when the phone sends no RTP (silence suppression) — without
            # it the recorder gives up after 2 × 2 s without a frame ("No audio available")
            # and a caller who pauses before speaking is cut off long before the silence
            # limit. (Playing a prompt afterwards replaces it.)
            with contextlib.suppress(AriConflict):
                await call.play_silence()
            # terminateOn '#': 「お話が終わりましたら、シャープを押してください」. The digit
            # itself is not in the file (RFC 4733 / INFO DTMF never reach the audio).
            await call.record(name, max_seconds=settings.voicemail_max_seconds,
                              max_silence_seconds=settings.voicemail_max_silence_seconds)
        except CallerHungUp:
            return Outcome.NO_MESSAGE, None
        except AriConflict as exc:
            log.warning("call %s: cannot record: %s", call.id, exc)
            return Outcome.NO_MESSAGE, None
        # Asterisk records on without the app: hold the slot until the recovery sweep of a
        # restarted app can have imported the longest message.
        with contextlib.suppress(StoreError):
            await extend_reservation(
                services.db, name, services.clock.now() + timedelta(
                    seconds=settings.voicemail_max_seconds) + _HOLD_AFTER_RECORDING)
        outcome, message_id = await _store_when_ended(call, services, subscriber, rec,
                                                      live=True)
    finally:
        active_recordings.discard(name)
    return outcome, message_id


async def _remember_recording(call: Call, services: Services, name: str) -> None:
    """Name the recording on the channel (one ARI request), so that a new process that
    finds the caller still in Stasis takes the recording over (`resume_recording`)."""
    await keep_progress(call, services, call_state.encode({"k": "v", "r": name}))


async def _store_when_ended(call: Call, services: Services, subscriber: SubscriberNumber,
                            rec: RecordingName, *, live: bool) -> tuple[Outcome, int | None]:
    """Wait for the recording to end (unless it is not `live` any more), store it, thank
    a caller still on the line and hang up."""
    settings = services.settings
    hung_up = False
    if live:
        quiet_line = asyncio.create_task(_end_quiet_line(
            call, rec.name, settings.voicemail_max_silence_seconds))
        try:
            hung_up = await call.recording_ended(rec.name, settings.voicemail_max_seconds + 30)
        finally:
            quiet_line.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await quiet_line
    try:
        outcome, message_id = await import_recording(services, rec, subscriber)
    except (StoreError, AriError) as exc:
        log.warning("call %s: recording %s left for the recovery sweep: %s",
                    call.id, rec.name, exc)
        outcome, message_id = Outcome.DEFERRED, None
    if not hung_up:
        with contextlib.suppress(CallerHungUp):
            if outcome in (Outcome.SAVED, Outcome.DUPLICATE, Outcome.DEFERRED):
                await call.play(["vm_saved"])
            await call.hangup()
    return outcome, message_id


def _stopping() -> bool:
    """The call task is cancelled because the process stops (the call is left in Asterisk
    for the next process, callflow/adoption.py)."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


async def resume_recording(call: Call, services: Services, subscriber: SubscriberNumber,
                           rec: RecordingName, *,
                           before_greeting: Callable[[], Awaitable[None]]) -> None:
    """A voicemail call a previous process left (`callflow.adoption`). Recording: Asterisk
    went on without the process; wait for the end (#, silence, the maximum, hang-up) and
    finish as `take_message` would have: the whole recording stored with its mail, or the
    slot given back and the no-message mail. Ended while no process listened: stored now.
    Not started (the greeting was playing): `before_greeting`, then the recording, into the
    slot the previous process reserved, after a beep only. Asterisk plays the previous
    process's greeting + beep on to their end (`before_greeting` waits for it), so a caller
    on an answered channel has heard the greeting whole: playing it again made callers who
    spoke after the first beep talk over the second greeting and hang up before its beep,
    leaving no message (the rolling restart with kill -9). Only a channel not yet answered
    (killed before the greeting began) hears the greeting again."""
    active_recordings.add(rec.name)
    outcome = Outcome.NO_MESSAGE
    try:
        try:
            await services.ari.get_live_recording(rec.name)
            state = "live"
        except AriNotFound:
            stored = {r.name for r in await services.ari.list_stored_recordings()}
            state = "ended" if rec.name in stored else "not started"
        log.info("call %s: recording %s taken over (%s)", call.id, rec.name, state)
        if state == "not started":
            await before_greeting()
            outcome, _ = await _greet_and_record(call, services, subscriber, rec,
                                                 greeted=call.channel.state == "Up")
        else:
            outcome, _ = await _store_when_ended(call, services, subscriber, rec,
                                                 live=state == "live")
    finally:
        active_recordings.discard(rec.name)
        if outcome is not Outcome.DEFERRED and not _stopping():
            await release(services, rec.name)
    log.info("call %s: voicemail for %s (taken over): %s", call.id, subscriber.number,
             outcome.value)
    await _mail_without_message(call, services, subscriber, rec.caller, rec.received_at,
                                outcome, recording=rec.name)


async def _own_greeting(services: Services, number: str) -> str | None:
    """The subscriber's own greeting (応答メッセージ) to play instead of vm_greeting, if any;
    without the database, the standard one."""
    settings = services.settings
    try:
        return await own_greeting_uri(services.db, number, media_dir=settings.media_dir,
                                      asterisk_media_dir=settings.asterisk_media_dir)
    except (StoreError, OSError) as exc:
        log.warning("greeting of %s unavailable, standard greeting played: %s", number, exc)
        return None


async def take_message(call: Call, services: Services, subscriber: SubscriberNumber, *,
                       caller: str | None) -> None:
    """Take a message for ``subscriber`` (the call goes to voicemail directly or after an
    unanswered / busy / failed forward) and send the notification mail for this call."""
    received_at = services.clock.now()
    name = recording_name(subscriber.number, caller, received_at)
    outcome, _ = await _record(call, services, subscriber, name)
    log.info("call %s: voicemail for %s: %s", call.id, subscriber.number, outcome.value)
    await _mail_without_message(call, services, subscriber, caller, received_at, outcome,
                                recording=name)


async def _mail_without_message(call: Call, services: Services, subscriber: SubscriberNumber,
                                caller: str | None, received_at: datetime,
                                outcome: Outcome, *, recording: str) -> None:
    if await mail_without_message(services, subscriber, caller, received_at, outcome,
                                  recording=recording, call_id=call.id):
        await call.hangup()


async def mail_without_message(services: Services, subscriber: SubscriberNumber,
                               caller: str | None, received_at: datetime, outcome: Outcome,
                               *, recording: str, call_id: str = "") -> bool:
    """The call's mail when its ``recording`` left no message (「すべての着信」), queued once
    per recording: the node's other instance may have swept the recording first and mailed
    it (this call task then finds it GONE), and only one of the two mails is queued. False
    when there is no such mail."""
    if outcome in (Outcome.SAVED, Outcome.DUPLICATE, Outcome.DEFERRED):
        return False  # the mail goes with the message, in the transaction that saves it
    # No message: in "every incoming call" mode the subscriber still hears of the call.
    if not wants_notification(subscriber, recorded=False):
        return False
    try:
        async with services.db.transaction() as conn:
            await notify_incoming_call_in(conn, services, subscriber, caller=caller,
                                          received_at=received_at, message_id=None,
                                          mailbox_full=outcome is Outcome.FULL,
                                          recording=recording)
    except StoreError as exc:
        log.warning("call %s: notification not queued: %s", call_id, exc)
    return True
