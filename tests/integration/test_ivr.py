"""Voicemail retrieval (050-3300-5000) and PIN-change (050-3300-5141) IVRs through real peers:
SIPp → Asterisk → the app → PostgreSQL.

During login the SIPp scripts type ahead: the IVR keeps keys pressed during a prompt for the
next question (and a key stops a question's prompt), so a script can send its entries early
and the call still runs in order. Once messages play that is no longer so: keys act on the
message being presented at once, and keys typed before a message's header starts are
forgotten. So the scripts pace their menu entries (`MENU_AT_S`) to land while the menu after
a short message plays: the header (≈5 s) and a 1 s message are over by then, and the menu
prompt (≈15 s) and the first-digit wait (10 s) leave a wide margin on the late side.

The 15-minute lock lifting is tested by restarting the app with ANSHIN_CLOCK_OFFSET_S (the
app's clock, which lockouts and expiry use, moved 15 minutes ahead); the 168 h expiry with
messages inserted 169 h old, and directly against the store with a FixedClock.
"""

from __future__ import annotations

import asyncio
import io
import math
import time
import wave
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from argon2 import PasswordHasher

from callflow.clock import FixedClock
from callflow.store import Database
from callflow.store import mailbox as store
from integration.support import new_subscriber
from labkit.appproc import AppProcess
from labkit.asterisk import AsteriskContainer
from labkit.harness.hearing import Ears, heard_in_order, missing_words
from labkit.harness.sipp import CallResult, Dtmf, Hangup, Wait, place_call
from labkit.harness.sipp import Step as SippStep
from labkit.harness.wait import wait_until
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
    row = sql.execute("SELECT failed_attempts, locked_until FROM ivr_lockouts"
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


#: seconds from the start of a message's header (or of the guidance before the first one) to
#: an entry that must land in the menu after a 1 s message (see the module docstring)
MENU_AT_S = 11.0


def in_menus(entries: Sequence[str], mode: str,
             first_wait: float = MENU_AT_S + 4) -> list[SippStep]:
    """Menu entries (e.g. "3#"), each paced to land in the menu of the message presented by
    the previous one; the first waits for the guidance too."""
    steps: list[SippStep] = []
    for i, entry in enumerate(entries):
        steps += [Wait(first_wait if i == 0 else MENU_AT_S), keys(entry, mode)]
    return steps


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


async def assert_heard(ears: Ears, result: CallResult, *words: str,
                       in_order: bool = False, misses: int = 0) -> str:
    """The caller heard these words (recognised from the audio sent to SIPp); with
    ``in_order``, up to ``misses`` of them may be misheard."""
    assert result.rtp is not None, result.describe()
    text = await ears.hear(result.rtp.wav())
    if in_order:
        assert heard_in_order(words, text, misses=misses), (
            f"not heard in order {words}: {text!r}")
    else:
        assert not missing_words(words, text), f"not heard {missing_words(words, text)}: {text!r}"
    return text


def restart(app: AppProcess, **env: str) -> None:
    app.stop()
    for key in ("ANSHIN_CLOCK_OFFSET_S", "ANSHIN_VOICEMAIL_EXPIRY_INTERVAL"):
        app.env.pop(key, None)
    app.env.update(env)
    app.start()
    app.wait_connected()


# ------------------------------------------------------------------ authentication and lock

async def test_wrong_pin_three_times_locks_both_ivrs_survives_restart_and_lifts(
        app: AppProcess, asterisk: AsteriskContainer, sql: Sql, ears: Ears) -> None:
    number = new_mailbox(sql, pin="7733")  # repeated digits in the PIN: separate presses
    old = add_message(sql, number, age=timedelta(hours=169))
    t0 = datetime.now(UTC)
    wrong = [*login(number, "7734", "rfc4733"), keys(number + "#", "rfc4733"),
             keys("3377#", "rfc4733"), keys(number + "#", "rfc4733"), keys("7377#", "rfc4733")]
    result = await dial(asterisk, RETRIEVAL, wrong)
    assert result.answered and result.remote_hung_up, result.describe()
    assert result.rtp is not None and result.rtp.voiced_s > 5, result.describe()
    # the lock announcement (the keys typed ahead cut the prompts before it short)
    await assert_heard(ears, result, "3回間違えたため", "ご利用を制限しております",
                       "おかけ直しください", in_order=True)
    failed, until = lockout(sql, number)
    assert failed == 3 and until is not None
    assert timedelta(minutes=14) < until - t0 < timedelta(minutes=16)

    # the right PIN, in the other IVR (SIP INFO): still locked, hung up after the announcement
    result = await dial(asterisk, PIN_CHANGE, login(number, "7733", "info"))
    assert result.answered and result.remote_hung_up, result.describe()
    assert result.remote_bye_after_s is not None and result.remote_bye_after_s > 5
    await assert_heard(ears, result, "3回間違えたため", "ご利用を制限しております",
                       in_order=True)
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


async def test_lock_made_in_the_pin_change_ivr_holds_in_retrieval(
        app: AppProcess, asterisk: AsteriskContainer, sql: Sql, ears: Ears) -> None:
    # the other direction of the test above: three wrong PINs in 050-3300-5141, then the
    # right PIN in 050-3300-5000 is refused with the lock announcement
    number = new_mailbox(sql)
    add_message(sql, number, age=timedelta(hours=1))
    steps: list[SippStep] = [Wait(1.0)]
    for pin in ("4827", "4828", "4829"):
        steps += [keys(number + "#", "info"), keys(pin + "#", "info")]
    result = await dial(asterisk, PIN_CHANGE, steps)
    assert result.answered and result.remote_hung_up, result.describe()
    failed, until = lockout(sql, number)
    assert failed == 3 and until is not None
    result = await dial(asterisk, RETRIEVAL, login(number, "4826", "info"))
    assert result.answered and result.remote_hung_up, result.describe()
    text = await assert_heard(ears, result, "3回間違えたため", "ご利用を制限しております")
    assert "件目" not in text and "メッセージが" not in text, text  # no message presented
    assert lockout(sql, number) == (3, until)
    assert logins(sql, number) == ["pin_change_ivr:rejected"] * 2 + [
        "pin_change_ivr:locked", "retrieval_ivr:locked"]
    assert played(sql, number) == []


async def test_expiry_job_runs_periodically_not_only_at_start(
        app: AppProcess, sql: Sql) -> None:
    try:
        restart(app, ANSHIN_VOICEMAIL_EXPIRY_INTERVAL="1")
        number = new_mailbox(sql)
        # stored after the start-up run: only a later, periodic run can remove it
        old = add_message(sql, number, age=timedelta(hours=169))
        young = add_message(sql, number, age=timedelta(hours=167))
        await wait_until(lambda: old not in messages(sql, number), 15,
                         "the periodic expiry run removing the 169 h old message")
        assert young in messages(sql, number)
    finally:
        restart(app)


async def test_unknown_number_is_locked_like_a_real_one(
        app: AppProcess, asterisk: AsteriskContainer, sql: Sql) -> None:
    # The same calls for a mailbox and for a number that is none: the same answers (three
    # wrong tries → the lock announced, then the other IVR refuses), the same lock.
    known, unknown = new_mailbox(sql), "050" + str(time.time_ns())[-8:]

    async def three_wrong_then_other_ivr(number: str) -> None:
        steps: list[SippStep] = [Wait(1.0)]
        for pin in ("1111", "2222", "3333"):
            steps += [keys(number + "#", "info"), keys(pin + "#", "info")]
        result = await dial(asterisk, RETRIEVAL, steps)
        assert result.answered and result.remote_hung_up, result.describe()
        result = await dial(asterisk, PIN_CHANGE, login(number, "4826", "info"))
        assert result.answered and result.remote_hung_up, result.describe()

    await asyncio.gather(three_wrong_then_other_ivr(known), three_wrong_then_other_ivr(unknown))
    for number in (known, unknown):
        assert logins(sql, number) == ["retrieval_ivr:rejected"] * 2 + [
            "retrieval_ivr:locked", "pin_change_ivr:locked"], number
        failed, until = lockout(sql, number)
        assert failed == 3 and until is not None, number


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
                                                    sql: Sql, ears: Ears) -> None:
    number = new_mailbox(sql)
    result = await dial(asterisk, RETRIEVAL, login(number, "4826", "info"))
    assert result.answered and result.remote_hung_up, result.describe()
    # 「メッセージはお預かりしておりません。ご利用ありがとうございました。」 ≈ 4 s
    assert result.rtp is not None and result.rtp.voiced_s > 3, result.describe()
    await assert_heard(ears, result, "メッセージはお預かりしておりません",
                       "ご利用ありがとうございました", in_order=True)
    assert lockout(sql, number) == (0, None)


async def test_play_replay_next_wraparound_delete_all(app: AppProcess,
                                                      asterisk: AsteriskContainer,
                                                      sql: Sql, ears: Ears) -> None:
    number = new_mailbox(sql)
    first = add_message(sql, number, age=timedelta(hours=2))
    second = add_message(sql, number, age=timedelta(hours=1))
    # replay, garbage, next, next (wraps to the first), delete, delete (all gone → hang-up);
    # the last entry waits 2 s more for 「メッセージを消去しました。」
    menu = [*in_menus(["2#", "8#", "3#", "3#", "1#"], "rfc4733"),
            *in_menus(["1#"], "rfc4733", first_wait=MENU_AT_S + 2)]
    result = await dial(asterisk, RETRIEVAL, [*login(number, "4826", "rfc4733"), *menu],
                        timeout_s=120)
    assert result.answered and result.remote_hung_up, result.describe()
    assert messages(sql, number) == {}
    assert [m for m, _ in played(sql, number)] == [first, first, second, first, second]
    assert result.rtp is not None and result.rtp.voiced_s > 15, result.describe()
    # what the caller heard, in order: the count, the first header, its replay (no 再生済み),
    # 8# refused, the second, the wrap back to the first (now 再生済み), its deletion, the
    # second (now 1件目), and the last deletion
    await assert_heard(ears, result, "新しいメッセージが", "2件", "1件目", "1件目",
                       "入力が正しくありません", "2件目", "最初のメッセージに戻ります", "1件目",
                       "再生済みです", "メッセージを消去しました", "1件目",
                       "すべてのメッセージを消去しました",
                       # 83 s of audio: the recogniser mishears one of twelve now and then
                       # (「再生済みです」 as 「最制不味です」); the order of the rest still holds
                       in_order=True, misses=1)


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
                        [*login(number, "4826", "info"), *in_menus(["1#"], "info")], timeout_s=90)
    assert result.answered and result.remote_hung_up, result.describe()
    assert played(sql, number) == [(msg, False), (msg, True)]
    assert expired not in [m for m, _ in played(sql, number)]
    assert msg not in messages(sql, number)


async def test_keys_during_a_message_act_on_it_at_once(
        app: AppProcess, asterisk: AsteriskContainer, sql: Sql) -> None:
    number = new_mailbox(sql)
    long = add_message(sql, number, age=timedelta(hours=2), seconds=30.0)
    short = add_message(sql, number, age=timedelta(hours=1))
    # "1#1#" pressed while the 30 s message plays (its header is ≈5 s, after a ≈4 s guidance):
    # the first 1# deletes it at once; the second was typed before the next message was
    # presented, so it is forgotten and the next message plays. The caller hangs up in its
    # menu, well before the long message would have ended.
    result = await dial(asterisk, RETRIEVAL, [*login(number, "4826", "rfc4733"), Wait(12.0),
                                              keys("1#1#", "rfc4733"), Wait(15.0), Hangup()])
    assert result.answered, result.describe()
    await wait_until(lambda: len(played(sql, number)) >= 2, 10, "both messages played")
    assert played(sql, number) == [(long, False), (short, False)]
    assert messages(sql, number) == {short: True}


# ------------------------------------------------------------------ PIN change

async def test_pin_change_mismatch_then_success_works_in_retrieval(
        app: AppProcess, asterisk: AsteriskContainer, sql: Sql, ears: Ears) -> None:
    number = new_mailbox(sql)
    steps = [*login(number, "4826", "rfc4733"), keys("3#", "rfc4733"),
             keys("3911#", "rfc4733"), keys("3912#", "rfc4733"),  # mismatch
             keys("12#", "rfc4733"),  # not 4 digits
             keys("3911#", "rfc4733"), keys("3911#", "rfc4733")]
    result = await dial(asterisk, PIN_CHANGE, steps)
    assert result.answered and result.remote_hung_up, result.describe()
    # (the mismatch and the too-short PIN are answered too, but the keys typed ahead cut
    # those prompts short; the last one is heard whole)
    await assert_heard(ears, result, "暗証番号を変更しました")
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

async def test_store_one_lock_rule_for_mailboxes_and_unknown_numbers(pg: PgCluster,
                                                                    sql: Sql) -> None:
    known, unknown = new_mailbox(sql), "050" + str(time.time_ns())[-8:]
    clock = FixedClock(datetime.now(UTC))
    Outcome = store.AuthOutcome

    async def wrong(db: Database) -> list[store.AuthOutcome]:
        return [await store.authenticate(db, n, "0000", clock.now()) for n in (known, unknown)]

    def rows() -> list[tuple[object, ...]]:
        return sql.execute("SELECT failed_attempts, locked_until, last_failure_at"
                           " FROM ivr_lockouts WHERE number IN (%s, %s)",
                           (known, unknown)).fetchall()

    async with Database(pg.url) as db:
        for _ in range(2):
            assert await wrong(db) == [Outcome.REJECTED] * 2
        # two wrong PINs a day ago are forgotten for both: today's wrong PIN is the first
        clock.advance(timedelta(hours=24, seconds=1))
        assert await wrong(db) == [Outcome.REJECTED] * 2
        assert [await store.lock_state(db, n) for n in (known, unknown)] == [
            store.LockState(1, None, clock.now())] * 2
        # ... and the expiry job forgets them alike
        clock.advance(timedelta(hours=24))
        await store.delete_expired(db, clock.now())
        assert rows() == []
        # three wrong PINs lock both; a lock is kept by the expiry job while it lasts
        assert await wrong(db) == [Outcome.REJECTED] * 2
        assert await wrong(db) == [Outcome.REJECTED] * 2
        assert await wrong(db) == [Outcome.LOCKED] * 2
        await store.delete_expired(db, clock.now())
        assert len(rows()) == 2
        assert await wrong(db) == [Outcome.LOCKED] * 2
        clock.advance(store.LOCK_DURATION)
        await store.delete_expired(db, clock.now())
        assert rows() == []


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
