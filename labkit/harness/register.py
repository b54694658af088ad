"""Register a lab phone (REGISTER with digest authentication) from a given UDP port.

Lets a test stand in for a softphone: register user N with contact 127.0.0.1:PORT, then run
a harness `Uas` on PORT to take the calls Asterisk sends to that registered phone.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import socket
import ssl
import uuid


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def _request(user: str, host: str, port: int, contact_port: int, call_id: str, cseq: int,
             expires: int, auth: str | None, transport: str = "UDP") -> bytes:
    branch = "z9hG4bK" + uuid.uuid4().hex[:16]
    contact_params = ";transport=tls" if transport == "TLS" else ""
    lines = [
        f"REGISTER sip:{host}:{port} SIP/2.0",
        f"Via: SIP/2.0/{transport} 127.0.0.1:{contact_port};branch={branch};rport",
        "Max-Forwards: 70",
        f"From: <sip:{user}@{host}>;tag={call_id[:8]}",
        f"To: <sip:{user}@{host}>",
        f"Call-ID: {call_id}",
        f"CSeq: {cseq} REGISTER",
        f"Contact: <sip:{user}@127.0.0.1:{contact_port}{contact_params}>",
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


def _read_response(conn: ssl.SSLSocket) -> bytes:
    """The next final SIP response from a stream (headers up to the blank line; REGISTER
    replies have no body), skipping 100 Trying and Asterisk's requests (qualify OPTIONS
    may come as soon as the phone is registered)."""
    data = b""
    while True:
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65535)
            if not chunk:
                raise RuntimeError(f"connection closed after {data[:200]!r}")
            data += chunk
        message, data = data.split(b"\r\n\r\n", 1)
        if message.startswith(b"SIP/2.0 ") and _status(message) != 100:
            return message


def _register_tls_sync(target: str, user: str, password: str, expires: int,
                       timeout_s: float, source: str | None) -> int:
    host, port = target.rsplit(":", 1)
    call_id = uuid.uuid4().hex
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the lab's self-signed certificate
    bind = (source, 0) if source else None
    with socket.create_connection((host, int(port)), timeout=timeout_s,
                                  source_address=bind) as raw, \
            context.wrap_socket(raw) as conn:
        local_port = conn.getsockname()[1]
        conn.sendall(_request(user, host, int(port), local_port, call_id, 1, expires, None,
                              "TLS"))
        reply = _read_response(conn)
        if _status(reply) == 401:
            challenges = [line.split(":", 1)[1] for line
                          in reply.decode(errors="replace").split("\r\n")
                          if line.lower().startswith("www-authenticate:")]
            header = next((c for c in challenges if "md5" in c.lower()), challenges[0])
            auth = _digest(header, user, password, f"sip:{host}:{port}")
            conn.sendall(_request(user, host, int(port), local_port, call_id, 2, expires,
                                  auth, "TLS"))
            reply = _read_response(conn)
        return _status(reply)


async def register_tls(target: str, user: str, password: str, *, expires: int = 120,
                       timeout_s: float = 5.0, source: str | None = None) -> int:
    """REGISTER `user` over TLS at `target` (the softphone transport, "127.0.0.1:PORT")
    with digest authentication; the final status code (200: registered). The connection
    closes afterwards, as a phone's would when its network goes away. `source`: the local
    address to connect from (another phone's address, e.g. "127.0.0.7" on loopback)."""
    return await asyncio.to_thread(_register_tls_sync, target, user, password, expires,
                                   timeout_s, source)
