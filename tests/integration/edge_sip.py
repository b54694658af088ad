"""SIP peers for the edge tests (tests/integration/test_edge.py): SIPp "nodes" and carrier
gateways bound to any loopback address, SIPp callers from any source address, and a small
REGISTER client. labkit.harness.sipp binds 127.0.0.1 only; the edge tests need 127.0.0.2,
127.0.0.3 (nodes) and other sources (a flooder, a sprayer).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import re
import signal
import socket
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from labkit.harness.sipp import SipMessage, parse_message_log

# Answers OPTIONS (the edge's probes) and INVITE (180, 200 after 200 ms, then waits for BYE).
ANSWERING_UAS = """<?xml version="1.0" encoding="UTF-8" ?>
<scenario name="edge test peer">
  <recv request="OPTIONS" optional="true" next="options"/>
  <recv request="INVITE" rrs="true"/>
  <send><![CDATA[
SIP/2.0 180 Ringing
[last_Via:]
[last_From:]
[last_To:];tag=[pid]T[call_number]
[last_Call-ID:]
[last_CSeq:]
[last_Record-Route:]
Contact: <sip:[local_ip]:[local_port];transport=[transport]>
Content-Length: 0

]]></send>
  <pause milliseconds="200"/>
  <send retrans="500"><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:];tag=[pid]T[call_number]
[last_Call-ID:]
[last_CSeq:]
[last_Record-Route:]
Contact: <sip:[local_ip]:[local_port];transport=[transport]>
Content-Type: application/sdp
Content-Length: [len]

v=0
o=peer 1 1 IN IP[local_ip_type] [local_ip]
s=-
c=IN IP[media_ip_type] [media_ip]
t=0 0
m=audio @MEDIA_PORT@ RTP/AVP 0
a=rtpmap:0 PCMU/8000
]]></send>
  <recv request="ACK"/>
  <recv request="BYE"/>
  <send next="done"><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0

]]></send>
  <label id="options"/>
  <send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:];tag=[pid]O[call_number]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0

]]></send>
  <label id="done"/>
</scenario>
"""

# One call: INVITE, ACK the answer, BYE after @HOLD_MS@; any failure ends the call.
CALLER = """<?xml version="1.0" encoding="UTF-8" ?>
<scenario name="edge test caller">
  <send retrans="500"><![CDATA[
INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
From: <sip:0312345678@[local_ip]:[local_port]>;tag=[pid]C[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: 1 INVITE
Contact: <sip:0312345678@[local_ip]:[local_port]>
Max-Forwards: 70
Content-Type: application/sdp
Content-Length: [len]

v=0
o=caller 1 1 IN IP[local_ip_type] [local_ip]
s=-
c=IN IP[media_ip_type] [media_ip]
t=0 0
m=audio @MEDIA_PORT@ RTP/AVP 0
a=rtpmap:0 PCMU/8000
]]></send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="503" optional="true" next="refused"/>
  <recv response="403" optional="true" next="refused"/>
  <recv response="408" optional="true" next="refused"/>
  <recv response="200" rrs="true"/>
  <send><![CDATA[
ACK [next_url] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
From: <sip:0312345678@[local_ip]:[local_port]>;tag=[pid]C[call_number]
[last_To:]
[routes]
Call-ID: [call_id]
CSeq: 1 ACK
Max-Forwards: 70
Content-Length: 0

]]></send>
  <pause milliseconds="@HOLD_MS@"/>
  <send retrans="500"><![CDATA[
BYE [next_url] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
From: <sip:0312345678@[local_ip]:[local_port]>;tag=[pid]C[call_number]
[last_To:]
[routes]
Call-ID: [call_id]
CSeq: 2 BYE
Max-Forwards: 70
Content-Length: 0

]]></send>
  <recv response="200" next="done"/>
  <label id="refused"/>
  <send><![CDATA[
ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch-5];rport
From: <sip:0312345678@[local_ip]:[local_port]>;tag=[pid]C[call_number]
[last_To:]
Call-ID: [call_id]
CSeq: 1 ACK
Max-Forwards: 70
Content-Length: 0

]]></send>
  <label id="done"/>
</scenario>
"""


def free_udp_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


@dataclass
class Sipp:
    """One SIPp process and its message log."""

    proc: asyncio.subprocess.Process
    workdir: Path
    host: str
    port: int

    @property
    def target(self) -> str:
        return f"{self.host}:{self.port}"

    def messages(self) -> list[SipMessage]:
        path = self.workdir / "messages.log"
        return parse_message_log(path.read_text(errors="replace") if path.exists() else "")

    def received_invites(self) -> list[SipMessage]:
        return [m for m in self.messages()
                if m.direction == "received" and m.method == "INVITE" and m.to_tag is None]

    async def stop(self) -> None:
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            await self.proc.wait()


def _write_scenario(workdir: Path, scenario: str) -> None:
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "scenario.xml").write_text(scenario)


async def _sipp(workdir: Path, scenario: str, host: str, port: int, *args: str,
                media_port: int | None = None, hold_ms: int = 300) -> Sipp:
    """`media_port`: the SDP names this port (a test's own RTP socket) instead of SIPp's."""
    media = free_udp_port(host)
    keyword = f"[media_port{media_port - media:+d}]" if media_port else "[media_port]"
    _write_scenario(workdir, scenario.replace("@MEDIA_PORT@", keyword)
                    .replace("@HOLD_MS@", str(hold_ms)))
    proc = await asyncio.create_subprocess_exec(
        "sipp", *args, "-sf", str(workdir / "scenario.xml"), "-i", host, "-p", str(port),
        "-mi", host, "-mp", str(media), "-t", "u1", "-nostdin", "-trace_msg",
        "-message_file", str(workdir / "messages.log"), "-trace_err",
        "-error_file", str(workdir / "errors.log"), "-max_recv_loops", "1000",
        cwd=workdir, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL, start_new_session=True)
    return Sipp(proc, workdir, host, port)


@contextlib.asynccontextmanager
async def answering_peer(workdir: Path, host: str, port: int | None = None, *,
                         media_port: int | None = None) -> AsyncIterator[Sipp]:
    """A node / carrier gateway / lab phone stand-in that answers OPTIONS and INVITE."""
    peer = await _sipp(workdir, ANSWERING_UAS, host, port or free_udp_port(host),
                       "-timeout", "300s", media_port=media_port)
    try:
        await _bound(peer)
        yield peer
    finally:
        await peer.stop()


async def _bound(peer: Sipp, timeout_s: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while loop.time() < deadline:
        if peer.proc.returncode is not None:
            raise RuntimeError(f"SIPp exited: {(peer.workdir / 'errors.log').read_text()}")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            try:
                s.bind((peer.host, peer.port))
            except OSError:
                return
        await asyncio.sleep(0.02)
    raise TimeoutError("SIPp did not bind its port")


@dataclass(frozen=True)
class CallsResult:
    finals: dict[str, int]            # Call-ID → final status of the INVITE (absent: none)
    messages: list[SipMessage]        # everything the caller sent and received
    placed: int

    def count(self, status: int) -> int:
        return sum(1 for s in self.finals.values() if s == status)


async def place_calls(workdir: Path, edge: str, *, source: str, dialed: str, calls: int,
                      rate: float, hold_ms: int = 300, media_port: int | None = None
                      ) -> CallsResult:
    """`calls` calls from `source` to `dialed` at the edge, `rate` new calls a second, each
    hung up `hold_ms` after the answer."""
    caller = await _sipp(workdir, CALLER, source, free_udp_port(source), edge, "-s", dialed,
                         "-m", str(calls), "-r", str(rate), "-rp", "1000", "-l", "200",
                         "-timeout", f"{round(calls / rate + hold_ms / 1000) + 30}s",
                         media_port=media_port, hold_ms=hold_ms)
    await caller.proc.wait()
    messages = caller.messages()
    finals: dict[str, int] = {}
    for m in messages:
        if (m.direction == "received" and m.cseq_method == "INVITE" and m.status
                and m.status >= 200):
            finals.setdefault(m.header("call-id") or "", m.status)
    return CallsResult(finals, messages, calls)


# ------------------------------------------------------------------------------ REGISTER

def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


class Registrar:
    """A lab phone from one source address: REGISTER and INVITE, each challenged and then
    answered with digest (right or wrong password)."""

    def __init__(self, edge: str, source: str) -> None:
        self.host, port = edge.rsplit(":", 1)
        self.port = int(port)
        self.source = source

    def _request(self, sock: socket.socket, user: str, contact: str, cseq: int,
                 call_id: str, auth: str | None) -> tuple[int, str]:
        port = sock.getsockname()[1]
        lines = [
            f"REGISTER sip:{self.host}:{self.port} SIP/2.0",
            f"Via: SIP/2.0/UDP {self.source}:{port};branch=z9hG4bK{uuid.uuid4().hex[:16]};rport",
            "Max-Forwards: 70",
            f"From: <sip:{user}@{self.host}>;tag={call_id[:8]}",
            f"To: <sip:{user}@{self.host}>",
            f"Call-ID: {call_id}",
            f"CSeq: {cseq} REGISTER",
            f"Contact: <sip:{user}@{contact}>",
            "Expires: 300",
        ]
        if auth:
            lines.append(f"Authorization: {auth}")
        sock.sendto(("\r\n".join([*lines, "Content-Length: 0", "", ""])).encode(),
                    (self.host, self.port))
        while True:
            text = sock.recv(65535).decode(errors="replace")
            status = int(text.split(" ", 2)[1])
            if status >= 200:
                return status, text

    def _register(self, user: str, password: str, contact: str) -> int:
        call_id = uuid.uuid4().hex
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind((self.source, 0))
            sock.settimeout(2.0)
            try:
                status, text = self._request(sock, user, contact, 1, call_id, None)
                if status != 401:
                    return status
                challenge = re.search(r"^WWW-Authenticate:(.*)$", text, re.M | re.I)
                assert challenge is not None
                params = dict(re.findall(r'(\w+)="([^"]*)"', challenge.group(1)))
                uri = f"sip:{self.host}:{self.port}"
                ha1 = _md5(f"{user}:{params['realm']}:{password}")
                response = _md5(f"{ha1}:{params['nonce']}:{_md5('REGISTER:' + uri)}")
                auth = (f'Digest username="{user}", realm="{params["realm"]}", '
                        f'nonce="{params["nonce"]}", uri="{uri}", response="{response}", '
                        'algorithm=MD5')
                status, _ = self._request(sock, user, contact, 2, call_id, auth)
                return status
            except TimeoutError:
                return 0  # dropped

    def _invite(self, user: str, password: str, dialed: str) -> int:
        """A lab phone's call: INVITE, answer the 407 with digest, return the final status
        (the 200 is not acknowledged: the test only asks whether the edge let it through)."""
        call_id = uuid.uuid4().hex
        uri = f"sip:{dialed}@{self.host}:{self.port}"
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind((self.source, 0))
            sock.settimeout(3.0)
            port = sock.getsockname()[1]
            auth: str | None = None
            for cseq in (1, 2):
                lines = [
                    f"INVITE {uri} SIP/2.0",
                    f"Via: SIP/2.0/UDP {self.source}:{port};branch=z9hG4bK"
                    f"{uuid.uuid4().hex[:16]};rport",
                    "Max-Forwards: 70",
                    f"From: <sip:{user}@{self.host}>;tag={call_id[:8]}",
                    f"To: <{uri}>",
                    f"Call-ID: {call_id}",
                    f"CSeq: {cseq} INVITE",
                    f"Contact: <sip:{user}@{self.source}:{port}>",
                    *([f"Proxy-Authorization: {auth}"] if auth else []),
                    "Content-Length: 0", "", ""]
                sock.sendto("\r\n".join(lines).encode(), (self.host, self.port))
                try:
                    while True:
                        text = sock.recv(65535).decode(errors="replace")
                        status = int(text.split(" ", 2)[1])
                        if status >= 200:
                            break
                except TimeoutError:
                    return 0
                challenge = re.search(r"^Proxy-Authenticate:(.*)$", text, re.M | re.I)
                if status != 407 or challenge is None:
                    return status
                params = dict(re.findall(r'(\w+)="([^"]*)"', challenge.group(1)))
                ha1 = _md5(f"{user}:{params['realm']}:{password}")
                response = _md5(f"{ha1}:{params['nonce']}:{_md5('INVITE:' + uri)}")
                auth = (f'Digest username="{user}", realm="{params["realm"]}", '
                        f'nonce="{params["nonce"]}", uri="{uri}", response="{response}", '
                        'algorithm=MD5')
            return status

    async def invite(self, user: str, password: str, dialed: str) -> int:
        return await asyncio.to_thread(self._invite, user, password, dialed)

    async def register(self, user: str, password: str, contact: str = "127.0.0.1:9") -> int:
        """The final status of the REGISTER (0: no answer); contact is host:port."""
        return await asyncio.to_thread(self._register, user, password, contact)
