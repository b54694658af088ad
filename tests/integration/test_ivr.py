"""Voicemail retrieval (050-3300-5000) and PIN-change (050-3300-5141) IVRs through real peers:
SIPp → Asterisk → the app → PostgreSQL.

The SIPp scripts type ahead: the IVR keeps keys pressed during a prompt for the next question
(and a key stops a question's prompt), so a script can send all of its entries early and the
call still runs in order — the tests do not depend on prompt lengths or machine load.

The 15-minute lock lifting is tested by restarting the app with ANSHIN_CLOCK_OFFSET_S (the
app's clock, which lockouts and expiry use, moved 15 minutes ahead); the 168 h expiry with
messages inserted 169 h old, and directly against the store with a FixedClock.
"""

from __future__ import annotations

import io
import math
import time
import wave
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from argon2 import PasswordHasher
from harness.sipp import CallResult, Dtmf, Hangup, Wait, place_call
from harness.sipp import Step as SippStep

from callflow.clock import FixedClock
from callflow.store import Database
from callflow.store import mailbox as store
from integration.support import new_subscriber
from labkit.appproc import AppProcess
from labkit.asterisk import AsteriskContainer
from labkit.postgres import PgCluster

pytestmark = pytest.mark.lab

Sql = psycopg.Connection[tuple[object, ...]]
RETRIEVAL = "05033005000"
PIN_CHANGE = "050-3300-5141"
_hasher = PasswordHasher()


# ------------------------------------------------------------------ helpers

def tone_wav(seconds: float = 1.0, hz: float = 440.0) -> bytes:
    """A short real WAV (8 kHz, 16-bit, mono) as the deposit stores them."""
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        frames = bytearray()
        for i in range(int(8000 * seconds)):
            v = int(8000 * math.sin(2 * math.pi * hz * i / 8000))
            frames += v.to_bytes(2, "little", signed=True)
        w.writeframes(bytes(frames))
    return buf.getvalue()


def new_mailbox(sql: Sql, pin: str = "4826") -> str:
    return new_subscriber(sql, voicemail_enabled=True, voicemail_pin_hash=_hasher.hash(pin))


def add_message(sql: Sql, number: str, *, age: timedelta, heard: bool = False,
                caller: str | None = None, seconds: float = 1.0) -> int:
    row = sql.execute(
        "INSERT INTO voicemail_messages (number, caller, received_at, duration_ms, heard, audio)"
        " VALUES (%s, %s, %s, %s, %s, %s) RETURNING id",
        (number, caller, datetime.now(UTC) - age, int(seconds * 1000), heard,
         tone_wav(seconds))).fetchone()
    assert row is not None and isinstance(row[0], int)
    return row[0]


def messages(sql: Sql, number: str) -> dict[int, bool]:
    return {int(str(r[0])): bool(r[1]) for r in sql.execute(
        "SELECT id, heard FROM voicemail_messages WHERE number = %s", (number,)).fetchall()}


def lockout(sql: Sql, number: str) -> tuple[int, datetime | None]:
    row = sql.execute("SELECT failed_attempts, locked_until FROM mailbox_lockouts"
                      " WHERE number = %s", (number,)).fetchone()
    if row is None:
        return 0, None
    assert isinstance(row[0], int) and (row[1] is None or isinstance(row[1], datetime))
    return row[0], row[1]


def keys(digits: str, mode: str) -> Dtmf:
    # short RFC 4733 presses keep the scripts quick; Asterisk detects them reliably
    return Dtmf(digits, mode=mode, duration_s=0.08, gap_s=0.06)  # type: ignore[arg-type]


def login(number: str, pin: str, mode: str) -> list[SippStep]:
    return [Wait(1.0), keys(number + "#", mode), keys(pin + "#", mode)]


async def dial(asterisk: AsteriskContainer, ivr: str, steps: Sequence[SippStep],
               timeout_s: float = 60) -> CallResult:
    return await place_call(target=asterisk.sip_target, dialed=ivr, steps=list(steps),
                            digit_gap_s=0.08, wait_for_remote_bye=True, timeout_s=timeout_s)


def played(sql: Sql, number: str) -> list[tuple[int, bool]]:
    """(message id, heard before) for each message the IVR played from this mailbox, in
    order (the IVR's own trail in call_log)."""
    rows = sql.execute("SELECT detail FROM call_log WHERE route = 'retrieval_ivr:played'"
                       " AND detail LIKE %s ORDER BY id", (number + ":%",)).fetchall()
    return [(int(str(r[0]).split(":")[1]), str(r[0]).endswith(":heard")) for r in rows]


def logins(sql: Sql, number: str) -> list[str]:
    rows = sql.execute("SELECT route, detail FROM call_log WHERE route LIKE '%%:login'"
                       " AND detail LIKE %s ORDER BY id", (number + ":%",)).fetchall()
    return [f"{str(r[0]).split(':')[0]}:{str(r[1]).split(':')[1]}" for r in rows]


def restart(app: AppProcess, **env: str) -> None:
    app.stop()
    for key in ("ANSHIN_CLOCK_OFFSET_S",):
        app.env.pop(key, None)
    app.env.update(env)
    app.start()
    app.wait_connected()


# ------------------------------------------------------------------ authentication and lock

async def test_wrong_pin_three_times_locks_both_ivrs_survives_restart_and_lifts(
        app: AppProcess, asterisk: AsteriskContainer, sql: Sql) -> None:
    number = new_mailbox(sql, pin="7733")  # repeated digits in the PIN: separate presses
    old = add_message(sql, number, age=timedelta(hours=169))
    t0 = datetime.now(UTC)
    wrong = [*login(number, "7734", "rfc4733"), keys(number + "#", "rfc4733"),
             keys("3377#", "rfc4733"), keys(number + "#", "rfc4733"), keys("7377#", "rfc4733")]
    result = await dial(asterisk, RETRIEVAL, wrong)
    assert result.answered and result.remote_hung_up, result.describe()
    assert result.rtp is not None and result.rtp.voiced_s > 5, result.describe()
    failed, until = lockout(sql, number)
    assert failed == 3 and until is not None
    assert timedelta(minutes=14) < until - t0 < timedelta(minutes=16)

    # the right PIN, in the other IVR (SIP INFO): still locked, hung up after the announcement
    result = await dial(asterisk, PIN_CHANGE, login(number, "7733", "info"))
    assert result.answered and result.remote_hung_up, result.describe()
    assert result.remote_bye_after_s is not None and result.remote_bye_after_s > 5
    assert lockout(sql, number) == (3, until)

    try:
        # the lock lives in PostgreSQL: a restarted app still refuses
        restart(app)
        result = await dial(asterisk, RETRIEVAL, login(number, "7733", "rfc4733"))
        assert result.answered and result.remote_hung_up, result.describe()
        assert lockout(sql, number) == (3, until)
        # 15 minutes later (the app's clock moved ahead) the lock has lifted by itself
        restart(app, ANSHIN_CLOCK_OFFSET_S=str(15 * 60 + 5))
        result = await dial(asterisk, RETRIEVAL, login(number, "7733", "info"))
        assert result.answered and result.remote_hung_up, result.describe()
        assert lockout(sql, number) == (0, None)
        assert logins(sql, number) == ["retrieval_ivr:rejected"] * 2 + [
            "retrieval_ivr:locked", "pin_change_ivr:locked", "retrieval_ivr:locked",
            "retrieval_ivr:ok"]
        # the expiry job ran at start-up: the 169 h old message is gone (row and audio)
        assert old not in messages(sql, number)
    finally:
        restart(app)


async def test_unknown_number_is_locked_like_a_real_one(
        app: AppProcess, asterisk: AsteriskContainer, sql: Sql) -> None:
    unknown = "050" + str(time.time_ns())[-8:]
    steps: list[SippStep] = [Wait(1.0)]
    for pin in ("1111", "2222", "3333"):
        steps += [keys(unknown + "#", "info"), keys(pin + "#", "info")]
    result = await dial(asterisk, RETRIEVAL, steps)
    assert result.answered and result.remote_hung_up, result.describe()
    row = sql.execute("SELECT failed_attempts, locked_until FROM ivr_unknown_lockouts"
                      " WHERE number = %s", (unknown,)).fetchone()
    assert row is not None and row[0] == 3 and row[1] is not None


async def test_silence_and_garbage_keys_give_up(app: AppProcess, asterisk: AsteriskContainer,
                                                sql: Sql) -> None:
    number = new_mailbox(sql)
    # "#" alone twice (invalid), then silence: after 3 failures goodbye and hang-up
    result = await dial(asterisk, RETRIEVAL,
                        [Wait(1.0), keys("#", "rfc4733"), Wait(0.5), keys("*#", "rfc4733")])
    assert result.answered and result.remote_hung_up, result.describe()
    assert result.rtp is not None and result.rtp.voiced_s > 3
    assert lockout(sql, number) == (0, None)


async def test_hangup_during_login_ends_the_call_task(app: AppProcess,
                                                      asterisk: AsteriskContainer,
                                                      sql: Sql) -> None:
    number = new_mailbox(sql)
    result = await dial(asterisk, PIN_CHANGE, [Wait(1.0), keys(number[:5], "info"), Hangup()])
    assert result.answered and not result.remote_hung_up, result.describe()
    app.wait_idle()


# ------------------------------------------------------------------ retrieval

async def test_empty_mailbox_announces_and_hangs_up(app: AppProcess,
                                                    asterisk: AsteriskContainer,
                                                    sql: Sql) -> None:
    number = new_mailbox(sql)
    result = await dial(asterisk, RETRIEVAL, login(number, "4826", "info"))
    assert result.answered and result.remote_hung_up, result.describe()
    # 「メッセージはお預かりしておりません。ご利用ありがとうございました。」 ≈ 4 s
    assert result.rtp is not None and result.rtp.voiced_s > 3, result.describe()
    assert lockout(sql, number) == (0, None)


async def test_play_replay_next_wraparound_delete_all(app: AppProcess,
                                                      asterisk: AsteriskContainer,
                                                      sql: Sql) -> None:
    number = new_mailbox(sql)
    first = add_message(sql, number, age=timedelta(hours=2))
    second = add_message(sql, number, age=timedelta(hours=1))
    # replay, garbage, next, next (wraps to the first), delete, delete (all gone → hang-up)
    menu = "2#9#3#3#1#1#"
    result = await dial(asterisk, RETRIEVAL,
                        [*login(number, "4826", "rfc4733"), keys(menu, "rfc4733")], timeout_s=90)
    assert result.answered and result.remote_hung_up, result.describe()
    assert messages(sql, number) == {}
    assert [m for m, _ in played(sql, number)] == [first, first, second, first, second]
    assert result.rtp is not None and result.rtp.voiced_s > 15, result.describe()


async def test_heard_on_second_call_and_expired_never_played(
        app: AppProcess, asterisk: AsteriskContainer, sql: Sql) -> None:
    number = new_mailbox(sql)
    msg = add_message(sql, number, age=timedelta(minutes=30), caller="09011112222")
    expired = add_message(sql, number, age=timedelta(hours=169))
    # first call: the message plays, then the caller hangs up in the menu
    result = await dial(asterisk, RETRIEVAL,
                        [*login(number, "4826", "info"), Wait(22.0), Hangup()])
    assert result.answered, result.describe()
    assert messages(sql, number).get(msg) is True, "marked heard when playback started"
    # second call: announced as heard, then deleted (the last one: announcement, hang-up)
    result = await dial(asterisk, RETRIEVAL,
                        [*login(number, "4826", "info"), keys("1#", "info")], timeout_s=90)
    assert result.answered and result.remote_hung_up, result.describe()
    assert played(sql, number) == [(msg, False), (msg, True)]
    assert expired not in [m for m, _ in played(sql, number)]
    assert msg not in messages(sql, number)


# ------------------------------------------------------------------ PIN change

async def test_pin_change_mismatch_then_success_works_in_retrieval(
        app: AppProcess, asterisk: AsteriskContainer, sql: Sql) -> None:
    number = new_mailbox(sql)
    steps = [*login(number, "4826", "rfc4733"), keys("3#", "rfc4733"),
             keys("3911#", "rfc4733"), keys("3912#", "rfc4733"),  # mismatch
             keys("12#", "rfc4733"),  # not 4 digits
             keys("3911#", "rfc4733"), keys("3911#", "rfc4733")]
    result = await dial(asterisk, PIN_CHANGE, steps)
    assert result.answered and result.remote_hung_up, result.describe()
    row = sql.execute("SELECT voicemail_pin_hash FROM subscriber_numbers WHERE number = %s",
                      (number,)).fetchone()
    assert row is not None and isinstance(row[0], str)
    assert _hasher.verify(row[0], "3911")
    # the new PIN works at once in the retrieval IVR (empty mailbox → announcement, hang-up)
    result = await dial(asterisk, RETRIEVAL, login(number, "3911", "info"))
    assert result.answered and result.remote_hung_up, result.describe()
    assert logins(sql, number)[-2:] == ["pin_change_ivr:ok", "retrieval_ivr:ok"]
    assert lockout(sql, number) == (0, None)


# ------------------------------------------------------------------ store, controllable clock

async def test_store_expiry_and_lock_with_fixed_clock(pg: PgCluster, sql: Sql) -> None:
    number = new_mailbox(sql)
    now = datetime.now(UTC)
    keep = add_message(sql, number, age=timedelta(hours=167))
    add_message(sql, number, age=timedelta(hours=169))
    clock = FixedClock(now)
    async with Database(pg.url) as db:
        listed = await store.list_messages(db, number, clock.now())
        assert [m.id for m in listed] == [keep]
        assert await store.delete_expired(db, clock.now()) >= 1
        assert set(messages(sql, number)) == {keep}
        clock.advance(timedelta(hours=2))
        assert await store.message_audio(db, number, keep, clock.now()) is None
        # three wrong PINs lock; the right one is refused until 15 minutes have passed
        outcomes = [await store.authenticate(db, number, "0000", clock.now()) for _ in range(3)]
        assert outcomes == [store.AuthOutcome.REJECTED] * 2 + [store.AuthOutcome.LOCKED]
        clock.advance(timedelta(minutes=14, seconds=59))
        assert await store.authenticate(db, number, "4826", clock.now()) \
            is store.AuthOutcome.LOCKED
        clock.advance(timedelta(seconds=1))
        assert await store.authenticate(db, number, "4826", clock.now()) is store.AuthOutcome.OK
        assert lockout(sql, number) == (0, None)
