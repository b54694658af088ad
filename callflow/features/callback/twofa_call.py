"""2FA voice call (R-ACC-3): call the contact number and read the login code twice.

Requested through ``call_requests`` (kind ``twofa_voice``, see
``callflow.features.callback.service.request_twofa_voice``) and placed by the request worker.
The call shows the service's well-known number (the message-center number), not a
subscriber's 050 number: the person may not have one yet.
"""

from __future__ import annotations

import logging

from callflow.ari import CallEvents
from callflow.call import Call, CallerHungUp
from callflow.features.callback import store
from callflow.features.callback.calls import best_effort, hangup_quietly, place_leg
from callflow.features.callback.legs import Leg, LegResult
from callflow.features.callback.models import CallRequest
from callflow.services import Services
from callflow.speech import digits

log = logging.getLogger("callflow.twofa")


def code_prompts(code: str) -> tuple[list[str], list[str]]:
    """The two playbacks: greeting + intro + code, then repeat + code + "if you did not
    ask for this, just hang up"."""
    spoken = digits(code)
    return (["twofa_greeting", "twofa_code_intro", *spoken],
            ["twofa_repeat", *spoken, "twofa_not_requested"])


async def run(svc: Services, req: CallRequest, events: CallEvents) -> None:
    first, second = code_prompts(req.code or "")
    leg = Leg(1, events.channel_id, svc.settings.retrieval_number, req.leg1, svc.clock.now())
    status: str = "failed"
    reason: str | None = "hung_up"
    call: Call | None = None
    heard_once = False
    try:
        await store.set_status(svc.db, req.id, "ringing")
        start = await place_leg(svc, events, leg, ring_s=svc.settings.app_call_ring_seconds,
                                app_args=f"twofa,{req.id}")
        if start is None:
            reason = f"leg1_{(leg.result or LegResult.FAILED).value}"
            return
        call = Call(svc.ari, events, start, svc.settings.prompt_prefix)
        await store.set_status(svc.db, req.id, "connected")
        await call.play(first)
        heard_once = True
        await call.play(second)
        status, reason = "completed", None
    except CallerHungUp:
        # Hanging up during the repetition is normal: the code was heard once.
        if heard_once:
            status, reason = "completed", "hung_up_during_repeat"
    finally:
        if call is not None:
            await call.hangup()
        else:
            await hangup_quietly(svc.ari, leg.channel_id)
        log.info("2FA voice %s to %s: %s %s", req.id, req.leg1, status, reason or "")
        await best_effort(f"request {req.id} final status",
                          store.set_status(svc.db, req.id, status, reason))
