"""Operator endpoint on 127.0.0.1 (off when port 0): GET /health (live-call figures),
GET /metrics (latency and event-loop lag, see callflow.metrics), POST /metrics/reset."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from callflow.metrics import Metrics

Health = Callable[[], dict[str, object]]


class StatusServer:
    """``health()`` gives the /health figures; its ``ari_connected`` decides 200 or 503."""

    def __init__(self, health: Health, metrics: Metrics, port: int) -> None:
        self._health_of = health
        self._metrics_of = metrics
        self._port = port
        self._runner: web.AppRunner | None = None

    async def _health(self, request: web.Request) -> web.Response:
        snap = self._health_of()
        return web.json_response(snap, status=200 if snap["ari_connected"] else 503)

    async def _metrics(self, request: web.Request) -> web.Response:
        # Separate from /health: percentiles sort up to 50k samples per window.
        return web.json_response(self._metrics_of.snapshot())

    async def _reset_metrics(self, request: web.Request) -> web.Response:
        self._metrics_of.reset()
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
