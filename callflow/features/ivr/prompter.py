"""The shared DTMF input machinery for both IVRs.

A `Prompter` asks one question at a time (prompts + "digits then #"), and turns what comes
back into either usable digits or the next action: the question again after 「入力が確認できま
せんでした。」 (timeout) or 「入力が正しくありません。」 (garbage), or — after too many
consecutive failures — goodbye and hang-up, so that an abandoned call (a phone left off the
hook, a dialler that sends nothing) cannot hold a channel forever.

Digit collection itself (first-digit / inter-digit timeouts, max length, barge-in over the
prompt, type-ahead) is done by the driver with `Call.collect_digits`; this class is pure.
"""

from __future__ import annotations

from collections.abc import Sequence

from callflow.features.ivr.model import Action, Ask, Entered, Event, Finish, NoInput

DEFAULT_MAX_FAILURES = 3


class Prompter:
    def __init__(self, max_failures: int = DEFAULT_MAX_FAILURES) -> None:
        if max_failures < 1:
            raise ValueError("max_failures must be >= 1")
        self.max_failures = max_failures
        self.failures = 0
        self.question: Ask | None = None

    def ask(self, prompt_ids: Sequence[str], max_digits: int) -> Ask:
        """A new question (the failure count carries over until an answer is accepted)."""
        self.question = Ask(tuple(prompt_ids), max_digits)
        return self.question

    def ask_after(self, prefix: Sequence[str], prompt_ids: Sequence[str],
                  max_digits: int) -> Ask:
        """A new question said after `prefix` this once (a repeat leaves the prefix out)."""
        question = self.ask(prompt_ids, max_digits)
        return Ask((*prefix, *question.prompts), max_digits)

    def answer(self, event: Event, *, invalid: Sequence[str] = ("invalid_input",)
               ) -> str | Action:
        """Digits when the caller typed something and '#', else the action to take."""
        if isinstance(event, NoInput) or (
                isinstance(event, Entered) and not event.digits and not event.terminated):
            return self.retry(("no_input",))
        if not isinstance(event, Entered):
            raise TypeError(f"expected digits, got {event!r}")
        if not event.terminated or not event.digits:
            return self.retry(invalid)
        self.failures = 0
        return event.digits

    def retry(self, prefix: Sequence[str], question: Ask | None = None) -> Action:
        """Count a failure; ask `question` (default: the current one) again after `prefix`,
        or give up."""
        if question is not None:
            self.question = question
        if self.question is None:
            raise RuntimeError("retry() before ask()")
        self.failures += 1
        if self.failures >= self.max_failures:
            return Finish((*prefix, "goodbye"))
        return Ask((*prefix, *self.question.prompts), self.question.max_digits)
