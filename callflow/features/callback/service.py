"""The callback service API the web portal calls (and the operator CLI, and tests).

Every function takes the store's :class:`~callflow.store.Database`; errors come out as the
store's exception tree (``StoreError`` and subclasses) or, for a request refused by a
fraud rule or a precondition, :class:`CallbackRefused` (``reason_code`` + ``message_ja``).
Requests are rows in ``call_requests``; any app instance's worker places the call and
keeps ``status`` up to date, so the portal polls :func:`get_request`.
"""

from __future__ import annotations

import csv
import io
from datetime import date, datetime

import psycopg
from psycopg import errors as pg_errors
from psycopg.rows import class_row

from callflow.clock import JST
from callflow.config import Settings
from callflow.numbers import normalize
from callflow.store import Database, InvalidValue, LimitExceeded

from . import verification
from .models import CallbackRefused, CallRequest, LegRecord, OwnNumber
from .rules import Policy, Usage, check_destination, check_own_phone, check_usage, refusal

__all__ = [
    "MAX_OWN_NUMBERS",
    "CallRequest",
    "CallbackRefused",
    "LegRecord",
    "OwnNumber",
    "billing_csv",
    "billing_records",
    "get_request",
    "latest_verifications",
    "list_own_numbers",
    "placement_refusal",
    "register_own_number",
    "remove_own_number",
    "request_callback",
    "request_twofa_voice",
    "request_verification",
    "set_preferred",
]

MAX_OWN_NUMBERS = 5
ACTIVE = ("pending", "taken", "ringing", "connected")

_OWN_COLUMNS = "id, account_id, number, preferred, verified_at, created_at"
_REQ_COLUMNS = ", ".join(CallRequest.__dataclass_fields__)
_LEG_COLUMNS = ", ".join(f"l.{c}" for c in LegRecord.__dataclass_fields__)

_settings: Settings | None = None


def _default_settings() -> Settings:
    """The portal process has no App; the limits come from the same ANSHIN_* variables."""
    global _settings
    if _settings is None:
        _settings = Settings()
    return _settings


# ------------------------------------------------------------------ own numbers (事前登録)


async def register_own_number(db: Database, account_id: int, raw_number: str, *,
                              preferred: bool = False) -> int:
    """Register one of the subscriber's own phones (not yet verified); returns its id.

    A Japanese fixed or mobile number only (InvalidValue otherwise); registering the same
    number again returns the existing id (and may make it preferred). At most
    ``MAX_OWN_NUMBERS`` per account (LimitExceeded).
    """
    try:
        number = check_own_phone(raw_number)
    except CallbackRefused as exc:
        raise InvalidValue(exc.message_ja) from exc
    async with db.transaction() as conn:
        # Serialise registrations of one account (count limit, single preferred).
        await conn.execute("SELECT 1 FROM accounts WHERE id = %s FOR UPDATE", (account_id,))
        cur = await conn.execute(
            "SELECT id FROM own_numbers WHERE account_id = %s AND number = %s",
            (account_id, number))
        row = await cur.fetchone()
        if row is None:
            cur = await conn.execute(
                "SELECT count(*) FROM own_numbers WHERE account_id = %s", (account_id,))
            count = await cur.fetchone()
            if count is not None and int(str(count[0])) >= MAX_OWN_NUMBERS:
                raise LimitExceeded("own_numbers", MAX_OWN_NUMBERS)
            cur = await conn.execute(
                "INSERT INTO own_numbers (account_id, number) VALUES (%s, %s) RETURNING id",
                (account_id, number))
            row = await cur.fetchone()
        assert row is not None
        own_id = int(str(row[0]))
        if preferred:
            await _make_preferred(conn, account_id, own_id)
        return own_id


async def _make_preferred(conn: psycopg.AsyncConnection[tuple[object, ...]], account_id: int,
                          own_number_id: int) -> None:
    await conn.execute(
        "UPDATE own_numbers SET preferred = false WHERE account_id = %s AND preferred "
        "AND id <> %s", (account_id, own_number_id))
    cur = await conn.execute(
        "UPDATE own_numbers SET preferred = true WHERE account_id = %s AND id = %s",
        (account_id, own_number_id))
    if cur.rowcount != 1:
        raise InvalidValue(f"own number {own_number_id} is not registered to this account")


async def set_preferred(db: Database, account_id: int, own_number_id: int) -> None:
    async with db.transaction() as conn:
        await _make_preferred(conn, account_id, own_number_id)


async def list_own_numbers(db: Database, account_id: int) -> list[OwnNumber]:
    async with db.connection() as conn:
        cur = conn.cursor(row_factory=class_row(OwnNumber))
        await cur.execute(
            f"SELECT {_OWN_COLUMNS} FROM own_numbers WHERE account_id = %s "
            "ORDER BY preferred DESC, created_at, id", (account_id,))
        return await cur.fetchall()


async def remove_own_number(db: Database, account_id: int, own_number_id: int) -> None:
    async with db.connection() as conn:
        await conn.execute("DELETE FROM own_numbers WHERE account_id = %s AND id = %s",
                           (account_id, own_number_id))


async def _own_number(conn: psycopg.AsyncConnection[tuple[object, ...]], account_id: int,
                      own_number_id: int | None) -> OwnNumber | None:
    cur = conn.cursor(row_factory=class_row(OwnNumber))
    if own_number_id is None:
        await cur.execute(f"SELECT {_OWN_COLUMNS} FROM own_numbers "
                          "WHERE account_id = %s AND preferred", (account_id,))
    else:
        await cur.execute(f"SELECT {_OWN_COLUMNS} FROM own_numbers "
                          "WHERE account_id = %s AND id = %s", (account_id, own_number_id))
    return await cur.fetchone()


async def request_verification(db: Database, account_id: int, own_number_id: int, *,
                               code: str | None = None) -> int:
    """Ask the worker to call the own number (R-OUT-1); returns the request id.

    The subscriber sees the request's ``code`` on the portal (:func:`latest_verifications`)
    and the person at the phone must key it; ``code`` is only given by tests (default: a
    fresh random one). The call shows the account's first 050 number (the number the
    subscriber will later see on callbacks). Refused (CallbackRefused) while a verification
    call to the number is active, when the number is locked by wrong codes, or over the
    per-account / per-number call caps (verification.py); all checked and the row inserted
    in one transaction holding the account's row and a lock on the phone number.
    """
    async with db.transaction() as conn:
        # Serialise an account's requests (its caps) and every account's requests for one
        # phone number (one active call, the lock): account first, then number, everywhere.
        await conn.execute("SELECT 1 FROM accounts WHERE id = %s FOR UPDATE", (account_id,))
        own = await _own_number(conn, account_id, own_number_id)
        if own is None:
            raise InvalidValue(f"own number {own_number_id} is not registered to this account")
        if own.verified:
            raise verification.refusal("already_verified")
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext('verify_own_number'), "
                           "hashtext(%s))", (own.number,))
        cur = await conn.execute(
            "SELECT count(*) FILTER (WHERE account_id = %s "
            "         AND created_at > now() - interval '1 hour'), "
            "       count(*) FILTER (WHERE account_id = %s "
            "         AND created_at > now() - interval '1 day'), "
            "       count(*) FILTER (WHERE leg1 = %s AND created_at > now() - interval '1 day'), "
            "       count(*) FILTER (WHERE leg1 = %s AND reason = %s "
            "         AND created_at > now() - make_interval(hours => %s)), "
            "       count(*) FILTER (WHERE leg1 = %s AND status = ANY(%s)) "
            "FROM call_requests WHERE kind = 'verify_own_number' "
            "AND (account_id = %s OR leg1 = %s) "
            "AND created_at > now() - make_interval(hours => greatest(24, %s))",
            (account_id, account_id, own.number, own.number, verification.WRONG_CODE,
             verification.LOCK_HOURS, own.number, list(ACTIVE), account_id, own.number,
             verification.LOCK_HOURS))
        row = await cur.fetchone()
        assert row is not None
        hour, day, number_day, wrong, active = (int(str(v)) for v in row)
        verification.check_history(verification.History(
            account_calls_last_hour=hour, account_calls_last_day=day,
            number_calls_last_day=number_day, number_wrong_code_calls=wrong,
            active_on_number=active > 0))
        cur = await conn.execute(
            "SELECT number FROM subscriber_numbers WHERE account_id = %s ORDER BY created_at, "
            "number LIMIT 1", (account_id,))
        shown = await cur.fetchone()
        cur = await conn.execute(
            "INSERT INTO call_requests (kind, account_id, number, leg1, code) "
            "VALUES ('verify_own_number', %s, %s, %s, %s) RETURNING id",
            (account_id, shown[0] if shown else None, own.number,
             code or verification.new_code()))
        rid = await cur.fetchone()
        assert rid is not None
        return int(str(rid[0]))


async def latest_verifications(db: Database, account_id: int) -> dict[str, CallRequest]:
    """The latest verification request of each of the account's phone numbers, by number:
    the portal shows its code while the call is active and why it failed afterwards."""
    async with db.connection() as conn:
        cur = conn.cursor(row_factory=class_row(CallRequest))
        await cur.execute(
            f"SELECT DISTINCT ON (leg1) {_REQ_COLUMNS} FROM call_requests "
            "WHERE account_id = %s AND kind = 'verify_own_number' "
            "ORDER BY leg1, created_at DESC, id DESC", (account_id,))
        return {r.leg1: r for r in await cur.fetchall()}


async def placement_refusal(db: Database, req: CallRequest,
                            settings: Settings | None = None) -> CallbackRefused | None:
    """The worker's last check before it places a requested call (money is spent from
    here): the rules again with the data as it is now - the own number may have been
    removed since the request, the operator may have changed a rule or an account's
    limits, or the row may not have come through :func:`request_callback` at all.
    None = place the call."""
    settings = settings or _default_settings()
    if req.account_id is None:
        return refusal("no_own_number") if req.kind != "twofa_voice" else None
    async with db.connection() as conn:
        cur = conn.cursor(row_factory=class_row(OwnNumber))
        await cur.execute(f"SELECT {_OWN_COLUMNS} FROM own_numbers "
                          "WHERE account_id = %s AND number = %s", (req.account_id, req.leg1))
        own = await cur.fetchone()
        if req.kind == "verify_own_number":
            if own is None:
                return refusal("no_own_number")
            return None
        if req.kind != "callback":
            return None
        if own is None:
            return refusal("no_own_number")
        if not own.verified:
            return refusal("unverified_own_number")
        policy = await _policy(conn, req.account_id, settings)
    if req.number is None:
        return refusal("not_your_050_number")
    try:
        check_destination(req.destination or "", number_050=req.number, own_phone=own.number,
                          policy=policy)
    except CallbackRefused as exc:
        return exc
    return None


# ------------------------------------------------------------------ callback (あんしん発信)


async def _policy(conn: psycopg.AsyncConnection[tuple[object, ...]], account_id: int,
                  settings: Settings) -> Policy:
    base = Policy.from_settings(settings)
    cur = await conn.execute(
        "SELECT max_per_hour, max_per_day, max_billable_minutes_per_day "
        "FROM callback_account_limits WHERE account_id = %s", (account_id,))
    row = await cur.fetchone()
    if row is None:
        return base
    hour, day, minutes = row
    return Policy(
        allow_international=base.allow_international,
        allow_freephone=base.allow_freephone,
        blocked_prefixes=base.blocked_prefixes,
        service_numbers=base.service_numbers,
        max_per_hour=base.max_per_hour if hour is None else int(str(hour)),
        max_per_day=base.max_per_day if day is None else int(str(day)),
        max_billable_minutes_per_day=(base.max_billable_minutes_per_day if minutes is None
                                      else int(str(minutes))),
    )


async def request_callback(db: Database, account_id: int, number_050: str,
                           destination_raw: str, own_number_id: int | None = None, *,
                           settings: Settings | None = None) -> int:
    """Place an あんしん発信: call the own phone, then the destination, both showing
    ``number_050`` (R-OUT-2). ``own_number_id`` None = the preferred own number.

    Refused (CallbackRefused) for: a 050 number not on this account, no / unverified own
    number, any destination rule (rules.py), an active callback on the 050 number, the
    per-account hourly/daily attempt caps and the daily billable-minutes cap.
    """
    settings = settings or _default_settings()
    shown = normalize(number_050)
    async with db.transaction() as conn:
        # The lock serialises concurrent requests for one 050 number (one active callback).
        cur = await conn.execute(
            "SELECT number FROM subscriber_numbers WHERE number = %s AND account_id = %s "
            "FOR UPDATE", (shown, account_id))
        if shown is None or await cur.fetchone() is None:
            raise refusal("not_your_050_number")
        own = await _own_number(conn, account_id, own_number_id)
        if own is None:
            raise refusal("no_own_number")
        if not own.verified:
            raise refusal("unverified_own_number")
        policy = await _policy(conn, account_id, settings)
        dest = check_destination(destination_raw, number_050=shown, own_phone=own.number,
                                 policy=policy)
        cur = await conn.execute(
            "SELECT count(*) FILTER (WHERE created_at > now() - interval '1 hour'), "
            "       count(*) FILTER (WHERE created_at > now() - interval '1 day') "
            "FROM call_requests WHERE account_id = %s AND kind = 'callback'", (account_id,))
        counts = await cur.fetchone()
        cur = await conn.execute(
            "SELECT id FROM call_requests WHERE number = %s AND kind = 'callback' "
            "AND status = ANY(%s)", (shown, list(ACTIVE)))
        active = [int(str(r[0])) for r in await cur.fetchall()]
        cur = await conn.execute(
            "SELECT coalesce(sum(l.billable_seconds), 0) FROM callback_legs l "
            "JOIN call_requests r ON r.id = l.request_id "
            "WHERE r.account_id = %s AND l.created_at > now() - interval '1 day'",
            (account_id,))
        spent = await cur.fetchone()
        assert counts is not None and spent is not None
        check_usage(Usage(attempts_last_hour=int(str(counts[0])),
                          attempts_last_day=int(str(counts[1])),
                          billable_seconds_last_day=int(str(spent[0])),
                          active_on_050=active), policy)
        try:
            cur = await conn.execute(
                "INSERT INTO call_requests (kind, account_id, number, leg1, destination) "
                "VALUES ('callback', %s, %s, %s, %s) RETURNING id",
                (account_id, shown, own.number, dest))
        except pg_errors.UniqueViolation as exc:  # call_requests_one_active_callback
            raise refusal("busy_050_number") from exc
        rid = await cur.fetchone()
        assert rid is not None
        return int(str(rid[0]))


async def request_twofa_voice(db: Database, account_id: int, contact_number: str,
                              code: str) -> int:
    """Ask for a voice call reading ``code`` (R-ACC-3) to ``contact_number``."""
    number = normalize(contact_number)
    if number is None or not number.startswith("0") or not 10 <= len(number) <= 11:
        raise InvalidValue(f"not a Japanese phone number: {contact_number!r}")
    if not code.isascii() or not code.isdigit() or not 4 <= len(code) <= 8:
        raise InvalidValue("the code must be 4 to 8 digits")
    async with db.connection() as conn:
        cur = await conn.execute(
            "INSERT INTO call_requests (kind, account_id, leg1, code) "
            "VALUES ('twofa_voice', %s, %s, %s) RETURNING id", (account_id, number, code))
        rid = await cur.fetchone()
        assert rid is not None
        return int(str(rid[0]))


async def get_request(db: Database, request_id: int, account_id: int) -> CallRequest | None:
    async with db.connection() as conn:
        cur = conn.cursor(row_factory=class_row(CallRequest))
        await cur.execute(
            f"SELECT {_REQ_COLUMNS} FROM call_requests WHERE id = %s AND account_id = %s",
            (request_id, account_id))
        return await cur.fetchone()


# ------------------------------------------------------------------ billing (R-OUT-3)


def _month_range(month: date) -> tuple[datetime, datetime]:
    """The Japanese calendar month containing ``month`` (billing is in Japan time)."""
    start = datetime(month.year, month.month, 1, tzinfo=JST)
    nxt = datetime(month.year + (month.month == 12), month.month % 12 + 1, 1, tzinfo=JST)
    return start, nxt


async def billing_records(db: Database, account_id: int, month: date) -> list[LegRecord]:
    """Both legs of every callback of the account started in ``month`` (JST)."""
    start, end = _month_range(month)
    async with db.connection() as conn:
        cur = conn.cursor(row_factory=class_row(LegRecord))
        await cur.execute(
            f"SELECT {_LEG_COLUMNS} FROM callback_legs l "
            "JOIN call_requests r ON r.id = l.request_id "
            "WHERE r.account_id = %s AND l.created_at >= %s AND l.created_at < %s "
            "ORDER BY l.created_at, l.request_id, l.leg", (account_id, start, end))
        return await cur.fetchall()


CSV_HEADER = ("request_id", "leg", "from", "to", "created_at", "answered_at", "ended_at",
              "result", "billable_seconds")


def _jst(value: datetime | None) -> str:
    return "" if value is None else value.astimezone(JST).isoformat(timespec="seconds")


def records_csv(records: list[LegRecord]) -> str:
    """CSV (UTF-8, CRLF, times in JST ISO 8601) of billing records; pure."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_HEADER)
    for r in records:
        writer.writerow([r.request_id, r.leg, r.from_number, r.to_number, _jst(r.created_at),
                         _jst(r.answered_at), _jst(r.ended_at), r.result or "",
                         "" if r.billable_seconds is None else r.billable_seconds])
    return out.getvalue()


async def billing_csv(db: Database, account_id: int, month: date) -> str:
    return records_csv(await billing_records(db, account_id, month))

