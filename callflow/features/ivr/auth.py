"""The shared "authenticate a mailbox" step of both IVRs (R-VM-1/2, R-PIN-1).

050 number + #, then the 4-digit PIN + #; the store checks the PIN and keeps the lockout.
Whatever was wrong — unknown number, malformed number, mailbox without a PIN, wrong PIN — the
caller hears the same 「050番号、または暗証番号が正しくありません。」 and enters both again.
A locked mailbox hears 「…ご利用を制限しております…」 and is hung up. At most
`max_attempts` rejected attempts per call, then goodbye.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field

from callflow.features.ivr.model import (
    Action,
    Authenticate,
    AuthResult,
    Event,
    Finish,
    ProtocolViolation,
)
from callflow.features.ivr.prompter import Prompter
from callflow.pins import PIN_DIGITS
from callflow.store.mailbox import AuthOutcome

NUMBER_DIGITS = 11  # 050 + 8 digits
MAX_ATTEMPTS_PER_CALL = 3


@dataclass(frozen=True)
class Authenticated:
    """The step's result (never seen by the driver): the parent machine continues."""

    number: str
    pin: str = field(repr=False)  # the current PIN, as entered (the PIN change compares)


class _Phase(enum.Enum):
    NUMBER = "number"
    PIN = "pin"
    CHECKING = "checking"
    DONE = "done"


class AuthStep:
    def __init__(self, prompter: Prompter, intro: Sequence[str],
                 max_attempts: int = MAX_ATTEMPTS_PER_CALL) -> None:
        self.prompter = prompter
        self.intro = tuple(intro)
        self.max_attempts = max_attempts
        self.rejected = 0
        self.phase = _Phase.NUMBER
        self._number = ""
        self._pin = ""

    def start(self) -> Action:
        self.phase = _Phase.NUMBER
        return self.prompter.ask_after(self.intro, ("enter_number",), NUMBER_DIGITS)

    def restart(self) -> Action:
        """The number question again, without the welcome (a new process took the call over
        while the caller was logging in)."""
        self.phase = _Phase.NUMBER
        return self.prompter.ask(("enter_number",), NUMBER_DIGITS)

    def feed(self, event: Event) -> Action | Authenticated:
        match self.phase:
            case _Phase.NUMBER:
                got = self.prompter.answer(event)
                if not isinstance(got, str):
                    return got
                if not got.isdigit():  # '*' is no part of a telephone number
                    return self.prompter.retry(("invalid_input",))
                self._number = got
                self.phase = _Phase.PIN
                return self.prompter.ask(("enter_pin",), PIN_DIGITS)
            case _Phase.PIN:
                got = self.prompter.answer(event)
                if not isinstance(got, str):
                    return got
                self._pin = got
                self.phase = _Phase.CHECKING
                return Authenticate(self._number, self._pin)
            case _Phase.CHECKING if isinstance(event, AuthResult):
                return self._checked(event.outcome)
        raise ProtocolViolation(self.phase, event)

    def _checked(self, outcome: AuthOutcome) -> Action | Authenticated:
        if outcome is AuthOutcome.OK:
            self.phase = _Phase.DONE
            return Authenticated(self._number, self._pin)
        if outcome is AuthOutcome.LOCKED:
            self.phase = _Phase.DONE
            return Finish(("locked",))
        self.rejected += 1
        if self.rejected >= self.max_attempts:
            self.phase = _Phase.DONE
            return Finish(("auth_failed", "goodbye"))
        self.phase = _Phase.NUMBER
        return self.prompter.ask_after(("auth_failed",), ("enter_number",), NUMBER_DIGITS)
