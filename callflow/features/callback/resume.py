"""Callbacks a previous app process left before their bridge (kill -9 or a drain that ran
out while leg 2 rang), taken over by the restarted instance.

A bridged callback needs no feature code (`App._watch_bridge` keeps the bridge and closes
the billing rows). Before the bridge, leg 1 sits answered in our Stasis application hearing
the ringback of the dead process, and leg 2 rings in Asterisk (Originate dials on without
the app; its events go to the application it was originated into, one of this instance's
names, so a new connection receives them). The channel ids name the request and the leg
(`legs.leg_of_channel`), the billing rows are in the database: that is all the state the
callback needs, so the new process rebuilds `CallbackRun` from them and goes on where it
stopped (`CallbackRun.resume`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

from callflow.ari import CallEvents
from callflow.logs import bind
from callflow.services import Services
from callflow.store import StoreError

from . import store
from .calls import CallbackRun, hangup_quietly
from .legs import leg_of_channel

log = logging.getLogger("callflow.features.callback")


@dataclass(frozen=True)
class UnbridgedCallback:
    request_id: int
    leg1: str  # channel id, in our Stasis application
    leg2: str | None  # channel id if Asterisk still has it (ringing, or answered)
    leg2_in_stasis: bool  # answered while no process listened


def unbridged_callbacks(orphans: Iterable[str], channels: Iterable[str]
                        ) -> list[UnbridgedCallback]:
    """Callbacks among the resync's orphans (ids of channels in our Stasis applications no
    live call owns, not in a bridge): each leg 1 there with its leg 2 from the ids of every
    channel Asterisk listed."""
    in_stasis = set(orphans)
    leg2s = {}
    for cid in channels:
        found = leg_of_channel(cid)
        if found is not None and found[1] == 2:
            leg2s[found[0]] = cid
    out = []
    for cid in sorted(in_stasis):
        found = leg_of_channel(cid)
        if found is None or found[1] != 1:
            continue
        leg2 = leg2s.get(found[0])
        out.append(UnbridgedCallback(found[0], cid, leg2, leg2 in in_stasis))
    return out


async def resume_callback(svc: Services, taken: UnbridgedCallback, events: CallEvents) -> None:
    """The call task of a callback taken over (its leg 1 is ``events.channel_id``)."""
    bind(call_id=taken.leg1, request=str(taken.request_id), kind="callback")
    try:
        req = await store.get(svc.db, taken.request_id)
        legs = await store.load_legs(svc.db, taken.request_id)
        if req is None or req.kind != "callback" or 1 not in legs:
            raise LookupError(f"no callback request {taken.request_id} with a leg 1")
        ring1, ring2 = await store.ring_seconds(
            svc.db, req.account_id, svc.settings.callback_leg1_ring_seconds,
            svc.settings.callback_leg2_ring_seconds)
    except (StoreError, LookupError) as exc:
        # Without the request we cannot bill the call correctly: end it (the resync would
        # have hung up an orphan anyway).
        log.error("callback %s not taken over: %s", taken.request_id, exc)
        for cid in (taken.leg1, taken.leg2):
            if cid is not None:
                await hangup_quietly(svc.ari, cid)
        return
    run = CallbackRun(svc, req, events, ring1, ring2)
    run.leg1 = legs[1]
    run.leg1.channel_id = taken.leg1
    run.leg2 = legs.get(2)
    await run.resume(taken.leg2, taken.leg2_in_stasis)
