"""A call's progress on its channel (`callflow.call_state`): kept by the features, read by a
new process that takes the call over (`callflow.adoption`). One ARI request each."""

from __future__ import annotations

import logging

from callflow.ari import AriError, AriNotFound
from callflow.call import Call
from callflow.call_state import VAR, derive_key, seal, unseal
from callflow.services import Services

log = logging.getLogger("callflow.progress")


async def keep_progress(call: Call, services: Services, payload: str) -> bool:
    """Store `payload` sealed on the call's channel; False (logged) if Asterisk refused:
    the call goes on, only a restart at this point would not resume it."""
    key = derive_key(services.settings.ari_password)
    try:
        await call.set_var(VAR, seal(key, call.id, payload))
    except AriError as exc:
        log.warning("call %s: progress not kept on the channel: %s", call.id, exc)
        return False
    return True


async def read_progress(call: Call, services: Services) -> str | None:
    """The call's progress, or None (none kept, or not sealed for this channel).
    Raises AriError other than 404."""
    try:
        value = await services.ari.get_channel_var(call.id, VAR)
    except AriNotFound:  # no such variable (or the channel just went)
        return None
    payload = unseal(derive_key(services.settings.ari_password), call.id, value) \
        if value else None
    if value and payload is None:
        log.warning("call %s: progress on the channel refused (not sealed for it)", call.id)
    return payload
