"""指定番号への接続: the ARI effects of forwarding a call to the subscriber's phone (R-IN-3).

The caller's channel is not answered while the subscriber's phone rings: it gets 180
Ringing (`ring`), so the caller hears ringback and is not billed for an unanswered call.
The outbound leg is originated into our Stasis app with a channel id we choose and claim
first, so its events (Dial progress, StasisStart on answer, hang-up) land in this call's
ordered queue. Only when it answers is the caller answered and both are put in a mixing
bridge.

The subscriber's private number must never reach the caller. Asterisk would normally tell
the caller who answered through a connected-line update (a re-INVITE/UPDATE with
P-Asserted-Identity / Remote-Party-ID); the lab and production pjsip.conf disable that on
every endpoint (send_connected_line=no, send_pai=no, send_rpid=no), and nothing here copies
the outbound leg's identity onto the caller's channel. The integration tests inspect every
SIP message the caller receives for the destination number.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from dataclasses import dataclass
from enum import Enum

from callflow.ari import AriError, AriNotFound
from callflow.ari.events import (
    ChannelDestroyed,
    ChannelHangupRequest,
    Dial,
    Event,
    StasisEnd,
    StasisStart,
)
from callflow.call import Call, CallerHungUp
from callflow.config import Settings
from callflow.features.screening import ForwardPlan, caller_id_for_forward
from callflow.outbound import dial_target

log = logging.getLogger("callflow.forwarding")

FORWARD_LEG_ARG = "forward-leg"
# Q.850 causes on the outbound leg's ChannelDestroyed.
_CAUSE_BUSY = 17
_CAUSE_NO_ANSWER = (18, 19)


class ForwardResult(Enum):
    ANSWERED = "answered"  # bridged; the call has ended by now (either side hung up)
    NO_ANSWER = "no_answer"
    BUSY = "busy"
    FAILED = "failed"


@dataclass(frozen=True)
class ForwardReport:
    result: ForwardResult
    talk_seconds: float = 0.0


def _result_from_dialstatus(status: str) -> ForwardResult | None:
    match status.upper():
        case "BUSY":
            return ForwardResult.BUSY
        case "NOANSWER":
            return ForwardResult.NO_ANSWER
        case "CHANUNAVAIL" | "CONGESTION" | "CANCEL" | "INVALIDARGS":
            return ForwardResult.FAILED
    return None


def _result_from_cause(cause: int) -> ForwardResult:
    if cause == _CAUSE_BUSY:
        return ForwardResult.BUSY
    if cause in _CAUSE_NO_ANSWER:
        return ForwardResult.NO_ANSWER
    return ForwardResult.FAILED


def _leg_gone(event: Event, leg_id: str) -> bool:
    if isinstance(event, ChannelHangupRequest | ChannelDestroyed | StasisEnd):
        return event.channel.id == leg_id
    return False


async def forward(call: Call, settings: Settings, plan: ForwardPlan) -> ForwardReport:
    """Ring `plan.destination` while the caller hears ringback; bridge on answer.

    Raises CallerHungUp if the caller gives up while it rings (the outbound leg is
    cancelled at once). After bridging, either side hanging up ends both and returns
    ANSWERED.
    """
    loop = asyncio.get_running_loop()
    leg_id = f"fwd-{uuid.uuid4().hex}"
    call.events.claim(leg_id)  # before originating: its first event must come to us
    bridge_id: str | None = None
    leg_alive = False
    try:
        await call.ari.ring(call.id)
        variables: dict[str, str] = {}
        if plan.caller_number is None:
            # A withheld caller stays withheld towards the subscriber's phone too.
            variables["CALLERID(pres)"] = "prohib"
        try:
            await call.ari.originate(
                await dial_target(call.ari, settings, plan.destination),
                app_args=FORWARD_LEG_ARG,
                caller_id=caller_id_for_forward(plan),
                # Asterisk's own dial timeout is only a backstop; our timer below decides.
                timeout=plan.ring_seconds + 5,
                channel_id=leg_id,
                variables=variables or None,
                app=call.application,
            )
        except AriError as exc:
            log.warning("call %s: forward originate failed: %s", call.id, exc)
            return ForwardReport(ForwardResult.FAILED)
        leg_alive = True
        deadline = loop.time() + plan.ring_seconds
        dial_result: ForwardResult | None = None
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                log.info("call %s: forward to %s not answered in %ss", call.id,
                         plan.destination, plan.ring_seconds)
                return ForwardReport(ForwardResult.NO_ANSWER)
            try:
                event = await call.next_event(remaining)  # raises CallerHungUp
            except TimeoutError:
                continue
            if isinstance(event, Dial) and event.peer.id == leg_id:
                dial_result = _result_from_dialstatus(event.dialstatus) or dial_result
            elif isinstance(event, StasisStart) and event.channel.id == leg_id:
                break  # answered
            elif isinstance(event, ChannelDestroyed) and event.channel.id == leg_id:
                leg_alive = False
                return ForwardReport(dial_result or _result_from_cause(event.cause))
            elif _leg_gone(event, leg_id):
                # Hang-up request/StasisEnd before answer: wait for ChannelDestroyed's cause.
                continue

        # Answered: connect the caller. Answer first so the caller's 200 OK goes out
        # before media starts flowing through the bridge.
        await call.answer()
        bridge_id = f"fwd-bridge-{uuid.uuid4().hex}"
        await call.ari.create_bridge("mixing", bridge_id=bridge_id)
        await call.ari.add_channel(bridge_id, [call.id, leg_id])
        answered_at = loop.time()
        log.info("call %s: forwarded to %s and bridged", call.id, plan.destination)
        try:
            while True:
                event = await call.next_event()
                if _leg_gone(event, leg_id):
                    leg_alive = not isinstance(event, ChannelDestroyed)
                    break
        except CallerHungUp:
            pass
        return ForwardReport(ForwardResult.ANSWERED, loop.time() - answered_at)
    finally:
        # Every way out: caller hung up while ringing (→ CANCEL to the destination at
        # once), timeout, or the end of a bridged call (either side) - nothing lingers.
        if leg_alive:
            with contextlib.suppress(AriNotFound, AriError):
                await call.ari.hangup(leg_id)
        if bridge_id is not None:
            with contextlib.suppress(AriNotFound, AriError):
                await call.ari.destroy_bridge(bridge_id)
