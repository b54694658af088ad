"""Subscriber 050 numbers and their settings: the one writer of the screening and
voicemail-center settings of `subscriber_numbers` (forwarding settings: store.forwarding;
the voicemail PIN: store.mailbox)."""

from __future__ import annotations

from dataclasses import dataclass

from psycopg.rows import class_row

from callflow.quiet_hours import QuietHoursForCall
from callflow.store import call_screening, forwarding, likely_spam, quiet_hours
from callflow.store.database import Database
from callflow.store.mailbox import write_pin_hash


@dataclass(frozen=True)
class SubscriberNumber:
    number: str
    account_id: int
    reject_anonymous: bool
    block_action: str
    forward_enabled: bool
    forward_ring_seconds: int
    forward_show_caller: str
    voicemail_enabled: bool
    notify_email: str | None
    notify_only_recorded: bool
    attach_recording: bool
    forward_mode: str = "single"  # 'single' | 'simultaneous' | 'sequential' (store.forwarding)


_COLUMNS = ", ".join(SubscriberNumber.__dataclass_fields__)


async def find_subscriber(db: Database, number: str) -> SubscriberNumber | None:
    async with db.connection() as conn:
        cur = conn.cursor(row_factory=class_row(SubscriberNumber))
        await cur.execute(
            f"SELECT {_COLUMNS} FROM subscriber_numbers WHERE number = %s",
            (number,),
        )
        return await cur.fetchone()


@dataclass(frozen=True)
class IncomingCall:
    """What the inbound path needs from the database before the caller hears anything."""
    subscriber: SubscriberNumber
    blocked: bool  # the presented caller is on this number's block list
    forward_destination: str | None  # the active destination (whether or not forwarding is on)
    quiet: QuietHoursForCall | None = None  # おやすみモード, when on (store/quiet_hours.py)
    # every destination in ringing order, (number, ring seconds), unless forward_mode is single
    ring_list: tuple[tuple[str, int], ...] = ()
    # 迷惑電話の可能性: accounts that block the caller (store/likely_spam.py; never shown),
    # and whether this number refuses such calls
    likely_spam_reporters: int = 0
    reject_likely_spam: bool = False
    # 名乗り確認: screening is on and the caller is not known (store/call_screening.py)
    screen: bool = False


async def incoming_call(db: Database, *, number: str, presented: str | None, channel_id: str,
                        dialed: str, caller: str | None) -> IncomingCall | None:
    """One round trip for a call to a 050 number: log it in call_log (route "subscriber",
    or "not_in_service" when the number is not provisioned) and read the subscriber's
    settings, whether `presented` (the normalised caller) is on the block list, the
    active forward destination (or, ringing several phones, all of them), and the quiet
    hours. None: not provisioned."""
    async with db.connection() as conn:
        cur = await conn.execute(
            "WITH logged AS ("
            " INSERT INTO call_log (channel_id, dialed, route, caller)"
            " SELECT %(channel)s, %(dialed)s, CASE WHEN EXISTS"
            "  (SELECT 1 FROM subscriber_numbers WHERE number = %(n)s)"
            "  THEN 'subscriber' ELSE 'not_in_service' END, %(caller)s)"
            f" SELECT {_COLUMNS},"
            " EXISTS (SELECT 1 FROM block_list WHERE number = %(n)s AND blocked = %(p)s),"
            " (SELECT destination FROM forward_destinations WHERE number = %(n)s AND active),"
            f" {forwarding.INCOMING_RING_COLUMN},"
            f" {likely_spam.INCOMING_COLUMNS},"
            f" {call_screening.INCOMING_COLUMN},"
            # kept last: read back from the row's end (quiet_hours.INCOMING_WIDTH)
            f" {quiet_hours.INCOMING_COLUMNS}"
            " FROM subscriber_numbers WHERE number = %(n)s",
            {"n": number, "p": presented, "channel": channel_id, "dialed": dialed,
             "caller": caller})
        row = await cur.fetchone()
    if row is None:
        return None
    width = len(SubscriberNumber.__dataclass_fields__)
    subscriber = SubscriberNumber(*row[:width])  # type: ignore[arg-type]
    blocked, destination, ring = row[width], row[width + 1], row[width + 2]
    return IncomingCall(subscriber, bool(blocked),
                        None if destination is None else str(destination),
                        quiet=quiet_hours.for_call(row[-quiet_hours.INCOMING_WIDTH:]),
                        ring_list=forwarding.ring_list(ring),
                        likely_spam_reporters=int(row[width + 3]),  # type: ignore[call-overload]
                        reject_likely_spam=bool(row[width + 4]),
                        screen=bool(row[width + 5]))


async def set_reject_anonymous(db: Database, number: str, reject: bool) -> None:
    """非通知着信拒否 on or off."""
    async with db.connection() as conn:
        await conn.execute("UPDATE subscriber_numbers SET reject_anonymous = %s WHERE number = %s",
                           (reject, number))


async def set_voicemail_center(db: Database, number: str, *, enabled: bool, email: str | None,
                               only_recorded: bool, attach: bool,
                               pin_hash: str | None) -> None:
    """留守番電話センター settings; a new PIN (already hashed: store.mailbox.hash_pin) is
    written with them, in one transaction."""
    async with db.transaction() as conn:
        await conn.execute(
            "UPDATE subscriber_numbers SET voicemail_enabled = %s, notify_email = %s,"
            " notify_only_recorded = %s, attach_recording = %s WHERE number = %s",
            (enabled, email, only_recorded, attach, number))
        if pin_hash is not None:
            await write_pin_hash(conn, number, pin_hash)
