"""応答メッセージの設定 (9# in the retrieval IVR) driven through the in-memory world."""

from __future__ import annotations

from datetime import timedelta

from callflow.features.ivr.greeting_menu import MENU
from callflow.features.ivr.model import Ask, RecordGreeting, Say
from callflow.features.ivr.retrieval import RetrievalMachine
from callflow.greeting import MAX_SECONDS

from .world import LISTEN, NUMBER, PIN, Keys, Mailbox, World, login, message

VOICE = b"RIFF-my-greeting"
OTHER = b"RIFF-another-take"


def world(*, greeting: bytes | None = None, with_message: bool = False,
          recordings: tuple[bytes | None, ...] = ()) -> World:
    box = Mailbox(pin=PIN, greeting=greeting)
    if with_message:
        m = message(1, timedelta(hours=1))
        box.messages[m.id] = m
    return World({NUMBER: box}, recordings=list(recordings))


def test_record_listen_keep_from_an_empty_mailbox() -> None:
    # 9 typed during 「メッセージはお預かりしておりません。」, '#' after it
    w = world(recordings=(VOICE,))
    w.run(RetrievalMachine(), [*login(), Keys("9"), ("", True),
                               ("1", True), Keys("#"),  # record, '#' ends the recording
                               ("2", True), LISTEN,  # listen to the draft
                               ("3", True)])  # keep it
    assert w.said[0] == ("no_messages",)
    # the number, the PIN, the rest of the 9 entry (no prompt), then the greeting menu
    assert w.asked[2:5] == [(), MENU, ("greeting_recorded", *MENU)]
    assert ("greeting_record_guide", "beep") in w.said
    assert w.greetings_played == [VOICE]
    assert w.mailboxes[NUMBER].greeting == VOICE
    assert w.finished == ("greeting_kept", "goodbye")


def test_nothing_kept_until_3_and_a_refused_take_keeps_the_previous_draft() -> None:
    w = world(greeting=OTHER, recordings=(VOICE, None))
    w.run(RetrievalMachine(), [*login(), Keys("9#"),
                               ("3", True),  # nothing recorded yet
                               ("2", True), LISTEN,  # the current greeting
                               ("1", True), Keys("#"), ("1", True), Keys("#"),  # 2nd refused
                               ("2", True), LISTEN])
    assert w.asked[3:5] == [MENU, ("greeting_no_draft", *MENU)]
    assert ("greeting_not_recorded", *MENU) in w.asked
    assert w.greetings_played == [OTHER, VOICE]
    assert w.mailboxes[NUMBER].greeting == OTHER  # hung up without 3#: unchanged
    assert w.finished is None


def test_4_goes_back_to_the_standard_greeting() -> None:
    w = world(greeting=VOICE)
    w.run(RetrievalMachine(), [*login(), Keys("9"), ("", True), ("4", True)])
    assert w.mailboxes[NUMBER].greeting is None
    assert w.finished == ("greeting_standard", "goodbye")
    w2 = World(w.mailboxes, now=w.now)
    w2.run(RetrievalMachine(), [*login(), Keys("9#"), ("2", True), LISTEN])
    assert w2.greetings_played == ["standard"]


def test_9_in_the_menu_after_a_message_and_a_key_stops_the_greeting() -> None:
    w = world(greeting=VOICE, with_message=True)
    w.run(RetrievalMachine(), [*login(), LISTEN, LISTEN, ("9", True),
                               ("2", True), Keys("4"), ("", True)])
    assert w.played == [1]
    assert w.greetings_played == [VOICE]
    assert w.finished == ("greeting_standard", "goodbye")
    assert w.mailboxes[NUMBER].messages  # the menu never touches the messages


def test_other_keys_during_the_guidance_are_forgotten_as_before() -> None:
    w = world(with_message=True)
    w.run(RetrievalMachine(), [*login(), Keys("8#")])
    assert w.played == [1] and w.greetings_played == []
    # a 9 not followed by '#' is no choice either: the messages go on
    w = world(with_message=True)
    w.run(RetrievalMachine(), [*login(), Keys("9"), None])
    assert w.played == [1]
    # and with no messages the call just ends
    w = world()
    w.run(RetrievalMachine(), [*login(), Keys("5")])
    assert w.finished == ()


def test_garbage_and_silence_in_the_greeting_menu_give_up_like_every_menu() -> None:
    w = world()
    w.run(RetrievalMachine(), [*login(), Keys("9#"), ("7", True), None, None])
    assert w.asked[-2:] == [("invalid_input", *MENU), ("no_input", *MENU)]
    assert w.finished == ("no_input", "goodbye")


def test_the_machine_asks_for_30_seconds_after_the_guidance_and_beep() -> None:
    machine = RetrievalMachine()
    w = world(recordings=(VOICE,))
    actions: list[object] = []
    original = w.perform

    def spy(action, inputs):  # type: ignore[no-untyped-def]
        actions.append(action)
        return original(action, inputs)

    w.perform = spy  # type: ignore[method-assign]
    w.run(machine, [*login(), Keys("9#"), ("1", True), Keys("#")])
    i = actions.index(Say(("greeting_record_guide", "beep")))
    assert actions[i + 1] == RecordGreeting(NUMBER, MAX_SECONDS)
    assert isinstance(actions[i + 2], Ask)
