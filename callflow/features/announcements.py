"""Calls that only hear an announcement: unknown numbers, service unavailable."""

from __future__ import annotations

from callflow.call import Call


async def announce_and_hang_up(call: Call, prompt_ids: list[str]) -> None:
    """Answer (so the caller hears it rather than an error tone), play, hang up."""
    await call.answer()
    await call.play(prompt_ids)
    await call.hangup()


async def not_in_service(call: Call) -> None:
    await announce_and_hang_up(call, ["not_in_service"])


async def unavailable(call: Call) -> None:
    await announce_and_hang_up(call, ["unavailable"])
