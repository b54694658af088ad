"""The portal's Prometheus metrics (GET /metrics) and its probes (GET /health, GET /ready).

One registry per application (tests build several in one process). Login outcomes, 2FA
sends and checks and lockouts are counted by portal.login_flow; request latency by the
middleware in portal.app, labelled with the route's template (``/numbers/{number}``), never
the URL a visitor typed.

/metrics tells how many logins failed: behind the TLS reverse proxy, do not forward /metrics
(Prometheus scrapes the portal on its own port, see docs/operations.md).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client import generate_latest as _generate_latest

from callflow.store.figures import database_reachable
from portal.request_context import portal_of

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

#: paths that are not pages (not timed, not counted)
PROBES = frozenset({"/metrics", "/health", "/ready"})


class PortalMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.logins = Counter(
            "anshin_portal_logins", "Password steps, by outcome: ok (2FA next), trusted (this"
            " browser skips 2FA), bad (wrong ID or password), locked (refused: locked)",
            ["outcome"], registry=r)
        self.twofa_sent = Counter("anshin_portal_twofa_sent", "2FA codes sent, by method",
                                  ["method"], registry=r)
        self.twofa_send_failed = Counter(
            "anshin_portal_twofa_send_failed", "2FA codes the SMS gateway did not take",
            ["method"], registry=r)
        self.twofa_checks = Counter(
            "anshin_portal_twofa_checks", "2FA codes entered, by outcome: ok, wrong, locked,"
            " expired", ["outcome"], registry=r)
        self.lockouts = Counter(
            "anshin_portal_lockouts", "Locks set (kind=login: too many wrong passwords for an"
            " ID; kind=twofa: too many wrong codes for an account)", ["kind"], registry=r)
        self.requests = Histogram(
            "anshin_portal_request_duration_seconds",
            "Time to answer a request, by method, route template and status class",
            ["method", "route", "status"], buckets=BUCKETS, registry=r)
        for outcome in ("ok", "trusted", "bad", "locked"):
            self.logins.labels(outcome=outcome)
        for outcome in ("ok", "wrong", "locked", "expired"):
            self.twofa_checks.labels(outcome=outcome)
        for method in ("sms", "voice"):
            self.twofa_sent.labels(method=method)
            self.twofa_send_failed.labels(method=method)
        for kind in ("login", "twofa"):
            self.lockouts.labels(kind=kind)

    def generate(self) -> bytes:
        return _generate_latest(self.registry)


def metrics_of(request: Request) -> PortalMetrics:
    m: PortalMetrics = request.app.state.metrics
    return m


def route_template(request: Request) -> str:
    """The matched route's path template; "unmatched" for a URL no route serves (so a
    visitor cannot mint label values)."""
    route = request.scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"


router = APIRouter(include_in_schema=False)


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    return Response(metrics_of(request).generate(), headers={"Content-Type": CONTENT_TYPE_LATEST})


@router.get("/health")
async def health() -> JSONResponse:
    """Liveness: the process serves requests."""
    return JSONResponse({"status": "ok"})


@router.get("/ready")
async def ready(request: Request) -> JSONResponse:
    """Readiness: the database answers (every page needs it)."""
    ok = await database_reachable(portal_of(request).db)
    return JSONResponse({"database_reachable": ok}, status_code=200 if ok else 503)
