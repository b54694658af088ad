"""A fake world for the IVR state machines: mailboxes, lockouts and a clock, in memory.

It performs the machines' actions the way the ARI driver and the store do (using the store's
pure lock rules), with scripted caller input. Used by example tests and by the hypothesis
tests that throw random input at the machines.

The caller's keys are one stream, as on a real call: a script item is either an answer to a
question (`Input`: digits and whether '#' followed, or None for silence) or `Keys` pressed
during whatever plays at that moment (`LISTEN`: none, the caller just listens). A barge-in
playback is stopped by the first pending key (as `Call.play(barge_in=True)` does); other
playbacks leave keys pending (type-ahead); `Say(fresh_input=True)` forgets them. Every key
remembers which message was being presented when it was pressed, so that a delete made with
keys pressed before its message was presented is recorded as a violation.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
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
    GreetingKept,
    GreetingRecorded,
    KeepGreeting,
    KeyPressed,
    LoadMessages,
    Machine,
    MessageDeleted,
    MessageGone,
    MessageInterrupted,
    MessagePlayed,
    MessagesLoaded,
    NoInput,
    PinChanged,
    Played,
    PlayGreeting,
    PlayMessage,
    RecordGreeting,
    Say,
    StandardGreetingRestored,
    UseStandardGreeting,
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
    greeting: bytes | None = None  # the own greeting (None: the standard one)


#: caller input for one Ask: digits + terminated, or None for "nothing pressed"
Input = tuple[str, bool] | None


@dataclass(frozen=True)
class Keys:
    """Keys the caller presses while the current prompt or message plays."""

    keys: str


#: the caller listens to the current prompt or message without pressing anything
LISTEN = Keys("")

Script = Input | Keys

#: in the pending key stream: the caller stops typing (a digit timeout)
_PAUSE = ""
_NOTHING = object()  # the script has run out


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
    #: rules a machine broke (played a deleted/expired message, deleted with keys pressed
    #: before that message was presented, ...): must stay empty
    violations: list[str] = field(default_factory=list)
    #: keys pressed and not yet read, each with the message presented when it was pressed
    pending: list[tuple[str, int | None]] = field(default_factory=list)
    #: the message whose header or audio is (or was last) playing
    presenting: int | None = None
    #: the presented message at each key of the entry being (or last) typed
    entry_from: list[int | None] = field(default_factory=list)
    _lookahead: object = None
    #: what each greeting recording gives (checked audio, or None: refused), in order
    recordings: list[bytes | None] = field(default_factory=list)
    #: each greeting played in the greeting menu: the audio, or "standard"
    greetings_played: list[bytes | str] = field(default_factory=list)

    def _press(self, item: Script) -> None:
        if isinstance(item, Keys):
            keys = list(item.keys)
        elif item is None:
            keys = [_PAUSE]
        else:
            digits, terminated = item
            keys = [*digits, "#" if terminated else _PAUSE]
        self.pending += [(k, self.presenting) for k in keys]

    def _during_playback(self, inputs: Iterator[Script], barge_in: bool) -> str | None:
        """Keys pressed while something plays; the key that stops it (barge-in), if any."""
        if isinstance(self._peek(inputs), Keys):
            self._press(self._next(inputs))
        if not barge_in:
            return None
        while self.pending and self.pending[0][0] == _PAUSE:  # a pause stops nothing
            self.pending.pop(0)
        if not self.pending:
            return None
        key, about = self.pending.pop(0)
        self.entry_from.append(about)
        return key

    def _peek(self, inputs: Iterator[Script]) -> object:
        if self._lookahead is _NOTHING:
            self._lookahead = next(inputs, _NOTHING)
        return self._lookahead

    def _next(self, inputs: Iterator[Script]) -> Script:
        item = self._peek(inputs)
        self._lookahead = _NOTHING
        if item is _NOTHING:
            raise OutOfInput
        assert item is None or isinstance(item, Keys | tuple)
        return item

    def _collect(self, typed: str, max_digits: int, inputs: Iterator[Script]) -> Event:
        """Call.collect_digits over the key stream: up to '#' or a pause."""
        digits = typed
        while True:
            if not self.pending:
                self._press(self._next(inputs))
                continue
            key, about = self.pending.pop(0)
            if key == _PAUSE:
                if not digits:
                    return NoInput()
                return Entered(digits[:max_digits], False)
            self.entry_from.append(about)
            if key == "#":
                return Entered(digits[:max_digits], len(digits) <= max_digits)
            digits += key

    def perform(self, action: Action, inputs: Iterator[Script]) -> Event:
        self.now += timedelta(seconds=self.step_s)
        match action:
            case Ask(prompts, max_digits, typed):
                if not typed:
                    self.entry_from = []
                self.asked.append(prompts)
                return self._collect(typed, max_digits, inputs)
            case Say(prompts, barge_in, fresh_input, message_id):
                if fresh_input:
                    self.pending.clear()
                    self.entry_from = []
                self.presenting = message_id
                self.said.append(prompts)
                key = self._during_playback(inputs, barge_in)
                return Played() if key is None else KeyPressed(key)
            case PlayMessage(number, mid):
                box = self.mailboxes[number]
                msg = box.messages.get(mid)
                if mid in self.deleted:
                    self.violations.append(f"asked to play deleted message {mid}")
                if msg is not None and is_expired(msg.received_at, self.now):
                    self.violations.append(f"asked to play expired message {mid}")
                if msg is None or is_expired(msg.received_at, self.now):
                    return MessageGone(mid)
                if mid != self.presenting:
                    self.violations.append(f"message {mid} played without its header")
                self.played.append(mid)
                box.messages[mid] = MessageSummary(mid, msg.received_at, msg.caller, True)
                key = self._during_playback(inputs, True)
                return MessagePlayed(mid) if key is None else MessageInterrupted(mid, key)
            case Authenticate(number, pin):
                return AuthResult(self.authenticate(number, pin))
            case LoadMessages(number):
                box = self.mailboxes[number]
                msgs = sorted((m for m in box.messages.values()
                               if not is_expired(m.received_at, self.now)),
                              key=lambda m: (m.heard, m.received_at, m.id))
                return MessagesLoaded(tuple(msgs))
            case DeleteMessage(number, mid):
                wrong = [a for a in self.entry_from if a != mid]
                if wrong:
                    self.violations.append(
                        f"deleted message {mid} with keys pressed while {wrong} was presented")
                self.mailboxes[number].messages.pop(mid, None)
                self.deleted.add(mid)
                self.presenting = None
                return MessageDeleted(mid)
            case ChangePin(number, new_pin):
                self.mailboxes[number].pin = new_pin
                return PinChanged()
            case RecordGreeting(number, _):
                # the caller talks and ends with '#': keys typed meanwhile end the recording
                # and are forgotten (the driver does the same)
                if isinstance(self._peek(inputs), Keys):
                    self._next(inputs)
                self.pending.clear()
                audio = self.recordings.pop(0) if self.recordings else None
                return GreetingRecorded(audio, 3000 if audio else 0)
            case PlayGreeting(number, draft):
                self.greetings_played.append(
                    draft or self.mailboxes[number].greeting or "standard")
                key = self._during_playback(inputs, True)
                return Played() if key is None else KeyPressed(key)
            case KeepGreeting(number, audio, _):
                self.mailboxes[number].greeting = audio
                return GreetingKept()
            case UseStandardGreeting(number):
                self.mailboxes[number].greeting = None
                return StandardGreetingRestored()
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

    def run(self, machine: Machine, script: Sequence[Script], max_steps: int = 2000) -> None:
        """Drive a machine until Finish or the script runs out (caller hangs up)."""
        inputs = iter(script)
        self._lookahead = _NOTHING
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
