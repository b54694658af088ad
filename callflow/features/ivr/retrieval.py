"""Voicemail retrieval, 050-3300-5000 (R-VM-*), as a pure state machine.

After authentication: no messages → 「メッセージはお預かりしておりません。ご利用ありがとう
ございました。」 and hang-up. Otherwise the count guidance, then one message at a time — new
ones first, then heard ones, oldest first in each group (the order is fixed at login) — each
announced with a short header (「1件目。[再生済みです。] 今日 午後2時30分。」), then the
message, then the menu: 1# delete, 2# replay, 3# next, 4# who called (the caller's number is
read only on request, so that the header stays short). Past the last message it goes back to
the first; when every message is deleted it says so and hangs up. A message that has expired
(168 h) is dropped before it would be played, and never played.

Keys act on the message being presented, at once. The header and the message are barge-in:
a key during the header skips to the message audio ('#' alone only skips), a key during the
message stops it, and the keys typed while a message is presented form one entry — 3# said
during the header or the message skips it, 1# deletes it. Keys typed before a message's
header starts (during the guidance, "deleted", or typed ahead while the previous message was
being left) are forgotten: a key sequence never applies to a message the caller has not yet
been presented.

9# opens the greeting menu (応答メッセージの設定, `greeting_menu`): typed during the count
guidance or 「メッセージはお預かりしておりません。」 (a subscriber without messages reaches it
too; any other key there is forgotten), or as a choice in the menu after a message.

Restarts (`checkpoint` / `resume`): after the login the machine names its step — the count
guidance, a message being presented (header, message, caller number, "deleted"), or the
menu of a message — with the mailbox number, the play order (message ids) and the failure
count. A new process reloads the messages and re-runs that step from its start; keys of an
entry typed before the restart are dropped (see docs/operations.md, "Restarts").
"""

from __future__ import annotations

import enum
from datetime import datetime

from callflow import call_state, speech
from callflow.features.ivr.auth import Authenticated, AuthStep
from callflow.features.ivr.greeting_menu import GreetingMenu
from callflow.features.ivr.model import (
    Action,
    Ask,
    DeleteMessage,
    Entered,
    Event,
    Finish,
    KeyPressed,
    LoadMessages,
    MessageDeleted,
    MessageGone,
    MessageInterrupted,
    MessagePlayed,
    MessagesLoaded,
    NoInput,
    Played,
    PlayMessage,
    ProtocolViolation,
    Say,
)
from callflow.features.ivr.prompter import Prompter
from callflow.store.mailbox import MessageSummary, is_expired

MENU_DIGITS = 2
DELETE, REPLAY, NEXT, CALLER = "1", "2", "3", "4"
#: 応答メッセージの設定 (the greeting menu)
SETTINGS = "9"
#: '#' with nothing before it: skip the header (or the rest of the message) — no choice made
SKIP = "#"
MENU = ("menu_after_message",)


class _Phase(enum.Enum):
    AUTH = "auth"
    LOADING = "loading"
    GUIDANCE = "guidance"  # count guidance playing
    EMPTY = "empty"  # "no messages" playing (9# still opens the greeting menu)
    SETTINGS_KEY = "settings_key"  # a 9 typed during the guidance: waiting for its '#'
    SETTINGS = "settings"  # in the greeting menu
    HEADER = "header"  # "1件目。今日 午後2時30分。" playing
    MESSAGE = "message"  # the message playing
    ENTRY = "entry"  # the rest of an entry begun while the header or message played
    MENU = "menu"
    CALLER = "caller"  # "このメッセージは 電話番号 … からです。" playing (4#)
    DELETING = "deleting"
    BRIDGE = "bridge"  # "deleted" / "back to first" playing, then the current message
    RESUMING = "resuming"  # a new process reloads the messages of a checkpoint
    DONE = "done"


# checkpoint steps: guidance, a message presented, the menu of a message
_GUIDANCE, _PRESENT, _MENU = "g", "p", "u"
_PRESENTING = (_Phase.HEADER, _Phase.MESSAGE, _Phase.CALLER, _Phase.BRIDGE)
_IN_MENU = (_Phase.MENU, _Phase.ENTRY, _Phase.DELETING)


class RetrievalMachine:
    def __init__(self, max_failures: int = 3) -> None:
        self.prompter = Prompter(max_failures)
        self.auth = AuthStep(self.prompter, intro=("welcome",))
        self.phase = _Phase.AUTH
        self.number = ""
        self.messages: list[MessageSummary] = []  # still to offer, in play order
        self.index = 0
        self._presented: int | None = None  # id of the message whose header was said
        self._typed = ""  # keys of the current entry typed during the header
        self.greeting: GreetingMenu | None = None
        self._after_settings_key = _Phase.GUIDANCE
        self._resume_step = ""
        self._resume_order: list[int] = []
        self._resume_id = 0

    # ------------------------------------------------------------ helpers

    def _end(self, *prompt_ids: str) -> Finish:
        self.phase = _Phase.DONE
        return Finish(prompt_ids)

    def _drop_expired(self, now: datetime) -> None:
        current = self.messages[self.index] if self.index < len(self.messages) else None
        self.messages = [m for m in self.messages if not is_expired(m.received_at, now)]
        if current is not None and current in self.messages:
            self.index = self.messages.index(current)
        elif self.index >= len(self.messages):
            self.index = 0

    def _present(self, now: datetime, *, replay: bool = False) -> Action:
        """The header of the current message (or the end if nothing is left). Keys typed
        before it starts are forgotten (fresh_input)."""
        self._drop_expired(now)
        if not self.messages:
            return self._end("no_messages")
        msg = self.messages[self.index]
        self.phase = _Phase.HEADER
        self._presented = msg.id
        self._typed = ""
        header = speech.message_header(self.index + 1, msg.received_at,
                                       already_heard=msg.heard and not replay, now=now)
        return Say(tuple(header), barge_in=True, fresh_input=True, message_id=msg.id)

    def _play_current(self, now: datetime) -> Action:
        self._drop_expired(now)
        if not self.messages:
            return self._end("no_messages")
        msg = self.messages[self.index]
        if msg.id != self._presented:  # it expired during its header: present the next one
            return self._present(now)
        self.phase = _Phase.MESSAGE
        return PlayMessage(self.number, msg.id, msg.heard)

    def _menu(self) -> Action:
        self.phase = _Phase.MENU
        return self.prompter.ask(MENU, MENU_DIGITS)

    def _entry(self, typed: str, now: datetime) -> Action:
        """Keys typed while the message was presented: '#' ends the entry (a choice, or
        just "skip" when nothing came before it); else collect the rest, without a prompt."""
        self.prompter.ask(MENU, MENU_DIGITS)  # what a wrong entry asks again
        if typed.endswith(SKIP):
            if typed == SKIP:
                return self._menu()
            return self._menu_choice(Entered(typed[:-1], True), now)
        self.phase = _Phase.ENTRY
        return Ask((), MENU_DIGITS, typed=typed)

    def _remove(self, message_id: int) -> None:
        self.messages = [m for m in self.messages if m.id != message_id]
        if self.index >= len(self.messages):
            self.index = 0

    def _heard(self, message_id: int) -> None:
        self.messages = [m if m.id != message_id else
                         MessageSummary(m.id, m.received_at, m.caller, True)
                         for m in self.messages]

    # ------------------------------------------------------------ machine

    def start(self, now: datetime) -> Action:
        return self.auth.start()

    def checkpoint(self) -> str | None:
        if self.phase is _Phase.GUIDANCE:
            step, current = _GUIDANCE, 0
        elif self.phase in _PRESENTING and self.messages:
            step, current = _PRESENT, self.messages[self.index].id
        elif self.phase in _IN_MENU and self.messages:
            step, current = _MENU, self.messages[self.index].id
        else:  # logging in, finishing, or resuming (the previous checkpoint stands)
            return None
        return call_state.encode({
            "k": "r", "s": step, "n": self.number,
            "m": ".".join(str(m.id) for m in self.messages), "i": current,
            "f": self.prompter.failures})

    def resume(self, checkpoint: str | None, now: datetime) -> Action:
        fields = call_state.decode(checkpoint or "")
        if fields.get("k") != "r" or not fields.get("n", "").isdigit():
            self.phase = _Phase.AUTH
            return self.auth.restart()
        self.number = fields["n"]
        self._resume_step = fields.get("s", _GUIDANCE)
        self._resume_order = [int(x) for x in fields.get("m", "").split(".") if x.isdigit()]
        current = fields.get("i", "0")
        self._resume_id = int(current) if current.isdigit() else 0
        failures = fields.get("f", "0")
        self.prompter.failures = int(failures) if failures.isdigit() else 0
        self.phase = _Phase.RESUMING
        return LoadMessages(self.number)

    def _resumed(self, loaded: tuple[MessageSummary, ...], now: datetime) -> Action:
        """The checkpoint's step again, on the messages as they are now: the play order of
        the checkpoint (messages gone since are dropped, new ones come last)."""
        fresh = {m.id: m for m in loaded if not is_expired(m.received_at, now)}
        ordered = [fresh.pop(i) for i in self._resume_order if i in fresh]
        ordered += sorted(fresh.values(), key=lambda m: (m.heard, m.received_at, m.id))
        self.messages = ordered
        if not self.messages:
            return self._end("no_messages")
        if self._resume_step == _GUIDANCE:
            self.phase = _Phase.GUIDANCE
            new = sum(1 for m in self.messages if not m.heard)
            return Say(tuple(speech.message_count_guidance(new, len(self.messages) - new)))
        ids = [m.id for m in self.messages]
        if self._resume_id in ids:
            self.index = ids.index(self._resume_id)
            if self._resume_step == _MENU:
                self._presented = self._resume_id
                self._typed = ""
                return self._menu()
        else:  # deleted (the step in flight did it) or expired: the next in the order
            before = self._resume_order[:self._resume_order.index(self._resume_id)] \
                if self._resume_id in self._resume_order else []
            self.index = sum(1 for i in before if i in ids)
            if self.index >= len(self.messages):
                self.index = 0
        return self._present(now)

    def feed(self, event: Event, now: datetime) -> Action:
        action = self._feed(event, now)
        if isinstance(action, Finish):
            self.phase = _Phase.DONE
        return action

    def _feed(self, event: Event, now: datetime) -> Action:
        match self.phase:
            case _Phase.AUTH:
                out = self.auth.feed(event)
                if isinstance(out, Authenticated):
                    self.number = out.number
                    self.phase = _Phase.LOADING
                    return LoadMessages(out.number)
                return out
            case _Phase.LOADING if isinstance(event, MessagesLoaded):
                self.messages = [m for m in event.messages if not is_expired(m.received_at, now)]
                # new first, then heard; oldest first in each (stable for equal times)
                self.messages.sort(key=lambda m: (m.heard, m.received_at, m.id))
                new = sum(1 for m in self.messages if not m.heard)
                self.phase = _Phase.GUIDANCE if self.messages else _Phase.EMPTY
                # Barge-in for 9# (the greeting menu); keys typed before it are forgotten.
                return Say(tuple(speech.message_count_guidance(new, len(self.messages) - new)),
                           barge_in=True, fresh_input=True)
            case _Phase.EMPTY if isinstance(event, Played):
                return self._end()
            case _Phase.GUIDANCE | _Phase.EMPTY if isinstance(event, KeyPressed):
                if event.digit == SETTINGS:
                    self._after_settings_key = self.phase
                    self.phase = _Phase.SETTINGS_KEY
                    return Ask((), MENU_DIGITS, typed=event.digit)
                # any other key is forgotten (it cut the guidance short)
                return self._present(now) if self.phase is _Phase.GUIDANCE else self._end()
            case _Phase.SETTINGS_KEY if isinstance(event, Entered | NoInput):
                if isinstance(event, Entered) and event.terminated and event.digits == SETTINGS:
                    return self._settings()
                if self._after_settings_key is _Phase.GUIDANCE:
                    return self._present(now)
                return self._end()
            case _Phase.SETTINGS:
                assert self.greeting is not None
                return self.greeting.feed(event)
            case _Phase.GUIDANCE | _Phase.BRIDGE if isinstance(event, Played):
                return self._present(now)
            case _Phase.HEADER if isinstance(event, Played):
                return self._play_current(now)
            case _Phase.HEADER if isinstance(event, KeyPressed):
                # A key skips the header; unless it is '#' alone it also begins an entry
                # that goes on while the message plays (3# said here skips the message).
                self._typed = "" if event.digit == SKIP else event.digit
                return self._play_current(now)
            case _Phase.MESSAGE if isinstance(event, MessagePlayed):
                self._heard(event.message_id)
                if self._typed:
                    return self._entry(self._typed, now)
                return self._menu()
            case _Phase.MESSAGE if isinstance(event, MessageInterrupted):
                self._heard(event.message_id)
                return self._entry(self._typed + event.digit, now)
            case _Phase.MESSAGE if isinstance(event, MessageGone):
                self._remove(event.message_id)
                return self._present(now)
            case _Phase.ENTRY | _Phase.MENU:
                return self._menu_choice(event, now)
            case _Phase.CALLER if isinstance(event, Played):
                return self._menu()
            case _Phase.CALLER if isinstance(event, KeyPressed):
                return self._entry(event.digit, now)
            case _Phase.RESUMING if isinstance(event, MessagesLoaded):
                return self._resumed(event.messages, now)
            case _Phase.DELETING if isinstance(event, MessageDeleted):
                last = self.index == len(self.messages) - 1
                self._remove(event.message_id)
                if not self.messages:
                    return self._end("all_deleted")
                self.phase = _Phase.BRIDGE
                return Say(("deleted", "back_to_first") if last else ("deleted",))
        raise ProtocolViolation(self.phase, event)

    def _settings(self) -> Action:
        self.phase = _Phase.SETTINGS
        self.greeting = GreetingMenu(self.prompter, self.number)
        return self.greeting.start()

    def _menu_choice(self, event: Event, now: datetime) -> Action:
        got = self.prompter.answer(event)
        if not isinstance(got, str):
            if isinstance(got, Ask):
                self.phase = _Phase.MENU
            return got
        msg = self.messages[self.index]
        if got == DELETE:
            self.phase = _Phase.DELETING
            return DeleteMessage(self.number, msg.id)
        if got == REPLAY:
            return self._present(now, replay=True)
        if got == NEXT:
            if self.index + 1 < len(self.messages):
                self.index += 1
                return self._present(now)
            self.index = 0
            self.phase = _Phase.BRIDGE
            return Say(("back_to_first",))
        if got == SETTINGS:
            return self._settings()
        if got == CALLER:
            self.phase = _Phase.CALLER
            return Say(tuple(speech.message_caller(msg.caller)), barge_in=True,
                       message_id=msg.id)
        self.phase = _Phase.MENU
        return self.prompter.retry(("invalid_input",))
