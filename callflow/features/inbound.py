"""Calls to a subscriber's 050 number (screening, forwarding and voicemail come later)."""

from __future__ import annotations

from callflow.call import Call
from callflow.features.announcements import announce_and_hang_up
from callflow.features.context import Services
from callflow.store.subscribers import SubscriberNumber


async def handle(call: Call, services: Services, subscriber: SubscriberNumber) -> None:
    await announce_and_hang_up(call, ["demo_greeting"])
