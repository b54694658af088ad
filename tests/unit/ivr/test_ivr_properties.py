"""Hypothesis: random digits, timeouts and clock jumps thrown at both IVR machines.

Whatever the caller does, a machine never crashes, never plays a deleted or expired message,
never deletes a message with keys pressed before that message was presented, never logs anyone
in without the right PIN on an unlocked mailbox, and always ends.
"""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from callflow.features.ivr.pin_change import PinChangeMachine
from callflow.features.ivr.retrieval import RetrievalMachine
from callflow.store.mailbox import LockState, MessageSummary

from .world import LISTEN, NUMBER, PIN, T0, Keys, Mailbox, Script, World

keys = st.text(alphabet="0123456789*", max_size=13)
entry: st.SearchStrategy[Script] = st.one_of(
    st.none(),
    st.tuples(keys, st.booleans()),
    st.sampled_from([(NUMBER, True), (PIN, True), ("1", True), ("2", True), ("3", True),
                     ("4", True), ("3917", True), ("0000", True)]),
    # keys pressed while a prompt or a message plays (barge-in, type-ahead)
    st.builds(Keys, st.text(alphabet="0123456789*#", min_size=1, max_size=5)),
    st.sampled_from([LISTEN, Keys("1#"), Keys("3#"), Keys("#"), Keys("1#1#"),
                     Keys("2#3#")]),
)
ages_h = st.floats(min_value=0, max_value=200)


@st.composite
def worlds(draw: st.DrawFn) -> World:
    box = Mailbox(pin=draw(st.sampled_from([PIN, None])))
    for mid, (age, heard) in enumerate(draw(st.lists(st.tuples(ages_h, st.booleans()),
                                                     max_size=6)), start=1):
        box.messages[mid] = MessageSummary(mid, T0 - timedelta(hours=age), None, heard)
    if draw(st.booleans()):
        box.lock = LockState(draw(st.integers(0, 3)),
                             T0 + timedelta(minutes=draw(st.integers(-20, 20))))
    return World({NUMBER: box}, step_s=draw(st.sampled_from([0.5, 60.0, 3600.0])))


@settings(max_examples=300, deadline=None)
@given(worlds(), st.lists(entry, max_size=40), st.booleans())
def test_random_callers_never_break_the_rules(w: World, script: list[Script],
                                              pin_change: bool) -> None:
    box = w.mailboxes[NUMBER]
    original_pin = box.pin
    initial_lock = box.lock
    machine = PinChangeMachine() if pin_change else RetrievalMachine()
    w.run(machine, script)
    assert not w.violations
    # a login only ever happened with the right PIN
    assert all(number == NUMBER and pin == original_pin for number, pin in w.auth_ok)
    if original_pin is None:
        assert not w.auth_ok and not w.played and box.pin is None
    # played messages were logged in for
    if w.played:
        assert w.auth_ok
    # a lock that was active at the start and still is now: nobody got in
    if initial_lock.locked_until is not None and initial_lock.locked_until > w.now:
        assert not w.auth_ok
    # only a logged-in PIN-change call can change the PIN, and only to a valid one
    if box.pin != original_pin:
        assert pin_change and w.auth_ok and box.pin is not None and len(box.pin) == 4


@settings(max_examples=200, deadline=None)
@given(worlds(), st.lists(entry, max_size=60))
def test_machine_always_ends_with_finish_or_wants_input(w: World, script: list[Script]
                                                        ) -> None:
    machine = RetrievalMachine()
    w.run(machine, script)
    # either finished, or the script ran out while the machine waited for the caller
    assert w.finished is not None or len(w.asked) >= 1
