"""ARI REST requests over WebSockets (Asterisk ≥ 20.14 / 21.9 / 22.4).

An HTTP request costs Asterisk an HTTP parse, header handling and a response on a
keep-alive connection, and costs us aiohttp's client machinery; the same request as a
``RESTRequest`` frame on an open WebSocket is cheaper at both ends (bench/README.md).

Asterisk runs one socket's requests strictly one after another, and some wait for the
channel (``answer`` returns once the channel's Stasis thread has answered it): one socket
would be a hidden queue that ``core show taskprocessors`` does not show. So requests are
spread over several sockets, each new request going to the one with the fewest requests
in flight.

The sockets connect to ``/ari/events`` for an application of their own (``<app>-rest``) with
no channels, so they carry nothing but responses. A socket that closes fails the requests
waiting on it with :class:`AriConnectionError` and is reconnected by the next request.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json as jsonlib
import logging
from typing import Any
from urllib.parse import urlencode

import aiohttp

from .errors import AriConnectionError, AriError, AriProtocolError, AriTimeout
from .stream import events_url

__all__ = ["WsRestTransport"]

log = logging.getLogger("callflow.ari")


class _Socket:
    def __init__(self) -> None:
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.reader: asyncio.Task[None] | None = None
        self.pending: dict[str, asyncio.Future[tuple[int, str, str]]] = {}
        self.connecting = asyncio.Lock()

    @property
    def up(self) -> bool:
        return self.ws is not None and not self.ws.closed


class WsRestTransport:
    """Sends ARI REST requests as RESTRequest frames over ``sockets`` WebSockets."""

    def __init__(self, base_url: str, user: str, password: str, app: str, *,
                 sockets: int = 2, connect_timeout: float = 3.0) -> None:
        self.url = events_url(base_url, user, password, f"{app}-rest")
        self._sockets = [_Socket() for _ in range(max(1, sockets))]
        self._connect_timeout = connect_timeout
        self._ids = itertools.count(1)
        self._session: aiohttp.ClientSession | None = None

    async def open(self) -> None:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=self._connect_timeout))

    async def close(self) -> None:
        for sock in self._sockets:
            if sock.reader is not None:
                sock.reader.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await sock.reader
            if sock.ws is not None:
                await sock.ws.close()
            self._fail(sock, AriConnectionError("ARI REST WebSocket closed"))
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    async def send(self, method: str, path: str, params: dict[str, str], json: Any,
                   timeout: float) -> tuple[int, str, bytes]:
        """One request as a frame (see :class:`~callflow.ari.transport.RestTransport`)."""
        sock = min(self._sockets, key=lambda s: (len(s.pending), not s.up))
        uri = path.lstrip("/")
        if params:
            uri += "?" + urlencode(params)
        request_id = str(next(self._ids))
        frame: dict[str, Any] = {"type": "RESTRequest", "request_id": request_id,
                                 "method": method, "uri": uri}
        if json is not None:
            frame["content_type"] = "application/json"
            frame["message_body"] = jsonlib.dumps(json)
        future: asyncio.Future[tuple[int, str, str]] = (
            asyncio.get_running_loop().create_future())
        try:
            async with asyncio.timeout(timeout):
                ws = await self._connected(sock)
                sock.pending[request_id] = future
                await ws.send_str(jsonlib.dumps(frame))
                status, reason, body = await future
                return status, reason, body.encode()
        except TimeoutError as exc:
            raise AriTimeout(f"{method} {path}: no answer within {timeout}s") from exc
        except (aiohttp.ClientError, OSError, ConnectionError) as exc:
            raise AriConnectionError(f"{method} {path}: {type(exc).__name__}: {exc}") from exc
        finally:
            sock.pending.pop(request_id, None)

    async def _connected(self, sock: _Socket) -> aiohttp.ClientWebSocketResponse:
        if sock.ws is not None and not sock.ws.closed:
            return sock.ws
        async with sock.connecting:
            if sock.ws is not None and not sock.ws.closed:
                return sock.ws
            session = self._session
            if session is None or session.closed:
                raise AriError("WsRestTransport is not open")
            sock.ws = await session.ws_connect(self.url, heartbeat=5.0, autoping=True)
            sock.reader = asyncio.create_task(self._read(sock, sock.ws),
                                              name="ari-rest-ws-reader")
            log.info("ARI REST WebSocket connected (%d sockets)", len(self._sockets))
            return sock.ws

    async def _read(self, sock: _Socket, ws: aiohttp.ClientWebSocketResponse) -> None:
        try:
            async for msg in ws:
                if msg.type is not aiohttp.WSMsgType.TEXT:
                    continue
                try:
                    data = jsonlib.loads(msg.data)
                except ValueError:
                    log.warning("ARI REST WebSocket: undecodable frame %.200r", msg.data)
                    continue
                if not isinstance(data, dict) or data.get("type") != "RESTResponse":
                    continue  # ApplicationRegistered and the like
                future = sock.pending.pop(str(data.get("request_id")), None)
                if future is None or future.done():
                    continue
                try:
                    status = int(data["status_code"])
                except (KeyError, TypeError, ValueError):
                    future.set_exception(AriProtocolError(f"malformed RESTResponse: {data}"))
                    continue
                body = data.get("message_body")
                future.set_result((status, str(data.get("reason_phrase") or ""),
                                   body if isinstance(body, str) else ""))
        finally:
            log.warning("ARI REST WebSocket closed; the next request reconnects")
            self._fail(sock, AriConnectionError("ARI REST WebSocket closed"))

    @staticmethod
    def _fail(sock: _Socket, exc: AriError) -> None:
        for future in sock.pending.values():
            if not future.done():
                future.set_exception(exc)
        sock.pending.clear()
