"""The portal's data access: subscriber settings, history, voicemail messages, callback.

A thin adapter for what the pages read. The portal writes nothing here: every table has one
writer in callflow (the callback service; store.subscribers for the screening and voicemail
settings, store.mailbox for the PIN and messages, store.forwarding, store.blocklist), which
the pages call directly. Every function that takes a 050 `number` expects the caller to have
checked that the account owns it (`owned_number`), and every query is scoped by that number
or by the account id.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from psycopg.rows import class_row

from callflow.store import Database
from callflow.store.errors import InvalidValue


@dataclass(frozen=True)
class Account:
    id: int
    email: str
    password_hash: str


@dataclass(frozen=True)
class Contact:
    id: int
    number: str
    label: str


@dataclass(frozen=True)
class NumberSettings:
    number: str
    reject_anonymous: bool
    forward_enabled: bool
    forward_ring_seconds: int
    forward_show_caller: str
    voicemail_enabled: bool
    pin_set: bool
    notify_email: str | None
    notify_only_recorded: bool
    attach_recording: bool


@dataclass(frozen=True)
class HistoryRow:
    id: int
    caller: str | None
    caller_name: str | None
    received_at: datetime
    likely_spam: bool = False  # 迷惑電話の可能性 when the call came


@dataclass(frozen=True)
class Message:
    id: int
    caller: str | None
    received_at: datetime
    duration_ms: int
    heard: bool
    transcript: str | None = None  # the message's text (transcription, when made)
    transcript_status: str | None = None  # pending / done / failed; None: none asked for


@dataclass(frozen=True)
class OwnNumber:
    id: int
    number: str
    preferred: bool
    verified: bool


@dataclass(frozen=True)
class CallRequest:
    id: int
    kind: str
    leg1: str
    destination: str | None
    status: str
    reason: str | None
    created_at: datetime


# ------------------------------------------------------------------ accounts and numbers

async def account_by_email(db: Database, email: str) -> Account | None:
    async with db.connection() as conn:
        cur = conn.cursor(row_factory=class_row(Account))
        await cur.execute("SELECT id, email, password_hash FROM accounts"
                          " WHERE lower(email) = lower(%s)", (email,))
        return await cur.fetchone()


async def contacts(db: Database, account_id: int) -> list[Contact]:
    async with db.connection() as conn:
        cur = conn.cursor(row_factory=class_row(Contact))
        await cur.execute("SELECT id, number, label FROM contact_numbers WHERE account_id = %s"
                          " ORDER BY id", (account_id,))
        return await cur.fetchall()


async def account_numbers(db: Database, account_id: int) -> list[str]:
    async with db.connection() as conn:
        cur = await conn.execute("SELECT number FROM subscriber_numbers WHERE account_id = %s"
                                 " ORDER BY number", (account_id,))
        return [str(r[0]) for r in await cur.fetchall()]


async def owns_number(db: Database, account_id: int, number: str) -> bool:
    async with db.connection() as conn:
        cur = await conn.execute("SELECT 1 FROM subscriber_numbers WHERE number = %s"
                                 " AND account_id = %s", (number, account_id))
        return await cur.fetchone() is not None


async def settings(db: Database, number: str) -> NumberSettings:
    async with db.connection() as conn:
        cur = conn.cursor(row_factory=class_row(NumberSettings))
        await cur.execute(
            "SELECT number, reject_anonymous, forward_enabled, forward_ring_seconds,"
            " forward_show_caller, voicemail_enabled, voicemail_pin_hash IS NOT NULL AS pin_set,"
            " notify_email, notify_only_recorded, attach_recording"
            " FROM subscriber_numbers WHERE number = %s", (number,))
        row = await cur.fetchone()
    if row is None:
        raise InvalidValue("no such number")
    return row




# ------------------------------------------------------------------ history

async def history(db: Database, number: str, limit: int = 50) -> list[HistoryRow]:
    async with db.connection() as conn:
        cur = conn.cursor(row_factory=class_row(HistoryRow))
        await cur.execute("SELECT id, caller, caller_name, received_at, likely_spam"
                          " FROM call_history"
                          " WHERE number = %s ORDER BY received_at DESC, id DESC LIMIT %s",
                          (number, limit))
        return await cur.fetchall()


async def history_entry(db: Database, number: str, entry_id: int) -> HistoryRow | None:
    async with db.connection() as conn:
        cur = conn.cursor(row_factory=class_row(HistoryRow))
        await cur.execute("SELECT id, caller, caller_name, received_at FROM call_history"
                          " WHERE number = %s AND id = %s", (number, entry_id))
        return await cur.fetchone()


async def outgoing(db: Database, number: str, limit: int = 50) -> list[CallRequest]:
    async with db.connection() as conn:
        cur = conn.cursor(row_factory=class_row(CallRequest))
        await cur.execute("SELECT id, kind, leg1, destination, status, reason, created_at"
                          " FROM call_requests WHERE number = %s AND kind = 'callback'"
                          " ORDER BY created_at DESC, id DESC LIMIT %s", (number, limit))
        return await cur.fetchall()


# ------------------------------------------------------------------ voicemail messages

async def messages(db: Database, number: str, search: str = "") -> list[Message]:
    """The number's messages, newest first, with their text; with ``search``, only those
    whose text contains it (a plain substring: Japanese has no word breaks; Latin letters
    in either case)."""
    async with db.connection() as conn:
        cur = conn.cursor(row_factory=class_row(Message))
        await cur.execute("SELECT m.id, m.caller, m.received_at, m.duration_ms, m.heard,"
                          " t.text AS transcript, t.status AS transcript_status"
                          " FROM voicemail_messages m"
                          " LEFT JOIN voicemail_transcripts t ON t.message_id = m.id"
                          " WHERE m.number = %s"
                          " AND (%s = '' OR strpos(lower(t.text), lower(%s)) > 0)"
                          " ORDER BY m.received_at DESC, m.id DESC", (number, search, search))
        return await cur.fetchall()


async def message_audio(db: Database, number: str, message_id: int) -> bytes | None:
    async with db.connection() as conn:
        cur = await conn.execute("SELECT audio FROM voicemail_messages WHERE number = %s"
                                 " AND id = %s", (number, message_id))
        row = await cur.fetchone()
    return bytes(row[0]) if row else None  # type: ignore[call-overload]


# ------------------------------------------------------------------ あんしん発信 (callback)
# Own numbers and call requests are written only by the callback service
# (callflow.features.callback.service), which the pages call directly; these read them.

async def own_numbers(db: Database, account_id: int) -> list[OwnNumber]:
    async with db.connection() as conn:
        cur = conn.cursor(row_factory=class_row(OwnNumber))
        await cur.execute("SELECT id, number, preferred, verified_at IS NOT NULL AS verified"
                          " FROM own_numbers WHERE account_id = %s ORDER BY id", (account_id,))
        return await cur.fetchall()


async def call_request(db: Database, account_id: int, request_id: int) -> CallRequest | None:
    async with db.connection() as conn:
        cur = conn.cursor(row_factory=class_row(CallRequest))
        await cur.execute("SELECT id, kind, leg1, destination, status, reason, created_at"
                          " FROM call_requests WHERE id = %s AND account_id = %s",
                          (request_id, account_id))
        return await cur.fetchone()
