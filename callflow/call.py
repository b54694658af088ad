"""One call as the feature handlers see it: prompts, digits and hang-up over ARI.

A `Call` wraps the call's ordered event queue (from the dispatcher) and the REST client.
Handlers await `play`, `collect_digits` and friends; the caller hanging up surfaces as a
`CallerHungUp` exception from whichever of them is waiting, so a handler's cleanup is a
plain `finally`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from callflow.ari import AriClient, AriError, AriNotFound, CallEvents
from callflow.ari.events import (
    ChannelDestroyed,
    ChannelDtmfReceived,
    ChannelHangupRequest,
    Dial,
    Event,
    PlaybackFinished,
    RecordingFailed,
    RecordingFinished,
    StasisEnd,
    StasisStart,
)
from callflow.ari.models import Channel
from callflow.metrics import dtmf_received
from callflow.stasis_args import Entry, StasisArgs

log = logging.getLogger("callflow.call")

_T = TypeVar("_T")


#: The dialplan's admission control counts inbound calls waiting for the app in this group
#: ([anshin-inbound]); setting it empty takes the call out of the count.
SETUP_GROUP = "GROUP(anshin)"


class CallerHungUp(Exception):
    """The call's primary channel hung up or left Stasis."""


@dataclass(frozen=True)
class DialplanReturn:
    """How a call the app sent to the dialplan (`continue_to`) came back to it."""

    answered_at: float | None  # monotonic time the dialplan's Dial was answered, if it was
    back: StasisArgs | None  # the arguments it re-entered Stasis with; None: it ended there


class Call:
    def __init__(self, ari: AriClient, events: CallEvents, start: StasisStart,
                 prompt_prefix: str) -> None:
        self.ari = ari
        self.events = events
        self.channel: Channel = start.channel
        self.stasis = StasisArgs.parse(start.args)
        # The Stasis application the call arrived on; legs it originates use the same one,
        # so a call's events stay in one of Asterisk's per-application queues.
        self.application = start.application or ari.app
        self._prompt_prefix = prompt_prefix
        self.hung_up = False
        # DTMF typed while a prompt was not listening (type-ahead), oldest first.
        self.typeahead: deque[str] = deque()
        # When the StasisStart reached the app (monotonic), for latency measurements.
        self.started = time.monotonic()
        # An inbound call counts as "in setup" for the dialplan's admission control until
        # it is answered (or handed to Dial, where the dialplan ends the setup itself).
        self._in_setup = self.stasis.entry is Entry.INBOUND

    @property
    def id(self) -> str:
        return self.channel.id

    def media(self, prompt_ids: Sequence[str]) -> list[str]:
        return [self._prompt_prefix + p for p in prompt_ids]

    # -------------------------------------------------------------- events

    def _is_hangup(self, event: Event) -> bool:
        if isinstance(event, StasisEnd | ChannelHangupRequest | ChannelDestroyed):
            return event.channel.id == self.id
        return False

    async def next_event(self, timeout: float | None = None) -> Event:
        """The next event for this call; raises CallerHungUp, or TimeoutError on timeout."""
        if self.hung_up:
            raise CallerHungUp(self.id)
        event = await self.events.get(timeout)
        if self._is_hangup(event):
            self.hung_up = True
            raise CallerHungUp(self.id)
        if isinstance(event, ChannelDtmfReceived) and event.channel.id == self.id:
            # Never the digit itself: it may be part of a PIN.
            log.debug("call %s: key pressed", self.id)
            dtmf_received()
        return event

    # -------------------------------------------------------------- actions

    def mark_hung_up(self) -> None:
        """The caller's channel is gone (seen on a raw event queue, e.g. after the call
        left Stasis for the dialplan)."""
        self.hung_up = True

    async def _on_channel(self, request: Awaitable[_T]) -> _T:
        """A request about the caller's channel: Asterisk's 404 means the caller hung up."""
        try:
            return await request
        except AriNotFound as exc:
            self.hung_up = True
            raise CallerHungUp(self.id) from exc

    async def answer(self) -> None:
        """Answer; an inbound call leaves the dialplan's setup count at the same time."""
        if not self._in_setup:
            await self._on_channel(self.ari.answer(self.id))
            return
        self._in_setup = False
        await asyncio.gather(
            self._on_channel(self.ari.answer(self.id)),
            self._on_channel(self.ari.set_channel_var(self.id, SETUP_GROUP, "")))

    async def ring(self) -> None:
        """180 Ringing with ringback for the caller; the call stays unanswered."""
        await self._on_channel(self.ari.ring(self.id))

    async def set_var(self, name: str, value: str) -> None:
        await self._on_channel(self.ari.set_channel_var(self.id, name, value))

    async def follow_beyond_stasis(self) -> None:
        """Keep receiving the channel's events after it leaves Stasis (e.g. for the
        dialplan's Dial), until it is destroyed."""
        await self._on_channel(self.ari.subscribe(self.application, f"channel:{self.id}"))

    async def continue_to(self, context: str, extension: str, priority: int = 1) -> None:
        """Leave Stasis for the dialplan at context,extension,priority."""
        await self._on_channel(
            self.ari.continue_in_dialplan(self.id, context, extension, priority))

    async def follow_dialplan(self, back_as: Entry) -> DialplanReturn:
        """After `continue_to` (and `follow_beyond_stasis`): wait until the call re-enters
        Stasis as `back_as`, or hangs up after the dialplan's Dial was answered. Raises
        CallerHungUp if it hangs up unanswered (Dial cancels the other side)."""
        answered_at: float | None = None
        while True:
            # The raw queue: the StasisEnd that `continue` causes is expected here.
            event = await self.events.get()
            if isinstance(event, Dial):
                if (event.caller is not None and event.caller.id == self.id
                        and event.dialstatus.upper() == "ANSWER"):
                    answered_at = time.monotonic()
            elif (isinstance(event, StasisStart) and event.channel.id == self.id
                  and (back := StasisArgs.parse(event.args)).entry is back_as):
                # (The call's first StasisStart may still be queued: other arguments.)
                self.channel = event.channel
                return DialplanReturn(answered_at, back)
            elif (isinstance(event, ChannelHangupRequest | ChannelDestroyed)
                  and event.channel.id == self.id):
                self.hung_up = True
                if answered_at is None:
                    raise CallerHungUp(self.id)
                return DialplanReturn(answered_at, None)

    # -------------------------------------------------------------- recording

    async def play_silence(self) -> None:
        """Silence towards the caller until the next playback (AriConflict if the channel
        cannot take it now)."""
        await self._on_channel(self.ari.start_silence(self.id))

    async def record(self, name: str, *, max_seconds: int, max_silence_seconds: int,
                     terminate_on: str = "#") -> None:
        """Start recording what the caller says into `name` (wav, overwritten if it
        exists); Asterisk goes on recording without us until `recording_ended`."""
        await self._on_channel(self.ari.record(
            self.id, name, fmt="wav", max_duration_seconds=max_seconds,
            max_silence_seconds=max_silence_seconds, beep=False, terminate_on=terminate_on,
            if_exists="overwrite"))

    async def stop_recording(self, name: str) -> None:
        """Stop the recording (no-op if it has ended)."""
        with contextlib.suppress(AriError):
            await self.ari.stop_recording(name)

    async def rtp_packets_received(self) -> int:
        """RTP packets received from the caller so far (AriError without statistics)."""
        return await self._on_channel(self.ari.rtp_packets_received(self.id))

    async def recording_ended(self, name: str, limit_s: float) -> bool:
        """Wait until the recording ends (#, max silence, max duration or hang-up); True if
        the caller hung up. After `limit_s` the recording is stopped."""
        def done(event: Event) -> bool:
            return (isinstance(event, RecordingFinished | RecordingFailed)
                    and event.recording.name == name)

        try:
            async with asyncio.timeout(limit_s):
                while not done(await self.next_event()):
                    pass
            return False
        except CallerHungUp:
            # Asterisk stops the recording when the channel goes and closes the file before
            # it reports RecordingFinished; wait (briefly) for that so the file is complete.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(5.0):
                    while not done(await self.events.get()):
                        pass
            return True
        except TimeoutError:
            log.warning("call %s: recording %s did not end in %.0fs, stopping it",
                        self.id, name, limit_s)
            await self.stop_recording(name)
            return False

    async def play(self, prompt_ids: Sequence[str], *, barge_in: bool = False,
                   timeout: float = 300.0) -> str | None:
        """Play prompts in order and wait until they finish.

        With barge_in, the first DTMF digit stops the playback and is returned; without,
        digits pressed meanwhile are kept as type-ahead for the next digit collection.
        """
        return await self.play_media(self.media(prompt_ids), barge_in=barge_in, timeout=timeout)

    async def play_media(self, media: Sequence[str], *, barge_in: bool = False,
                         timeout: float = 300.0,
                         on_started: Callable[[], Awaitable[None]] | None = None
                         ) -> str | None:
        """`play` for arbitrary media URIs (e.g. ``sound:/abs/path``); `on_started` runs once
        Asterisk has accepted the playback (e.g. to mark a voicemail message heard)."""
        if not media:
            return None
        if barge_in and self.typeahead:
            return self.typeahead.popleft()
        playback_id = f"pb-{uuid.uuid4().hex}"
        await self._on_channel(self.ari.play(self.id, list(media), playback_id=playback_id))
        if on_started is not None:
            await on_started()
        async with asyncio.timeout(timeout):
            while True:
                event = await self.next_event()
                if isinstance(event, PlaybackFinished) and event.playback.id == playback_id:
                    return None
                if isinstance(event, ChannelDtmfReceived) and event.channel.id == self.id:
                    if barge_in:
                        await self._stop_playback(playback_id)
                        return event.digit
                    self.typeahead.append(event.digit)

    async def _stop_playback(self, playback_id: str) -> None:
        # It may have finished on its own meanwhile.
        with contextlib.suppress(AriNotFound):
            await self.ari.stop_playback(playback_id)

    def forget_keys_pressed(self) -> None:
        """Drop the keys pressed so far and not yet read (type-ahead, and DTMF events still
        queued, e.g. pressed while the app waited for the database), so that they cannot act
        on what is played next. Call it only while nothing plays: other queued events are
        dropped too (nothing waits for them); a hang-up raises CallerHungUp."""
        self.typeahead.clear()
        while (event := self.events.get_nowait()) is not None:
            if self._is_hangup(event):
                self.hung_up = True
                raise CallerHungUp(self.id)

    async def collect_digits(self, *, max_digits: int, first_timeout: float,
                             inter_timeout: float, terminator: str = "#",
                             first: str | None = None) -> tuple[str, bool]:
        """Collect DTMF until the terminator, max_digits, or a timeout.

        Returns (digits without the terminator, terminated). `first` is the key(s) already
        taken (barge-in). Longer input than max_digits is read to the end and reported
        as not terminated, so a 1000-digit burst cannot overrun anything.
        """
        digits: list[str] = []
        pending = deque(first or "")
        overflow = False
        timeout = first_timeout if not pending and not self.typeahead else inter_timeout
        while True:
            if pending:
                digit = pending.popleft()
            elif self.typeahead:
                digit = self.typeahead.popleft()
            else:
                try:
                    event = await self.next_event(timeout)
                except TimeoutError:
                    return "".join(digits), False
                if not (isinstance(event, ChannelDtmfReceived) and event.channel.id == self.id):
                    continue
                digit = event.digit
            timeout = inter_timeout
            if digit == terminator:
                return "".join(digits), not overflow
            if len(digits) < max_digits:
                digits.append(digit)
            else:
                overflow = True

    async def hangup(self, reason: str = "normal") -> None:
        """Hang up the primary channel (no-op if it is already gone). ``reason``: ARI's
        hang-up reasons, e.g. ``busy`` (486 Busy Here for an unanswered call)."""
        if self.hung_up:
            return
        self.hung_up = True
        try:
            await self.ari.hangup(self.id, reason=reason)
        except AriNotFound:
            pass
        except AriError as exc:
            log.warning("call %s: hangup failed: %s", self.id, exc)
