"""2FA voice call (R-ACC-3): call the contact number and read the login code twice.

Requested through ``call_requests`` (kind ``twofa_voice``, see
``callflow.features.callback.service.request_twofa_voice``) and placed by the request worker.
The call shows the service's well-known number (the message-center number), not a
subscriber's 050 number: the person may not have one yet.
"""

from __future__ import annotations

from callflow.ari import CallEvents
from callflow.call import CallerHungUp
from callflow.features.callback.calls import OneLegCall
from callflow.features.callback.models import CallRequest
from callflow.services import Services
from callflow.speech import digits


def code_prompts(code: str) -> tuple[list[str], list[str]]:
    """The two playbacks: greeting + intro + code, then repeat + code + "if you did not
    ask for this, just hang up"."""
    spoken = digits(code)
    return (["twofa_greeting", "twofa_code_intro", *spoken],
            ["twofa_repeat", *spoken, "twofa_not_requested"])


async def run(svc: Services, req: CallRequest, events: CallEvents) -> None:
    first, second = code_prompts(req.code or "")
    async with OneLegCall(svc, req, events, shown_number=svc.settings.retrieval_number,
                          reason="hung_up") as placed:
        call = await placed.answered(f"twofa,{req.id}")
        if call is None:
            return
        heard_once = False
        try:
            await call.play(first)
            heard_once = True
            await call.play(second)
            placed.end("completed", None)
        except CallerHungUp:
            # Hanging up during the repetition is normal: the code was heard once.
            if heard_once:
                placed.end("completed", "hung_up_during_repeat")
