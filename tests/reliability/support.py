"""Fault injectors and probes for the reliability suite (threads: tests block the loop)."""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any

import psycopg

from labkit.appproc import AppProcess
from labkit.asterisk import AsteriskContainer
from labkit.harness.wait import wait_until
from labkit.ports import free_port

HOST = "127.0.0.1"
Sql = psycopg.Connection[tuple[object, ...]]


class _LoopThread:
    """An asyncio loop in a daemon thread: a server that keeps serving while the test's own
    loop is blocked in a synchronous wait (app.wait_connected() and friends)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def call(self, coro: Coroutine[Any, Any, Any], timeout: float = 10.0) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=5)


class TcpProxy(_LoopThread):
    """127.0.0.1:port → 127.0.0.1:upstream. `cut()` resets every connection and refuses
    new ones (accept + RST) until `restore()`: a network cut seen by the app only."""

    def __init__(self, upstream: int) -> None:
        super().__init__()
        self.upstream = upstream
        self.port = free_port()
        self.blocked = False
        self._pairs: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = set()
        self._server: asyncio.Server | None = None
        self.call(self._start())

    async def _start(self) -> None:
        self._server = await asyncio.start_server(self._handle, HOST, self.port)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.blocked:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(HOST, self.upstream)
        except OSError:
            writer.transport.abort()
            return
        pair = (writer, up_writer)
        self._pairs.add(pair)

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (OSError, ConnectionError):
                pass
            finally:
                dst.close()

        try:
            await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        finally:
            self._pairs.discard(pair)

    async def _cut(self) -> int:
        self.blocked = True
        pairs = list(self._pairs)
        for a, b in pairs:
            a.transport.abort()
            b.transport.abort()
        return len(pairs)

    def cut(self) -> int:
        """Reset all connections now and refuse new ones; returns how many were cut."""
        n: int = self.call(self._cut())
        return n

    def restore(self) -> None:
        self.blocked = False

    def close(self) -> None:
        if self._server is not None:
            self._server.close()
        super().close()


class RefusingRelay(_LoopThread):
    """An SMTP relay that is "down": every connection gets `421 4.3.2 Service not
    available` and is closed. Records when each delivery attempt came."""

    def __init__(self, port: int) -> None:
        super().__init__()
        self.port = port
        self.attempts: list[float] = []
        self._server: asyncio.Server | None = None
        self.call(self._start())

    async def _start(self) -> None:
        self._server = await asyncio.start_server(self._handle, HOST, self.port,
                                                  reuse_address=True)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.attempts.append(time.monotonic())
        writer.write(b"421 4.3.2 Service not available, try again later\r\n")
        await writer.drain()
        writer.close()

    def close(self) -> None:
        if self._server is not None:
            self._server.close()
            self.call(self._server.wait_closed())
        super().close()


_COUNT = re.compile(r"(\d+) active channels?")


def active_channels(asterisk: AsteriskContainer) -> int:
    m = _COUNT.search(asterisk.cli("core show channels count"))
    assert m, "unexpected 'core show channels count' output"
    return int(m.group(1))


async def wait_no_channels(asterisk: AsteriskContainer, timeout: float = 20.0) -> float:
    return await wait_until(lambda: active_channels(asterisk) == 0, timeout,
                            "Asterisk to have no active channel", interval=0.5)


async def health(app: AppProcess) -> dict[str, object]:
    """The app's /health without blocking the test's event loop ({} when unreachable)."""
    return await asyncio.to_thread(app.health) or {}


async def wait_health(app: AppProcess, predicate: Callable[[dict[str, object]], bool],
                      timeout: float, what: str) -> float:
    """Poll /health (asynchronously) until `predicate` holds; the seconds it took."""
    t0 = time.monotonic()
    while True:
        h = await health(app)
        if predicate(h):
            return time.monotonic() - t0
        assert time.monotonic() - t0 < timeout, f"timed out after {timeout}s: {what} ({h})"
        await asyncio.sleep(0.02)


async def wait_ready(app: AppProcess, timeout: float, what: str) -> float:
    """Poll /ready (ARI connected, database reachable) until it answers 200; seconds taken."""
    t0 = time.monotonic()
    while not await asyncio.to_thread(app.ready):
        assert time.monotonic() - t0 < timeout, f"timed out after {timeout}s: {what}"
        await asyncio.sleep(0.02)
    return time.monotonic() - t0


def as_int(value: object) -> int:
    return int(value) if isinstance(value, int | float | str) else 0


def channel_log(sql: Sql, since: float) -> list[tuple[str, str, str]]:
    """(channel id, dialed, route) of every call the app handled since `since` (epoch)."""
    rows = sql.execute("SELECT channel_id, dialed, route FROM call_log"
                       " WHERE started_at >= to_timestamp(%s) ORDER BY id", (since,)).fetchall()
    return [(str(a), str(b), str(c)) for a, b, c in rows]
