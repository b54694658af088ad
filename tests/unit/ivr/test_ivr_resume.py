"""IVR sessions taken over by a new process: the checkpoint a machine names, and a new machine
resuming from it (the app was killed between two actions)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import timedelta
from functools import partial

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from callflow import call_state
from callflow.features.ivr.model import Ask, Finish, LoadMessages, Machine
from callflow.features.ivr.pin_change import PinChangeMachine
from callflow.features.ivr.retrieval import RetrievalMachine

from .world import _NOTHING, NUMBER, PIN, Mailbox, OutOfInput, Script, World, login, message

KEY = call_state.derive_key("test secret")


def fingerprints() -> Callable[[str], str]:
    return partial(call_state.fingerprint, KEY, "chan-1")


def run_with_restart(w: World, first: Machine, fresh: Callable[[], Machine],
                     script: Sequence[Script], restart_after: int) -> list[str | None]:
    """Like World.run, but at the first question (Ask) from `restart_after` actions on, the
    process "dies" (the caller is waiting for it to listen): a new machine resumes from the
    last checkpoint the driver would have stored. Returns the checkpoints stored. (Keys the
    caller typed before a kill are lost with the process; a script is answers to questions,
    so restarting elsewhere would drop an answer the script does not repeat.)"""
    inputs = iter(script)
    w._lookahead = _NOTHING
    machine = first
    action = machine.start(w.now)
    stored: list[str | None] = []
    restarted = False
    for step in range(2000):
        if not restarted and 0 <= restart_after <= step and isinstance(action, Ask):
            restarted = True
            machine = fresh()
            action = machine.resume(stored[-1] if stored else None, w.now)
        if isinstance(action, Finish):
            w.finished = action.prompts
            return stored
        try:
            event = w.perform(action, inputs)
        except OutOfInput:
            return stored
        action = machine.feed(event, w.now)
        cp = machine.checkpoint()
        if cp is not None and (not stored or stored[-1] != cp):
            stored.append(cp)
    raise AssertionError("machine did not finish")


def three_messages() -> World:
    box = Mailbox(pin=PIN)
    for m in (message(1, timedelta(hours=3)), message(2, timedelta(hours=2)),
              message(3, timedelta(hours=1))):
        box.messages[m.id] = m
    return World({NUMBER: box})


def test_checkpoint_names_number_order_step_and_never_a_pin() -> None:
    w = three_messages()
    stored = run_with_restart(w, RetrievalMachine(), RetrievalMachine,
                              [*login(), ("3", True), ("1", True)], restart_after=-1)
    assert stored and all(PIN not in (cp or "") for cp in stored)
    fields = [call_state.decode(cp or "") for cp in stored]
    assert fields[0] == {"k": "r", "s": "g", "n": NUMBER, "m": "1.2.3", "i": "0", "f": "0"}
    steps = [(f["s"], f["i"]) for f in fields[1:]]
    # present 1, its menu, present 2, its menu (delete), then 3 presented after "deleted"
    assert steps[:4] == [("p", "1"), ("u", "1"), ("p", "2"), ("u", "2")]
    assert fields[-1]["m"] == "1.3"


def test_resume_in_the_menu_asks_the_menu_again_and_acts_on_the_same_message() -> None:
    w = three_messages()
    # after login: guidance, header 1, message 1, menu → 3# ; header 2, message 2, menu → 1#
    script = [*login(), ("3", True), ("1", True)]
    plain = three_messages()
    plain.run(RetrievalMachine(), script)
    for restart_after in range(3, 12):
        w = three_messages()
        run_with_restart(w, RetrievalMachine(), RetrievalMachine, script, restart_after)
        assert w.deleted == plain.deleted == {2}, restart_after
        assert not w.violations


def test_resume_without_checkpoint_restarts_the_login_without_the_welcome() -> None:
    m = RetrievalMachine()
    action = m.resume(None, three_messages().now)
    assert action == Ask(("enter_number",), 11)
    p = PinChangeMachine(fingerprint=fingerprints())
    assert p.resume("k=p;s=k;n=05012345678", three_messages().now) == Ask(("enter_number",), 11)


def test_resume_drops_deleted_messages_and_keeps_the_order() -> None:
    m = RetrievalMachine()
    cp = call_state.encode({"k": "r", "s": "u", "n": NUMBER, "m": "3.1.2", "i": "1", "f": "1"})
    assert m.resume(cp, three_messages().now) == LoadMessages(NUMBER)
    w = three_messages()
    del w.mailboxes[NUMBER].messages[1]  # deleted by the step the old process was doing
    event = w.perform(LoadMessages(NUMBER), iter(()))
    action = m.feed(event, w.now)
    # the message after it in the stored order is presented (as after "deleted")
    assert action.__class__.__name__ == "Say"
    assert m.messages[m.index].id == 2 and [x.id for x in m.messages] == [3, 2]
    assert m.prompter.failures == 1


def pin_session(first_entry: str, confirm: str) -> list[Script]:
    return [*login(), ("3", True), (first_entry, True), (confirm, True)]


@pytest.mark.parametrize("restart_after", range(3, 8))
def test_pin_change_resumes_between_the_two_entries(restart_after: int) -> None:
    w = World({NUMBER: Mailbox(pin=PIN)})
    stored = run_with_restart(w, PinChangeMachine(fingerprint=fingerprints()),
                              lambda: PinChangeMachine(fingerprint=fingerprints()),
                              [*pin_session("3911", "3911"), ("3911", True)], restart_after)
    assert w.mailboxes[NUMBER].pin == "3911"
    assert w.finished == ("pin_changed", "goodbye")
    assert all("3911" not in (cp or "") and PIN not in (cp or "") for cp in stored)


def test_pin_change_resumed_still_refuses_the_current_pin_and_a_mismatch() -> None:
    w = World({NUMBER: Mailbox(pin=PIN)})
    # restart while the confirmation is asked; the caller then types another PIN (mismatch),
    # then the current PIN as the new one (refused), then a good one twice
    run_with_restart(w, PinChangeMachine(fingerprint=fingerprints()),
                     lambda: PinChangeMachine(fingerprint=fingerprints()),
                     [*pin_session("3911", "3912"), (PIN, True), ("3911", True),
                      ("3911", True)], restart_after=5)
    assert w.mailboxes[NUMBER].pin == "3911"
    assert ("pin_mismatch", "enter_new_pin") in w.asked
    assert ("pin_same_as_current", "enter_new_pin") in w.asked


def test_a_forged_or_moved_checkpoint_is_refused() -> None:
    value = call_state.seal(KEY, "chan-1", "k=r;s=u;n=05012345678;m=1;i=1;f=0")
    assert call_state.unseal(KEY, "chan-1", value) == "k=r;s=u;n=05012345678;m=1;i=1;f=0"
    assert call_state.unseal(KEY, "chan-2", value) is None  # copied onto another call
    assert call_state.unseal(call_state.derive_key("other"), "chan-1", value) is None
    forged = value.replace("05012345678", "05099999999")
    assert call_state.unseal(KEY, "chan-1", forged) is None
    assert call_state.unseal(KEY, "chan-1", "") is None
    with pytest.raises(ValueError):
        call_state.encode({"n": "1;k=p"})


@settings(max_examples=60, deadline=None)
@given(restart_after=st.integers(min_value=3, max_value=40),
       choices=st.lists(st.sampled_from(["1", "2", "3", "4", "7"]), min_size=1, max_size=8))
def test_any_restart_after_login_ends_like_the_uninterrupted_call(
        restart_after: int, choices: list[str]) -> None:
    script: list[Script] = [*login(), *((c, True) for c in choices)]
    plain = three_messages()
    plain.run(RetrievalMachine(), script)
    w = three_messages()
    run_with_restart(w, RetrievalMachine(), RetrievalMachine, script, restart_after)
    assert w.deleted == plain.deleted
    assert not w.violations


def test_what_keeping_the_progress_costs() -> None:
    """One ARI request (set a channel variable) per checkpoint written: the guidance, then two
    per message presented (its header, its menu); the PIN change: three (menu, new PIN,
    confirmation). Failures add one each (the count is part of the checkpoint)."""
    w = three_messages()
    stored = run_with_restart(w, RetrievalMachine(), RetrievalMachine,
                              [*login(), ("3", True), ("3", True), ("1", True)],
                              restart_after=-1)
    assert w.played == [1, 2, 3, 1]  # the last deleted: back to the first
    assert len(stored) == 1 + 2 * len(w.played)
    w = World({NUMBER: Mailbox(pin=PIN)})
    stored = run_with_restart(w, PinChangeMachine(fingerprint=fingerprints()),
                              lambda: PinChangeMachine(fingerprint=fingerprints()),
                              pin_session("3911", "3911"), restart_after=-1)
    assert len(stored) == 3
