"""Operator endpoint (off when ANSHIN_STATUS_PORT is 0), on ANSHIN_STATUS_HOST:

* GET /health — liveness: 200 while the process serves, with the live figures as JSON
  (live calls, ARI connection, calls handled, uptime). Orchestrators restart on failure.
* GET /ready — readiness: 200 only when the ARI events WebSocket is connected and the
  database answers within a short timeout, else 503 (same JSON plus ``database_reachable``).
  Load balancers and `labkit` wait on this one.
* GET /metrics — Prometheus exposition format (callflow.metrics).
* GET /metrics.json and POST /metrics/reset — the benchmark's percentile windows (bench/).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from callflow.metrics import Metrics

Health = Callable[[], dict[str, object]]
DatabaseCheck = Callable[[], Awaitable[bool]]


class StatusServer:
    """``health()`` gives the /health figures; /ready adds ``database_ok()``."""

    def __init__(self, health: Health, metrics: Metrics, port: int, *,
                 database_ok: DatabaseCheck | None = None, host: str = "127.0.0.1") -> None:
        self._health_of = health
        self._database_ok = database_ok
        self._metrics_of = metrics
        self._port = port
        self._host = host
        self._runner: web.AppRunner | None = None

    async def _health(self, request: web.Request) -> web.Response:
        return web.json_response(self._health_of())

    async def _ready(self, request: web.Request) -> web.Response:
        snap = self._health_of()
        database = await self._database_ok() if self._database_ok is not None else True
        snap["database_reachable"] = database
        ready = bool(snap.get("ari_connected")) and database
        return web.json_response(snap, status=200 if ready else 503)

    async def _metrics(self, request: web.Request) -> web.Response:
        return web.Response(body=self._metrics_of.prometheus(),
                            headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def _metrics_json(self, request: web.Request) -> web.Response:
        # Percentiles sort up to 50k samples per window: only the benchmark asks for them.
        return web.json_response(self._metrics_of.snapshot())

    async def _reset_metrics(self, request: web.Request) -> web.Response:
        self._metrics_of.reset()
        return web.json_response({"reset": True})

    async def start(self) -> None:
        if not self._port:
            return
        web_app = web.Application()
        web_app.router.add_get("/health", self._health)
        web_app.router.add_get("/ready", self._ready)
        web_app.router.add_get("/metrics", self._metrics)
        web_app.router.add_get("/metrics.json", self._metrics_json)
        web_app.router.add_post("/metrics/reset", self._reset_metrics)
        self._runner = web.AppRunner(web_app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self._host, self._port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
