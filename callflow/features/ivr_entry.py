"""The two voicemail-center IVRs, first step: the caller enters their 050 number + #.

Authentication, retrieval and PIN change build on this; for now the entered number is
logged and the caller hears goodbye.
"""

from __future__ import annotations

import logging

from callflow.call import Call
from callflow.features.context import Services
from callflow.store.calls import log_call

log = logging.getLogger("callflow.ivr")

MAX_NUMBER_DIGITS = 11
FIRST_DIGIT_TIMEOUT = 10.0
INTER_DIGIT_TIMEOUT = 5.0


async def handle(call: Call, services: Services, route: str) -> None:
    await call.answer()
    first = await call.play(["welcome", "enter_number"], barge_in=True)
    digits, terminated = await call.collect_digits(
        max_digits=MAX_NUMBER_DIGITS, first_timeout=FIRST_DIGIT_TIMEOUT,
        inter_timeout=INTER_DIGIT_TIMEOUT, first=first)
    log.info("call %s %s: entered %r (terminated=%s)", call.id, route, digits, terminated)
    await log_call(services.db, channel_id=call.id, dialed=route, route=f"{route}:digits",
                   caller=call.channel.caller.number or None,
                   detail=digits if terminated else f"{digits}(unterminated)")
    await call.play(["goodbye"])
    await call.hangup()
