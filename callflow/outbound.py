"""Where a call the app places to an ordinary number goes.

A lab phone (settings.lab_phones: a softphone registered as a PJSIP endpoint named after
its number, e.g. 09000000001) is called directly while it is registered; every other number
goes out through the carrier trunk (settings.pstn_endpoint, e.g. PJSIP/{number}@carrier).
"""

from __future__ import annotations

import logging

from callflow.ari import AriClient, AriError, AriNotFound
from callflow.config import Settings

log = logging.getLogger("callflow.outbound")


async def dial_target(ari: AriClient, settings: Settings, number: str) -> str:
    """The ARI endpoint string to originate a call to `number` (canonical national form)."""
    pstn_template = settings.pstn_endpoint
    if number in settings.lab_phones.split(","):
        try:
            endpoint = await ari.get_endpoint("PJSIP", number)
        except AriNotFound:
            pass
        except AriError as exc:
            log.warning("endpoint lookup for %s failed (%s): using the carrier", number, exc)
        else:
            if endpoint.online:
                return f"PJSIP/{number}"
    return pstn_template.format(number=number)
