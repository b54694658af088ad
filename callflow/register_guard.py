"""REGISTER brute force on softphone accounts: the pure rules (issue 21).

Asterisk writes its security events (res_security_log) to a file the app shares with it
(asterisk-conf/logger.conf: the media directory); `parse` reads one line. The guard counts
failed authentications in a sliding window:

- per source and account: `SOURCE_FAILURES` failures from one address on one account within
  `SOURCE_WINDOW_S` deny that address on that account's endpoint (the endpoint's `deny`
  list, pushed by the app; Asterisk then answers 403 without looking at the password);
- per account: `ACCOUNT_FAILURES` failures from anywhere within `ACCOUNT_WINDOW_S` lock the
  account (its HA1 replaced by one no password matches) - a spread-out attack.

Either lasts `BLOCK_S`, then the account is pushed as stored again. With a 128-bit random
password guessing is hopeless anyway; the guard keeps a flood from costing digest checks
and keeps the logs readable. Only softphone accounts (`sp…`) are guarded. A global
per-source block for unknown accounts is not possible this way (res_pjsip_acl objects
cannot be pushed: docs/softphone.md).
"""

from __future__ import annotations

import re
from collections import defaultdict, deque
from dataclasses import dataclass, field

from callflow.softphone import number_of

SOURCE_FAILURES = 5
SOURCE_WINDOW_S = 300.0
ACCOUNT_FAILURES = 20
ACCOUNT_WINDOW_S = 600.0
BLOCK_S = 900.0

_FAILED = {"ChallengeResponseFailed", "InvalidPassword"}
_FIELD = re.compile(r'(\w+)="([^"]*)"')


@dataclass(frozen=True)
class AuthFailure:
    account: str  # the softphone user name (PJSIP endpoint id)
    source: str  # IPv4 address


def parse(line: str) -> AuthFailure | None:
    """A failed authentication of a softphone account in one security log line, or None."""
    if "SecurityEvent=" not in line:
        return None
    fields = dict(_FIELD.findall(line))
    if fields.get("SecurityEvent") not in _FAILED:
        return None
    account = fields.get("AccountID", "")
    parts = fields.get("RemoteAddress", "").split("/")  # IPV4/TLS/1.2.3.4/5678
    if number_of(account) is None or len(parts) < 3:
        return None
    return AuthFailure(account, parts[2])


@dataclass(frozen=True)
class AccountBlock:
    """What the endpoint of one account must carry now."""
    account: str
    denied_sources: tuple[str, ...] = ()
    locked: bool = False


@dataclass
class Guard:
    """Failure windows and the blocks in force (`now`: seconds on any monotonic clock)."""
    _by_source: dict[tuple[str, str], deque[float]] = field(
        default_factory=lambda: defaultdict(deque))
    _by_account: dict[str, deque[float]] = field(default_factory=lambda: defaultdict(deque))
    _denied: dict[tuple[str, str], float] = field(default_factory=dict)  # → until
    _locked: dict[str, float] = field(default_factory=dict)  # account → until

    def failed(self, failure: AuthFailure, now: float) -> AccountBlock | None:
        """Count a failure; the account's new block when this one changed it."""
        key = (failure.account, failure.source)
        changed = False
        window = _slide(self._by_source[key], now, SOURCE_WINDOW_S)
        if len(window) >= SOURCE_FAILURES and key not in self._denied:
            self._denied[key] = now + BLOCK_S
            changed = True
        window = _slide(self._by_account[failure.account], now, ACCOUNT_WINDOW_S)
        if len(window) >= ACCOUNT_FAILURES and failure.account not in self._locked:
            self._locked[failure.account] = now + BLOCK_S
            changed = True
        return self.block(failure.account) if changed else None

    def expire(self, now: float) -> list[AccountBlock]:
        """Blocks that ended by `now`: each affected account's block as it is now."""
        ended = {a for (a, _), until in self._denied.items() if until <= now}
        ended |= {a for a, until in self._locked.items() if until <= now}
        self._denied = {k: u for k, u in self._denied.items() if u > now}
        self._locked = {a: u for a, u in self._locked.items() if u > now}
        for account in ended:
            self._by_account.pop(account, None)
            for key in [k for k in self._by_source if k[0] == account]:
                del self._by_source[key]
        return [self.block(a) for a in sorted(ended)]

    def block(self, account: str) -> AccountBlock:
        return AccountBlock(account,
                            tuple(sorted(s for (a, s) in self._denied if a == account)),
                            account in self._locked)


def _slide(window: deque[float], now: float, span: float) -> deque[float]:
    window.append(now)
    while window and window[0] <= now - span:
        window.popleft()
    return window
