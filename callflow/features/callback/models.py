"""Typed rows and the refusal exception of the callback service."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class OwnNumber:
    """A subscriber's own phone (事前登録), usable as callback leg 1 once verified."""

    id: int
    account_id: int
    number: str
    preferred: bool
    verified_at: datetime | None
    created_at: datetime

    @property
    def verified(self) -> bool:
        return self.verified_at is not None


@dataclass(frozen=True)
class CallRequest:
    """A call the app is asked to place; the portal polls ``status``/``reason``."""

    id: int
    kind: str  # 'twofa_voice' | 'verify_own_number' | 'callback'
    account_id: int | None
    number: str | None  # the 050 number shown (callback)
    leg1: str
    destination: str | None
    code: str | None
    status: str  # pending taken ringing connected completed failed expired
    reason: str | None
    created_at: datetime
    expires_at: datetime
    taken_at: datetime | None
    taken_by: str | None
    finished_at: datetime | None

    @property
    def finished(self) -> bool:
        return self.status in ("completed", "failed", "expired")


@dataclass(frozen=True)
class LegRecord:
    """One billing record: one leg of one callback (R-OUT-3)."""

    request_id: int
    leg: int  # 1 = the subscriber's own phone, 2 = the destination
    from_number: str  # always the 050 number
    to_number: str
    created_at: datetime
    answered_at: datetime | None
    ended_at: datetime | None
    result: str | None
    billable_seconds: int | None


class CallbackRefused(Exception):
    """A callback (or verification) request refused by a fraud rule or a precondition.

    ``reason_code`` is stable (for the portal and tests); ``message_ja`` is shown as is.
    """

    def __init__(self, reason_code: str, message_ja: str) -> None:
        super().__init__(f"{reason_code}: {message_ja}")
        self.reason_code = reason_code
        self.message_ja = message_ja
