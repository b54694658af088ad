"""Calls a previous app process left in Stasis, taken over by this one.

After a restart (crash, deploy) the resync finds channels in our Stasis application that no
task of this process drives. Each one's progress is on the channel (`callflow.call_state`):
an IVR step, or a voicemail recording Asterisk kept making. This module reads it (one ARI
request per channel, at adoption only) and hands the call to the feature that resumes it:

* retrieval / PIN-change IVR: the checkpoint's step again, from the start of its prompt (a
  call still logging in — no checkpoint yet — is asked for its number again);
* voicemail deposit with a recording running: the recording is stored whole when it ends
  (taken over during the greeting: once that has played on to its end, a beep and the
  recording).

Asterisk quirk: a channel runs its ARI commands one at a time, and a playback is one command
that lasts until the playback ends. A prompt the dead process started goes on playing, and
until it ends every *synchronous* request on the channel (answer, setting a variable)
waits - and stalls the REST WebSocket it was sent on for every other call. Before an IVR
or a greeting is re-run, `wait_for_channel` therefore queues a silent playback of its own
and waits (on events, not on a request) until it starts; keys pressed meanwhile are dropped.

Anything else (no or a refused checkpoint, a greeting still playing, an announcement) is
not resumable: `resume_adopted` returns None and the app hangs the call up as before.
Bridged callback calls are adopted by the app's resync itself (`App._watch_bridge`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid

from callflow import call_state
from callflow.ari import AriError, AriNotFound
from callflow.ari.events import PlaybackFinished, PlaybackStarted
from callflow.call import Call
from callflow.call_progress import read_progress
from callflow.features.ivr.driver import resume_pin_change, resume_retrieval
from callflow.features.voicemail.audio import parse_recording_name
from callflow.features.voicemail.deposit import resume_recording
from callflow.routing import RouteKind, classify
from callflow.services import Services
from callflow.stasis_args import Entry
from callflow.store.subscribers import find_subscriber

log = logging.getLogger("callflow.adoption")

#: the fence queued behind a playback the dead process left (core sounds, 1 s)
_FENCE_MEDIA = "sound:silence/1"


async def wait_for_channel(call: Call, services: Services) -> None:
    """Return once the channel runs no command of the dead process any more (see the module
    doc); keys pressed until then are dropped."""
    fence = f"pb-fence-{uuid.uuid4().hex}"
    limit = services.settings.voicemail_max_seconds + 10.0  # the longest message played
    try:
        await services.ari.play(call.id, [_FENCE_MEDIA], playback_id=fence)
        async with asyncio.timeout(limit):
            while True:
                event = await call.next_event()
                if (isinstance(event, PlaybackStarted | PlaybackFinished)
                        and event.playback.id == fence):
                    break
    except TimeoutError:
        log.warning("call %s: the previous process's playback did not end in %.0f s",
                    call.id, limit)
    except AriNotFound:
        return
    with contextlib.suppress(AriError):
        await services.ari.stop_playback(fence)
    call.forget_keys_pressed()


async def resume_adopted(call: Call, services: Services) -> str | None:
    """Run an adopted call to its end from its kept progress; the route it resumed, or None
    when there is nothing to resume (the caller is not touched)."""
    try:
        payload = await read_progress(call, services)
    except AriError as exc:
        log.warning("call %s: progress not readable: %s", call.id, exc)
        return None
    kind = call_state.decode(payload or "").get("k")
    if kind is None and call.stasis.entry is Entry.INBOUND:
        # Still logging in to an IVR (nothing kept yet): ask for the number again.
        dialed = call.stasis.dialed_or(call.channel.dialplan_exten)
        route = classify(dialed, retrieval_number=services.settings.retrieval_number,
                         pin_change_number=services.settings.pin_change_number).kind
        kind = {RouteKind.RETRIEVAL_IVR: "r", RouteKind.PIN_CHANGE_IVR: "p"}.get(route)
    if kind == "r":
        log.info("call %s: retrieval IVR taken over", call.id)
        await wait_for_channel(call, services)
        await resume_retrieval(call, services, payload)
        return "retrieval_ivr"
    if kind == "p":
        log.info("call %s: PIN-change IVR taken over", call.id)
        await wait_for_channel(call, services)
        await resume_pin_change(call, services, payload)
        return "pin_change_ivr"
    if kind == "v" and payload is not None:
        rec = parse_recording_name(call_state.decode(payload).get("r", ""))
        subscriber = await find_subscriber(services.db, rec.number) if rec else None
        if rec is None or subscriber is None:
            return None
        log.info("call %s: recording %s taken over", call.id, rec.name)
        await resume_recording(call, services, subscriber, rec,
                               before_greeting=lambda: wait_for_channel(call, services))
        return "voicemail"
    return None
