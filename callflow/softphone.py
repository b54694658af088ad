"""The 050 number on a softphone: the pure rules (issue 21).

A subscriber gets one SIP account per 050 number for a softphone app. Its user name is
`sp` + the number (never a bare number: PJSIP identifies a request by its From user first -
pjsip.conf endpoint_identifier_order - and a caller whose From is a 050 number must stay the
carrier trunk, not become someone's softphone). The password is generated here (strong
random, 128 bits), shown to the subscriber once and never stored: only HA1 =
md5(username:realm:password), which is what Asterisk needs to check an MD5 digest
(`auth_type = md5`, `md5_cred`).

Why HA1 and not a slow password hash: SIP digest authentication needs either the password
or HA1 on the server, so a bcrypt/scrypt hash cannot be checked by Asterisk. HA1 is
password-equivalent only for this realm (whoever steals the table can register as the phone
here, until the subscriber revokes and regenerates), it does not reveal the password, and
with a 128-bit random password it cannot be brute-forced back to the password - nor is the
password reused anywhere else, since the service generated it. That is the accepted trade-off
of digest authentication (as in Kamailio's `ha1` column).

Asterisk learns the accounts through ARI push configuration (sorcery memory objects,
asterisk-conf/sorcery.conf): `sorcery_objects` is what the app pushes for one account
(callflow/softphone_sync.py).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass

REALM = "anshin050"  # the digest realm of softphone accounts (part of HA1: never change it)
USERNAME_PREFIX = "sp"
PASSWORD_BYTES = 16  # 128 bits of randomness
SOFTPHONE_CONTEXT = "anshin-softphone"  # dialplan/anshin.conf: calls the softphone places
TLS_TRANSPORT = "transport-tls"  # asterisk-conf/pjsip.conf
# NAT keep-alive: a phone behind NAT (CGNAT on mobile networks) must refresh its binding
# well inside the NAT's UDP/TCP idle timeout; Asterisk asks for a short registration and
# qualifies (OPTIONS) the contact often, which keeps the TLS connection busy too.
MAX_REGISTRATION_SECONDS = 300
DEFAULT_REGISTRATION_SECONDS = 120
QUALIFY_SECONDS = 25

_NUMBER = re.compile(r"050[0-9]{8}")


def username_for(number: str) -> str:
    """The SIP user name (and PJSIP endpoint/aor/auth id) of a 050 number's softphone."""
    if not _NUMBER.fullmatch(number):
        raise ValueError(f"not a 050 number: {number!r}")
    return USERNAME_PREFIX + number


def number_of(username: str) -> str | None:
    """The 050 number a softphone user name belongs to, or None."""
    rest = username.removeprefix(USERNAME_PREFIX)
    return rest if rest != username and _NUMBER.fullmatch(rest) else None


def new_password() -> str:
    """A fresh softphone password: 22 URL-safe characters (128 bits)."""
    return secrets.token_urlsafe(PASSWORD_BYTES)


def ha1(username: str, password: str, realm: str = REALM) -> str:
    """What is stored instead of the password (RFC 2617 HA1 for MD5)."""
    return hashlib.md5(f"{username}:{realm}:{password}".encode()).hexdigest()


@dataclass(frozen=True)
class SoftphoneAccount:
    """One row of softphone_accounts as the sync job needs it."""
    number: str
    username: str
    ha1: str
    revoked: bool
    change_seq: int
    rings: bool = True  # rung with the number's forwards (dialplan [anshin-softphone-ring])


def ring_variable(number: str) -> str:
    """The dialplan global that says the number's softphone rings with its forwards."""
    return f"ANSHIN_SP_{number}"


Fields = tuple[tuple[str, str], ...]


LOCKED_HA1 = "0" * 32  # no password hashes to it: a locked account (register_guard.py)


def sorcery_objects(account: SoftphoneAccount, *, allow_udp: bool = False,
                    denied_sources: tuple[str, ...] = (), locked: bool = False
                    ) -> tuple[tuple[str, Fields], ...]:
    """(object type, fields) for res_pjsip, in the order to push them (auth and aor before
    the endpoint that names them). The endpoint calls out through [anshin-softphone] with
    its 050 number in ANSHIN_SOFTPHONE_NUMBER; media is SRTP (SDES) unless the operator
    allows plain UDP softphones (`allow_udp`, then SRTP is still offered: optimistic).
    `denied_sources`/`locked`: the REGISTER guard's block (callflow/register_guard.py)."""
    name = account.username
    auth: Fields = (
        ("auth_type", "md5"), ("username", name), ("realm", REALM),
        ("md5_cred", LOCKED_HA1 if locked else account.ha1))
    aor: Fields = (
        ("max_contacts", "1"), ("remove_existing", "yes"),
        ("maximum_expiration", str(MAX_REGISTRATION_SECONDS)),
        ("default_expiration", str(DEFAULT_REGISTRATION_SECONDS)),
        ("minimum_expiration", "60"),
        ("qualify_frequency", str(QUALIFY_SECONDS)), ("qualify_timeout", "5"))
    endpoint: Fields = (
        ("context", SOFTPHONE_CONTEXT), ("aors", name), ("auth", name),
        ("disallow", "all"), ("allow", "ulaw,alaw"), ("dtmf_mode", "rfc4733"),
        ("direct_media", "no"),
        # NAT: answer where the request came from, send media where it comes from, and
        # reach the phone at the address its REGISTER came from (not its private Contact)
        ("rtp_symmetric", "yes"), ("force_rport", "yes"), ("rewrite_contact", "yes"),
        ("media_encryption", "sdes"),
        ("media_encryption_optimistic", "yes" if allow_udp else "no"),
        # the private numbers of the other phones never reach it, nor its own anywhere
        ("send_connected_line", "no"), ("send_pai", "no"), ("send_rpid", "no"),
        ("trust_connected_line", "no"), ("trust_id_inbound", "no"),
        ("language", "ja"), ("timers", "no"),
        ("callerid", f"<{account.number}>"),
        ("set_var", f"ANSHIN_SOFTPHONE_NUMBER={account.number}"),
    )
    if not allow_udp:
        endpoint += (("transport", TLS_TRANSPORT),)
    if denied_sources:
        endpoint += (("deny", ",".join(f"{ip}/32" for ip in denied_sources)),)
    return (("auth", auth), ("aor", aor), ("endpoint", endpoint))
