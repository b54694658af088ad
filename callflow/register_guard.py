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
and keeps the logs readable. Only softphone accounts (`sp…`) are guarded by these two.

- per source over any account (password spraying: one password tried against many user
  names, existing or not): `SPRAY_FAILURES` failed attempts from one address within
  `SPRAY_WINDOW_S` ban that address from every account for `BLOCK_S`. An attempt is one
  (account name, Call-ID) pair: Asterisk reports an unknown name on every request of an
  attempt, and a phone with stale credentials keeps its Call-ID across refreshes, so it
  counts once and never bans its own network. The bans are a res_pjsip ACL object in a
  file pjsip.conf includes (`source_bans_config`, one per app instance); res_pjsip_acl then
  answers 403 to every SIP request from that address before anything else runs. Addresses
  in `never_ban` (the carrier trunk, the SIP edge) are never banned.
"""

from __future__ import annotations

import ipaddress
import re
from collections import defaultdict, deque
from collections.abc import Iterable
from dataclasses import dataclass, field

from callflow.softphone import number_of

SOURCE_FAILURES = 5
SOURCE_WINDOW_S = 300.0
ACCOUNT_FAILURES = 20
ACCOUNT_WINDOW_S = 600.0
BLOCK_S = 900.0
SPRAY_FAILURES = 10
SPRAY_WINDOW_S = 300.0
SOURCE_BANS_ACL = "anshin-source-bans"  # the res_pjsip ACL objects' names start so

_FAILED = {"ChallengeResponseFailed", "InvalidPassword"}
# Asterisk's account name for a request it could not match to an endpoint (its placeholder
# endpoint answers the digest); the same request's InvalidAccountID event has the real name
_UNKNOWN_ACCOUNT = "<unknown>"
# a REGISTER for an address that is no account of the endpoint matched by source address
# (in the lab, all of 127.0.0.0/8 is the carrier trunk, so unknown names land there)
_NO_SUCH_AOR = "registrar_requested_aor_not_found"
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
class SourceFailure:
    """One failed attempt from a source, on any account name (the spraying rule)."""
    source: str  # IPv4 address
    attempt: str  # account name and Call-ID: repeats of one attempt count once


def parse_source_failure(line: str) -> SourceFailure | None:
    """A failed attempt on any account name (existing or not) in one security log line."""
    if "SecurityEvent=" not in line:
        return None
    fields = dict(_FIELD.findall(line))
    event, account = fields.get("SecurityEvent"), fields.get("AccountID", "")
    if event in _FAILED:
        if account == _UNKNOWN_ACCOUNT:
            return None  # counted by the same request's InvalidAccountID
    elif event == "RequestNotSupported":
        if fields.get("RequestType") != _NO_SUCH_AOR:
            return None
    elif event != "InvalidAccountID":
        return None
    parts = fields.get("RemoteAddress", "").split("/")  # IPV4/TLS/1.2.3.4/5678
    if len(parts) < 3 or parts[0] != "IPV4":
        return None
    return SourceFailure(parts[2], f"{account}\n{fields.get('SessionID', '')}")


def source_bans_config(banned: Iterable[str], instance: int) -> str:
    """A file pjsip.conf #tryincludes: one res_pjsip ACL object (one per app instance of the
    node) denying the banned sources. An ACL starts from "allow" and only its matching lines
    change that (main/acl.c ast_apply_ha), so deny lines alone deny just those addresses,
    and an object with no line denies nobody."""
    lines = ["; written by the app's REGISTER guard (callflow/register_guard.py): do not edit",
             f"[{SOURCE_BANS_ACL}-{instance}]", "type = acl"]
    lines += [f"deny = {source}/32" for source in sorted(set(banned))]
    return "\n".join(lines) + "\n"


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
    # the spraying rule: per source, attempt → last seen; banned source → until
    never_ban: tuple[ipaddress.IPv4Network, ...] = ()
    _attempts: dict[str, dict[str, float]] = field(default_factory=lambda: defaultdict(dict))
    _banned: dict[str, float] = field(default_factory=dict)

    def source_failed(self, failure: SourceFailure, now: float) -> bool:
        """Count a failed attempt; True when it banned its source now."""
        if failure.source in self._banned or self._trusted(failure.source):
            return False
        attempts = self._attempts[failure.source]
        attempts[failure.attempt] = now
        for attempt in [a for a, t in attempts.items() if t <= now - SPRAY_WINDOW_S]:
            del attempts[attempt]
        if len(attempts) < SPRAY_FAILURES:
            return False
        self._banned[failure.source] = now + BLOCK_S
        del self._attempts[failure.source]
        return True

    def expire_bans(self, now: float) -> list[str]:
        """Sources whose ban ended by `now`."""
        ended = sorted(s for s, until in self._banned.items() if until <= now)
        for source in ended:
            del self._banned[source]
        for source, attempts in list(self._attempts.items()):  # forget quiet sources
            if all(t <= now - SPRAY_WINDOW_S for t in attempts.values()):
                del self._attempts[source]
        return ended

    def banned_sources(self) -> tuple[str, ...]:
        return tuple(sorted(self._banned))

    def _trusted(self, source: str) -> bool:
        try:
            address = ipaddress.IPv4Address(source)
        except ValueError:
            return True  # never written: a bad ACL line makes res_pjsip_acl deny everyone
        return any(address in network for network in self.never_ban)

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
