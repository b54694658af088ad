"""A real aiohttp server on 127.0.0.1 faking the few ARI endpoints the tests need."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSCloseCode, web

USER = "anshin"
PASSWORD = "s3cret:&+ pw"
APP = "anshin"

CHANNEL: dict[str, Any] = {
    "id": "1714550400.42",
    "name": "PJSIP/carrier-00000012",
    "state": "Ring",
    "protocol_id": "a84d7e1b-8c2f@10.0.0.5",
    "caller": {"name": "", "number": "0312345678"},
    "connected": {"name": "", "number": ""},
    "accountcode": "",
    "dialplan": {
        "context": "from-carrier",
        "exten": "05033005000",
        "priority": 2,
        "app_name": "Stasis",
        "app_data": "anshin,inbound",
    },
    "creationtime": "2024-05-01T10:00:00.123+0900",
    "language": "ja",
    "channelvars": {"ANSHIN_DID": "05033005000"},
}


def channel(cid: str = "1714550400.42", **over: Any) -> dict[str, Any]:
    data = copy.deepcopy(CHANNEL)
    data["id"] = cid
    data.update(over)
    return data


def event(type_: str, **fields: Any) -> dict[str, Any]:
    return {
        "type": type_,
        "application": APP,
        "timestamp": "2024-05-01T10:00:01.000+0900",
        "asterisk_id": "02:42:ac:11:00:02",
        **fields,
    }


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Reply:
    status: int = 200
    json: Any = None
    body: bytes | None = None
    delay: float = 0.0


@dataclass
class Recorded:
    method: str
    path: str
    raw_path: str
    query: list[tuple[str, str]]
    body: bytes
    authorization: str | None

    def q(self, key: str) -> str | None:
        return next((v for k, v in self.query if k == key), None)

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


_CLOSE = object()
WsScript = Callable[[web.WebSocketResponse, int], Awaitable[None]]


@dataclass
class FakeAri:
    routes: dict[tuple[str, str], Reply] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)
    ws_connects: int = 0
    ws_queries: list[dict[str, str]] = field(default_factory=list)
    ws_script: WsScript | None = None
    port: int = 0
    _outbox: asyncio.Queue[object] = field(default_factory=asyncio.Queue)
    _sockets: set[web.WebSocketResponse] = field(default_factory=set)
    _runner: web.AppRunner | None = None
    _stopping: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/ari"

    # -- control ------------------------------------------------------------
    def respond(self, method: str, path: str, reply: Reply) -> None:
        self.routes[(method, "/ari" + path)] = reply

    def push(self, data: Any) -> None:
        self._outbox.put_nowait(json.dumps(data))

    def push_raw(self, text: str) -> None:
        self._outbox.put_nowait(text)

    def push_close(self) -> None:
        self._outbox.put_nowait(_CLOSE)

    async def sleep(self, seconds: float) -> None:
        """Sleep inside a handler, but wake up early when the server stops."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    async def start(self, port: int = 0) -> None:
        self._stopping.clear()
        app = web.Application()
        app.router.add_get("/ari/events", self._events)
        app.router.add_route("*", "/{tail:.*}", self._rest)
        app.on_shutdown.append(self._close_sockets)
        runner = web.AppRunner(app, shutdown_timeout=0.5, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", port or self.port or 0, reuse_address=True)
        await site.start()
        self._runner = runner
        server = site._server
        assert server is not None
        sockets = getattr(server, "sockets", None)
        assert sockets
        self.port = sockets[0].getsockname()[1]

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            self._stopping.set()
            await runner.cleanup()

    # -- handlers -----------------------------------------------------------
    async def _close_sockets(self, app: web.Application) -> None:
        for ws in list(self._sockets):
            await ws.close(code=WSCloseCode.GOING_AWAY)

    async def _rest(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.requests.append(
            Recorded(
                method=request.method,
                path=request.path,
                raw_path=request.raw_path,
                query=list(request.query.items()),
                body=body,
                authorization=request.headers.get("Authorization"),
            )
        )
        reply = self.routes.get((request.method, request.path))
        if reply is None:
            return web.json_response({"message": "Resource not found"}, status=404)
        if reply.delay:
            await self.sleep(reply.delay)
        if reply.body is not None:
            return web.Response(
                status=reply.status, body=reply.body, content_type="application/octet-stream"
            )
        if reply.json is None:
            return web.Response(status=reply.status)
        return web.json_response(reply.json, status=reply.status)

    async def _events(self, request: web.Request) -> web.StreamResponse:
        if request.query.get("api_key") != f"{USER}:{PASSWORD}":
            return web.json_response({"message": "Authentication required"}, status=401)
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.ws_connects += 1
        self.ws_queries.append(dict(request.query))
        self._sockets.add(ws)
        try:
            script = self.ws_script or self._pump
            await script(ws, self.ws_connects)
        finally:
            self._sockets.discard(ws)
        return ws

    async def _pump(self, ws: web.WebSocketResponse, n: int) -> None:
        """Default script: send queued frames until push_close() or the client leaves."""

        async def drain() -> None:
            async for _ in ws:
                pass

        reader = asyncio.create_task(drain())
        try:
            while True:
                getter = asyncio.create_task(self._outbox.get())
                done, _ = await asyncio.wait({getter, reader}, return_when="FIRST_COMPLETED")
                if getter not in done:
                    getter.cancel()
                    return
                item = getter.result()
                if item is _CLOSE:
                    await ws.close()
                    return
                assert isinstance(item, str)
                await ws.send_str(item)
        finally:
            reader.cancel()
