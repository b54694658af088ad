"""REST requests as RESTRequest frames over WebSockets (callflow/ari/ws_rest.py), against a
local server that answers them the way Asterisk does: one socket's requests strictly in
order."""

from __future__ import annotations

import asyncio
import json
import time
from urllib.parse import parse_qsl

import pytest
from aiohttp import WSMsgType, web

from callflow.ari import AriClient, AriConflict, AriConnectionError, AriNotFound, AriTimeout
from labkit.harness.wait import wait_until

from .fakes import APP, PASSWORD, USER, FakeAri, Recorded, Reply, channel

CID = "1714550400.42"


def serve_rest_over_ws(fake: FakeAri, *, close_after: int | None = None) -> None:
    """Make the fake's WebSocket answer RESTRequest frames from its HTTP routes."""
    served = 0

    async def script(ws: web.WebSocketResponse, n: int) -> None:
        nonlocal served
        async for msg in ws:
            if msg.type is not WSMsgType.TEXT:
                continue
            req = json.loads(msg.data)
            assert req["type"] == "RESTRequest"
            path, _, query = req["uri"].partition("?")
            assert not path.startswith("/")
            fake.requests.append(Recorded(
                method=req["method"], path="/ari/" + path, raw_path=req["uri"],
                query=parse_qsl(query), body=(req.get("message_body") or "").encode(),
                authorization=None))
            served += 1
            if close_after is not None and served > close_after:
                await ws.close()
                return
            reply = fake.routes.get((req["method"], "/ari/" + path))
            if reply is not None and reply.delay:
                await fake.sleep(reply.delay)
            if reply is None:
                status, body = 404, json.dumps({"message": "Resource not found"})
            else:
                status = reply.status
                body = "" if reply.json is None else json.dumps(reply.json)
            await ws.send_str(json.dumps({
                "type": "RESTResponse", "request_id": req["request_id"],
                "transaction_id": "", "status_code": status, "reason_phrase": "R",
                "uri": req["uri"], "content_type": "application/json",
                "message_body": body}))

    fake.ws_script = script


def client(fake: FakeAri, sockets: int = 2, timeout: float = 2.0) -> AriClient:
    return AriClient(fake.base_url, USER, PASSWORD, APP, timeout=timeout,
                     rest_sockets=sockets)


async def test_requests_travel_as_frames(fake: FakeAri) -> None:
    serve_rest_over_ws(fake)
    fake.respond("GET", f"/channels/{CID}", Reply(json=channel(CID)))
    fake.respond("POST", f"/channels/{CID}/continue", Reply(status=204))
    fake.respond("POST", "/channels", Reply(json=channel("new.1")))
    async with client(fake) as ari:
        ch = await ari.get_channel(CID)
        await ari.continue_in_dialplan(CID, "anshin-forward", "05012345678", 1)
        leg = await ari.originate("PJSIP/0312345678@carrier", variables={"A": "1"})
    assert ch.id == CID and leg.id == "new.1"
    assert [r.authorization for r in fake.requests] == [None, None, None]  # no HTTP at all
    cont = fake.requests[1]
    assert (cont.method, cont.path) == ("POST", f"/ari/channels/{CID}/continue")
    assert dict(cont.query) == {"context": "anshin-forward", "extension": "05012345678",
                                "priority": "1"}
    assert fake.requests[2].json() == {"variables": {"A": "1"}}
    assert {q["app"] for q in fake.ws_queries} == {f"{APP}-rest"}
    assert all(q["api_key"] == f"{USER}:{PASSWORD}" for q in fake.ws_queries)


async def test_errors_are_mapped_like_http(fake: FakeAri) -> None:
    serve_rest_over_ws(fake)
    fake.respond("POST", f"/channels/{CID}/answer",
                 Reply(status=409, json={"message": "Channel not in Stasis application"}))
    async with client(fake) as ari:
        with pytest.raises(AriConflict) as info:
            await ari.answer(CID)
        with pytest.raises(AriNotFound):
            await ari.hangup("gone.1")
    assert info.value.message == "Channel not in Stasis application"


async def test_a_slow_request_does_not_hold_up_the_next(fake: FakeAri) -> None:
    # Asterisk runs one socket's requests in order: the fast one must take the other socket.
    serve_rest_over_ws(fake)
    fake.respond("POST", "/channels/slow/answer", Reply(status=204, delay=1.0))
    fake.respond("POST", "/channels/fast/answer", Reply(status=204))
    async with client(fake, sockets=2) as ari:
        await ari.answer("fast")  # both sockets connected lazily; warm one up
        slow = asyncio.create_task(ari.answer("slow"))
        await wait_until(lambda: any(r.path.endswith("/slow/answer") for r in fake.requests), 2,
                         "the slow request to be in flight", interval=0.005)
        t0 = time.monotonic()
        await ari.answer("fast")
        fast_s = time.monotonic() - t0
        await slow
    assert fast_s < 0.5


async def test_timeout(fake: FakeAri) -> None:
    serve_rest_over_ws(fake)
    fake.respond("POST", f"/channels/{CID}/answer", Reply(status=204, delay=2.0))
    async with client(fake, timeout=0.3) as ari:
        with pytest.raises(AriTimeout):
            await ari.answer(CID)


async def test_closed_socket_fails_waiting_requests_and_reconnects(fake: FakeAri) -> None:
    serve_rest_over_ws(fake, close_after=1)
    fake.respond("POST", f"/channels/{CID}/ring", Reply(status=204))
    async with client(fake, sockets=1) as ari:
        await ari.ring(CID)
        with pytest.raises(AriConnectionError):
            await ari.ring(CID)  # the server closes the socket instead of answering
        serve_rest_over_ws(fake)
        await ari.ring(CID)  # a new socket
    assert fake.ws_connects == 2


async def test_recordings_stay_on_http(fake: FakeAri) -> None:
    serve_rest_over_ws(fake)
    fake.respond("GET", "/recordings/stored/vm-1/file", Reply(body=b"RIFF....WAVE"))
    async with client(fake) as ari:
        data = await ari.get_stored_recording_file("vm-1")
    assert data == b"RIFF....WAVE"
    assert fake.requests[0].authorization is not None  # came over HTTP
