"""The Kamailio edge (edge/kamailio.cfg, labkit/edge.py, docs/edge.md) with SIPp peers: two
"nodes" on 127.0.0.2 and 127.0.0.3 that answer OPTIONS and INVITE, a carrier gateway, lab
phones, and callers from other loopback sources (a flooder, a password sprayer). No Asterisk.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
import struct
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from integration.edge_sip import Registrar, Sipp, answering_peer, place_calls
from labkit import fixtures
from labkit.edge import Edge, EdgeConfig, MediaRelay
from labkit.harness.sipp import SipMessage, parse_message_log
from labkit.harness.wait import wait_until
from labkit.ports import free_port, free_range

BUILD = Path(__file__).resolve().parents[2] / "build"
NODE_HOSTS = ("127.0.0.2", "127.0.0.3")
PASSWORD = "edge-test-phone-secret"


@pytest.fixture
def run_dir() -> Iterator[Path]:
    with fixtures.lab_dir("anshin-edge-") as path:
        yield path


@dataclass
class EdgeLab:
    edge: Edge
    nodes: list[Sipp]
    carrier: Sipp


@contextlib.asynccontextmanager
async def edge_lab(run_dir: Path, name: str, **limits: object) -> AsyncIterator[EdgeLab]:
    async with (answering_peer(run_dir / "node1", NODE_HOSTS[0]) as n1,
                answering_peer(run_dir / "node2", NODE_HOSTS[1]) as n2,
                answering_peer(run_dir / "carrier", "127.0.0.1") as carrier):
        config = EdgeConfig(sip_port=free_port(), nodes=(f"sip:{n1.target}", f"sip:{n2.target}"),
                            carrier_gateway=carrier.target, phone_password=PASSWORD)
        config = replace(config, **limits)  # type: ignore[arg-type]
        with fixtures.edge(config, run_dir / "edge",
                           log_path=BUILD / f"test-edge-{name}.log") as edge:
            yield EdgeLab(edge, [n1, n2], carrier)


def header_leaks(messages: list[SipMessage]) -> list[str]:
    """Received messages whose headers name a node (the SDP is a known gap: docs/edge.md)."""
    return [f"{m.first_line} | {line}" for m in messages if m.direction == "received"
            for line in [m.first_line, *(f"{k}: {v}" for k, vs in m.headers.items() for v in vs)]
            if any(host in line for host in NODE_HOSTS)]


async def test_calls_spread_over_nodes_fail_over_and_hide_the_nodes(run_dir: Path) -> None:
    async with edge_lab(run_dir, "failover") as lab:
        edge, (n1, n2) = lab.edge, lab.nodes
        await wait_until(lambda: all(edge.node_states().values()), 5, "both nodes active")

        calls = await place_calls(run_dir / "calls1", edge.address, source="127.0.0.1",
                                  dialed="05011112222", calls=6, rate=6)
        assert calls.count(200) == 6, calls.finals
        assert len(n1.received_invites()) == 3 and len(n2.received_invites()) == 3
        assert header_leaks(calls.messages) == []

        await n2.stop()  # a dead node: no reply at all (as after kill -9)
        t0 = time.monotonic()
        calls = await place_calls(run_dir / "calls2", edge.address, source="127.0.0.1",
                                  dialed="05011112222", calls=8, rate=4)
        assert calls.count(200) == 8, calls.finals  # the first one retried on node 1
        states = edge.node_states()
        assert states == {f"sip:{n1.target}": True, f"sip:{n2.target}": False}
        assert len(n1.received_invites()) == 3 + 8
        assert "did not take a call" in edge.logs()

        # no traffic: the probes alone take a dead node out within ~2 probe intervals
        async with answering_peer(run_dir / "node2b", n2.host, n2.port) as back:
            await wait_until(lambda: all(edge.node_states().values()), 5, "node 2 back")
            calls = await place_calls(run_dir / "calls3", edge.address, source="127.0.0.1",
                                      dialed="05011112222", calls=2, rate=4)
            assert calls.count(200) == 2 and len(back.received_invites()) == 1
        out = await wait_until(lambda: not edge.node_states()[f"sip:{n2.target}"], 5,
                               "node 2 out after it stopped answering probes")
        assert out < 3.5, f"out after {out:.1f}s ({time.monotonic() - t0:.1f}s in all)"


async def test_lab_phones_register_and_node_calls_reach_phone_or_carrier(run_dir: Path) -> None:
    async with (edge_lab(run_dir, "phones", carrier_acl=("127.0.0.1/32", "127.0.0.4/31"))
                as lab, answering_peer(run_dir / "phone", "127.0.0.1") as phone):
        edge = lab.edge
        registrar = Registrar(edge.address, "127.0.0.1")
        assert await registrar.register("09000000001", "wrong-password") == 403
        assert await registrar.register("09000000001", PASSWORD, contact=phone.target) == 200

        # calls the nodes place: to the registered phone, else out to the carrier
        for node, dialed in ((NODE_HOSTS[0], "09000000001"), (NODE_HOSTS[1], "0312345678")):
            calls = await place_calls(run_dir / f"from-{node}-{dialed}", edge.address,
                                      source=node, dialed=dialed, calls=1, rate=1)
            assert calls.count(200) == 1, calls.finals
        (to_phone,) = phone.received_invites()
        (to_carrier,) = lab.carrier.received_invites()
        assert to_phone.request_user == "09000000001"
        assert to_carrier.request_user == "0312345678"
        assert header_leaks([*phone.messages(), *lab.carrier.messages()]) == []

        # a carrier INVITE from outside the ACL is refused; inside (127.0.0.5) it is taken
        outside = await place_calls(run_dir / "outside", edge.address, source="127.0.0.6",
                                    dialed="05011112222", calls=1, rate=1)
        inside = await place_calls(run_dir / "inside", edge.address, source="127.0.0.5",
                                   dialed="05011112222", calls=1, rate=1)
        assert outside.count(403) == 1 and inside.count(200) == 1

        # a lab phone's own call needs its password, not the carrier ACL
        phone_elsewhere = Registrar(edge.address, "127.0.0.6")
        assert await phone_elsewhere.invite("09000000002", "wrong-password", "0501") == 403
        assert await phone_elsewhere.invite("09000000002", PASSWORD, "05011112222") == 200
        assert any(m.from_user == "09000000002" for n in lab.nodes
                   for m in n.received_invites())


async def test_a_flooding_source_is_refused_and_others_are_not(run_dir: Path) -> None:
    async with edge_lab(run_dir, "flood", flood_limit=10) as lab:
        edge = lab.edge
        flood = place_calls(run_dir / "flooder", edge.address, source="127.0.0.9",
                            dialed="05011112222", calls=80, rate=50)
        normal = place_calls(run_dir / "normal", edge.address, source="127.0.0.1",
                             dialed="05011112222", calls=8, rate=4)
        flooded, calm = await asyncio.gather(flood, normal)
        assert calm.count(200) == 8, calm.finals
        refused = flooded.count(503) + (flooded.placed - len(flooded.finals))
        assert refused >= 50, flooded.finals
        assert edge.banned()["flood"] == ["127.0.0.9"]
        assert "flood ban on 127.0.0.9" in edge.logs()


async def test_password_spraying_bans_the_source(run_dir: Path) -> None:
    async with edge_lab(run_dir, "spray", spray_failures=5) as lab:
        edge = lab.edge
        sprayer = Registrar(edge.address, "127.0.0.8")
        for user in ("09000000001", "09000000002", "09011110000", "09000000001", "09000000002"):
            assert await sprayer.register(user, "guess") == 403
        assert edge.banned()["auth"] == ["127.0.0.8"]
        assert await sprayer.register("09000000001", PASSWORD) == 403
        assert await Registrar(edge.address, "127.0.0.1").register(
            "09000000001", PASSWORD) == 200
        log = edge.logs()
        assert log.count("auth ban on 127.0.0.8") == 1
        assert PASSWORD not in log and "guess" not in log and "response=" not in log


def _sdp_media(message: SipMessage) -> tuple[str, int]:
    """(c= address, m=audio port) of a message's SDP."""
    conn = re.search(r"^c=IN IP4 (\S+)", message.body, re.M)
    media = re.search(r"^m=audio (\d+)", message.body, re.M)
    assert conn and media, message.body
    return conn.group(1), int(media.group(1))


def _rtp_socket(host: str) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((host, 0))
    sock.setblocking(False)
    return sock


def _send_rtp(sock: socket.socket, to: tuple[str, int], count: int, ssrc: int) -> None:
    for seq in range(count):
        header = struct.pack("!BBHII", 0x80, 0, seq, seq * 160, ssrc)
        sock.sendto(header + b"\xff" * 160, to)


def _received_from(sock: socket.socket) -> list[str]:
    sources = []
    with contextlib.suppress(BlockingIOError):
        while True:
            _, (host, _port) = sock.recvfrom(2048)
            sources.append(host)
    return sources


async def test_media_relay_hides_the_node_media_address(run_dir: Path) -> None:
    relay_min, relay_max = free_range(40)
    node_rtp, caller_rtp = _rtp_socket(NODE_HOSTS[0]), _rtp_socket("127.0.0.1")
    with node_rtp, caller_rtp:
        async with (answering_peer(run_dir / "node", NODE_HOSTS[0],
                                   media_port=node_rtp.getsockname()[1]) as node,
                    answering_peer(run_dir / "carrier", "127.0.0.1") as carrier):
            config = EdgeConfig(
                sip_port=free_port(), nodes=(f"sip:{node.target}",),
                carrier_gateway=carrier.target,
                media_relay=MediaRelay(free_port(), relay_min, relay_max))
            with fixtures.edge(config, run_dir / "edge",
                               log_path=BUILD / "test-edge-relay.log") as edge:
                call = asyncio.create_task(place_calls(
                    run_dir / "caller", edge.address, source="127.0.0.1", dialed="05011112222",
                    calls=1, rate=1, hold_ms=3000, media_port=caller_rtp.getsockname()[1]))
                await wait_until(lambda: node.received_invites(), 10, "the node's INVITE")
                (offer,) = node.received_invites()
                toward_node = _sdp_media(offer)  # the relay's port the node sends to

                def answer() -> SipMessage | None:
                    path = run_dir / "caller" / "messages.log"
                    return next((m for m in parse_message_log(path.read_text(errors="replace"))
                                 if m.direction == "received" and m.status == 200), None)

                await wait_until(answer, 10, "the caller's 200 OK")
                ok = answer()
                assert ok is not None
                toward_caller = _sdp_media(ok)  # the relay's port the caller sends to
                _send_rtp(caller_rtp, toward_caller, 20, 1)
                _send_rtp(node_rtp, toward_node, 20, 2)
                at_node: list[str] = []
                at_caller: list[str] = []

                def both_ways() -> bool:
                    at_node.extend(_received_from(node_rtp))
                    at_caller.extend(_received_from(caller_rtp))
                    return len(at_node) >= 15 and len(at_caller) >= 15

                await wait_until(both_ways, 5, "RTP through the relay both ways")
                calls = await call
        assert calls.count(200) == 1, calls.finals
        assert toward_node[0] == toward_caller[0] == "127.0.0.1"
        assert relay_min <= toward_caller[1] <= relay_max
        assert set(at_node) == set(at_caller) == {"127.0.0.1"}
        leaks = [m for m in calls.messages if m.direction == "received"
                 and any(host in str(m) for host in NODE_HOSTS)]
        assert leaks == []  # headers and SDP
