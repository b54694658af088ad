"""Forwarding destinations of one 050 number (R-IN-3, SPEC §6): up to 5 registered, at
most one active (a partial unique index), the 6th refused by the schema (LimitExceeded).
Destinations are Japanese national numbers (landline or mobile) in canonical form.

How a forward rings them (`forward_mode` of subscriber_numbers): 'single' rings the active
destination (as before); 'simultaneous' rings every registered destination at once (the
first to answer wins); 'sequential' rings them one after the other in the listed order
(`position`), each for its own ring time (`ring_seconds`, NULL = the number's
forward_ring_seconds). Asterisk's Dial does the ringing (features/inbound/forwarding.py).

This module is the only writer of `forward_destinations` (and of the forwarding columns of
`subscriber_numbers`): the portal pages, the JSON API and the tests all go through it, so the
rule below (`forwardable`) holds for every entry point.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from psycopg.rows import class_row

from callflow.numbers import NumberKind, is_anonymous, kind, normalize
from callflow.store.database import Database
from callflow.store.errors import InvalidValue, LimitExceeded

MAX_DESTINATIONS = 5
FORWARD_MODES = ("single", "simultaneous", "sequential")
# Where a subscriber's calls may be forwarded: their own landline or mobile. Not a 050
# number: the carrier routes a 050 call back to an IP-phone service — to this 050 number
# itself, to our IVR access numbers, or to another subscriber who forwards here again — and
# each leg is a new billable call that loops until the carrier's hop limit. Not
# premium-rate/special/freephone/international either (toll fraud, or no one to answer).
_ALLOWED = {NumberKind.MOBILE, NumberKind.FIXED}

# Japanese reasons (shown by the portal page, the JSON API and any operator tool).
MSG_FORMAT = "電話番号は0から始まる10桁または11桁の半角数字で入力してください。"
MSG_OWN_050 = "この050番号自身は接続先に指定できません。"
_USE_LANDLINE_OR_MOBILE = "固定電話または携帯電話の番号を入力してください。"
MSG_050 = "050番号（IP電話の番号）は接続先に指定できません。" + _USE_LANDLINE_OR_MOBILE
MSG_INTERNATIONAL = "国際電話の番号は接続先に指定できません。"
MSG_NOT_ALLOWED = "この電話番号は接続先に指定できません。" + _USE_LANDLINE_OR_MOBILE


@dataclass(frozen=True)
class ForwardDestination:
    id: int
    destination: str
    active: bool
    created_at: datetime
    position: int = 0  # the order the subscriber listed it in
    ring_seconds: int | None = None  # in sequential mode; None: the number's ring time


_COLUMNS = "id, destination, active, created_at, position, ring_seconds"

# One more column of incoming_call's SELECT (subscriber_numbers is its FROM): in the
# simultaneous and sequential modes, every destination in order as [destination, ring
# seconds]; NULL in the single mode, which reads nothing more than before.
INCOMING_RING_COLUMN = (
    "CASE WHEN subscriber_numbers.forward_mode <> 'single' THEN"
    " (SELECT array_agg(ARRAY[d.destination, COALESCE(d.ring_seconds,"
    "   subscriber_numbers.forward_ring_seconds)::text] ORDER BY d.position, d.id)"
    "  FROM forward_destinations d WHERE d.number = subscriber_numbers.number) END")


def ring_list(column: object) -> tuple[tuple[str, int], ...]:
    """INCOMING_RING_COLUMN's value: (destination, ring seconds) in ringing order."""
    if not column:
        return ()
    assert isinstance(column, list)
    return tuple((str(d), int(r)) for d, r in column)


def forwardable(raw: str, *, number: str | None = None) -> str:
    """The canonical destination for `raw` (any written form), or InvalidValue whose text is
    the Japanese reason. `number` is the 050 number being forwarded, when known."""
    destination = None if is_anonymous(raw) else normalize(raw)
    if destination is None:
        raise InvalidValue(MSG_FORMAT)
    k = kind(destination)
    if k is NumberKind.INTERNATIONAL:
        raise InvalidValue(MSG_INTERNATIONAL)
    if k is NumberKind.SUBSCRIBER_050:
        raise InvalidValue(MSG_OWN_050 if destination == number else MSG_050)
    if not re.fullmatch(r"0[0-9]{9,10}", destination):
        raise InvalidValue(MSG_FORMAT)
    if k not in _ALLOWED:
        raise InvalidValue(MSG_NOT_ALLOWED)
    return destination


async def list_destinations(db: Database, number: str) -> list[ForwardDestination]:
    async with db.connection() as conn:
        cur = conn.cursor(row_factory=class_row(ForwardDestination))
        await cur.execute(
            f"SELECT {_COLUMNS} FROM forward_destinations WHERE number = %s"
            " ORDER BY position, id",
            (number,))
        return await cur.fetchall()


async def add_destination(db: Database, number: str, raw: str, *,
                          activate: bool = False) -> ForwardDestination:
    """Register a destination (idempotent for one already registered); `activate` makes
    it the active one."""
    destination = forwardable(raw, number=number)
    async with db.transaction() as conn:
        cur = conn.cursor(row_factory=class_row(ForwardDestination))
        await cur.execute(
            f"SELECT {_COLUMNS} FROM forward_destinations WHERE number = %s"
            " AND destination = %s", (number, destination))
        row = await cur.fetchone()
        if row is None:
            await cur.execute(
                "INSERT INTO forward_destinations (number, destination) VALUES (%s, %s)"
                f" RETURNING {_COLUMNS}", (number, destination))
            row = await cur.fetchone()
            assert row is not None
    if activate:
        await activate_destination(db, number, row.id)
        return ForwardDestination(row.id, row.destination, True, row.created_at, row.position,
                                  row.ring_seconds)
    return row


async def get_forward_mode(db: Database, number: str) -> str:
    async with db.connection() as conn:
        cur = await conn.execute(
            "SELECT forward_mode FROM subscriber_numbers WHERE number = %s", (number,))
        row = await cur.fetchone()
    return "single" if row is None else str(row[0])


async def activate_destination(db: Database, number: str, destination_id: int) -> None:
    """Make one destination the active one (the others inactive), atomically."""
    async with db.transaction() as conn:
        cur = await conn.execute(
            "SELECT 1 FROM forward_destinations WHERE number = %s AND id = %s FOR UPDATE",
            (number, destination_id))
        if await cur.fetchone() is None:
            raise InvalidValue(f"no forwarding destination {destination_id} for {number}")
        await conn.execute(
            "UPDATE forward_destinations SET active = false WHERE number = %s AND active",
            (number,))
        await conn.execute(
            "UPDATE forward_destinations SET active = true WHERE id = %s", (destination_id,))


async def deactivate_all(db: Database, number: str) -> None:
    async with db.connection() as conn:
        await conn.execute(
            "UPDATE forward_destinations SET active = false WHERE number = %s AND active",
            (number,))


async def remove_destination(db: Database, number: str, destination_id: int) -> bool:
    async with db.connection() as conn:
        cur = await conn.execute(
            "DELETE FROM forward_destinations WHERE number = %s AND id = %s",
            (number, destination_id))
        return cur.rowcount > 0


async def save_forwarding(db: Database, number: str, *, enabled: bool, destinations: list[str],
                          active: str | None, ring_seconds: int, show_caller: str,
                          mode: str = "single",
                          ring_each: list[int | None] | None = None) -> None:
    """The portal's 設定する: make the destination list equal to `destinations` (order kept,
    at most MAX_DESTINATIONS), `active` (one of them, or None) the active one, and store the
    forwarding settings — all in one transaction. Every destination passes `forwardable`.
    `mode`: one of FORWARD_MODES; `ring_each`: each destination's ring time in the
    sequential mode (None: `ring_seconds`)."""
    if mode not in FORWARD_MODES:
        raise InvalidValue(f"forward mode {mode!r}")
    wanted = [forwardable(d, number=number) for d in destinations]
    rings = list(ring_each or [])
    rings += [None] * (len(wanted) - len(rings))
    chosen = forwardable(active, number=number) if active is not None else None
    if chosen is not None and chosen not in wanted:
        raise InvalidValue(f"active destination {chosen} is not in the list")
    if len(set(wanted)) > MAX_DESTINATIONS:
        raise LimitExceeded("forward_destinations", MAX_DESTINATIONS)
    async with db.transaction() as conn:
        await conn.execute(
            "UPDATE subscriber_numbers SET forward_enabled = %s, forward_ring_seconds = %s,"
            " forward_show_caller = %s, forward_mode = %s WHERE number = %s",
            (enabled, ring_seconds, show_caller, mode, number))
        await conn.execute("DELETE FROM forward_destinations WHERE number = %s"
                           " AND NOT (destination = ANY(%s))", (number, wanted))
        await conn.execute(
            "UPDATE forward_destinations SET active = false WHERE number = %s AND active",
            (number,))
        for position, (destination, ring) in enumerate(zip(wanted, rings, strict=False)):
            # Update first, insert only what is new: the limit trigger runs BEFORE INSERT
            # even when ON CONFLICT would skip the row, so re-saving 5 would be refused.
            cur = await conn.execute(
                "UPDATE forward_destinations SET position = %s, ring_seconds = %s"
                " WHERE number = %s AND destination = %s", (position, ring, number, destination))
            if cur.rowcount == 0:
                await conn.execute(
                    "INSERT INTO forward_destinations (number, destination, active, position,"
                    " ring_seconds) VALUES (%s, %s, false, %s, %s)",
                    (number, destination, position, ring))
        if chosen is not None:
            await conn.execute("UPDATE forward_destinations SET active = true"
                               " WHERE number = %s AND destination = %s", (number, chosen))
