"""Work that must happen once however many app instances run (docs/operations.md, "Work that
happens once").

Every app instance — two per Asterisk node, on as many nodes as there are — runs the same
background jobs against the one PostgreSQL. Queue-like work claims rows (``FOR UPDATE SKIP
LOCKED``: the mail outbox, call requests, transcription jobs). Sweep-like work (the 168 h
expiry, retention, the voicemail recovery sweep's per-recording import) runs under `alone`:
one instance does it, the others skip it for this round and find nothing left next time.

`alone` holds a transaction-scoped advisory lock on one pooled connection for the duration
of the block. It goes with its transaction: an instance that raises, is killed (the server
sees the socket close) or loses its database connection gives it up at once, with nothing
left to clean up. An instance whose host vanishes without closing the socket would hold it
until the server noticed; the holding transaction therefore sets its own
``idle_in_transaction_session_timeout`` (`HOLD_LIMIT_S`), so the server ends it — and the
lock — after that long at most. The work itself runs on other connections, each statement
idempotent: a round cut short is finished by the next one.
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from callflow.store.database import Database

#: the longest a round may hold its lock while its connection stays idle (a sweep's rounds
#: take well under a second; a first retention run is bounded by 11 × the 5-s statement
#: timeout); also how long a vanished host can keep the others skipping
HOLD_LIMIT_S = 120.0


@asynccontextmanager
async def alone(db: Database, job: str, key: str = "", *,
                hold_limit_s: float = HOLD_LIMIT_S) -> AsyncIterator[bool]:
    """Whether this instance does ``job`` (for ``key``, e.g. one recording) now: True while no
    other instance holds the same job and key, False (skip it) otherwise; never waits. The
    lock is held until the block ends. Raises StoreError like any database access."""
    async with db.transaction() as conn:
        await conn.execute("SELECT set_config('idle_in_transaction_session_timeout', %s, true)",
                           (f"{int(hold_limit_s * 1000)}ms",))
        cur = await conn.execute("SELECT pg_try_advisory_xact_lock(hashtext(%s), hashtext(%s))",
                                 (job, key))
        row = await cur.fetchone()
        yield bool(row and row[0])


def instance_name() -> str:
    """This process's name on the rows it claims (call requests' ``taken_by``, transcription
    leases' ``leased_by``). Host and pid alone are not unique: containers with host
    networking share the host's name and each runs its program as pid 1, so a random part
    keeps two instances on one host apart (a lease is only the holder's to renew)."""
    return f"{socket.gethostname()}/{os.getpid()}/{secrets.token_hex(3)}"
