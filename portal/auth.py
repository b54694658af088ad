"""Sessions, CSRF, lockouts, two-factor codes and trusted browsers — all kept in PostgreSQL,
so they survive restarts and hold across several portal instances. Tokens and codes are
stored hashed; nothing secret is logged."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import re
import secrets
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from psycopg.rows import class_row

from callflow.store import Database
from callflow.store.database import Connection

_hasher = PasswordHasher()
# Verified against when the e-mail is unknown, so a miss costs as long as a hit.
_DUMMY_HASH = _hasher.hash(secrets.token_hex(16))
T = TypeVar("T")


def hash_secret(value: str) -> str:
    """argon2 hash for passwords and voicemail PINs (blocking: the portal goes through
    PasswordHashing; the operator CLI calls it directly)."""
    return _hasher.hash(value)


def verify_secret(stored: str | None, value: str) -> bool:
    try:
        return _hasher.verify(stored or _DUMMY_HASH, value) and stored is not None
    except (VerificationError, InvalidHashError):
        return False


class HashingBusy(Exception):
    """More password hashes are queued than the portal takes: the user is asked to retry."""


class PasswordHashing:
    """argon2 off the event loop. Each hash takes tens of milliseconds of CPU (and 64 MiB), so
    a flood of logins hashed on the loop would stall every page. At most `workers` hashes run at
    once in their own threads; up to `waiting` more wait their turn (briefly: a few hash times);
    beyond that a request is refused at once (HashingBusy) instead of piling up."""

    def __init__(self, workers: int = 2, waiting: int = 16) -> None:
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="argon2")
        # Held from submission until the thread has finished (not until the request gives up),
        # so a client that disconnects does not free a slot while its hash still runs.
        self._admission = threading.BoundedSemaphore(workers + waiting)
        self._lock = threading.Lock()
        self.running = 0

    def _counted(self, fn: Callable[[], T]) -> T:
        with self._lock:
            self.running += 1
        try:
            return fn()
        finally:
            with self._lock:
                self.running -= 1

    async def _run(self, fn: Callable[[], T]) -> T:
        if not self._admission.acquire(blocking=False):
            raise HashingBusy()
        try:
            future = self._executor.submit(self._counted, fn)
        except BaseException:
            self._admission.release()
            raise
        future.add_done_callback(lambda _f: self._admission.release())
        return await asyncio.wrap_future(future)

    async def verify(self, stored: str | None, value: str) -> bool:
        return await self._run(lambda: verify_secret(stored, value))

    async def hash(self, value: str) -> str:
        return await self._run(lambda: hash_secret(value))

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Session:
    token_hash: str
    account_id: int | None
    stage: str
    csrf_token: str
    challenge_id: int | None
    # False for a visitor who has not logged in: nothing of theirs is in the database.
    stored: bool = True


# A visitor's CSRF state before login lives in a cookie, not in a row: the cookie holds a
# random nonce and the form token is its HMAC under the portal secret (a signed double-submit
# token), so anonymous page views write nothing to the database.
_NONCE = re.compile(r"[A-Za-z0-9_-]{32,64}")


def new_nonce() -> str:
    return secrets.token_urlsafe(32)


def anonymous_session(secret: str, nonce: str | None) -> Session | None:
    """The pre-login session carried by the nonce cookie (None when it is missing/malformed)."""
    if not nonce or not _NONCE.fullmatch(nonce):
        return None
    csrf = hmac.new(secret.encode(), f"anonymous-csrf:{nonce}".encode(), "sha256").hexdigest()
    return Session("nonce:" + token_hash(nonce), None, "anonymous", csrf, None, stored=False)


_SESSION_COLUMNS = "token_hash, account_id, stage, csrf_token, challenge_id"


async def load_session(db: Database, token: str | None) -> Session | None:
    if not token or len(token) > 200:
        return None
    async with db.connection() as conn:
        cur = conn.cursor(row_factory=class_row(Session))
        await cur.execute(f"SELECT {_SESSION_COLUMNS} FROM portal_sessions"
                          " WHERE token_hash = %s AND expires_at > now()", (token_hash(token),))
        return await cur.fetchone()


async def new_session(db: Database, *, account_id: int, stage: str, hours: int = 12
                      ) -> tuple[str, Session]:
    """A fresh session row, made at login (new token: never a pre-login id). Expired rows and
    stale lockout counters are purged here, so the tables only hold what is still in use."""
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    async with db.connection() as conn:
        await conn.execute(
            "INSERT INTO portal_sessions (token_hash, account_id, stage, csrf_token, expires_at)"
            " VALUES (%s, %s, %s, %s, now() + make_interval(hours => %s))",
            (token_hash(token), account_id, stage, csrf, hours))
        await purge_expired(conn)
    return token, Session(token_hash(token), account_id, stage, csrf, None)


async def purge_expired(conn: Connection) -> None:
    await conn.execute("DELETE FROM portal_sessions WHERE expires_at <= now()")
    await conn.execute("DELETE FROM portal_lockouts WHERE window_start < now() - interval '1 day'"
                       " AND (locked_until IS NULL OR locked_until < now())")


async def update_session(db: Database, session: Session, *, stage: str | None = None,
                         challenge_id: int | None = None) -> None:
    async with db.connection() as conn:
        await conn.execute(
            "UPDATE portal_sessions SET stage = COALESCE(%s, stage), challenge_id = %s"
            " WHERE token_hash = %s", (stage, challenge_id, session.token_hash))


async def end_session(db: Database, session: Session) -> None:
    if not session.stored:
        return
    async with db.connection() as conn:
        await conn.execute("DELETE FROM portal_sessions WHERE token_hash = %s",
                           (session.token_hash,))


def csrf_ok(session: Session, presented: str | None) -> bool:
    return bool(presented) and hmac.compare_digest(session.csrf_token, presented or "")


# ------------------------------------------------------------------ lockouts
# An attempt (a password, a 2FA code) is counted as a failure *before* it is checked, under
# the row lock of its key, and the count is taken back when it succeeds. So concurrent wrong
# attempts cannot all be checked before their failures land: the attempt that reaches the
# limit sets the lock, and every later one is refused without being checked.

@dataclass(frozen=True)
class Attempt:
    allowed: bool  # False: the key is locked, the attempt must not be checked
    failures: int  # the count stored for the key, this attempt included
    locks: bool  # this attempt reached the limit: if it fails, the key is now locked


def next_attempt(*, locked: bool, window_over: bool, failures: int, limit: int) -> Attempt:
    """Decide one attempt from the key's state (window_over: the counting window, or a former
    lock, has run out, so counting starts again)."""
    if locked:
        return Attempt(False, failures, True)
    counted = 1 if window_over else failures + 1
    return Attempt(True, counted, counted >= limit)


async def begin_attempt(db: Database, key: str, *, limit: int, minutes: int) -> Attempt:
    """Reserve one attempt under `key`. The `limit`-th in a `minutes` window locks the key for
    `minutes` (lifted again by clear_failures if that very attempt succeeds)."""
    async with db.transaction() as conn:
        await conn.execute("INSERT INTO portal_lockouts (key, failures, window_start)"
                           " VALUES (%s, 0, now()) ON CONFLICT (key) DO NOTHING", (key,))
        cur = await conn.execute(
            "SELECT coalesce(locked_until > now(), false),"
            " locked_until IS NOT NULL OR window_start < now() - make_interval(mins => %s),"
            " failures FROM portal_lockouts WHERE key = %s FOR UPDATE", (minutes, key))
        row = await cur.fetchone()
        assert row is not None
        window_over = bool(row[1])
        attempt = next_attempt(locked=bool(row[0]), window_over=window_over,
                               failures=_int(row[2]), limit=limit)
        if attempt.allowed:
            await conn.execute(
                "UPDATE portal_lockouts SET failures = %s,"
                " window_start = CASE WHEN %s THEN now() ELSE window_start END,"
                " locked_until = CASE WHEN %s THEN now() + make_interval(mins => %s) END"
                " WHERE key = %s", (attempt.failures, window_over, attempt.locks, minutes, key))
    return attempt


async def release_attempt(db: Database, key: str, *, limit: int) -> None:
    """Give back an attempt that was reserved but never checked (the server was too busy)."""
    async with db.connection() as conn:
        await conn.execute(
            "UPDATE portal_lockouts SET failures = greatest(failures - 1, 0),"
            " locked_until = CASE WHEN failures - 1 < %s THEN NULL ELSE locked_until END"
            " WHERE key = %s", (limit, key))


async def locked(db: Database, key: str) -> bool:
    async with db.connection() as conn:
        cur = await conn.execute("SELECT 1 FROM portal_lockouts WHERE key = %s"
                                 " AND locked_until > now()", (key,))
        return await cur.fetchone() is not None


async def clear_failures(db: Database, key: str) -> None:
    """After a successful attempt (which was allowed, so the key was not locked when it began;
    a lock it set itself as the limit-th attempt goes too)."""
    async with db.connection() as conn:
        await conn.execute("DELETE FROM portal_lockouts WHERE key = %s", (key,))


# ------------------------------------------------------------------ two-factor codes

def new_code() -> str:
    return f"{secrets.randbelow(1_000_000):06d}"


def code_hash(secret: str, challenge_id: int, code: str) -> str:
    return hmac.new(secret.encode(), f"{challenge_id}:{code}".encode(), "sha256").hexdigest()


@dataclass(frozen=True)
class Challenge:
    id: int
    account_id: int
    contact_number: str
    method: str
    attempts: int
    sends: int
    live: bool


async def recent_sends(db: Database, contact_number: str, minutes: int) -> int:
    async with db.connection() as conn:
        cur = await conn.execute(
            "SELECT count(*) FROM twofa_sends WHERE contact_number = %s"
            " AND sent_at > now() - make_interval(mins => %s)", (contact_number, minutes))
        row = await cur.fetchone()
    return _int(row[0]) if row else 0


async def create_challenge(db: Database, secret: str, account_id: int, contact_number: str,
                           method: str, minutes: int) -> tuple[Challenge, str]:
    code = new_code()
    async with db.transaction() as conn:
        cur = await conn.execute(
            "INSERT INTO twofa_challenges (account_id, contact_number, method, code_hash,"
            " expires_at) VALUES (%s, %s, %s, '', now() + make_interval(mins => %s))"
            " RETURNING id", (account_id, contact_number, method, minutes))
        row = await cur.fetchone()
        assert row is not None
        cid = _int(row[0])
        await conn.execute("UPDATE twofa_challenges SET code_hash = %s WHERE id = %s",
                           (code_hash(secret, cid, code), cid))
        await conn.execute("INSERT INTO twofa_sends (account_id, contact_number) VALUES (%s, %s)",
                           (account_id, contact_number))
    return Challenge(cid, account_id, contact_number, method, 0, 1, True), code


async def renew_code(db: Database, secret: str, challenge: Challenge, minutes: int) -> str:
    """再通知する: a new code replaces the old one (the old one stops working)."""
    code = new_code()
    async with db.transaction() as conn:
        await conn.execute(
            "UPDATE twofa_challenges SET code_hash = %s, sends = sends + 1, attempts = 0,"
            " expires_at = now() + make_interval(mins => %s) WHERE id = %s",
            (code_hash(secret, challenge.id, code), minutes, challenge.id))
        await conn.execute("INSERT INTO twofa_sends (account_id, contact_number) VALUES (%s, %s)",
                           (challenge.account_id, challenge.contact_number))
    return code


async def get_challenge(db: Database, challenge_id: int | None, account_id: int | None
                        ) -> Challenge | None:
    if challenge_id is None or account_id is None:
        return None
    async with db.connection() as conn:
        cur = conn.cursor(row_factory=class_row(Challenge))
        await cur.execute(
            "SELECT id, account_id, contact_number, method, attempts, sends,"
            " (used_at IS NULL AND cancelled_at IS NULL AND expires_at > now()) AS live"
            " FROM twofa_challenges WHERE id = %s AND account_id = %s", (challenge_id, account_id))
        return await cur.fetchone()


async def check_code(db: Database, secret: str, challenge: Challenge, code: str,
                     max_attempts: int) -> bool:
    """Single use: a right code marks the challenge used, a wrong one counts an attempt, in one
    statement (no double use, no check that is not counted)."""
    expected = code_hash(secret, challenge.id, code)
    async with db.connection() as conn:
        cur = await conn.execute(
            "UPDATE twofa_challenges SET"
            " used_at = CASE WHEN code_hash = %(h)s THEN now() END,"
            " attempts = attempts + CASE WHEN code_hash = %(h)s THEN 0 ELSE 1 END"
            " WHERE id = %(id)s AND used_at IS NULL AND cancelled_at IS NULL"
            " AND expires_at > now() AND attempts < %(max)s RETURNING used_at IS NOT NULL",
            {"h": expected, "id": challenge.id, "max": max_attempts})
        row = await cur.fetchone()
    return row is not None and row[0] is True


async def cancel_challenge(db: Database, challenge_id: int) -> None:
    async with db.connection() as conn:
        await conn.execute("UPDATE twofa_challenges SET cancelled_at = now() WHERE id = %s",
                           (challenge_id,))


# ------------------------------------------------------------------ trusted browsers

async def trust_browser(db: Database, account_id: int, days: int) -> str:
    token = secrets.token_urlsafe(32)
    async with db.connection() as conn:
        await conn.execute(
            "INSERT INTO trusted_browsers (token_hash, account_id, expires_at)"
            " VALUES (%s, %s, now() + make_interval(days => %s))",
            (token_hash(token), account_id, days))
    return token


async def browser_trusted(db: Database, token: str | None, account_id: int) -> bool:
    if not token or len(token) > 200:
        return False
    async with db.connection() as conn:
        cur = await conn.execute(
            "SELECT 1 FROM trusted_browsers WHERE token_hash = %s AND account_id = %s"
            " AND expires_at > now()", (token_hash(token), account_id))
        return await cur.fetchone() is not None


def _int(value: object) -> int:
    assert isinstance(value, int)
    return value
