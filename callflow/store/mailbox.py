"""Voicemail mailboxes as the two IVRs use them: PIN check with lockout, messages, expiry.

Rules kept here as pure functions (and used inside the transactions below):

* 3 consecutive wrong PINs lock a mailbox for 15 minutes (R-VM-2); the lock lives in
  PostgreSQL (`ivr_lockouts`), so it is shared by both IVRs and every app instance and
  survives restarts. It lifts by itself: a lock whose `locked_until` has passed is ignored and
  the failure count starts again from zero. Wrong PINs are forgotten 24 h after the last one.
* The lock is kept per *entered* 050 number, whether or not it is a mailbox: an unknown
  number is counted, locked, announced and forgotten by the very same rule and statements as
  a real one, and a dummy Argon2 hash of the same cost is verified for it, so neither the
  announcements, nor their timing, nor the lock's lifetime tell a caller whether a mailbox
  exists.
* Messages older than 168 hours (R-VM-6) are never listed or played, and the expiry job
  deletes them (row and audio together: the audio lives in the row).

Every time comes from the caller's `Clock`, never from the database's now().
"""

from __future__ import annotations

import asyncio
import enum
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from callflow.numbers import is_050
from callflow.pins import PROBLEM_JA, pin_problem
from callflow.store.database import Connection, Database
from callflow.store.errors import InvalidValue

RETENTION = timedelta(hours=168)
LOCK_AFTER_FAILURES = 3
LOCK_DURATION = timedelta(minutes=15)
#: wrong PINs are forgotten this long after the last one (every entered number alike)
FAILURES_FORGOTTEN_AFTER = timedelta(hours=24)


class AuthOutcome(enum.Enum):
    OK = "ok"
    REJECTED = "rejected"  # unknown number, no PIN set, or wrong PIN: one answer for all
    LOCKED = "locked"


@dataclass(frozen=True)
class LockState:
    failed_attempts: int = 0
    locked_until: datetime | None = None
    last_failure_at: datetime | None = None


def is_locked(state: LockState, now: datetime) -> bool:
    return state.locked_until is not None and now < state.locked_until


def is_forgotten(state: LockState, now: datetime) -> bool:
    """From `now` on the state counts as no wrong PIN at all: not locked, and either a lock
    has lifted (counting starts again) or the last wrong PIN is FAILURES_FORGOTTEN_AFTER old.
    (`delete_expired` removes such rows with the same condition in SQL.)"""
    if is_locked(state, now):
        return False
    if state.locked_until is not None:
        return True
    return (state.last_failure_at is None
            or now - state.last_failure_at >= FAILURES_FORGOTTEN_AFTER)


def after_failure(state: LockState, now: datetime) -> LockState:
    """One more wrong PIN; a lifted lock or old failures start the count again."""
    failures = (0 if is_forgotten(state, now) else state.failed_attempts) + 1
    return LockState(failures, now + LOCK_DURATION if failures >= LOCK_AFTER_FAILURES else None,
                     now)


def after_success() -> LockState:
    return LockState()


def is_expired(received_at: datetime, now: datetime) -> bool:
    return received_at <= now - RETENTION


@dataclass(frozen=True)
class MessageSummary:
    """A message as the retrieval IVR lists it (no audio)."""

    id: int
    received_at: datetime
    caller: str | None  # None = 非通知
    heard: bool


# ------------------------------------------------------------------------ PIN hashing

_hasher = PasswordHasher()
#: Verified for numbers without a mailbox or PIN, so that they cost what a real check costs.
#: Made once at import with the same parameters as every PIN hash: computing it at the first
#: unknown number would make that answer one hash slower than a real mailbox's.
DUMMY_PIN_HASH = _hasher.hash(secrets.token_hex(16))


def _verify(pin_hash: str | None, pin: str) -> bool:
    try:
        return _hasher.verify(pin_hash or DUMMY_PIN_HASH, pin) and pin_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def hash_pin(pin: str) -> str:
    """The stored form of a new PIN; the shared PIN rule (callflow.pins) is checked here too,
    the last step before any entry point stores a PIN."""
    problem = pin_problem(pin)
    if problem is not None:
        raise InvalidValue(PROBLEM_JA[problem])
    return _hasher.hash(pin)


# ------------------------------------------------------------------------ authentication

async def _lock_row(conn: Connection, number: str) -> LockState:
    """The entered number's lock state, row-locked until the transaction ends (created if
    it is not there: the same statement whether or not the number is a mailbox)."""
    cur = await conn.execute(
        "INSERT INTO ivr_lockouts AS l (number) VALUES (%s)"
        " ON CONFLICT (number) DO UPDATE SET number = l.number"
        " RETURNING failed_attempts, locked_until, last_failure_at", (number,))
    row = await cur.fetchone()
    assert row is not None
    return _lock_state(row)


def _lock_state(row: tuple[object, ...]) -> LockState:
    failed, until, last = row
    assert isinstance(failed, int)
    assert until is None or isinstance(until, datetime)
    assert last is None or isinstance(last, datetime)
    return LockState(failed, until, last)


async def authenticate(db: Database, number: str, pin: str, now: datetime) -> AuthOutcome:
    """Check a mailbox PIN, counting failures and locking (one transaction, row-locked, so
    concurrent attempts from several calls or app instances count one by one). An unknown
    number runs the same statements and one Argon2 verification, like a wrong PIN."""
    if not is_050(number) or len(number) != 11:
        # Not even a 050 number (no mailbox can have it): nothing to count; same hash cost.
        await asyncio.to_thread(_verify, None, pin)
        return AuthOutcome.REJECTED
    async with db.transaction() as conn:
        cur = await conn.execute(
            "SELECT voicemail_pin_hash FROM subscriber_numbers WHERE number = %s", (number,))
        row = await cur.fetchone()
        pin_hash = row[0] if row is not None else None
        assert pin_hash is None or isinstance(pin_hash, str)
        state = await _lock_row(conn, number)
        if is_locked(state, now):
            return AuthOutcome.LOCKED
        ok = await asyncio.to_thread(_verify, pin_hash, pin)
        state = after_success() if ok else after_failure(state, now)
        await conn.execute(
            "UPDATE ivr_lockouts SET failed_attempts = %s, locked_until = %s,"
            " last_failure_at = %s WHERE number = %s",
            (state.failed_attempts, state.locked_until, state.last_failure_at, number))
    if ok:
        return AuthOutcome.OK
    return AuthOutcome.LOCKED if is_locked(state, now) else AuthOutcome.REJECTED


async def lock_state(db: Database, number: str) -> LockState:
    async with db.connection() as conn:
        cur = await conn.execute(
            "SELECT failed_attempts, locked_until, last_failure_at FROM ivr_lockouts"
            " WHERE number = %s", (number,))
        row = await cur.fetchone()
    return LockState() if row is None else _lock_state(row)


async def write_pin_hash(conn: Connection, number: str, pin_hash: str) -> bool:
    """The one writer of a mailbox's PIN (the IVR's PIN change, the portal's settings); False
    if there is no such number."""
    cur = await conn.execute(
        "UPDATE subscriber_numbers SET voicemail_pin_hash = %s WHERE number = %s",
        (pin_hash, number))
    return cur.rowcount == 1


async def change_pin(db: Database, number: str, new_pin: str) -> None:
    """Set a new PIN (hashed); it works at once for both IVRs. Clears failure counts."""
    pin_hash = await asyncio.to_thread(hash_pin, new_pin)
    async with db.transaction() as conn:
        if not await write_pin_hash(conn, number, pin_hash):
            raise InvalidValue(f"no mailbox {number}")
        await conn.execute(
            "UPDATE ivr_lockouts SET failed_attempts = 0, locked_until = NULL,"
            " last_failure_at = NULL WHERE number = %s", (number,))


# ------------------------------------------------------------------------ messages

async def list_messages(db: Database, number: str, now: datetime) -> list[MessageSummary]:
    """Unexpired messages in play order: new first, then heard; oldest first in each."""
    async with db.connection() as conn:
        cur = await conn.execute(
            "SELECT id, received_at, caller, heard FROM voicemail_messages"
            " WHERE number = %s AND received_at > %s"
            " ORDER BY heard, received_at, id", (number, now - RETENTION))
        rows = await cur.fetchall()
    out: list[MessageSummary] = []
    for mid, received_at, caller, heard in rows:
        assert isinstance(mid, int) and isinstance(received_at, datetime)
        assert caller is None or isinstance(caller, str)
        out.append(MessageSummary(mid, received_at, caller, bool(heard)))
    return out


async def message_audio(db: Database, number: str, message_id: int,
                        now: datetime) -> bytes | None:
    """The WAV of a message, or None if it was deleted or has expired."""
    async with db.connection() as conn:
        cur = await conn.execute(
            "SELECT audio FROM voicemail_messages"
            " WHERE id = %s AND number = %s AND received_at > %s",
            (message_id, number, now - RETENTION))
        row = await cur.fetchone()
    if row is None:
        return None
    audio = row[0]
    assert isinstance(audio, bytes | memoryview)
    return bytes(audio)


async def message_playable(db: Database, number: str, message_id: int, now: datetime) -> bool:
    """Whether the message still exists and has not expired (without fetching its audio)."""
    async with db.connection() as conn:
        cur = await conn.execute(
            "SELECT 1 FROM voicemail_messages WHERE id = %s AND number = %s AND received_at > %s",
            (message_id, number, now - RETENTION))
        return await cur.fetchone() is not None


async def mark_heard(db: Database, number: str, message_id: int) -> None:
    async with db.connection() as conn:
        await conn.execute(
            "UPDATE voicemail_messages SET heard = true WHERE id = %s AND number = %s",
            (message_id, number))


async def delete_messages(db: Database, number: str, message_ids: list[int]) -> int:
    """Delete messages of this mailbox (from the IVR's 1# or the portal); how many were."""
    async with db.connection() as conn:
        cur = await conn.execute(
            "DELETE FROM voicemail_messages WHERE number = %s AND id = ANY(%s)",
            (number, message_ids))
        return cur.rowcount


async def delete_message(db: Database, number: str, message_id: int) -> bool:
    return await delete_messages(db, number, [message_id]) == 1


async def delete_expired(db: Database, now: datetime) -> int:
    """R-VM-6: delete messages older than 168 h (rows and audio); drop the lock rows that
    `is_forgotten` (one rule for mailboxes and unknown numbers). Returns the number of
    messages deleted."""
    async with db.connection() as conn:
        cur = await conn.execute(
            "DELETE FROM voicemail_messages WHERE received_at <= %s", (now - RETENTION,))
        deleted = cur.rowcount
        await conn.execute(
            "DELETE FROM ivr_lockouts WHERE (locked_until IS NULL OR locked_until <= %(now)s)"
            " AND (locked_until IS NOT NULL OR last_failure_at IS NULL"
            "      OR last_failure_at <= %(forget)s)",
            {"now": now, "forget": now - FAILURES_FORGOTTEN_AFTER})
    return deleted
