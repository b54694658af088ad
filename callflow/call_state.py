"""A call's progress kept on its channel, so that a new app process can take the call over.

Asterisk keeps channel variables with the call whatever happens to the app. The features
write one variable, `VAR`, whenever a call reaches a step worth resuming (an IVR step, a
recording started); a restarted process reads it for every channel it finds in Stasis
(`callflow.adoption`). Pure: encoding, sealing and parsing only.

The value is ``<payload>|<mac>``: the payload is ``key=value`` fields joined by ``;`` and
the MAC an HMAC-SHA256 over the channel id and the payload, with a key derived from a secret
every app instance shares (the ARI password). Why sealed: the variable names a mailbox that
has been *authenticated*; anything able to put a value into a channel variable (a dialplan
change copying a SIP header, a shared Asterisk) could otherwise hand itself a logged-in
mailbox. Bound to the channel id, a value copied onto another call is refused. No PIN is ever
in it: the PIN-change step keeps only keyed fingerprints (`fingerprint`), which cannot be
reversed without the key (an unkeyed hash of a 4-digit PIN would be, in 10 000 guesses).
The variable has no leading underscore: Dial and Originate never copy it to other channels.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

#: the channel variable that carries a call's progress
VAR = "ANSHIN_RESUME"
_VERSION = "1"
_MAC_HEX = 32  # 128 bits of HMAC-SHA256
_FINGERPRINT_HEX = 16


def derive_key(secret: str) -> bytes:
    """The sealing key from a secret all instances share (never the secret itself)."""
    return hashlib.sha256(b"anshin-call-state\0" + secret.encode()).digest()


def _mac(key: bytes, channel_id: str, payload: str) -> str:
    msg = f"{_VERSION}\0{channel_id}\0{payload}".encode()
    return hmac.new(key, msg, hashlib.sha256).hexdigest()[:_MAC_HEX]


def encode(fields: Mapping[str, str | int]) -> str:
    """``{"k": "r", "n": "050…"}`` → ``"k=r;n=050…"`` (values must not hold ``;|=``)."""
    parts = []
    for name, value in fields.items():
        text = str(value)
        if any(c in text for c in ";|=") or any(c in name for c in ";|="):
            raise ValueError(f"unencodable field {name!r}")
        parts.append(f"{name}={text}")
    return ";".join(parts)


def decode(payload: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    for part in payload.split(";"):
        name, sep, value = part.partition("=")
        if sep:
            fields[name] = value
    return fields


def seal(key: bytes, channel_id: str, payload: str) -> str:
    return f"{payload}|{_mac(key, channel_id, payload)}"


def unseal(key: bytes, channel_id: str, value: str) -> str | None:
    """The payload, or None when the value is empty, malformed, or not sealed for this
    channel with this key."""
    payload, sep, mac = value.rpartition("|")
    if not sep or not payload:
        return None
    if not hmac.compare_digest(mac, _mac(key, channel_id, payload)):
        return None
    return payload


def fingerprint(key: bytes, channel_id: str, secret_digits: str) -> str:
    """A keyed fingerprint of a PIN for this call: equal PINs give equal fingerprints."""
    msg = f"pin\0{channel_id}\0{secret_digits}".encode()
    return hmac.new(key, msg, hashlib.sha256).hexdigest()[:_FINGERPRINT_HEX]
