"""What the IVR state machines ask for (actions) and what they are told (events).

A machine is fed one event per action it returned; the driver performs the action (plays,
collects digits, touches the store) and answers with the matching event. `Finish` ends the
call: play its prompts (if any) and hang up.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from callflow.store.mailbox import AuthOutcome, MessageSummary

# ---------------------------------------------------------------- actions


@dataclass(frozen=True)
class Ask:
    """Play prompts (a key press stops them) and collect digits up to '#'.

    `typed`: keys of this entry the caller already pressed (they stopped a prompt or a
    message, see `KeyPressed`); then no prompt is played and collection goes on after them."""

    prompts: tuple[str, ...]
    max_digits: int
    typed: str = ""


@dataclass(frozen=True)
class Say:
    """Play prompts to the end.

    barge_in: the first key stops them and is answered as `KeyPressed` (else `Played`);
    without, keys pressed meanwhile are kept for the next Ask. fresh_input: keys pressed
    before these prompts start are forgotten (a new message is being presented: nothing
    typed earlier may act on it). message_id: the message these prompts present, if any."""

    prompts: tuple[str, ...]
    barge_in: bool = False
    fresh_input: bool = False
    message_id: int | None = None


@dataclass(frozen=True)
class PlayMessage:
    """Play one stored message; it is marked heard when playback starts. The first key
    stops it (`MessageInterrupted`), so that a choice acts on this message at once."""

    number: str
    message_id: int
    heard_before: bool = False  # announced as 再生済み (for the log)


@dataclass(frozen=True)
class Finish:
    """Play prompts, then hang up. Terminal."""

    prompts: tuple[str, ...] = ()


@dataclass(frozen=True)
class Authenticate:
    number: str
    pin: str = field(repr=False)


@dataclass(frozen=True)
class LoadMessages:
    number: str


@dataclass(frozen=True)
class DeleteMessage:
    number: str
    message_id: int


@dataclass(frozen=True)
class ChangePin:
    number: str
    new_pin: str = field(repr=False)


@dataclass(frozen=True)
class RecordGreeting:
    """Record the subscriber's greeting (up to `max_seconds`, '#' ends it) after the
    guidance and the beep have played; answered with `GreetingRecorded`."""

    number: str
    max_seconds: int


@dataclass(frozen=True)
class PlayGreeting:
    """Play `draft` (a greeting just recorded) or else the number's current greeting (its
    own, or the standard one); a key stops it (`KeyPressed`), else `Played`."""

    number: str
    draft: bytes | None = field(default=None, repr=False)


@dataclass(frozen=True)
class KeepGreeting:
    """Store `audio` as the number's greeting; answered with `GreetingKept`."""

    number: str
    audio: bytes = field(repr=False)
    duration_ms: int


@dataclass(frozen=True)
class UseStandardGreeting:
    """Remove the number's own greeting; answered with `StandardGreetingRestored`."""

    number: str


Action = (Ask | Say | PlayMessage | Finish | Authenticate | LoadMessages | DeleteMessage
          | ChangePin | RecordGreeting | PlayGreeting | KeepGreeting | UseStandardGreeting)

# ---------------------------------------------------------------- events


@dataclass(frozen=True)
class Entered:
    """Digits collected. terminated=False: the caller stopped (inter-digit timeout) or typed
    more than max_digits before '#'."""

    digits: str
    terminated: bool


@dataclass(frozen=True)
class NoInput:
    """Nothing pressed before the first-digit timeout."""


@dataclass(frozen=True)
class Played:
    """A Say finished."""


@dataclass(frozen=True)
class KeyPressed:
    """A key stopped a barge-in Say."""

    digit: str


@dataclass(frozen=True)
class MessagePlayed:
    message_id: int


@dataclass(frozen=True)
class MessageInterrupted:
    """A key stopped the message (it had started: it counts as heard)."""

    message_id: int
    digit: str


@dataclass(frozen=True)
class MessageGone:
    """The message was deleted or expired before it could be played."""

    message_id: int


@dataclass(frozen=True)
class AuthResult:
    outcome: AuthOutcome


@dataclass(frozen=True)
class MessagesLoaded:
    messages: tuple[MessageSummary, ...]


@dataclass(frozen=True)
class MessageDeleted:
    message_id: int


@dataclass(frozen=True)
class PinChanged:
    pass


@dataclass(frozen=True)
class GreetingRecorded:
    """The recording ended (#, silence, the length limit): `audio` passed the greeting
    rules (callflow.greeting), else None."""

    audio: bytes | None = field(repr=False)
    duration_ms: int = 0


@dataclass(frozen=True)
class GreetingKept:
    pass


@dataclass(frozen=True)
class StandardGreetingRestored:
    pass


Event = (Entered | NoInput | Played | KeyPressed | MessagePlayed | MessageInterrupted
         | MessageGone | AuthResult | MessagesLoaded | MessageDeleted | PinChanged
         | GreetingRecorded | GreetingKept | StandardGreetingRestored)


class Machine(Protocol):
    def start(self, now: datetime) -> Action: ...

    def feed(self, event: Event, now: datetime) -> Action: ...

    def checkpoint(self) -> str | None:
        """The step the last action belongs to, as `callflow.call_state` fields (None: not
        worth resuming, e.g. still logging in: a new process asks for the number again)."""
        ...

    def resume(self, checkpoint: str | None, now: datetime) -> Action:
        """Instead of `start` in a new process: the action that re-runs the step of
        `checkpoint` from its start (None: the login from its number prompt)."""
        ...


class ProtocolViolation(Exception):
    """The driver answered an action with an event that does not belong to it (a bug)."""

    def __init__(self, state: object, event: object) -> None:
        super().__init__(f"unexpected {event!r} in state {state!r}")


def prompts(*ids: str | Sequence[str]) -> tuple[str, ...]:
    """Flatten prompt ids and lists of ids into one tuple."""
    out: list[str] = []
    for item in ids:
        out.extend([item] if isinstance(item, str) else item)
    return tuple(out)
