"""The IVR state machines driven through the in-memory world (no Asterisk, no database)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from argon2 import extract_parameters

from callflow import speech
from callflow.features.ivr.model import Ask, Entered, Finish, NoInput
from callflow.features.ivr.pin_change import PinChangeMachine
from callflow.features.ivr.prompter import Prompter
from callflow.features.ivr.retrieval import RetrievalMachine
from callflow.pins import pin_problem
from callflow.store.mailbox import (
    DUMMY_PIN_HASH,
    LOCK_DURATION,
    LockState,
    MessageSummary,
    after_failure,
    after_success,
    hash_pin,
    is_expired,
    is_forgotten,
    is_locked,
)

from .world import LISTEN, NUMBER, PIN, T0, Keys, Mailbox, World, login, message


def world(*msgs: MessageSummary, pin: str | None = PIN) -> World:
    box = Mailbox(pin=pin)
    for m in msgs:
        box.messages[m.id] = m
    return World({NUMBER: box})


# ------------------------------------------------------------------ lock and PIN rules

def test_three_failures_lock_for_15_minutes_and_lift_by_themselves() -> None:
    s = LockState()
    for _ in range(2):
        s = after_failure(s, T0)
        assert not is_locked(s, T0)
    s = after_failure(s, T0)
    assert s.locked_until == T0 + LOCK_DURATION
    assert is_locked(s, T0 + LOCK_DURATION - timedelta(seconds=1))
    assert not is_locked(s, T0 + LOCK_DURATION)
    # after the lock lifted, counting starts again
    s = after_failure(s, T0 + LOCK_DURATION)
    assert s.failed_attempts == 1 and not is_locked(s, T0 + LOCK_DURATION)
    assert after_success() == LockState()


def test_wrong_pins_are_forgotten_24_hours_after_the_last_one() -> None:
    # one rule for every entered number (mailbox or not): two wrong PINs a day ago do not
    # make today's first wrong PIN the third
    s = after_failure(after_failure(LockState(), T0), T0 + timedelta(hours=1))
    assert s.failed_attempts == 2 and s.last_failure_at == T0 + timedelta(hours=1)
    assert not is_forgotten(s, T0 + timedelta(hours=24, minutes=59))
    assert after_failure(s, T0 + timedelta(hours=24, minutes=59)).failed_attempts == 3
    assert is_forgotten(s, T0 + timedelta(hours=25))
    s = after_failure(s, T0 + timedelta(hours=25))
    assert s.failed_attempts == 1 and not is_locked(s, T0 + timedelta(hours=25))
    # a lock is never forgotten while it lasts; once lifted the row no longer counts
    s = LockState(3, T0 + LOCK_DURATION, T0)
    assert not is_forgotten(s, T0 + LOCK_DURATION - timedelta(seconds=1))
    assert is_forgotten(s, T0 + LOCK_DURATION)
    assert is_forgotten(LockState(), T0)


def test_dummy_pin_hash_costs_what_a_real_pin_hash_costs() -> None:
    # verified for unknown numbers: same Argon2 parameters, made before any call
    assert extract_parameters(DUMMY_PIN_HASH) == extract_parameters(hash_pin("4826"))


def test_expiry_is_168_hours() -> None:
    assert not is_expired(T0 - timedelta(hours=167, minutes=59), T0)
    assert is_expired(T0 - timedelta(hours=168), T0)


@pytest.mark.parametrize("new,problem", [
    ("123", "pin_invalid"), ("12345", "pin_invalid"), ("", "pin_invalid"),
    ("4826", "pin_same_as_current"), ("1111", "pin_too_simple"), ("1234", "pin_too_simple"),
    ("8765", "pin_too_simple"), ("7890", "pin_too_simple"), ("3917", None), ("0112", None),
])
def test_pin_policy(new: str, problem: str | None) -> None:
    assert pin_problem(new, "4826") == problem


def test_prompter_repeats_then_gives_up() -> None:
    p = Prompter(3)
    p.ask(("enter_pin",), 4)
    assert p.answer(NoInput()) == Ask(("no_input", "enter_pin"), 4)
    assert p.answer(Entered("12", False)) == Ask(("invalid_input", "enter_pin"), 4)
    assert p.answer(NoInput()) == Finish(("no_input", "goodbye"))
    p.ask(("enter_pin",), 4)
    p.failures = 0
    assert p.answer(Entered("1234", True)) == "1234"


# ------------------------------------------------------------------ authentication

def test_wrong_pin_three_times_locks_and_hangs_up() -> None:
    w = world()
    w.run(RetrievalMachine(), [*login(pin="0000")] * 3)
    assert w.finished == ("locked",)
    assert is_locked(w.mailboxes[NUMBER].lock, w.now)
    # even the right PIN is refused while locked (the other IVR too)
    w2 = World(w.mailboxes, now=w.now)
    w2.run(PinChangeMachine(), login())
    assert w2.finished == ("locked",) and not w2.auth_ok


def test_unknown_number_sounds_like_wrong_pin() -> None:
    known, unknown = world(), world()
    known.run(RetrievalMachine(), [*login(pin="0000"), *login()])
    unknown.run(RetrievalMachine(), [*login(number="05099990000"), *login()])
    assert known.said == unknown.said and known.asked == unknown.asked
    assert known.asked[2] == ("auth_failed", "enter_number")


def test_per_call_attempt_limit_across_numbers() -> None:
    w = world()
    w.run(RetrievalMachine(), [*login("05099990001"), *login("05099990002"),
                               *login("05099990003")])
    assert w.finished == ("auth_failed", "goodbye")


def test_silence_gives_up_after_three_timeouts() -> None:
    w = world()
    w.run(RetrievalMachine(), [None, None, None])
    assert w.asked == [("welcome", "enter_number"), ("no_input", "enter_number"),
                       ("no_input", "enter_number")]
    assert w.finished == ("no_input", "goodbye")


# ------------------------------------------------------------------ retrieval

def test_empty_mailbox() -> None:
    w = world()
    w.run(RetrievalMachine(), login())
    # said with barge-in (9# opens the greeting menu), then the call ends
    assert w.said[-1] == ("no_messages",) and w.finished == ()


def test_order_new_first_then_heard_oldest_first_and_wraparound() -> None:
    w = world(message(1, timedelta(hours=5), heard=True), message(2, timedelta(hours=3)),
              message(3, timedelta(hours=9)), message(4, timedelta(hours=1), heard=True))
    w.run(RetrievalMachine(), [*login(), ("3", True), ("3", True), ("3", True), ("3", True),
                               ("3", True)])
    assert w.played == [3, 2, 1, 4, 3, 2]
    assert w.said[0] == ("new_messages_prefix", "ken_2", "arimasu",
                         "saved_messages_prefix", "ken_2", "arimasu")
    assert ("back_to_first",) in w.said
    headers = [s for s in w.said if s[0].startswith("nth_")]
    assert [h[0] for h in headers] == ["nth_1", "nth_2", "nth_3", "nth_4", "nth_1", "nth_2"]
    # messages 1 and 4 were heard before; after the wrap 3 and 2 are heard too
    assert [h[1] == "already_heard" for h in headers] == [False, False, True, True, True, True]
    # short: position, date and time; the caller's number only on request (4#)
    assert headers[0] == ("nth_1", "today", "am", "hour_6", "minute_42")


def test_replay_delete_and_delete_all() -> None:
    w = world(message(1, timedelta(hours=2)), message(2, timedelta(hours=1)))
    w.run(RetrievalMachine(), [*login(), ("2", True), ("1", True), ("1", True)])
    assert w.played == [1, 1, 2]
    assert w.deleted == {1, 2}
    assert ("deleted",) in w.said
    assert w.finished == ("all_deleted",)


def test_delete_last_goes_back_to_first() -> None:
    w = world(message(1, timedelta(hours=2)), message(2, timedelta(hours=1)))
    w.run(RetrievalMachine(), [*login(), ("3", True), ("1", True)])
    assert w.played == [1, 2, 1]
    assert ("deleted", "back_to_first") in w.said


def test_garbage_menu_keys_reprompt() -> None:
    w = world(message(1, timedelta(hours=2)))
    w.run(RetrievalMachine(), [*login(), ("8", True), ("12", False), None])
    assert w.asked[-2:] == [("invalid_input", "menu_after_message"),
                            ("invalid_input", "menu_after_message")]
    assert w.finished == ("no_input", "goodbye")


# ------------------------------------------------------------------ keys during playback

def test_3_during_a_message_skips_it_at_once() -> None:
    w = world(message(1, timedelta(hours=2)), message(2, timedelta(hours=1)))
    w.run(RetrievalMachine(), [*login(), LISTEN, LISTEN, Keys("3#")])
    assert w.played == [1, 2]
    assert ("menu_after_message",) not in w.asked[:3], "no menu for the skipped message"
    assert not w.violations


def test_1_during_a_message_deletes_that_one_and_keys_typed_ahead_are_forgotten() -> None:
    w = world(message(1, timedelta(hours=2)), message(2, timedelta(hours=1)))
    # "1#1#" pressed during message 1: the first 1# deletes it; the second was typed before
    # message 2 was presented, so it must not delete message 2
    w.run(RetrievalMachine(), [*login(), LISTEN, LISTEN, Keys("1#1#")])
    assert w.deleted == {1}
    assert w.played == [1, 2]
    assert not w.violations


def test_keys_during_the_guidance_are_forgotten() -> None:
    w = world(message(1, timedelta(hours=2)))
    w.run(RetrievalMachine(), [*login(), Keys("1#")])
    assert w.said[0][0] == "new_messages_prefix"
    assert w.played == [1] and not w.deleted


def test_a_key_during_the_header_skips_to_the_message() -> None:
    # '#' only skips the header; 3# said during the header goes on to the next message
    w = world(message(1, timedelta(hours=2)), message(2, timedelta(hours=1)))
    w.run(RetrievalMachine(), [*login(), LISTEN, Keys("#"), ("3", True), Keys("3#")])
    assert w.played == [1, 2, 1]
    assert w.mailboxes[NUMBER].messages[1].heard
    # a lone digit during the header, then nothing: the message plays, the entry is invalid
    w = world(message(1, timedelta(hours=2)))
    w.run(RetrievalMachine(), [*login(), LISTEN, Keys("5"), None])
    assert w.played == [1]
    assert w.asked[-1] == ("invalid_input", "menu_after_message")


def test_caller_number_on_request() -> None:
    w = world(message(1, timedelta(hours=2), caller="+819011112222"))
    w.run(RetrievalMachine(), [*login(), ("4", True), Keys("1#")])
    caller = ("message_received_at", "from_number", *speech.digits("09011112222"), "kara")
    assert caller in w.said
    assert w.deleted == {1} and w.finished == ("all_deleted",)
    w = world(message(1, timedelta(hours=2), caller=None))
    w.run(RetrievalMachine(), [*login(), ("4", True)])
    assert w.said[-1] == ("message_received_at", "from_anonymous")
    assert w.asked[-1] == ("menu_after_message",)


def test_expired_message_never_listed_or_played() -> None:
    w = world(message(1, timedelta(hours=169)), message(2, timedelta(hours=167, minutes=59,
                                                                        seconds=50)))
    w.run(RetrievalMachine(), [*login(), ("3", True)])
    # message 2 expires while the call goes on (each step takes a second): never replayed
    assert w.played == [2]
    assert w.finished == ("no_messages",)
    assert not w.violations


# ------------------------------------------------------------------ PIN change

def test_pin_change_success() -> None:
    w = world()
    w.run(PinChangeMachine(), [*login(), ("3", True), ("3917", True), ("3917", True)])
    assert w.finished == ("pin_changed", "goodbye")
    assert w.mailboxes[NUMBER].pin == "3917"
    w2 = World(w.mailboxes, now=w.now)
    w2.run(RetrievalMachine(), login(pin="3917"))
    assert w2.said[-1] == ("no_messages",) and w2.finished == ()


def test_pin_change_mismatch_invalid_and_same_are_retried() -> None:
    w = world()
    w.run(PinChangeMachine(), [*login(), ("5", True), ("3", True), ("3917", True),
                               ("3918", True), ("39", True), ("3917", True),
                               ("3917", True)])
    assert w.asked[3:] == [("invalid_input", "pin_menu"), ("enter_new_pin",),
                           ("confirm_new_pin",), ("pin_mismatch", "enter_new_pin"),
                           ("pin_invalid", "enter_new_pin"), ("confirm_new_pin",)]
    assert w.mailboxes[NUMBER].pin == "3917"
    w = world()
    w.run(PinChangeMachine(), [*login(), ("3", True), (PIN, True)])
    assert w.asked[-1] == ("pin_same_as_current", "enter_new_pin")
    assert w.mailboxes[NUMBER].pin == PIN
