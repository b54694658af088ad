"""A softphone's outgoing call over TLS with an SRTP (SDES) offer, as a test's stand-in
for a softphone app: INVITE with digest authentication, ACK the answer, BYE.

Signalling only (no media is sent): enough to see what the callee receives.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import re
import socket
import ssl
import uuid


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


class _Stream:
    def __init__(self, conn: ssl.SSLSocket) -> None:
        self.conn, self.buf = conn, b""

    def message(self) -> tuple[str, bytes]:
        """The next SIP message: (head, body), by Content-Length."""
        while b"\r\n\r\n" not in self.buf:
            chunk = self.conn.recv(65535)
            if not chunk:
                raise RuntimeError(f"connection closed after {self.buf[:200]!r}")
            self.buf += chunk
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        m = re.search(rb"(?im)^(?:content-length|l)\s*:\s*(\d+)", head)
        length = int(m.group(1)) if m else 0
        while len(self.buf) < length:
            self.buf += self.conn.recv(65535)
        body, self.buf = self.buf[:length], self.buf[length:]
        return head.decode(errors="replace"), body

    def final(self) -> str:
        """The next final response's head (skipping 1xx and any request)."""
        while True:
            head, _ = self.message()
            if head.startswith("SIP/2.0 ") and not head.split(" ", 2)[1].startswith("1"):
                return head


def _status(head: str) -> int:
    return int(head.split(" ", 2)[1])


def _header(head: str, name: str) -> str:
    for line in head.split("\r\n"):
        if line.lower().startswith(name.lower() + ":"):
            return line.split(":", 1)[1].strip()
    return ""


def _call_sync(target: str, user: str, password: str, dialed: str, timeout_s: float) -> int:
    host, port = target.rsplit(":", 1)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the lab's self-signed certificate
    call_id, tag = uuid.uuid4().hex, uuid.uuid4().hex[:8]
    uri = f"sip:{dialed}@{host}:{port};transport=tls"
    key = base64.b64encode(os.urandom(30)).decode()
    sdp = ("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
           "m=audio 40000 RTP/SAVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
           f"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{key}\r\na=sendrecv\r\n")
    with socket.create_connection((host, int(port)), timeout=timeout_s) as raw, \
            context.wrap_socket(raw) as conn:
        lp = conn.getsockname()[1]
        stream = _Stream(conn)

        def request(method: str, cseq: int, branch: str, to_tag: str = "",
                    extra: tuple[str, ...] = (), body: str = "") -> None:
            lines = [f"{method} {uri} SIP/2.0",
                     f"Via: SIP/2.0/TLS 127.0.0.1:{lp};branch={branch};rport",
                     "Max-Forwards: 70", f"From: <sip:{user}@{host}>;tag={tag}",
                     f"To: <sip:{dialed}@{host}>{';tag=' + to_tag if to_tag else ''}",
                     f"Call-ID: {call_id}", f"CSeq: {cseq} {method}",
                     f"Contact: <sip:{user}@127.0.0.1:{lp};transport=tls>", *extra]
            if body:
                lines.append("Content-Type: application/sdp")
            lines += [f"Content-Length: {len(body.encode())}", "", body]
            conn.sendall("\r\n".join(lines).encode())

        def to_tag(head: str) -> str:
            m = re.search(r";tag=([^;>\s]+)", _header(head, "To"))
            return m.group(1) if m else ""

        branch = "z9hG4bK" + uuid.uuid4().hex[:16]
        request("INVITE", 1, branch, body=sdp)
        reply = stream.final()
        if _status(reply) == 401:
            request("ACK", 1, branch, to_tag(reply))
            params = dict(re.findall(r'(\w+)="?([^",]*)"?', _header(reply, "WWW-Authenticate")))
            realm, nonce = params["realm"], params["nonce"]
            ha1, ha2 = _md5(f"{user}:{realm}:{password}"), _md5(f"INVITE:{uri}")
            cnonce, nc = uuid.uuid4().hex[:12], "00000001"
            auth = (f'Digest username="{user}", realm="{realm}", nonce="{nonce}", '
                    f'uri="{uri}", algorithm=MD5, qop=auth, nc={nc}, cnonce="{cnonce}", '
                    f'response="{_md5(f"{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}")}"')
            if "opaque" in params:
                auth += f', opaque="{params["opaque"]}"'
            branch = "z9hG4bK" + uuid.uuid4().hex[:16]
            request("INVITE", 2, branch, extra=(f"Authorization: {auth}",), body=sdp)
            reply = stream.final()
        status = _status(reply)
        if status == 200:
            tt = to_tag(reply)
            request("ACK", 2, "z9hG4bK" + uuid.uuid4().hex[:16], tt)
            request("BYE", 3, "z9hG4bK" + uuid.uuid4().hex[:16], tt)
            stream.final()
        elif status >= 300:
            request("ACK", 2, branch, to_tag(reply))
        return status


async def softphone_call(target: str, user: str, password: str, dialed: str, *,
                         timeout_s: float = 15.0) -> int:
    """Call `dialed` from softphone account `user` over TLS at `target`; the final status
    of the INVITE (200: answered, then hung up at once)."""
    return await asyncio.to_thread(_call_sync, target, user, password, dialed, timeout_s)
