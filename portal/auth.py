"""Sessions, CSRF, lockouts, two-factor codes and trusted browsers — all kept in PostgreSQL,
so they survive restarts and hold across several portal instances. Tokens and codes are
stored hashed; nothing secret is logged."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from psycopg.rows import class_row

from callflow.store import Database

_hasher = PasswordHasher()
# Verified against when the e-mail is unknown, so a miss costs as long as a hit.
_DUMMY_HASH = _hasher.hash(secrets.token_hex(16))


def hash_secret(value: str) -> str:
    """argon2 hash for passwords and voicemail PINs."""
    return _hasher.hash(value)


def verify_secret(stored: str | None, value: str) -> bool:
    try:
        return _hasher.verify(stored or _DUMMY_HASH, value) and stored is not None
    except (VerificationError, InvalidHashError):
        return False


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Session:
    token_hash: str
    account_id: int | None
    stage: str
    csrf_token: str
    challenge_id: int | None


_SESSION_COLUMNS = "token_hash, account_id, stage, csrf_token, challenge_id"


async def load_session(db: Database, token: str | None) -> Session | None:
    if not token or len(token) > 200:
        return None
    async with db.connection() as conn:
        cur = conn.cursor(row_factory=class_row(Session))
        await cur.execute(f"SELECT {_SESSION_COLUMNS} FROM portal_sessions"
                          " WHERE token_hash = %s AND expires_at > now()", (token_hash(token),))
        return await cur.fetchone()


async def new_session(db: Database, *, account_id: int | None = None, stage: str = "anonymous",
                      hours: int = 12) -> tuple[str, Session]:
    """A fresh session (new token: logging in never reuses a pre-login session id)."""
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    async with db.connection() as conn:
        await conn.execute(
            "INSERT INTO portal_sessions (token_hash, account_id, stage, csrf_token, expires_at)"
            " VALUES (%s, %s, %s, %s, now() + make_interval(hours => %s))",
            (token_hash(token), account_id, stage, csrf, hours))
        await conn.execute(
            "DELETE FROM portal_sessions WHERE expires_at < now() - interval '1 day'")
    return token, Session(token_hash(token), account_id, stage, csrf, None)


async def update_session(db: Database, session: Session, *, stage: str | None = None,
                         challenge_id: int | None = None) -> None:
    async with db.connection() as conn:
        await conn.execute(
            "UPDATE portal_sessions SET stage = COALESCE(%s, stage), challenge_id = %s"
            " WHERE token_hash = %s", (stage, challenge_id, session.token_hash))


async def end_session(db: Database, session: Session) -> None:
    async with db.connection() as conn:
        await conn.execute("DELETE FROM portal_sessions WHERE token_hash = %s",
                           (session.token_hash,))


def csrf_ok(session: Session, presented: str | None) -> bool:
    return bool(presented) and hmac.compare_digest(session.csrf_token, presented or "")


# ------------------------------------------------------------------ lockouts

async def locked(db: Database, key: str) -> bool:
    async with db.connection() as conn:
        cur = await conn.execute("SELECT 1 FROM portal_lockouts WHERE key = %s"
                                 " AND locked_until > now()", (key,))
        return await cur.fetchone() is not None


async def record_failure(db: Database, key: str, *, limit: int, minutes: int) -> bool:
    """Count a failure in a `minutes` window; at `limit` lock for `minutes`. True if now locked."""
    async with db.connection() as conn:
        cur = await conn.execute(
            "INSERT INTO portal_lockouts AS l (key, failures, window_start) VALUES (%s, 1, now())"
            " ON CONFLICT (key) DO UPDATE SET"
            "  failures = CASE WHEN l.window_start < now() - make_interval(mins => %s)"
            "             THEN 1 ELSE l.failures + 1 END,"
            "  window_start = CASE WHEN l.window_start < now() - make_interval(mins => %s)"
            "             THEN now() ELSE l.window_start END"
            " RETURNING failures", (key, minutes, minutes))
        row = await cur.fetchone()
        assert row is not None
        if _int(row[0]) >= limit:
            await conn.execute(
                "UPDATE portal_lockouts SET locked_until = now() + make_interval(mins => %s),"
                " failures = 0, window_start = now() WHERE key = %s", (minutes, key))
            return True
    return False


async def clear_failures(db: Database, key: str) -> None:
    async with db.connection() as conn:
        await conn.execute("DELETE FROM portal_lockouts WHERE key = %s AND"
                           " (locked_until IS NULL OR locked_until < now())", (key,))


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
    """Single use: a right code marks the challenge used, atomically (no double use)."""
    expected = code_hash(secret, challenge.id, code)
    async with db.connection() as conn:
        cur = await conn.execute(
            "UPDATE twofa_challenges SET used_at = now() WHERE id = %s AND code_hash = %s"
            " AND used_at IS NULL AND cancelled_at IS NULL AND expires_at > now()"
            " AND attempts < %s RETURNING id", (challenge.id, expected, max_attempts))
        if await cur.fetchone() is not None:
            return True
        await conn.execute("UPDATE twofa_challenges SET attempts = attempts + 1 WHERE id = %s",
                           (challenge.id,))
    return False


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
