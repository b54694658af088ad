"""SQL of the request worker: claim, expire, status updates and billing legs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from psycopg.rows import class_row

from callflow.store import Database

from .legs import Leg, LegResult
from .models import CallRequest

_REQ_COLUMNS = ", ".join(CallRequest.__dataclass_fields__)
_REQ_COLUMNS_R = ", ".join(f"r.{c}" for c in CallRequest.__dataclass_fields__)


async def claim_next(db: Database, worker: str) -> CallRequest | None:
    """Take the oldest pending, unexpired request (SKIP LOCKED: instances never collide)."""
    async with db.connection() as conn:
        cur = conn.cursor(row_factory=class_row(CallRequest))
        await cur.execute(
            f"UPDATE call_requests r SET status = 'taken', taken_at = now(), taken_by = %s "
            f"WHERE r.id = (SELECT id FROM call_requests WHERE status = 'pending' "
            f"  AND expires_at > now() ORDER BY created_at, id "
            f"  FOR UPDATE SKIP LOCKED LIMIT 1) "
            f"RETURNING {_REQ_COLUMNS_R}", (worker,))
        return await cur.fetchone()


#: the longest a verification or 2FA voice call can last (ring + a few prompts), with margin
APP_CALL_MAX_SECONDS = 600


async def expire_overdue(db: Database, max_call_seconds: int) -> int:
    """Pending requests nobody took in time -> 'expired' (visible to the portal); active
    requests far older than the longest call (an instance died mid-call) -> 'failed'.
    A callback may last ``max_call_seconds``; the other calls are short, so a lost
    verification call does not keep its number 'in progress' (and refused) for hours."""
    async with db.connection() as conn:
        cur = await conn.execute(
            "UPDATE call_requests SET status = 'expired', reason = 'not_taken_in_time', "
            "finished_at = now() WHERE status = 'pending' AND expires_at <= now()")
        expired = cur.rowcount
        await conn.execute(
            "UPDATE call_requests SET status = 'failed', reason = 'worker_lost', "
            "finished_at = now() WHERE status IN ('taken', 'ringing', 'connected') "
            "AND taken_at < now() - make_interval(secs => CASE WHEN kind = 'callback' "
            "  THEN %s ELSE %s END)", (max_call_seconds + 600, APP_CALL_MAX_SECONDS))
        return expired


async def set_status(db: Database, request_id: int, status: str,
                     reason: str | None = None) -> None:
    final = status in ("completed", "failed", "expired")
    async with db.connection() as conn:
        await conn.execute(
            "UPDATE call_requests SET status = %s, reason = coalesce(%s, reason), "
            "finished_at = CASE WHEN %s THEN now() ELSE finished_at END "
            "WHERE id = %s AND status NOT IN ('completed', 'failed', 'expired')",
            (status, reason, final, request_id))


async def get(db: Database, request_id: int) -> CallRequest | None:
    async with db.connection() as conn:
        cur = conn.cursor(row_factory=class_row(CallRequest))
        await cur.execute(f"SELECT {_REQ_COLUMNS} FROM call_requests WHERE id = %s",
                          (request_id,))
        return await cur.fetchone()


async def save_leg(db: Database, request_id: int, leg: Leg) -> None:
    """Insert or update the leg's billing record (idempotent)."""
    async with db.connection() as conn:
        await conn.execute(
            "INSERT INTO callback_legs (request_id, leg, from_number, to_number, created_at, "
            "  answered_at, ended_at, result, billable_seconds) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (request_id, leg) DO UPDATE SET answered_at = excluded.answered_at, "
            "  ended_at = excluded.ended_at, result = excluded.result, "
            "  billable_seconds = excluded.billable_seconds",
            (request_id, leg.leg, leg.from_number, leg.to_number, leg.created_at,
             leg.answered_at, leg.ended_at, leg.result.value if leg.result else None,
             leg.billable if leg.ended else None))


async def ring_seconds(db: Database, account_id: int | None,
                       default1: int, default2: int) -> tuple[int, int]:
    """Ring timeouts for leg 1 / leg 2, with the account's overrides."""
    if account_id is None:
        return default1, default2
    async with db.connection() as conn:
        cur = await conn.execute(
            "SELECT leg1_ring_seconds, leg2_ring_seconds FROM callback_account_limits "
            "WHERE account_id = %s", (account_id,))
        row = await cur.fetchone()
    if row is None:
        return default1, default2
    r1, r2 = row
    return (default1 if r1 is None else int(str(r1)), default2 if r2 is None else int(str(r2)))


async def mark_verified(db: Database, account_id: int | None, number: str) -> bool:
    """Mark the account's own number verified; False if it is no longer registered."""
    async with db.connection() as conn:
        cur = await conn.execute(
            "UPDATE own_numbers SET verified_at = now() WHERE account_id = %s AND number = %s",
            (account_id, number))
        return cur.rowcount > 0


async def load_legs(db: Database, request_id: int) -> dict[int, Leg]:
    """The billing rows of a request's legs as `Leg`s (channel ids unknown: empty), for a
    process that takes the callback over."""
    async with db.connection() as conn:
        cur = conn.cursor(row_factory=class_row(_LegRow))
        await cur.execute(
            "SELECT leg, from_number, to_number, created_at, answered_at, ended_at, result "
            "FROM callback_legs WHERE request_id = %s", (request_id,))
        rows = await cur.fetchall()
    return {r.leg: Leg(r.leg, "", r.from_number, r.to_number, r.created_at, r.answered_at,
                       r.ended_at, LegResult(r.result) if r.result else None)
            for r in rows}


@dataclass(frozen=True)
class _LegRow:
    leg: int
    from_number: str
    to_number: str
    created_at: datetime
    answered_at: datetime | None
    ended_at: datetime | None
    result: str | None


async def close_adopted_legs(db: Database, legs: list[tuple[int, int]], now: datetime) -> None:
    """End the billing records of callback legs whose bridge an app instance adopted after a
    restart (the task that placed them is gone): ended ``now`` (the app clock's time, like
    the leg's answer), billed from their answer, and the request completed. Rows already
    ended are left as they are."""
    async with db.transaction() as conn:
        for request_id, leg in legs:
            await conn.execute(
                "UPDATE callback_legs SET ended_at = %s, result = coalesce(result, 'answered'),"
                " billable_seconds = CASE WHEN answered_at IS NULL THEN 0 ELSE"
                "   ceil(extract(epoch FROM %s - answered_at) - 0.000001)::int END"
                " WHERE request_id = %s AND leg = %s AND ended_at IS NULL",
                (now, now, request_id, leg))
            await conn.execute(
                "UPDATE call_requests SET status = 'completed', finished_at = now()"
                " WHERE id = %s AND status NOT IN ('completed', 'failed', 'expired')",
                (request_id,))
