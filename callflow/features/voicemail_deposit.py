"""Voicemail deposit (R-IN-4) - PLACEHOLDER until engineer 4B's module replaces this body.

Interface used by `callflow.features.inbound`: answer if needed, greet, record, store,
send the e-mail. The placeholder only answers, plays the greeting and hangs up.
"""

from __future__ import annotations

from callflow.call import Call
from callflow.features.context import Services
from callflow.store.subscribers import SubscriberNumber


async def take_message(call: Call, services: Services, subscriber: SubscriberNumber, *,
                       caller: str | None) -> None:
    await call.answer()
    await call.play(["vm_greeting"])
    await call.hangup()
