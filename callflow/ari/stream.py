"""The ARI events WebSocket, kept connected forever.

:class:`EventStream.run` connects ``ws(s)://host:port/ari/events?app=…``, calls
``on_connect`` (the app's resync) after every successful connect, then feeds parsed
events one by one, in arrival order, to ``on_event``. Any disconnect or failed connect
is followed by an exponential backoff with full jitter (capped by ``backoff_cap``) and a
new attempt; the backoff restarts from ``backoff_base`` after every successful connect.
Nothing but cancellation stops ``run()``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import Awaitable, Callable

import aiohttp
from yarl import URL

from .events import Event, parse_event

__all__ = ["EventStream", "events_url"]

log = logging.getLogger("callflow.ari")


def events_url(base_url: str, user: str, password: str, app: str) -> URL:
    """``http://host:port/ari`` → ``ws://host:port/ari/events?app=…&api_key=…``."""
    base = URL(base_url.rstrip("/"))
    scheme = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}.get(base.scheme)
    if scheme is None:
        raise ValueError(f"unsupported ARI base URL scheme: {base_url!r}")
    return (base.with_scheme(scheme) / "events").with_query(
        {"app": app, "api_key": f"{user}:{password}", "subscribeAll": "false"}
    )


class EventStream:
    """Reconnecting consumer of the ARI event WebSocket.

    Attributes:
        connected: set while a WebSocket is up (set *before* ``on_connect`` runs).
        synced: set while a WebSocket is up and its ``on_connect`` has finished - what
            must hold before the app places a call of its own: the resync compares the
            channels live calls own with Asterisk's list, and would take a channel whose
            originate is still in flight for one lost while disconnected.
        reconnects: number of disconnects + failed connection attempts so far.
        connections: number of successful connects so far.

    ``on_connect`` failures are logged and do not drop the connection (event delivery
    continues). ``on_event`` failures and undecodable frames are logged and skipped.
    ``connect_timeout`` bounds TCP connect + WebSocket handshake per attempt.
    """

    def __init__(
        self,
        base_url: str,
        user: str,
        password: str,
        app: str,
        *,
        on_event: Callable[[Event], Awaitable[None]],
        on_connect: Callable[[], Awaitable[None]] | None = None,
        heartbeat: float = 5.0,
        backoff_base: float = 0.05,
        backoff_cap: float = 1.0,
        connect_timeout: float = 3.0,
    ) -> None:
        self.url = events_url(base_url, user, password, app)
        self.app = app
        self._on_event = on_event
        self._on_connect = on_connect
        self._heartbeat = heartbeat
        self._backoff_base = backoff_base
        self._backoff_cap = backoff_cap
        self._connect_timeout = connect_timeout
        self.connected = asyncio.Event()
        self.synced = asyncio.Event()
        self.reconnects = 0
        self.connections = 0

    @property
    def _safe_url(self) -> str:
        return str(self.url.with_query({k: v for k, v in self.url.query.items() if k != "api_key"}))

    def _backoff(self, attempt: int) -> float:
        ceiling = min(self._backoff_cap, self._backoff_base * (2 ** min(attempt, 30)))
        return random.uniform(0.0, ceiling)

    async def run(self) -> None:
        attempt = 0
        # No session-wide total timeout: it would also bound the WebSocket's lifetime.
        async with aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=self._connect_timeout)
        ) as session:
            while True:
                try:
                    ws = await self._connect(session)
                except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                    level = logging.INFO if attempt else logging.WARNING
                    log.log(level, "ARI events connect to %s failed: %r", self._safe_url, exc)
                else:
                    attempt = 0
                    try:
                        await self._serve(ws)
                    finally:
                        self.connected.clear()
                        self.synced.clear()
                        await ws.close()
                    log.warning(
                        "ARI events WebSocket closed (code %s); reconnecting", ws.close_code
                    )
                self.connected.clear()
                self.synced.clear()
                self.reconnects += 1
                delay = self._backoff(attempt)
                attempt += 1
                await asyncio.sleep(delay)

    async def _connect(self, session: aiohttp.ClientSession) -> aiohttp.ClientWebSocketResponse:
        async with asyncio.timeout(self._connect_timeout):
            return await session.ws_connect(
                self.url,
                heartbeat=self._heartbeat if self._heartbeat > 0 else None,
                autoping=True,
            )

    async def _serve(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.connections += 1
        self.connected.set()
        log.info("ARI events connected: %s (connection #%d)", self._safe_url, self.connections)
        if self._on_connect is not None:
            try:
                await self._on_connect()
            except Exception:
                log.exception("ARI on_connect (resync) failed; continuing with events")
        self.synced.set()
        while True:
            try:
                msg = await ws.receive()
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                log.warning("ARI events receive failed: %r", exc)
                return
            if msg.type is aiohttp.WSMsgType.TEXT:
                await self._deliver(msg.data)
            elif msg.type is aiohttp.WSMsgType.BINARY:
                log.warning("ARI events: ignoring %d-byte binary frame", len(msg.data))
            elif msg.type is aiohttp.WSMsgType.ERROR:
                log.warning("ARI events WebSocket error: %r", ws.exception())
                return
            elif msg.type in (
                aiohttp.WSMsgType.CLOSE,
                aiohttp.WSMsgType.CLOSING,
                aiohttp.WSMsgType.CLOSED,
            ):
                return
            # PING/PONG are handled by aiohttp (autoping)

    async def _deliver(self, text: str) -> None:
        try:
            data = json.loads(text)
        except ValueError as exc:
            log.warning("ARI events: skipping undecodable frame (%s): %.200r", exc, text)
            return
        if not isinstance(data, dict):
            log.warning("ARI events: skipping non-object frame: %.200r", text)
            return
        event = parse_event(data)
        try:
            await self._on_event(event)
        except Exception:
            log.exception("ARI on_event failed for %s; skipped", event.type or "event")
