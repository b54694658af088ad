"""PIN change, 050-3300-5141 (R-PIN-*), as a pure state machine.

After the shared authentication: 3# starts the change; the new 4-digit PIN + #; the same again
+ # to confirm. A mismatch (「一致しません」) goes back to the new PIN; a PIN that is not 4 digits,
equal to the current one or too simple is announced and asked again. Success is announced
and the call ends; the new PIN is in the database, so it works at once in both IVRs.

No PIN is kept in clear past the moment it is typed: the current PIN and the first entry of
the new one are held as keyed fingerprints (`callflow.call_state.fingerprint`), which is what
the checkpoint carries too. A new process resumes at the menu, the new-PIN question or the
confirmation (the caller types the new PIN once more and it is compared by fingerprint).
"""

from __future__ import annotations

import enum
import secrets
from collections.abc import Callable
from datetime import datetime
from functools import partial

from callflow import call_state
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


_STEP_OF = {_Phase.MENU: "u", _Phase.NEW: "w", _Phase.CONFIRM: "k", _Phase.SAVING: "k"}


class PinChangeMachine:
    def __init__(self, max_failures: int = 3,
                 fingerprint: Callable[[str], str] | None = None) -> None:
        self.prompter = Prompter(max_failures)
        self.auth = AuthStep(self.prompter, intro=("pin_welcome",))
        self.phase = _Phase.AUTH
        self.number = ""
        # (without a key from the driver: one for this machine only, nothing resumable)
        self._fingerprint = fingerprint or partial(
            call_state.fingerprint, secrets.token_bytes(32), "")
        self._current = ""  # fingerprint of the current PIN
        self._candidate = ""  # fingerprint of the new PIN's first entry

    def _ask_new(self) -> Ask:
        self.phase = _Phase.NEW
        return self.prompter.ask(("enter_new_pin",), NEW_PIN_DIGITS)

    def start(self, now: datetime) -> Action:
        return self.auth.start()

    def checkpoint(self) -> str | None:
        step = _STEP_OF.get(self.phase)
        if step is None:
            return None
        return call_state.encode({"k": "p", "s": step, "n": self.number, "c": self._current,
                                  "x": self._candidate, "f": self.prompter.failures})

    def resume(self, checkpoint: str | None, now: datetime) -> Action:
        fields = call_state.decode(checkpoint or "")
        step = fields.get("s")
        if (fields.get("k") != "p" or not fields.get("n", "").isdigit()
                or not fields.get("c") or step not in ("u", "w", "k")
                or (step == "k" and not fields.get("x"))):
            self.phase = _Phase.AUTH
            return self.auth.restart()
        self.number, self._current, self._candidate = fields["n"], fields["c"], fields["x"]
        failures = fields.get("f", "0")
        self.prompter.failures = int(failures) if failures.isdigit() else 0
        if step == "u":
            self.phase = _Phase.MENU
            return self.prompter.ask(("pin_menu",), MENU_DIGITS)
        if step == "w":
            return self._ask_new()
        self.phase = _Phase.CONFIRM
        return self.prompter.ask(("confirm_new_pin",), NEW_PIN_DIGITS)

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
                self.number, self._current = out.number, self._fingerprint(out.pin)
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
                problem = pin_problem(got)
                if problem != "pin_invalid" and self._fingerprint(got) == self._current:
                    problem = "pin_same_as_current"
                if problem is not None:
                    return self.prompter.retry((problem,))
                self._candidate = self._fingerprint(got)
                self.phase = _Phase.CONFIRM
                return self.prompter.ask(("confirm_new_pin",), NEW_PIN_DIGITS)
            case _Phase.CONFIRM:
                got = self.prompter.answer(event, invalid=("pin_invalid",))
                if not isinstance(got, str):
                    return got
                if self._fingerprint(got) != self._candidate:
                    self.phase = _Phase.NEW
                    return self.prompter.retry(
                        ("pin_mismatch",), Ask(("enter_new_pin",), NEW_PIN_DIGITS))
                self.phase = _Phase.SAVING
                return ChangePin(self.number, got)
            case _Phase.SAVING if isinstance(event, PinChanged):
                return Finish(("pin_changed", "goodbye"))
        raise ProtocolViolation(self.phase, event)


__all__ = ["PIN_DIGITS", "PinChangeMachine"]
