"""Own-number verification (R-OUT-1, R-SVC-5): pure decisions, no I/O.

The person at the phone proves possession by keying, during the verification call, the
code the portal shows the subscriber who asked for the call (docs/callback.md says why this
direction). Pressing 1 - or any key - is not enough: someone who registers a stranger's
phone cannot make that stranger verify it by answering.

Limits:

* per call: ``MAX_ENTRIES`` entries (a wrong code or no entry at all), then the call ends;
* per phone number, over every account: ``LOCK_AFTER_FAILED_CALLS`` calls ended with a
  wrong code within ``LOCK_HOURS`` lock the number for verification (the count is taken from
  the finished ``call_requests`` rows in the transaction that inserts the next request, under
  a lock on the number, and only one verification call per number may be active, so every
  finished attempt is counted before the next one starts); ``MAX_CALLS_PER_NUMBER_DAY``
  verification calls per number per day (nobody's phone rings all day);
* per account: ``MAX_CALLS_PER_ACCOUNT_HOUR`` / ``MAX_CALLS_PER_ACCOUNT_DAY`` calls.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from enum import Enum

from .models import CallbackRefused

CODE_DIGITS = 6
MAX_ENTRIES = 3
LOCK_AFTER_FAILED_CALLS = 3
LOCK_HOURS = 24
MAX_CALLS_PER_NUMBER_DAY = 5
MAX_CALLS_PER_ACCOUNT_HOUR = 5
MAX_CALLS_PER_ACCOUNT_DAY = 10

#: waits while the person keys the code (they read it from the portal's screen)
FIRST_DIGIT_TIMEOUT_S = 10.0
NEXT_DIGIT_TIMEOUT_S = 5.0

#: the reason a verification call failed because a wrong code was keyed (counts to the lock)
WRONG_CODE = "wrong_code"
NO_INPUT = "no_input"

MESSAGES: dict[str, str] = {
    "verification_in_progress": (
        "この電話番号には、ただいま確認のお電話をおかけしています。"
        "お電話が終わってから、もう一度お試しください。"
    ),
    "verification_locked": (
        "確認番号の誤りが続いたため、この電話番号の確認は{hours}時間ご利用いただけません。"
        "しばらくたってからお試しください。"
    ),
    "verification_number_daily_limit": (
        "この電話番号への確認のお電話は1日{limit}回までです。明日以降にお試しください。"
    ),
    "verification_hourly_limit": (
        "確認のお電話の上限（1時間あたり{limit}回）に達しました。"
        "しばらくたってからお試しください。"
    ),
    "verification_daily_limit": (
        "確認のお電話の上限（1日あたり{limit}回）に達しました。明日以降にお試しください。"
    ),
    "already_verified": "この電話番号は確認済みです。",
}


def refusal(code: str, **fields: object) -> CallbackRefused:
    return CallbackRefused(code, MESSAGES[code].format(**fields))


def new_code() -> str:
    """A fresh random code of ``CODE_DIGITS`` digits (leading zeros allowed)."""
    return f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"


class Entry(Enum):
    RIGHT = "right"
    WRONG = "wrong"
    NONE = "none"  # nothing keyed before the timeout


def judge(entered: str, code: str) -> Entry:
    """One entry against the expected code (constant-time comparison)."""
    if not entered:
        return Entry.NONE
    return Entry.RIGHT if hmac.compare_digest(entered.encode(), code.encode()) else Entry.WRONG


@dataclass(frozen=True)
class Attempt:
    """The entries of one verification call so far."""

    entries: tuple[Entry, ...] = ()

    def add(self, entry: Entry) -> Attempt:
        return Attempt((*self.entries, entry))

    @property
    def verified(self) -> bool:
        return Entry.RIGHT in self.entries

    @property
    def over(self) -> bool:
        return self.verified or len(self.entries) >= MAX_ENTRIES

    @property
    def prompt(self) -> str:
        """What to ask next: the introduction, or why the last entry did not count."""
        if not self.entries:
            return "verify_own_number"
        return "verify_code_wrong" if self.entries[-1] is Entry.WRONG else "verify_code_again"

    @property
    def failure_reason(self) -> str:
        """Why the call did not verify: a wrong code (counts towards the lock) or none keyed."""
        return WRONG_CODE if Entry.WRONG in self.entries else NO_INPUT


@dataclass(frozen=True)
class History:
    """Recent verification calls, read in the transaction that would insert the next one."""

    account_calls_last_hour: int
    account_calls_last_day: int
    number_calls_last_day: int
    number_wrong_code_calls: int  # within LOCK_HOURS, any account
    active_on_number: bool


def check_history(h: History) -> None:
    """Raises :class:`CallbackRefused` when another verification call is not allowed now."""
    if h.active_on_number:
        raise refusal("verification_in_progress")
    if h.number_wrong_code_calls >= LOCK_AFTER_FAILED_CALLS:
        raise refusal("verification_locked", hours=LOCK_HOURS)
    if h.account_calls_last_hour >= MAX_CALLS_PER_ACCOUNT_HOUR:
        raise refusal("verification_hourly_limit", limit=MAX_CALLS_PER_ACCOUNT_HOUR)
    if h.account_calls_last_day >= MAX_CALLS_PER_ACCOUNT_DAY:
        raise refusal("verification_daily_limit", limit=MAX_CALLS_PER_ACCOUNT_DAY)
    if h.number_calls_last_day >= MAX_CALLS_PER_NUMBER_DAY:
        raise refusal("verification_number_daily_limit", limit=MAX_CALLS_PER_NUMBER_DAY)
