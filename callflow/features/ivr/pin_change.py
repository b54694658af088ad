"""PIN change, 050-3300-5141 (R-PIN-*), as a pure state machine.

After the shared authentication: 3# starts the change; the new 4-digit PIN + #; the same again
+ # to confirm. A mismatch (「一致しません」) goes back to the new PIN; a PIN that is not 4 digits,
equal to the current one or too simple is announced and asked again. Success is announced
and the call ends; the new PIN is in the database, so it works at once in both IVRs.
"""

from __future__ import annotations

import enum
from datetime import datetime

from callflow.features.ivr.auth import Authenticated, AuthStep
from callflow.features.ivr.model import (
    Action,
    Ask,
    ChangePin,
    Event,
    Finish,
    PinChanged,
    ProtocolViolation,
)
from callflow.features.ivr.prompter import Prompter
from callflow.pins import PIN_DIGITS, pin_problem

START_CHANGE = "3"
MENU_DIGITS = 2
# Read a few digits more than a PIN so that "12345#" is heard as "not 4 digits".
NEW_PIN_DIGITS = 8


class _Phase(enum.Enum):
    AUTH = "auth"
    MENU = "menu"
    NEW = "new"
    CONFIRM = "confirm"
    SAVING = "saving"
    DONE = "done"


class PinChangeMachine:
    def __init__(self, max_failures: int = 3) -> None:
        self.prompter = Prompter(max_failures)
        self.auth = AuthStep(self.prompter, intro=("pin_welcome",))
        self.phase = _Phase.AUTH
        self.number = ""
        self._current = ""
        self._candidate = ""

    def _ask_new(self) -> Ask:
        self.phase = _Phase.NEW
        return self.prompter.ask(("enter_new_pin",), NEW_PIN_DIGITS)

    def start(self, now: datetime) -> Action:
        return self.auth.start()

    def feed(self, event: Event, now: datetime) -> Action:
        action = self._feed(event)
        if isinstance(action, Finish):
            self.phase = _Phase.DONE
        return action

    def _feed(self, event: Event) -> Action:
        match self.phase:
            case _Phase.AUTH:
                out = self.auth.feed(event)
                if not isinstance(out, Authenticated):
                    return out
                self.number, self._current = out.number, out.pin
                self.phase = _Phase.MENU
                return self.prompter.ask(("pin_menu",), MENU_DIGITS)
            case _Phase.MENU:
                got = self.prompter.answer(event)
                if not isinstance(got, str):
                    return got
                if got != START_CHANGE:
                    return self.prompter.retry(("invalid_input",))
                return self._ask_new()
            case _Phase.NEW:
                got = self.prompter.answer(event, invalid=("pin_invalid",))
                if not isinstance(got, str):
                    return got
                problem = pin_problem(got, self._current)
                if problem is not None:
                    return self.prompter.retry((problem,))
                self._candidate = got
                self.phase = _Phase.CONFIRM
                return self.prompter.ask(("confirm_new_pin",), NEW_PIN_DIGITS)
            case _Phase.CONFIRM:
                got = self.prompter.answer(event, invalid=("pin_invalid",))
                if not isinstance(got, str):
                    return got
                if got != self._candidate:
                    self.phase = _Phase.NEW
                    return self.prompter.retry(
                        ("pin_mismatch",), Ask(("enter_new_pin",), NEW_PIN_DIGITS))
                self.phase = _Phase.SAVING
                return ChangePin(self.number, self._candidate)
            case _Phase.SAVING if isinstance(event, PinChanged):
                return Finish(("pin_changed", "goodbye"))
        raise ProtocolViolation(self.phase, event)


__all__ = ["PIN_DIGITS", "PinChangeMachine"]
