"""The contract between the dialplan and the app: the arguments of `Stasis()`.

dialplan/anshin.conf enters the application with

    Stasis(<app>, <entry>, <dialed number>, <CALLERID(pres)>, <SIP Privacy header>[, <DIALSTATUS>])

* ``inbound``: a call from the network (`[from-pstn]`);
* ``forward-result``: a forward that `[anshin-forward]`'s Dial could not connect, back with
  its DIALSTATUS - the inbound layout plus one field, so a restarted app can take the call
  over from the arguments alone.

The presentation and the Privacy header ride along because ARI's channel JSON does not say
whether the caller's number may be shown (see features/inbound.py). Legs the app originates
itself (callback, verification and 2FA calls) carry arguments of their own and are no entry.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

__all__ = ["Entry", "StasisArgs"]


class Entry(Enum):
    INBOUND = "inbound"
    FORWARD_RESULT = "forward-result"


@dataclass(frozen=True)
class StasisArgs:
    entry: Entry | None  # None: not a dialplan entry (an originated leg, or no arguments)
    dialed: str | None = None
    presentation: str | None = None  # CALLERID(pres), e.g. "allowed", "prohib_passed_screen"
    privacy: str | None = None  # the INVITE's Privacy header, e.g. "id"
    dial_status: str | None = None  # forward-result only: BUSY, NOANSWER, CHANUNAVAIL, …

    @classmethod
    def parse(cls, args: Sequence[str]) -> StasisArgs:
        """Never raises: missing or empty fields are None (an INVITE without a Privacy
        header gives an empty argument)."""
        try:
            entry = Entry(args[0]) if args else None
        except ValueError:
            entry = None
        if entry is None:
            return cls(None)

        def field(i: int) -> str | None:
            return (args[i] or None) if len(args) > i else None

        return cls(entry, dialed=field(1), presentation=field(2), privacy=field(3),
                   dial_status=field(4) if entry is Entry.FORWARD_RESULT else None)

    @property
    def carries_presentation(self) -> bool:
        """Whether the dialplan passed presentation and Privacy (fields 3 and 4 exist)."""
        return self.entry is not None

    def dialed_or(self, dialplan_exten: str) -> str:
        """The dialed number; a channel that did not come through an entry uses its
        dialplan extension."""
        if self.entry is None:
            return dialplan_exten
        return self.dialed or ""
