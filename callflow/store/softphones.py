"""Softphone accounts of 050 numbers: the only writer of `softphone_accounts` (the portal
page, the JSON API and the tests go through it).

`issue` generates a new password and keeps only its HA1 (callflow/softphone.py says why);
the password is returned to the caller once and is not recoverable. Issuing again replaces
the old password (the phone must be set up again); `revoke` ends the account. Every change
takes a new `change_seq`, so the app's sync job (callflow/softphone_sync.py) pushes exactly
what changed to Asterisk, and a revoked row stays (with revoked_at) until then.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from psycopg.rows import class_row

from callflow.softphone import SoftphoneAccount, ha1, new_password, username_for
from callflow.store.database import Database


@dataclass(frozen=True)
class IssuedCredential:
    """What the subscriber sees once: the account to type into the softphone app."""
    number: str
    username: str
    password: str


@dataclass(frozen=True)
class SoftphoneStatus:
    username: str
    created_at: datetime
    rings: bool


async def issue(db: Database, number: str) -> IssuedCredential:
    """A new password for `number`'s softphone (creating the account, or replacing the
    password of a revoked or active one)."""
    username = username_for(number)
    password = new_password()
    async with db.connection() as conn:
        await conn.execute(
            "INSERT INTO softphone_accounts (number, username, ha1) VALUES (%s, %s, %s)"
            " ON CONFLICT (number) DO UPDATE SET ha1 = EXCLUDED.ha1, revoked_at = NULL,"
            " created_at = now(), change_seq = nextval('softphone_change_seq')",
            (number, username, ha1(username, password)))
    return IssuedCredential(number, username, password)


async def revoke(db: Database, number: str) -> bool:
    """End `number`'s softphone account; False when there was none."""
    async with db.connection() as conn:
        cur = await conn.execute(
            "UPDATE softphone_accounts SET revoked_at = now(),"
            " change_seq = nextval('softphone_change_seq')"
            " WHERE number = %s AND revoked_at IS NULL", (number,))
        return cur.rowcount > 0


async def set_rings(db: Database, number: str, rings: bool) -> None:
    """Whether the softphone rings with the number's forward (a ring destination)."""
    async with db.connection() as conn:
        await conn.execute(
            "UPDATE softphone_accounts SET rings = %s,"
            " change_seq = nextval('softphone_change_seq') WHERE number = %s", (rings, number))


async def status(db: Database, number: str) -> SoftphoneStatus | None:
    """The active account of `number` (never its secret), or None."""
    async with db.connection() as conn:
        cur = conn.cursor(row_factory=class_row(SoftphoneStatus))
        await cur.execute(
            "SELECT username, created_at, rings FROM softphone_accounts"
            " WHERE number = %s AND revoked_at IS NULL", (number,))
        return await cur.fetchone()


async def active_account(db: Database, username: str) -> SoftphoneAccount | None:
    """The active account with this user name, or None."""
    async with db.connection() as conn:
        cur = await conn.execute(
            "SELECT number, username, ha1, false, change_seq, rings FROM softphone_accounts"
            " WHERE username = %s AND revoked_at IS NULL", (username,))
        row = await cur.fetchone()
    if row is None:
        return None
    n, u, h, r, s, g = row
    return SoftphoneAccount(str(n), str(u), str(h), bool(r), int(str(s)), bool(g))


async def changed_since(db: Database, change_seq: int) -> list[SoftphoneAccount]:
    """Every account changed after `change_seq` (0: all), in change order."""
    async with db.connection() as conn:
        cur = await conn.execute(
            "SELECT number, username, ha1, revoked_at IS NOT NULL, change_seq, rings"
            " FROM softphone_accounts WHERE change_seq > %s ORDER BY change_seq",
            (change_seq,))
        rows = await cur.fetchall()
    return [SoftphoneAccount(str(n), str(u), str(h), bool(r), int(str(s)), bool(g))
            for n, u, h, r, s, g in rows]
