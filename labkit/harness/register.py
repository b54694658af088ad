"""Register a lab phone (REGISTER with digest authentication) from a given UDP port.

Lets a test stand in for a softphone: register user N with contact 127.0.0.1:PORT, then run
a harness `Uas` on PORT to take the calls Asterisk sends to that registered phone.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import socket
import uuid


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def _request(user: str, host: str, port: int, contact_port: int, call_id: str, cseq: int,
             expires: int, auth: str | None) -> bytes:
    branch = "z9hG4bK" + uuid.uuid4().hex[:16]
    lines = [
        f"REGISTER sip:{host}:{port} SIP/2.0",
        f"Via: SIP/2.0/UDP 127.0.0.1:{contact_port};branch={branch};rport",
        "Max-Forwards: 70",
        f"From: <sip:{user}@{host}>;tag={call_id[:8]}",
        f"To: <sip:{user}@{host}>",
        f"Call-ID: {call_id}",
        f"CSeq: {cseq} REGISTER",
        f"Contact: <sip:{user}@127.0.0.1:{contact_port}>",
        f"Expires: {expires}",
    ]
    if auth:
        lines.append(f"Authorization: {auth}")
    lines += ["Content-Length: 0", "", ""]
    return "\r\n".join(lines).encode()


def _status(data: bytes) -> int:
    return int(data.split(b" ", 2)[1])


def _digest(challenge: str, user: str, password: str, uri: str) -> str:
    params = dict(re.findall(r'(\w+)="?([^",]*)"?', challenge))
    realm, nonce = params["realm"], params["nonce"]
    ha1 = _md5(f"{user}:{realm}:{password}")
    ha2 = _md5(f"REGISTER:{uri}")
    parts = [f'username="{user}"', f'realm="{realm}"', f'nonce="{nonce}"', f'uri="{uri}"',
             "algorithm=MD5"]
    if "qop" in params:
        cnonce, nc = uuid.uuid4().hex[:12], "00000001"
        response = _md5(f"{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}")
        parts += ["qop=auth", f"nc={nc}", f'cnonce="{cnonce}"']
    else:
        response = _md5(f"{ha1}:{nonce}:{ha2}")
    parts.append(f'response="{response}"')
    if "opaque" in params:
        parts.append(f'opaque="{params["opaque"]}"')
    return "Digest " + ", ".join(parts)


def _register_sync(target: str, user: str, password: str, contact_port: int,
                   expires: int, timeout_s: float) -> None:
    host, port = target.rsplit(":", 1)
    call_id = uuid.uuid4().hex
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", contact_port))
        sock.settimeout(timeout_s)
        addr = (host, int(port))
        sock.sendto(_request(user, host, int(port), contact_port, call_id, 1, expires, None),
                    addr)
        reply = sock.recv(65535)
        while _status(reply) == 100:
            reply = sock.recv(65535)
        if _status(reply) == 401:
            challenges = [line.split(":", 1)[1] for line
                          in reply.decode(errors="replace").split("\r\n")
                          if line.lower().startswith("www-authenticate:")]
            # Asterisk may offer several algorithms; this client speaks MD5.
            header = next((c for c in challenges if "md5" in c.lower()), challenges[0])
            auth = _digest(header, user, password, f"sip:{host}:{port}")
            sock.sendto(_request(user, host, int(port), contact_port, call_id, 2, expires,
                                 auth), addr)
            reply = sock.recv(65535)
            while _status(reply) == 100:
                reply = sock.recv(65535)
        if _status(reply) != 200:
            raise RuntimeError(f"REGISTER {user} failed: {reply[:200]!r}")


async def register(target: str, user: str, password: str, contact_port: int, *,
                   expires: int = 300, timeout_s: float = 5.0) -> None:
    """Register `user` at `target` ("127.0.0.1:PORT") with contact 127.0.0.1:contact_port
    (expires=0 unregisters). The port is released again before this returns."""
    await asyncio.to_thread(_register_sync, target, user, password, contact_port, expires,
                            timeout_s)
