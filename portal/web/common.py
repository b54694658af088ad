"""What every subscriber page shares: rendering a template with the session's CSRF token
and the flash, reading and CSRF-checking a form, the 303 redirect of post/redirect/get."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import FormData

from portal import auth, flash, login_flow
from portal.request_context import Portal, portal_of, session_of
from portal.request_context import ensure_session as app_ensure_session


def render(request: Request, template: str, status_code: int = 200, **ctx: Any) -> Response:
    p = portal_of(request)
    s = session_of(request)
    ctx.setdefault("csrf", s.csrf_token if s else "")
    ctx.setdefault("errors", {})
    ctx.setdefault("number", None)
    ctx.setdefault("lab_sms", lab_sms_enabled(p))
    response = p.templates.TemplateResponse(request, template, ctx, status_code=status_code)
    return flash.consumed(request, response)


def form_text(form: FormData, key: str) -> str:
    value = form.get(key)
    return value if isinstance(value, str) else ""


def form_list(form: FormData, key: str) -> list[str]:
    return [v for v in form.getlist(key) if isinstance(v, str)]


async def checked_form(request: Request) -> FormData:
    form = await request.form()
    login_flow.check_csrf(request, form_text(form, "csrf_token"))
    return form


async def ensure_session(request: Request) -> auth.Session:
    """The session, or a pre-login one kept only in a cookie (no row for anonymous views)."""
    return app_ensure_session(request)


def redirect(url: str) -> Response:
    return RedirectResponse(url, status_code=303)


def lab_sms_enabled(p: Portal) -> bool:
    """The lab SMS inbox shows every code sent, to anyone: it exists only in a lab that turns
    on the lab pages (ANSHIN_PORTAL_LAB_PAGES=1) and keeps SMS in the lab outbox."""
    return p.settings.portal_lab_pages and p.settings.portal_sms_provider == "lab"

