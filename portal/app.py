"""The portal application: wiring, session middleware, security headers, error pages.

Only entry points import this module (`python -m portal`, the lab's dev server, tests): the
routes take what they share from portal.request_context."""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException as StarletteHTTPException

from callflow.logs import bind
from callflow.numbers import display
from callflow.pins import PIN_DIGITS
from callflow.store import Database, StoreUnavailable
from callflow.store.forwarding import MAX_DESTINATIONS
from portal import api, auth, web
from portal.config import PortalSettings
from portal.metrics import PROBES, PortalMetrics, route_template
from portal.metrics import router as probes_router
from portal.request_context import (
    NONCE_COOKIE,
    SESSION_COOKIE,
    CsrfRejected,
    LoginRequired,
    NotFound,
    Portal,
)
from portal.sms import HttpSmsGateway, LabSmsInbox, SmsProvider
from portal.validation import RING_SECONDS, format_jst, mask_number, request_error_messages

log = logging.getLogger("portal")
HERE = Path(__file__).resolve().parent
MSG_BUSY = "ただいま混み合っています。しばらくしてから再度お試しください。"

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "media-src 'self'; connect-src 'self'; frame-ancestors 'none'; form-action 'self'; "
       "base-uri 'none'; object-src 'none'")
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def create_app(settings: PortalSettings | None = None, *, sms: SmsProvider | None = None,
               passwords: auth.PasswordHashing | None = None) -> FastAPI:
    settings = settings or PortalSettings()
    db = Database(settings.database_url, timeout=settings.db_timeout)
    if sms is None:
        sms = (HttpSmsGateway(settings.portal_sms_gateway_url,
                              token=settings.portal_sms_gateway_token,
                              timeout=settings.portal_sms_timeout)
               if settings.portal_sms_provider == "http" else LabSmsInbox(db))
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    templates.env.filters["display"] = display
    templates.env.filters["jst"] = format_jst
    templates.env.filters["mask"] = mask_number
    # the limits the pages state, from their one definition
    templates.env.globals.update(forward_limit=MAX_DESTINATIONS, pin_digits=PIN_DIGITS,
                                 ring_choices=RING_SECONDS)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await db.open()
        try:
            yield
        finally:
            await db.close()
            portal.passwords.close()

    app = FastAPI(title="050あんしんナンバー 設定用ホームページ API", version="1.0",
                  lifespan=lifespan, docs_url=None, redoc_url=None,
                  openapi_url="/api/openapi.json")
    portal = Portal(settings, db, sms, templates, passwords or auth.PasswordHashing())
    app.state.portal = portal
    app.state.metrics = PortalMetrics()
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")

    @app.middleware("http")
    async def sessions_and_headers(request: Request,
                                   call_next: Callable[[Request], Awaitable[Response]]
                                   ) -> Response:
        if request.url.path in PROBES:
            # Probes and metrics need no session: /health must answer with the database down.
            return await call_next(request)
        request.state.session = None
        request.state.new_session_token = None
        request.state.new_nonce = None
        request.state.clear_session = False
        try:
            request.state.session = (
                await auth.load_session(db, request.cookies.get(SESSION_COOKIE))
                or auth.anonymous_session(settings.portal_secret,
                                          request.cookies.get(NONCE_COOKIE)))
            response = await call_next(request)
        except StoreUnavailable:
            log.warning("database unavailable for %s", request.url.path)
            response = _unavailable(request)
        if request.state.new_session_token:
            response.set_cookie(SESSION_COOKIE, request.state.new_session_token,
                                httponly=True, samesite="lax", secure=settings.portal_cookie_secure,
                                max_age=settings.portal_session_hours * 3600, path="/")
        elif request.state.clear_session:
            response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax",
                                   secure=settings.portal_cookie_secure)
        if request.state.new_nonce:
            response.set_cookie(NONCE_COOKIE, request.state.new_nonce, httponly=True,
                                samesite="lax", secure=settings.portal_cookie_secure,
                                max_age=settings.portal_session_hours * 3600, path="/")
        for key, value in SECURITY_HEADERS.items():
            response.headers.setdefault(key, value)
        return response

    @app.middleware("http")
    async def request_context_and_timing(request: Request,
                                         call_next: Callable[[Request], Awaitable[Response]]
                                         ) -> Response:
        # Outermost: every log line of the request carries its id, method and path.
        bind(request_id=secrets.token_hex(6), method=request.method, path=request.url.path)
        started = time.monotonic()
        response = await call_next(request)
        if request.url.path not in PROBES:
            app.state.metrics.requests.labels(
                method=request.method, route=route_template(request),
                status=f"{response.status_code // 100}xx").observe(time.monotonic() - started)
        return response

    @app.exception_handler(LoginRequired)
    async def login_required(request: Request, exc: LoginRequired) -> Response:
        if request.url.path.startswith("/api/"):
            return JSONResponse({"detail": "ログインしてください。"}, status_code=401)
        return RedirectResponse("/login", status_code=303)

    @app.exception_handler(NotFound)
    async def not_found(request: Request, exc: NotFound) -> Response:
        if request.url.path.startswith("/api/"):
            return JSONResponse({"detail": "見つかりません。"}, status_code=404)
        return templates.TemplateResponse(request, "error.html", {
            "title": "ページが見つかりません", "message": "指定されたページは見つかりません。"},
            status_code=404)

    @app.exception_handler(CsrfRejected)
    async def csrf_rejected(request: Request, exc: CsrfRejected) -> Response:
        if request.url.path.startswith("/api/"):
            return JSONResponse({"detail": "CSRFトークンが正しくありません。"}, status_code=403)
        return templates.TemplateResponse(request, "error.html", {
            "title": "操作を受け付けられませんでした",
            "message": "画面の有効期限が切れたか、不正な操作です。"
                       "もう一度最初から操作してください。"},
            status_code=403)

    @app.exception_handler(auth.HashingBusy)
    async def hashing_busy(request: Request, exc: auth.HashingBusy) -> Response:
        log.warning("password hashing queue full for %s", request.url.path)
        if request.url.path.startswith("/api/"):
            return JSONResponse({"detail": MSG_BUSY}, status_code=503,
                                headers={"Retry-After": "5"})
        return templates.TemplateResponse(request, "error.html", {
            "title": "ただいま混み合っています", "message": MSG_BUSY},
            status_code=503, headers={"Retry-After": "5"})

    # Whatever URL or body a visitor sends, the answer is Japanese: Starlette's own 404/405
    # ("Not Found", "Method Not Allowed") and pydantic's 422 texts are replaced.
    http_ja = {404: ("ページが見つかりません", "指定されたページは見つかりません。"),
               405: ("操作を受け付けられませんでした", "この操作はできません。")}

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        title, message = http_ja.get(exc.status_code, (
            "操作を受け付けられませんでした", "リクエストを処理できませんでした。"))
        if request.url.path.startswith("/api/"):
            return JSONResponse({"detail": message}, status_code=exc.status_code,
                                headers=exc.headers)
        return templates.TemplateResponse(request, "error.html", {
            "title": title, "message": message}, status_code=exc.status_code,
            headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def request_invalid(request: Request, exc: RequestValidationError) -> Response:
        fields = request_error_messages(exc.errors())
        if request.url.path.startswith("/api/"):
            return JSONResponse({"detail": [{"field": f, "message": m} for f, m in fields]},
                                status_code=422)
        return templates.TemplateResponse(request, "error.html", {
            "title": "操作を受け付けられませんでした",
            "message": "入力内容を確認して、もう一度最初から操作してください。"},
            status_code=400)

    @app.exception_handler(Exception)
    async def server_error(request: Request, exc: Exception) -> Response:
        # A bug must still answer in Japanese (Starlette's default is "Internal Server
        # Error"); the traceback goes to the log, not to the visitor.
        log.exception("unhandled error for %s", request.url.path)
        if request.url.path.startswith("/api/"):
            return JSONResponse({"detail": "ただいまご利用いただけません。"}, status_code=500)
        return templates.TemplateResponse(request, "error.html", {
            "title": "エラーが発生しました",
            "message": "ただいまご利用いただけません。しばらくしてから再度お試しください。"},
            status_code=500)

    def _unavailable(request: Request) -> Response:
        if request.url.path.startswith("/api/"):
            return JSONResponse({"detail": "ただいま混み合っています。"}, status_code=503)
        return HTMLResponse("<!doctype html><meta charset=utf-8><title>一時的にご利用いただけません"
                            "</title><p>ただいまご利用いただけません。しばらくしてから再度お試しください。",
                            status_code=503)

    app.include_router(probes_router)
    app.include_router(web.router)
    app.include_router(api.router)
    return app
