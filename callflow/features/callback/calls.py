"""The ARI side of calls the app places: one leg, the two-leg callback, verification.

Each request runs in one call task started by ``Dispatcher.start_call`` with the id of
leg 1 already claimed, so the events of a channel we originate reach us while it rings
(ARI subscribes the originating app to the channel from creation: ChannelStateChange,
Dial with the dialstatus, ChannelDestroyed with the cause) and once answered (the
channel enters Stasis: StasisStart with our app args).

Privacy (R-OUT-4): both legs are originated with caller id ``<050 number>`` and no name,
so From carries only the 050 number; the carrier endpoint has send_pai/send_rpid/
send_connected_line off, so bridging (which would otherwise push each side's caller id
to the other as a connected-line UPDATE/re-INVITE) leaks nothing of leg 1 to leg 2.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import uuid
from collections.abc import Awaitable, Callable
from types import TracebackType

from callflow.ari import (
    AriClient,
    AriError,
    AriNotFound,
    CallEvents,
    ChannelDestroyed,
    ChannelHangupRequest,
    Dial,
    Event,
    PlaybackFinished,
    StasisEnd,
    StasisStart,
)
from callflow.call import Call, CallerHungUp
from callflow.outbound import dial_target
from callflow.services import Services
from callflow.store import StoreError

from . import store, verification
from .legs import Leg, LegResult, callback_outcome, destination_announcement
from .models import CallRequest

log = logging.getLogger("callflow.features.callback")

#: in-band ringback on an answered leg 1 while leg 2 rings (Japanese cadence: 1 s on, 2 s off)
RINGBACK = "tone:ring;tonezone=jp"


def is_gone(event: Event, channel_id: str) -> bool:
    """The channel hung up or left the app."""
    return (isinstance(event, StasisEnd | ChannelHangupRequest | ChannelDestroyed)
            and event.channel.id == channel_id)


async def hangup_quietly(ari: AriClient, channel_id: str) -> None:
    with contextlib.suppress(AriError):
        await ari.hangup(channel_id)


async def best_effort(what: str, coro: Awaitable[None]) -> None:
    """A database write during a live call: a blip must not drop the call."""
    try:
        await coro
    except StoreError as exc:
        log.warning("%s failed (call continues): %s", what, exc)


async def place_leg(svc: Services, events: CallEvents, leg: Leg, *, ring_s: int,
                    app_args: str,
                    on_event: Callable[[Event], Awaitable[bool]] | None = None,
                    ) -> StasisStart | None:
    """Originate ``leg`` (showing ``leg.from_number``) and wait until it answers
    (its StasisStart) or ends (``None``; ``leg`` records why). ``on_event`` sees every
    other event; returning True aborts: the leg is hung up and recorded CANCELLED."""
    endpoint = await dial_target(svc.ari, svc.settings, leg.to_number)
    try:
        await svc.ari.originate(endpoint, app_args=app_args, caller_id=f"<{leg.from_number}>",
                                timeout=ring_s, channel_id=leg.channel_id,
                                # spread callbacks over the Stasis applications like calls
                                app=random.choice(svc.settings.ari_apps))
    except AriError as exc:
        log.warning("leg %s to %s: originate failed: %s", leg.channel_id, leg.to_number, exc)
        leg.end(svc.clock.now(), LegResult.FAILED)
        return None
    return await wait_for_answer(svc, events, leg, ring_s=ring_s, on_event=on_event)


async def wait_for_answer(svc: Services, events: CallEvents, leg: Leg, *, ring_s: int,
                          on_event: Callable[[Event], Awaitable[bool]] | None = None,
                          ) -> StasisStart | None:
    """Wait until the ringing ``leg`` answers (its StasisStart) or ends (``None``): see
    `place_leg`; also for a leg a previous process originated (`CallbackRun.resume`)."""
    try:
        # Asterisk ends the dial itself after ring_s (NOANSWER); this is a safety net.
        async with asyncio.timeout(ring_s + 15):
            while True:
                ev = await events.get()
                if isinstance(ev, Dial) and ev.peer.id == leg.channel_id:
                    leg.dialstatus = ev.dialstatus or leg.dialstatus
                elif isinstance(ev, StasisStart) and ev.channel.id == leg.channel_id:
                    leg.answer(svc.clock.now())
                    return ev
                elif isinstance(ev, ChannelDestroyed) and ev.channel.id == leg.channel_id:
                    leg.end(svc.clock.now(), cause=ev.cause)
                    log.info("leg %s to %s: not answered (%s, cause %s)", leg.channel_id,
                             leg.to_number, leg.dialstatus, ev.cause)
                    return None
                elif on_event is not None and await on_event(ev):
                    await hangup_quietly(svc.ari, leg.channel_id)
                    leg.end(svc.clock.now(), LegResult.CANCELLED)
                    return None
    except TimeoutError:
        await hangup_quietly(svc.ari, leg.channel_id)
        leg.end(svc.clock.now(), LegResult.NO_ANSWER)
        return None


def new_channel_id(request_id: int, leg: int) -> str:
    return f"cr{request_id}-{leg}-{uuid.uuid4().hex[:12]}"


def ringback_id(leg1_channel_id: str) -> str:
    """The playback id of the ringback leg 1 hears while leg 2 rings: known to a process
    that takes the call over, which must stop it (a tone never ends by itself, and a
    channel runs its playbacks one after the other)."""
    return f"pb-ring-{leg1_channel_id}"


# --------------------------------------------------------------------------- callback


class CallbackRun:
    """One あんしん発信: leg 1 (own phone) -> prompt + ringback -> leg 2 -> bridge."""

    def __init__(self, svc: Services, req: CallRequest, events: CallEvents,
                 ring1: int, ring2: int) -> None:
        assert req.number is not None and req.destination is not None
        self.svc, self.ari, self.req, self.events = svc, svc.ari, req, events
        self.ring1, self.ring2 = ring1, ring2
        self.leg1 = Leg(1, events.channel_id, req.number, req.leg1, self.svc.clock.now())
        self.leg2: Leg | None = None
        self.bridge_id: str | None = None
        self.bridged = False
        self.playbacks: set[str] = set()

    async def run(self) -> None:
        try:
            await self._run()
        finally:
            await self._finish()

    async def _save(self, leg: Leg) -> None:
        await best_effort(f"request {self.req.id} leg {leg.leg}",
                          store.save_leg(self.svc.db, self.req.id, leg))

    async def _status(self, status: str) -> None:
        await best_effort(f"request {self.req.id} status",
                          store.set_status(self.svc.db, self.req.id, status))

    async def _play(self, media: list[str], playback_id: str | None = None) -> str:
        pid = playback_id or f"pb-{uuid.uuid4().hex}"
        self.playbacks.add(pid)
        await self.ari.play(self.leg1.channel_id, media, playback_id=pid)
        return pid

    async def _stop_playbacks(self) -> None:
        for pid in list(self.playbacks):
            with contextlib.suppress(AriError):
                await self.ari.stop_playback(pid)
        self.playbacks.clear()

    async def _run(self) -> None:
        leg1 = self.leg1
        await self._save(leg1)
        await self._status("ringing")
        start = await place_leg(self.svc, self.events, leg1, ring_s=self.ring1,
                                app_args=f"callback,{self.req.id},1")
        if start is None:
            return
        await self._save(leg1)
        log.info("callback %s: leg 1 %s answered", self.req.id, leg1.to_number)
        # Leg 2 is dialled at once; the subscriber hears the prompt, then ringback.
        prefix = self.svc.settings.prompt_prefix
        prompt = await self._play([prefix + "callback_connecting"])
        leg2 = self.leg2 = Leg(2, new_channel_id(self.req.id, 2), self.req.number or "",
                               self.req.destination or "", self.svc.clock.now())
        self.events.claim(leg2.channel_id)
        await self._save(leg2)

        async def during_ring(ev: Event) -> bool:
            if is_gone(ev, leg1.channel_id):
                leg1.end(self.svc.clock.now())
                log.info("callback %s: leg 1 hung up while leg 2 rang", self.req.id)
                return True
            if isinstance(ev, PlaybackFinished) and ev.playback.id == prompt:
                self.playbacks.discard(prompt)
                with contextlib.suppress(AriError):
                    await self._play([RINGBACK], ringback_id(leg1.channel_id))
            return False

        answered = await place_leg(self.svc, self.events, leg2, ring_s=self.ring2,
                                   app_args=f"callback,{self.req.id},2", on_event=during_ring)
        await self._after_ring(leg2, answered is not None)

    async def _after_ring(self, leg2: Leg, answered: bool) -> None:
        await self._stop_playbacks()
        await self._save(leg2)
        if not answered:
            if not self.leg1.ended:
                await self._announce(destination_announcement(leg2.result or LegResult.FAILED))
            return
        await self._bridge(leg2)

    async def resume(self, leg2_channel: str | None, leg2_in_stasis: bool) -> None:
        """Take over a callback a previous process left with leg 1 answered and leg 2 not
        bridged yet (`callflow.features.callback.resume`): ``self.leg1``/``self.leg2`` are
        the billing rows it saved. Leg 2 still ringing (``leg2_channel``): wait for its
        answer with ringback on leg 1, as `run` does; answered meanwhile
        (``leg2_in_stasis``): bridge at once (billed from now: its answer time was not
        seen); gone: leg 1 hears why. Then as `run`: bridge, billing rows, final status."""
        try:
            await self._resume(leg2_channel, leg2_in_stasis)
        finally:
            await self._finish()

    async def _resume(self, leg2_channel: str | None, leg2_in_stasis: bool) -> None:
        leg1, now = self.leg1, self.svc.clock.now
        log.info("callback %s: taken over (leg 2 %s)", self.req.id,
                 "gone" if leg2_channel is None else
                 "answered" if leg2_in_stasis else "ringing")
        # The dead process's ringback plays on for ever: stop it (a prompt still playing
        # ends by itself; what we play next queues behind it).
        with contextlib.suppress(AriError):
            await self.ari.stop_playback(ringback_id(leg1.channel_id))
        if self.leg2 is None or leg2_channel is None:
            # never dialled, or it rang out while no process listened (why is unknown)
            if self.leg2 is not None:
                self.leg2.end(now(), LegResult.NO_ANSWER)
            else:
                self.leg2 = Leg(2, "", self.req.number or "", self.req.destination or "",
                                now(), result=LegResult.FAILED, ended_at=now())
            await self._after_ring(self.leg2, False)
            return
        leg2 = self.leg2
        leg2.channel_id = leg2_channel
        self.events.claim(leg2_channel)
        try:  # it may have ended between the resync's channel list and the claim
            await self.ari.get_channel(leg2_channel)
        except AriNotFound:
            leg2.end(now(), LegResult.NO_ANSWER)
            await self._after_ring(leg2, False)
            return
        if leg2_in_stasis:
            leg2.answer(now())
            await self._after_ring(leg2, True)
            return
        with contextlib.suppress(AriError):
            await self._play([RINGBACK])

        async def during_ring(ev: Event) -> bool:
            if is_gone(ev, leg1.channel_id):
                leg1.end(now())
                log.info("callback %s: leg 1 hung up while leg 2 rang", self.req.id)
                return True
            return False

        answered = await wait_for_answer(self.svc, self.events, leg2, ring_s=self.ring2,
                                         on_event=during_ring)
        await self._after_ring(leg2, answered is not None)

    async def _announce(self, prompt_id: str) -> None:
        """Tell leg 1 why the destination was not reached, then hang up."""
        log.info("callback %s: leg 2 %s -> %s", self.req.id,
                 self.leg2.result if self.leg2 else None, prompt_id)
        try:
            pid = await self._play([self.svc.settings.prompt_prefix + prompt_id])
            async with asyncio.timeout(20):
                while True:
                    ev = await self.events.get()
                    if is_gone(ev, self.leg1.channel_id):
                        self.leg1.end(self.svc.clock.now())
                        return
                    if isinstance(ev, PlaybackFinished) and ev.playback.id == pid:
                        return
        except (AriError, TimeoutError) as exc:
            log.warning("callback %s: announcement: %s", self.req.id, exc)

    async def _bridge(self, leg2: Leg) -> None:
        leg1 = self.leg1
        self.bridge_id = f"cb{self.req.id}-{uuid.uuid4().hex[:8]}"
        await self.ari.create_bridge("mixing", bridge_id=self.bridge_id)
        await self.ari.add_channel(self.bridge_id, [leg1.channel_id, leg2.channel_id])
        self.bridged = True
        await self._status("connected")
        log.info("callback %s: bridged %s <-> %s", self.req.id, leg1.channel_id,
                 leg2.channel_id)
        try:
            async with asyncio.timeout(self.svc.settings.callback_max_call_seconds):
                while True:
                    ev = await self.events.get()
                    for leg, other in ((leg1, leg2), (leg2, leg1)):
                        if is_gone(ev, leg.channel_id):
                            leg.end(self.svc.clock.now())
                            await hangup_quietly(self.ari, other.channel_id)
                            other.end(self.svc.clock.now())
                            return
        except TimeoutError:
            log.warning("callback %s: longest call reached, hanging up", self.req.id)

    async def _finish(self) -> None:
        """Whatever happened: no channel left behind, every leg recorded, final status."""
        for leg in (self.leg1, self.leg2):
            if leg is not None and not leg.ended:
                await hangup_quietly(self.ari, leg.channel_id)
                leg.end(self.svc.clock.now(), None if leg.answered_at else LegResult.CANCELLED)
        if self.bridge_id is not None:
            with contextlib.suppress(AriError):
                await self.ari.destroy_bridge(self.bridge_id)
        if self.leg2 is None:
            # Never dialled: still a billing row (result not_placed), for a complete CDR.
            at = self.leg1.ended_at or self.svc.clock.now()
            self.leg2 = Leg(2, "", self.req.number or "", self.req.destination or "", at,
                            result=LegResult.NOT_PLACED, ended_at=at)
        for leg in (self.leg1, self.leg2):
            await self._save(leg)
        status, reason = callback_outcome(self.leg1, self.leg2, self.bridged)
        await best_effort(f"request {self.req.id} final status",
                          store.set_status(self.svc.db, self.req.id, status, reason))
        log.info("callback %s: %s %s (leg1 %ss, leg2 %ss billable)", self.req.id, status,
                 reason or "", self.leg1.billable, self.leg2.billable)


# --------------------------------------------------------------------------- one-leg calls


class OneLegCall:
    """A call the app places to one person and then talks to (the verification call, the
    2FA code call). The request's status follows it - ringing, connected, then the final
    status set with :meth:`end` (``failed`` with ``reason`` unless told otherwise) - and on
    leaving the ``async with`` the channel is hung up and the final status written,
    whatever happened."""

    def __init__(self, svc: Services, req: CallRequest, events: CallEvents, *,
                 shown_number: str, reason: str) -> None:
        self.svc, self.req, self.events = svc, req, events
        self.leg = Leg(1, events.channel_id, shown_number, req.leg1, svc.clock.now())
        self.call: Call | None = None
        self.status = "failed"
        self.reason: str | None = reason

    def end(self, status: str, reason: str | None) -> None:
        self.status, self.reason = status, reason

    async def answered(self, app_args: str) -> Call | None:
        """Ring the person; the Call once they answer, or None (the reason is recorded)."""
        await store.set_status(self.svc.db, self.req.id, "ringing")
        start = await place_leg(self.svc, self.events, self.leg, app_args=app_args,
                                ring_s=self.svc.settings.app_call_ring_seconds)
        if start is None:
            self.end("failed", f"leg1_{(self.leg.result or LegResult.FAILED).value}")
            return None
        self.call = Call(self.svc.ari, self.events, start, self.svc.settings.prompt_prefix)
        await store.set_status(self.svc.db, self.req.id, "connected")
        return self.call

    async def __aenter__(self) -> OneLegCall:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        if self.call is not None:
            await self.call.hangup()
        else:
            await hangup_quietly(self.svc.ari, self.leg.channel_id)
        log.info("request %s (%s) to %s: %s %s", self.req.id, self.req.kind, self.req.leg1,
                 self.status, self.reason or "")
        await best_effort(f"request {self.req.id} final status",
                          store.set_status(self.svc.db, self.req.id, self.status, self.reason))


# --------------------------------------------------------------------------- verification


async def run_verification(svc: Services, req: CallRequest, events: CallEvents) -> None:
    """Call the own number; the person must key the code the portal shows the subscriber,
    then # (verification.py). Pressing 1 or any other key does not verify; after
    ``MAX_ENTRIES`` wrong or empty entries the call ends."""
    code = req.code or ""
    attempt = verification.Attempt()
    async with OneLegCall(svc, req, events, reason="internal_error",
                          shown_number=req.number or svc.settings.retrieval_number) as placed:
        call = await placed.answered(f"verify,{req.id}")
        if call is None:
            return
        try:
            while not attempt.over:
                first = await call.play([attempt.prompt], barge_in=True)
                # One digit more than the code: a longer entry compares unequal.
                entered, _terminated = await call.collect_digits(
                    max_digits=verification.CODE_DIGITS + 1, first=first,
                    first_timeout=verification.FIRST_DIGIT_TIMEOUT_S,
                    inter_timeout=verification.NEXT_DIGIT_TIMEOUT_S)
                attempt = attempt.add(verification.judge(entered, code))
            if not attempt.verified:
                placed.end("failed", attempt.failure_reason)
                await call.play(["verify_failed"])
            elif await store.mark_verified(svc.db, req.account_id, req.leg1):
                placed.end("completed", None)
                await call.play(["verified"])
            else:  # the subscriber removed the number meanwhile
                placed.end("failed", "rule_no_own_number")
                await call.play(["goodbye"])
        except CallerHungUp:
            if placed.reason == "internal_error":
                placed.end("failed", verification.WRONG_CODE
                           if verification.Entry.WRONG in attempt.entries else "hung_up")
