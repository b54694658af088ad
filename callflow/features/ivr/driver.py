"""The thin ARI layer of the voicemail IVRs: performs a machine's actions on a call and feeds
the results back, until the machine says Finish (or the caller hangs up, which surfaces as
CallerHungUp from whatever is waiting and ends the call task through App's `finally`).

Message audio lives in PostgreSQL; to play it, it is written once into `media_dir` (a cache
any app instance can rebuild) as ``ivr-msg-<id>.wav`` and played as
``sound:<asterisk_media_dir>/ivr-msg-<id>``. The greeting menu records through Asterisk
like the deposit does (the file is fetched over ARI, checked and kept in memory as a draft
until 3#), plays a draft as ``ivr-msg-draft-<call>.wav`` and a stored greeting under
`callflow.greeting.media_name`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
import uuid
from functools import partial
from pathlib import Path

from callflow import greeting as greeting_rules
from callflow.ari import AriConflict, AriError, AriNotFound
from callflow.call import Call
from callflow.call_progress import keep_progress
from callflow.call_state import derive_key, fingerprint
from callflow.clock import Clock
from callflow.features.ivr.model import (
    Action,
    Ask,
    Authenticate,
    AuthResult,
    ChangePin,
    DeleteMessage,
    Entered,
    Event,
    Finish,
    GreetingKept,
    GreetingRecorded,
    KeepGreeting,
    KeyPressed,
    LoadMessages,
    Machine,
    MessageDeleted,
    MessageGone,
    MessageInterrupted,
    MessagePlayed,
    MessagesLoaded,
    NoInput,
    PinChanged,
    Played,
    PlayGreeting,
    PlayMessage,
    RecordGreeting,
    Say,
    StandardGreetingRestored,
    UseStandardGreeting,
)
from callflow.features.ivr.pin_change import PinChangeMachine
from callflow.features.ivr.retrieval import RetrievalMachine
from callflow.greeting_media import own_greeting_uri
from callflow.services import Services
from callflow.store import StoreError, greetings, mailbox
from callflow.store.calls import log_call

log = logging.getLogger("callflow.ivr")

MEDIA_PREFIX = "ivr-msg-"


async def handle_retrieval(call: Call, services: Services) -> None:
    await run_ivr(call, services, RetrievalMachine(services.settings.ivr_max_failures),
                  "retrieval_ivr")


async def handle_pin_change(call: Call, services: Services) -> None:
    await run_ivr(call, services, _pin_change_machine(call, services), "pin_change_ivr")


def _pin_change_machine(call: Call, services: Services) -> PinChangeMachine:
    key = derive_key(services.settings.ari_password)
    return PinChangeMachine(services.settings.ivr_max_failures,
                            fingerprint=partial(fingerprint, key, call.id))


async def resume_retrieval(call: Call, services: Services, checkpoint: str | None) -> None:
    """A retrieval call a previous process left (`callflow.adoption`): its step again."""
    await run_ivr(call, services, RetrievalMachine(services.settings.ivr_max_failures),
                  "retrieval_ivr", resuming=True, checkpoint=checkpoint)


async def resume_pin_change(call: Call, services: Services, checkpoint: str | None) -> None:
    await run_ivr(call, services, _pin_change_machine(call, services), "pin_change_ivr",
                  resuming=True, checkpoint=checkpoint)


async def _audit(call: Call, services: Services, ivr: str, what: str, detail: str) -> None:
    """An operator-visible trail in call_log: route "<ivr>:<what>" (logins, plays, deletes,
    PIN changes; never a PIN)."""
    await log_call(services.db, channel_id=call.id, dialed=ivr, route=f"{ivr}:{what}",
                   caller=call.channel.caller.number or None, detail=detail)


async def run_ivr(call: Call, services: Services, machine: Machine, ivr: str, *,
                  resuming: bool = False, checkpoint: str | None = None) -> None:
    """`resuming`: the call was taken over from a dead process, at `checkpoint` (the
    machine's step; None while logging in)."""
    clock = services.clock  # lockouts and the 168 h expiry follow the app's clock
    if not resuming or call.channel.state != "Up":
        await call.answer()
    action = (machine.resume(checkpoint, clock.now()) if resuming
              else machine.start(clock.now()))
    try:
        while not isinstance(action, Finish):
            event = await _perform(call, services, action, clock, ivr)
            action = machine.feed(event, clock.now())
            # The step about to run, kept on the channel when it changed (one ARI request)
            # so that a new process can take the call over there.
            step = machine.checkpoint()
            if step is not None and step != checkpoint:
                checkpoint = step if await keep_progress(call, services, step) else checkpoint
    except StoreError as exc:
        # Without the database nothing can be checked or played: say so and end.
        log.error("call %s: IVR store error: %s", call.id, exc)
        action = Finish(("unavailable",))
    await call.play(action.prompts)
    await call.hangup()


async def _perform(call: Call, services: Services, action: Action, clock: Clock,
                   ivr: str) -> Event:
    db = services.db
    settings = services.settings
    match action:
        case Ask(prompts, max_digits, typed):
            first = typed or await call.play(prompts, barge_in=True)
            digits, terminated = await call.collect_digits(
                max_digits=max_digits, first_timeout=settings.ivr_first_digit_timeout,
                inter_timeout=settings.ivr_inter_digit_timeout, first=first)
            if not digits and not terminated:
                return NoInput()
            return Entered(digits, terminated)
        case Say(prompts, barge_in, fresh_input):
            if fresh_input:
                call.forget_keys_pressed()
            key = await call.play(prompts, barge_in=barge_in)
            return Played() if key is None else KeyPressed(key)
        case PlayMessage(number, message_id, heard_before):
            log.info("call %s: mailbox %s playing message %d (heard before: %s)",
                     call.id, number, message_id, heard_before)
            event = await _play_message(call, services, number, message_id, clock)
            if isinstance(event, MessagePlayed | MessageInterrupted):
                await _audit(call, services, ivr, "played",
                             f"{number}:{message_id}:{'heard' if heard_before else 'new'}")
            return event
        case Authenticate(number, pin):
            t0 = time.monotonic()
            outcome = await mailbox.authenticate(db, number, pin, clock.now())
            # The entered number is logged, never the PIN.
            log.info("call %s: mailbox %s login %s (%.0f ms)", call.id, number,
                     outcome.value, (time.monotonic() - t0) * 1000)
            await _audit(call, services, ivr, "login", f"{number}:{outcome.value}")
            return AuthResult(outcome)
        case LoadMessages(number):
            return MessagesLoaded(tuple(await mailbox.list_messages(db, number, clock.now())))
        case DeleteMessage(number, message_id):
            await mailbox.delete_message(db, number, message_id)
            _forget_media(settings.media_dir, message_id)
            await _audit(call, services, ivr, "deleted", f"{number}:{message_id}")
            return MessageDeleted(message_id)
        case ChangePin(number, new_pin):
            await mailbox.change_pin(db, number, new_pin)
            await _audit(call, services, ivr, "pin_changed", number)
            return PinChanged()
        case RecordGreeting(number, max_seconds):
            return await _record_greeting(call, services, number, max_seconds)
        case PlayGreeting(number, draft):
            return await _play_greeting(call, services, number, draft)
        case KeepGreeting(number, audio, duration_ms):
            await greetings.save_greeting(db, number, audio=audio, duration_ms=duration_ms,
                                          source="ivr", now=clock.now())
            await _audit(call, services, ivr, "greeting_kept", f"{number}:{duration_ms}")
            return GreetingKept()
        case UseStandardGreeting(number):
            await greetings.remove_greeting(db, number)
            await _audit(call, services, ivr, "greeting_standard", number)
            return StandardGreetingRestored()
    raise AssertionError(f"unhandled action {action!r}")


async def _play_message(call: Call, services: Services, number: str, message_id: int,
                        clock: Clock) -> Event:
    settings = services.settings
    name = f"{MEDIA_PREFIX}{message_id}"
    path = settings.media_dir / f"{name}.wav"
    if not path.exists():
        audio = await mailbox.message_audio(services.db, number, message_id, clock.now())
        if audio is None:
            return MessageGone(message_id)
        _write_atomically(path, audio)
    elif not await mailbox.message_playable(services.db, number, message_id, clock.now()):
        # Cached, but deleted or expired meanwhile (another call, the expiry job).
        _forget_media(settings.media_dir, message_id)
        return MessageGone(message_id)

    async def heard() -> None:
        await mailbox.mark_heard(services.db, number, message_id)

    uri = f"sound:{settings.asterisk_media_dir.rstrip('/')}/{name}"
    # Barge-in: a key acts on this message at once (3# skips it, 1# deletes it), instead of
    # waiting in the type-ahead until the message and the menu prompt have played.
    key = await call.play_media([uri], on_started=heard, barge_in=True)
    return MessagePlayed(message_id) if key is None else MessageInterrupted(message_id, key)


async def _record_greeting(call: Call, services: Services, number: str,
                           max_seconds: int) -> GreetingRecorded:
    """Record through Asterisk ('#' ends it), fetch the file, check it, delete Asterisk's
    copy. Not a voicemail recording: its name never starts with ``vm-``, so the recovery
    sweep leaves it alone."""
    settings = services.settings
    name = f"greeting-{number}-{uuid.uuid4().hex[:12]}"
    # Silence to the caller while recording keeps Asterisk's recorder reading when the phone
    # sends no RTP (see the deposit).
    with contextlib.suppress(AriConflict):
        await call.play_silence()
    try:
        await call.record(name, max_seconds=max_seconds,
                          max_silence_seconds=settings.voicemail_max_silence_seconds)
    except AriConflict as exc:
        log.warning("call %s: cannot record a greeting: %s", call.id, exc)
        return GreetingRecorded(None)
    await call.recording_ended(name, max_seconds + 10)
    # the '#' that ended the recording is not an answer to the next question
    call.forget_keys_pressed()
    try:
        audio = await services.ari.get_stored_recording_file(name)
    except AriNotFound:
        return GreetingRecorded(None)
    finally:
        with contextlib.suppress(AriError):
            await services.ari.delete_stored_recording(name)
    try:
        checked = greeting_rules.checked(audio)
    except greeting_rules.BadGreeting as exc:
        log.info("call %s: greeting for %s not taken: %s", call.id, number, exc)
        return GreetingRecorded(None)
    return GreetingRecorded(audio, checked.duration_ms)


async def _play_greeting(call: Call, services: Services, number: str,
                         draft: bytes | None) -> Event:
    """The draft, else the stored greeting, else the standard one; barge-in."""
    settings = services.settings
    base = settings.asterisk_media_dir.rstrip("/")
    if draft is not None:
        # not the channel id: its '.' would read as a file extension to Asterisk
        name = f"{MEDIA_PREFIX}draft-{uuid.uuid4().hex[:16]}"
        path = settings.media_dir / f"{name}.wav"
        _write_atomically(path, draft)
        try:
            key = await call.play_media([f"sound:{base}/{name}"], barge_in=True)
        finally:
            path.unlink(missing_ok=True)
        return Played() if key is None else KeyPressed(key)
    uri = await own_greeting_uri(services.db, number, media_dir=settings.media_dir,
                                 asterisk_media_dir=settings.asterisk_media_dir)
    if uri is None:
        key = await call.play(["vm_greeting"], barge_in=True)
    else:
        key = await call.play_media([uri], barge_in=True)
    return Played() if key is None else KeyPressed(key)


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    # Asterisk runs as another user in its container: the file must be world-readable.
    tmp.chmod(0o644)
    os.replace(tmp, path)


def _forget_media(media_dir: Path, message_id: int) -> None:
    (media_dir / f"{MEDIA_PREFIX}{message_id}.wav").unlink(missing_ok=True)
