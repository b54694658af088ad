"""Operator endpoint on 127.0.0.1 (off when port 0): GET /health (live-call figures),
GET /metrics (latency and event-loop lag, see callflow.metrics), POST /metrics/reset."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from callflow.app import App


class StatusServer:
    def __init__(self, app: App, port: int) -> None:
        self._app = app
        self._port = port
        self._runner: web.AppRunner | None = None

    def snapshot(self) -> dict[str, object]:
        app = self._app
        return {
            "ari_connected": app.stream.connected.is_set(),
            "ari_connections": app.stream.connections,
            "ari_reconnects": app.stream.reconnects,
            "live_calls": app.dispatcher.live_calls,
            "calls_handled": app.calls_handled,
            "uptime_s": round(time.time() - app.started_at, 1),
        }

    async def _health(self, request: web.Request) -> web.Response:
        snap = self.snapshot()
        return web.json_response(snap, status=200 if snap["ari_connected"] else 503)

    async def _metrics(self, request: web.Request) -> web.Response:
        # Separate from /health: percentiles sort up to 50k samples per window.
        return web.json_response(self._app.metrics.snapshot())

    async def _reset_metrics(self, request: web.Request) -> web.Response:
        self._app.metrics.reset()
        return web.json_response({"reset": True})

    async def start(self) -> None:
        if not self._port:
            return
        web_app = web.Application()
        web_app.router.add_get("/health", self._health)
        web_app.router.add_get("/metrics", self._metrics)
        web_app.router.add_post("/metrics/reset", self._reset_metrics)
        self._runner = web.AppRunner(web_app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self._port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
