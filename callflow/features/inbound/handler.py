"""Calls to a subscriber's 050 number: screening, block list, forwarding, voicemail, history
(R-IN-1..6).

The router has read the subscriber, the block list and the active forward destination (with
the call_log row, one round trip); the caller's presentation comes as Stasis arguments.
`screening.decide` chooses, the history row is written, then the decision is carried out
over ARI. The history row is written before the caller hears anything but ringback (a
forward sets itself up meanwhile), so it survives anything that happens later; its outcome
is updated when the call ends.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, replace

from callflow.ari import AriError
from callflow.call import Call
from callflow.features.announcements import announce_and_hang_up
from callflow.features.inbound import forwarding
from callflow.features.inbound.screening import (
    Action,
    CallerInfo,
    Decision,
    Outcome,
    ScreeningSettings,
    decide,
    identify_caller,
    notify_every_call,
)
from callflow.features.voicemail import deposit as voicemail_deposit
from callflow.mail import notify
from callflow.numbers import is_anonymous, normalize
from callflow.services import Services
from callflow.stasis_args import Entry
from callflow.store import StoreError, likely_spam
from callflow.store.history import HistoryEntry, history_of_channel, record_call, set_outcome
from callflow.store.subscribers import IncomingCall, SubscriberNumber

log = logging.getLogger("callflow.inbound")


def screening_settings(subscriber: SubscriberNumber) -> ScreeningSettings:
    return ScreeningSettings(
        reject_anonymous=subscriber.reject_anonymous,
        block_action=subscriber.block_action,
        forward_enabled=subscriber.forward_enabled,
        forward_ring_seconds=subscriber.forward_ring_seconds,
        forward_show_caller=subscriber.forward_show_caller,
        forward_mode=subscriber.forward_mode,
        voicemail_enabled=subscriber.voicemail_enabled,
        notify_email=subscriber.notify_email,
        notify_only_recorded=subscriber.notify_only_recorded,
    )


@dataclass
class _State:
    outcome: Outcome
    history: HistoryEntry | None = None


def _presentation(call: Call) -> tuple[str | None, str | None]:
    """(CALLERID(pres), Privacy header). ARI's channel JSON has the caller's number but not
    whether it may be shown: a PAI + `Privacy: id` INVITE keeps its number but gets a
    "prohib_*" presentation, and a From-only INVITE with `Privacy: id` keeps "allowed" -
    only the header tells that one apart. The dialplan passes both as Stasis arguments
    (stasis_args.py), which saves two REST round trips per call."""
    return call.stasis.presentation, call.stasis.privacy


def presented_caller(call: Call) -> str | None:
    """The caller's number as presented (normalised), for the block-list lookup."""
    raw_number = call.channel.caller.number
    return None if is_anonymous(raw_number) else normalize(raw_number)


async def handle(call: Call, services: Services, incoming: IncomingCall) -> None:
    """`incoming`: the subscriber and the screening lookups, read (with the call_log row)
    in one round trip by the router."""
    subscriber = incoming.subscriber
    settings = replace(screening_settings(subscriber),
                       reject_likely_spam=incoming.reject_likely_spam)
    raw_number, raw_name = call.channel.caller.number, call.channel.caller.name
    pres = _presentation(call)
    destination = incoming.forward_destination if subscriber.forward_enabled else None
    caller = identify_caller(raw_number, raw_name, *pres)
    # 迷惑電話の可能性: the count came with the settings (one primary-key read in the query)
    likely = caller.number is not None and likely_spam.is_likely_spam(
        incoming.likely_spam_reporters, services.settings.likely_spam_min_subscribers)
    decision = decide(settings, caller, subscriber_number=subscriber.number,
                      blocked=incoming.blocked, forward_destination=destination,
                      quiet=incoming.quiet,
                      now=services.clock.now() if incoming.quiet is not None else None,
                      ring_list=incoming.ring_list if subscriber.forward_enabled else (),
                      likely_spam=likely, screen=incoming.screen)
    state = _State(decision.outcome)
    resumed = _resumed_forward(call)
    plan = decision.forward
    if plan is not None and resumed is None:
        # The forward's set-up requests (ringback, subscription, dial instructions) go out
        # while the history row is written: the caller hears ringback one database round
        # trip after the call arrived, and Dial starts as soon as both are done.
        history, prepared = await asyncio.gather(
            _history(services, call, subscriber, caller, decision, resumed, likely),
            forwarding.prepare(call, services.settings, plan), return_exceptions=True)
        if isinstance(prepared, BaseException):
            raise prepared  # CallerHungUp
        if isinstance(history, BaseException):
            raise history
        state.history = history
    else:
        prepared = False
        state.history = await _history(services, call, subscriber, caller, decision, resumed,
                                       likely)
    log.info("call %s to %s from %r (pres %r): %s first_action_ms=%.2f", call.id,
             subscriber.number, caller.number, pres, decision.action.value,
             (time.monotonic() - call.started) * 1000)
    try:
        await _carry_out(call, services, subscriber, caller, decision, state,
                         resumed or prepared)
    finally:
        await _finish(services, subscriber, caller, settings, decision, state)


async def _history(services: Services, call: Call, subscriber: SubscriberNumber,
                   caller: CallerInfo, decision: Decision,
                   resumed: forwarding.ForwardReport | None,
                   likely: bool) -> HistoryEntry | None:
    """The call's history row: written now, or (a forward taken over from a previous app
    process) the one that process wrote. None if the database failed (logged)."""
    try:
        if resumed is not None:
            entry = await history_of_channel(services.db, call.id)
            if entry is not None:
                return entry
        return await record_call(
            services.db, number=subscriber.number, caller=caller.number,
            caller_name=caller.name, outcome=decision.outcome.value, channel_id=call.id,
            received_at=services.clock.now(), likely_spam=likely)
    except StoreError as exc:
        log.error("call %s: history not written: %s", call.id, exc)
        return None


def _resumed_forward(call: Call) -> forwarding.ForwardReport | None:
    """A call whose forward a previous app process handed to the dialplan and that came
    back unanswered (the process that followed it is gone): its dial status."""
    if call.stasis.entry is Entry.FORWARD_RESULT:
        return forwarding.ForwardReport(
            forwarding.result_from_dialstatus(call.stasis.dial_status or ""))
    return None


async def _carry_out(call: Call, services: Services, subscriber: SubscriberNumber,
                     caller: CallerInfo, decision: Decision, state: _State,
                     forward_from: forwarding.ForwardReport | bool) -> None:
    """`forward_from`, for a forward: whether `forwarding.prepare` succeeded, or the
    report of a forward a previous app process already tried."""
    match decision.action:
        case Action.REJECT_ANONYMOUS:
            await announce_and_hang_up(call, ["anonymous_rejected"])
        case Action.BLOCK_ANNOUNCE | Action.QUIET_ANNOUNCE:
            await announce_and_hang_up(call, ["blocked"])
        case Action.BLOCK_BUSY:
            # Not answered: the caller gets 486 Busy Here (Q.850 cause 17) and hears busy.
            await call.hangup(reason="busy")
        case Action.VOICEMAIL:
            await voicemail_deposit.take_message(call, services, subscriber,
                                                 caller=caller.number)
        case Action.UNAVAILABLE:
            await announce_and_hang_up(call, ["forward_failed"])
        case Action.FORWARD:
            plan = decision.forward
            assert plan is not None
            state.outcome = Outcome.MISSED  # if the caller gives up while it rings
            try:
                if isinstance(forward_from, forwarding.ForwardReport):
                    report = forward_from
                else:
                    report = await forwarding.forward(
                        call, plan, subscriber_number=subscriber.number,
                        prepared=forward_from)
            finally:
                if plan.screen:
                    await _forget_name(services, call)
            if report.result is forwarding.ForwardResult.ANSWERED:
                state.outcome = Outcome.FORWARDED
                return
            log.info("call %s: forward %s → %s", call.id, report.result.value,
                     plan.on_failure.value)
            if plan.on_failure is Action.VOICEMAIL:
                state.outcome = Outcome.VOICEMAIL
                await voicemail_deposit.take_message(call, services, subscriber,
                                                     caller=caller.number)
            else:
                await announce_and_hang_up(call, ["forward_failed"])


async def _forget_name(services: Services, call: Call) -> None:
    """名乗り確認: the caller's recorded name is needed only while the phones ring."""
    name = forwarding.screening_recording(call.id)
    try:
        await services.ari.delete_stored_recording(name)
    except AriError as exc:  # none (hung up before recording) or already gone
        log.debug("call %s: name recording %s not deleted: %s", call.id, name, exc)


async def _finish(services: Services, subscriber: SubscriberNumber, caller: CallerInfo,
                  settings: ScreeningSettings, decision: Decision, state: _State) -> None:
    history = state.history
    if history is not None and state.outcome is not decision.outcome:
        try:
            await set_outcome(services.db, history.id, state.outcome.value)
        except StoreError as exc:
            log.warning("history %s: outcome %s not saved: %s", history.id,
                        state.outcome.value, exc)
    if notify_every_call(settings, state.outcome):
        received_at = history.received_at if history is not None else services.clock.now()
        try:
            await notify.notify_incoming_call(services, subscriber, caller=caller.number,
                                              received_at=received_at, message_id=None)
        except Exception:  # mail must never break call handling
            log.exception("call notification for %s failed", subscriber.number)
