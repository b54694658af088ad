"""Voicemail mailboxes as the two IVRs use them: PIN check with lockout, messages, expiry.

Rules kept here as pure functions (and used inside the transactions below):

* 3 consecutive wrong PINs lock a mailbox for 15 minutes (R-VM-2); the lock lives in
  PostgreSQL (`mailbox_lockouts`), so it is shared by both IVRs and every app instance and
  survives restarts. It lifts by itself: a lock whose `locked_until` has passed is ignored and
  the failure count starts again from zero.
* Unknown numbers are locked exactly like real ones (table `ivr_unknown_lockouts`), and a
  dummy Argon2 hash is verified for them, so neither the announcements nor the timing tell
  a caller whether a mailbox exists.
* Messages older than 168 hours (R-VM-6) are never listed or played, and the expiry job
  deletes them (row and audio together: the audio lives in the row).

Every time comes from the caller's `Clock`, never from the database's now().
"""

from __future__ import annotations

import asyncio
import enum
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from callflow.numbers import is_050
from callflow.pins import PROBLEM_JA, pin_problem
from callflow.store.database import Connection, Database
from callflow.store.errors import InvalidValue

RETENTION = timedelta(hours=168)
LOCK_AFTER_FAILURES = 3
LOCK_DURATION = timedelta(minutes=15)
#: failure counts of numbers that are not mailboxes are forgotten after this much quiet
UNKNOWN_LOCKOUT_TTL = timedelta(hours=24)


class AuthOutcome(enum.Enum):
    OK = "ok"
    REJECTED = "rejected"  # unknown number, no PIN set, or wrong PIN: one answer for all
    LOCKED = "locked"


@dataclass(frozen=True)
class LockState:
    failed_attempts: int = 0
    locked_until: datetime | None = None


def is_locked(state: LockState, now: datetime) -> bool:
    return state.locked_until is not None and now < state.locked_until


def after_failure(state: LockState, now: datetime) -> LockState:
    """One more wrong PIN. A lock that has lifted starts the count again."""
    failures = state.failed_attempts
    if state.locked_until is not None and now >= state.locked_until:
        failures = 0
    failures += 1
    return LockState(failures, now + LOCK_DURATION if failures >= LOCK_AFTER_FAILURES else None)


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


@cache
def _dummy_hash() -> str:
    # Verified for numbers without a mailbox/PIN so that they cost the same time.
    return _hasher.hash("dummy-pin-for-timing")


def _verify(pin_hash: str | None, pin: str) -> bool:
    try:
        return _hasher.verify(pin_hash or _dummy_hash(), pin) and pin_hash is not None
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

async def _lock_row(conn: Connection, table: str, number: str, now: datetime) -> LockState:
    if table == "ivr_unknown_lockouts":
        await conn.execute(
            "INSERT INTO ivr_unknown_lockouts (number, updated_at) VALUES (%s, %s)"
            " ON CONFLICT (number) DO NOTHING", (number, now))
    else:
        await conn.execute(
            "INSERT INTO mailbox_lockouts (number) VALUES (%s) ON CONFLICT (number) DO NOTHING",
            (number,))
    cur = await conn.execute(
        f"SELECT failed_attempts, locked_until FROM {table} WHERE number = %s FOR UPDATE",
        (number,))
    row = await cur.fetchone()
    assert row is not None
    failed, until = row
    assert isinstance(failed, int)
    assert until is None or isinstance(until, datetime)
    return LockState(failed, until)


async def _save_lock(conn: Connection, table: str, number: str, state: LockState,
                     now: datetime) -> None:
    extra = ", updated_at = %s" if table == "ivr_unknown_lockouts" else ""
    params: tuple[object, ...] = (state.failed_attempts, state.locked_until)
    if extra:
        params += (now,)
    await conn.execute(
        f"UPDATE {table} SET failed_attempts = %s, locked_until = %s{extra} WHERE number = %s",
        (*params, number))


async def authenticate(db: Database, number: str, pin: str, now: datetime) -> AuthOutcome:
    """Check a mailbox PIN, counting failures and locking (one transaction, row-locked, so
    concurrent attempts from several calls or app instances count one by one)."""
    if not is_050(number) or len(number) != 11:
        # Not even a 050 number: nothing to count against; same cost as a real check.
        await asyncio.to_thread(_verify, None, pin)
        return AuthOutcome.REJECTED
    async with db.transaction() as conn:
        cur = await conn.execute(
            "SELECT voicemail_pin_hash FROM subscriber_numbers WHERE number = %s", (number,))
        row = await cur.fetchone()
        table = "mailbox_lockouts" if row is not None else "ivr_unknown_lockouts"
        pin_hash = row[0] if row is not None else None
        assert pin_hash is None or isinstance(pin_hash, str)
        state = await _lock_row(conn, table, number, now)
        if is_locked(state, now):
            return AuthOutcome.LOCKED
        ok = await asyncio.to_thread(_verify, pin_hash, pin)
        state = after_success() if ok else after_failure(state, now)
        await _save_lock(conn, table, number, state, now)
    if ok:
        return AuthOutcome.OK
    return AuthOutcome.LOCKED if is_locked(state, now) else AuthOutcome.REJECTED


async def lock_state(db: Database, number: str) -> LockState:
    async with db.connection() as conn:
        cur = await conn.execute(
            "SELECT failed_attempts, locked_until FROM mailbox_lockouts WHERE number = %s",
            (number,))
        row = await cur.fetchone()
    if row is None:
        return LockState()
    failed, until = row
    assert isinstance(failed, int) and (until is None or isinstance(until, datetime))
    return LockState(failed, until)


async def change_pin(db: Database, number: str, new_pin: str) -> None:
    """Set a new PIN (hashed); it works at once for both IVRs. Clears failure counts."""
    pin_hash = await asyncio.to_thread(hash_pin, new_pin)
    async with db.transaction() as conn:
        cur = await conn.execute(
            "UPDATE subscriber_numbers SET voicemail_pin_hash = %s WHERE number = %s",
            (pin_hash, number))
        if cur.rowcount != 1:
            raise InvalidValue(f"no mailbox {number}")
        await conn.execute(
            "UPDATE mailbox_lockouts SET failed_attempts = 0, locked_until = NULL"
            " WHERE number = %s", (number,))


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


async def delete_message(db: Database, number: str, message_id: int) -> bool:
    async with db.connection() as conn:
        cur = await conn.execute(
            "DELETE FROM voicemail_messages WHERE id = %s AND number = %s",
            (message_id, number))
        return cur.rowcount == 1


async def delete_expired(db: Database, now: datetime) -> int:
    """R-VM-6: delete messages older than 168 h (rows and audio); forget stale failure
    counts of non-mailbox numbers. Returns the number of messages deleted."""
    async with db.connection() as conn:
        cur = await conn.execute(
            "DELETE FROM voicemail_messages WHERE received_at <= %s", (now - RETENTION,))
        deleted = cur.rowcount
        await conn.execute(
            "DELETE FROM ivr_unknown_lockouts WHERE updated_at < %s"
            " AND (locked_until IS NULL OR locked_until < %s)",
            (now - UNKNOWN_LOCKOUT_TTL, now))
    return deleted
