"""Pure decisions about the legs of app-placed calls: outcome, announcement, billing.

How Asterisk 22 reports a leg that never answers (ARI originate, observed in the lab):
``ChannelDestroyed`` carries the Q.850 cause chan_pjsip mapped from the SIP final response
(486 -> 17 user busy, 403/603 -> 21 call rejected, 480 -> 19, 404 -> 1 unallocated,
503 -> 34/38) and the ``Dial`` events carry a ``dialstatus`` that is coarser: a 403 comes
as NOANSWER (cause 21), and when the originate's own dial timeout expires no final Dial
event comes at all (last dialstatus RINGING, cause 19). So the cause decides when it is
specific and the dialstatus is only the fallback.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime
from enum import Enum


class LegResult(Enum):
    ANSWERED = "answered"  # answered and later ended normally
    BUSY = "busy"
    NO_ANSWER = "no_answer"
    REJECTED = "rejected"
    UNAVAILABLE = "unavailable"  # unallocated number, unreachable
    FAILED = "failed"  # congestion, network error, originate refused
    CANCELLED = "cancelled"  # we hung it up while it rang (leg 1 gone, shutdown)
    NOT_PLACED = "not_placed"  # leg 2 never originated (leg 1 not answered)


_DIALSTATUS = {
    "BUSY": LegResult.BUSY,
    "NOANSWER": LegResult.NO_ANSWER,
    "CHANUNAVAIL": LegResult.UNAVAILABLE,
    "CONGESTION": LegResult.FAILED,
    "CANCEL": LegResult.CANCELLED,
}
_CAUSES = {
    17: LegResult.BUSY,
    18: LegResult.NO_ANSWER,
    19: LegResult.NO_ANSWER,
    21: LegResult.REJECTED,
    1: LegResult.UNAVAILABLE,
    3: LegResult.UNAVAILABLE,
    20: LegResult.UNAVAILABLE,  # subscriber absent
    22: LegResult.UNAVAILABLE,  # number changed
    28: LegResult.UNAVAILABLE,  # invalid number format
}


def unanswered_result(dialstatus: str | None, cause: int | None) -> LegResult:
    """Why a leg ended without being answered: the cause when it is specific, else the
    dialstatus, else FAILED."""
    if cause is not None and cause in _CAUSES:
        return _CAUSES[cause]
    return _DIALSTATUS.get((dialstatus or "").upper(), LegResult.FAILED)


def destination_announcement(result: LegResult) -> str:
    """The prompt leg 1 hears when the destination (leg 2) did not answer."""
    if result is LegResult.BUSY:
        return "callback_dest_busy"
    if result is LegResult.NO_ANSWER:
        return "callback_dest_no_answer"
    return "callback_failed"


def billable_seconds(answered_at: datetime | None, ended_at: datetime | None) -> int:
    """Whole seconds from answer to end, rounded up (a started second is billed);
    0 for a leg never answered. Both times must be aware."""
    if answered_at is None or ended_at is None or ended_at <= answered_at:
        return 0
    return math.ceil((ended_at - answered_at).total_seconds() - 1e-6)


_CHANNEL_ID = re.compile(r"cr(\d+)-([12])-[0-9a-f]+")


def leg_of_channel(channel_id: str) -> tuple[int, int] | None:
    """(request id, leg) of a callback leg's channel id (see calls.new_channel_id), else None.
    Lets a process that did not place the call - after an app restart - close its billing."""
    m = _CHANNEL_ID.fullmatch(channel_id)
    return (int(m.group(1)), int(m.group(2))) if m else None


@dataclass
class Leg:
    """One leg's billing record as it evolves (mirrors a ``callback_legs`` row)."""

    leg: int
    channel_id: str
    from_number: str
    to_number: str
    created_at: datetime
    answered_at: datetime | None = None
    ended_at: datetime | None = None
    result: LegResult | None = None
    dialstatus: str | None = None

    @property
    def ended(self) -> bool:
        return self.ended_at is not None

    def answer(self, now: datetime) -> None:
        if self.answered_at is None and self.ended_at is None:
            self.answered_at = now

    def end(self, now: datetime, result: LegResult | None = None,
            cause: int | None = None) -> None:
        """Record the end once (later calls are ignored). Without ``result``: answered
        legs end ANSWERED, others by dialstatus/cause."""
        if self.ended_at is not None:
            return
        self.ended_at = now
        if result is not None:
            self.result = result
        elif self.answered_at is not None:
            self.result = LegResult.ANSWERED
        else:
            self.result = unanswered_result(self.dialstatus, cause)

    @property
    def billable(self) -> int:
        return billable_seconds(self.answered_at, self.ended_at)


def callback_outcome(leg1: Leg, leg2: Leg | None, bridged: bool) -> tuple[str, str | None]:
    """Final (status, reason) of a callback request from its legs."""
    if bridged:
        return "completed", None
    if leg1.answered_at is None:
        result = leg1.result or LegResult.FAILED
        return "failed", f"leg1_{result.value}"
    if leg2 is None or leg2.result is None:
        return "failed", "leg1_hung_up"
    if leg2.result is LegResult.CANCELLED:
        return "failed", "leg1_hung_up"
    return "failed", f"dest_{leg2.result.value}"
