"""A fake world for the IVR state machines: mailboxes, lockouts and a clock, in memory.

It performs the machines' actions the way the ARI driver and the store do (using the store's
pure lock rules), answering Ask with scripted caller input. Used by example tests and by the
hypothesis tests that throw random input at the machines.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from callflow.features.ivr.model import (
    Action,
    Ask,
    Authenticate,
    AuthResult,
    ChangePin,
    DeleteMessage,
    Entered,
    Event,
    Finish,
    LoadMessages,
    Machine,
    MessageDeleted,
    MessageGone,
    MessagePlayed,
    MessagesLoaded,
    NoInput,
    PinChanged,
    Played,
    PlayMessage,
    Say,
)
from callflow.store.mailbox import (
    AuthOutcome,
    LockState,
    MessageSummary,
    after_failure,
    after_success,
    is_expired,
    is_locked,
)

T0 = datetime(2024, 11, 25, 6, 42, tzinfo=UTC)
NUMBER = "05012345678"
PIN = "4826"


@dataclass
class Mailbox:
    pin: str | None
    messages: dict[int, MessageSummary] = field(default_factory=dict)
    lock: LockState = field(default_factory=LockState)


#: caller input for one Ask: digits + terminated, or None for "nothing pressed"
Input = tuple[str, bool] | None


class OutOfInput(Exception):
    """The script ended (the caller hangs up)."""


@dataclass
class World:
    mailboxes: dict[str, Mailbox]
    now: datetime = T0
    #: seconds each step takes (advanced after every action)
    step_s: float = 1.0
    played: list[int] = field(default_factory=list)
    said: list[tuple[str, ...]] = field(default_factory=list)
    asked: list[tuple[str, ...]] = field(default_factory=list)
    deleted: set[int] = field(default_factory=set)
    auth_ok: list[tuple[str, str]] = field(default_factory=list)
    finished: tuple[str, ...] | None = None
    #: ids a machine asked to play that were deleted or expired: must stay empty
    violations: list[str] = field(default_factory=list)

    def perform(self, action: Action, inputs: Iterator[Input]) -> Event:
        self.now += timedelta(seconds=self.step_s)
        match action:
            case Ask(prompts, max_digits):
                self.asked.append(prompts)
                try:
                    got = next(inputs)
                except StopIteration:
                    raise OutOfInput from None
                if got is None:
                    return NoInput()
                digits, terminated = got
                if len(digits) > max_digits:
                    return Entered(digits[:max_digits], False)
                return Entered(digits, terminated)
            case Say(prompts):
                self.said.append(prompts)
                return Played()
            case PlayMessage(number, mid):
                box = self.mailboxes[number]
                msg = box.messages.get(mid)
                if mid in self.deleted:
                    self.violations.append(f"asked to play deleted message {mid}")
                if msg is not None and is_expired(msg.received_at, self.now):
                    self.violations.append(f"asked to play expired message {mid}")
                if msg is None or is_expired(msg.received_at, self.now):
                    return MessageGone(mid)
                self.played.append(mid)
                box.messages[mid] = MessageSummary(mid, msg.received_at, msg.caller, True)
                return MessagePlayed(mid)
            case Authenticate(number, pin):
                return AuthResult(self.authenticate(number, pin))
            case LoadMessages(number):
                box = self.mailboxes[number]
                msgs = sorted((m for m in box.messages.values()
                               if not is_expired(m.received_at, self.now)),
                              key=lambda m: (m.heard, m.received_at, m.id))
                return MessagesLoaded(tuple(msgs))
            case DeleteMessage(number, mid):
                self.mailboxes[number].messages.pop(mid, None)
                self.deleted.add(mid)
                return MessageDeleted(mid)
            case ChangePin(number, new_pin):
                self.mailboxes[number].pin = new_pin
                return PinChanged()
        raise AssertionError(action)

    def authenticate(self, number: str, pin: str) -> AuthOutcome:
        box = self.mailboxes.setdefault(number, Mailbox(pin=None))
        if is_locked(box.lock, self.now):
            return AuthOutcome.LOCKED
        if box.pin is not None and box.pin == pin:
            box.lock = after_success()
            self.auth_ok.append((number, pin))
            return AuthOutcome.OK
        box.lock = after_failure(box.lock, self.now)
        return AuthOutcome.LOCKED if is_locked(box.lock, self.now) else AuthOutcome.REJECTED

    def run(self, machine: Machine, script: list[Input], max_steps: int = 2000) -> None:
        """Drive a machine until Finish or the script runs out (caller hangs up)."""
        inputs = iter(script)
        action = machine.start(self.now)
        for _ in range(max_steps):
            if isinstance(action, Finish):
                self.finished = action.prompts
                return
            try:
                event = self.perform(action, inputs)
            except OutOfInput:
                return
            action = machine.feed(event, self.now)
        raise AssertionError("machine did not finish")


def message(mid: int, age: timedelta, *, heard: bool = False,
            caller: str | None = "09011112222") -> MessageSummary:
    return MessageSummary(mid, T0 - age, caller, heard)


def login(number: str = NUMBER, pin: str = PIN) -> list[Input]:
    return [(number, True), (pin, True)]
