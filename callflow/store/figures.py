"""Operational figures read from the database for the app's metrics (callflow.metrics).

Read only, in one round trip, by a periodic job (never on a call's path). Every time comes
from the caller's clock, like the rest of the store.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from callflow.store.database import Database
from callflow.store.errors import StoreError

#: call requests are counted by state over this window (terminal states accumulate forever)
CALL_REQUESTS_WINDOW = timedelta(hours=24)


@dataclass(frozen=True)
class OperationalFigures:
    outbox_depth: int = 0
    outbox_oldest_age_s: float = 0.0
    outbox_retrying: int = 0
    mail_given_up: int = 0
    ivr_lockouts_active: int = 0
    voicemail_messages: int = 0
    voicemail_bytes: int = 0
    #: (kind, state) → requests created within CALL_REQUESTS_WINDOW
    call_requests: dict[tuple[str, str], int] = field(default_factory=dict)


_FIGURES = """
SELECT
  (SELECT count(*) FROM mail_outbox WHERE sent_at IS NULL AND failed_at IS NULL),
  (SELECT min(created_at) FROM mail_outbox WHERE sent_at IS NULL AND failed_at IS NULL),
  (SELECT count(*) FROM mail_outbox
    WHERE sent_at IS NULL AND failed_at IS NULL AND attempts > 0),
  (SELECT count(*) FROM mail_outbox WHERE failed_at IS NOT NULL),
  (SELECT count(*) FROM ivr_lockouts WHERE locked_until > %(now)s),
  (SELECT count(*) FROM voicemail_messages),
  -- octet_length of a TOASTed bytea reads its header, not the audio
  (SELECT coalesce(sum(octet_length(audio)), 0) FROM voicemail_messages)
"""

_CALL_REQUESTS = """
SELECT kind, status, count(*) FROM call_requests WHERE created_at >= %(since)s
GROUP BY kind, status
"""


def _int(value: object) -> int:
    return int(value) if isinstance(value, int | float | str) else 0


async def operational_figures(db: Database, now: datetime) -> OperationalFigures:
    async with db.connection() as conn:
        cur = await conn.execute(_FIGURES, {"now": now})
        row = await cur.fetchone()
        cur = await conn.execute(_CALL_REQUESTS, {"since": now - CALL_REQUESTS_WINDOW})
        requests = {(str(kind), str(state)): _int(n) for kind, state, n in await cur.fetchall()}
    assert row is not None
    depth, oldest, retrying, given_up, locked, messages, audio_bytes = row
    return OperationalFigures(
        outbox_depth=_int(depth),
        outbox_oldest_age_s=(max(0.0, (now - oldest).total_seconds())
                             if isinstance(oldest, datetime) else 0.0),
        outbox_retrying=_int(retrying),
        mail_given_up=_int(given_up),
        ivr_lockouts_active=_int(locked),
        voicemail_messages=_int(messages),
        voicemail_bytes=_int(audio_bytes),
        call_requests=requests,
    )


async def database_reachable(db: Database, timeout: float = 2.0) -> bool:
    """True when the database answers a trivial query within `timeout` (readiness)."""
    try:
        async with asyncio.timeout(timeout), db.connection() as conn:
            await conn.execute("SELECT 1")
    except (StoreError, TimeoutError):
        return False
    return True
