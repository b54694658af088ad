"""Post/redirect/get for every form that changes something: the POST answers 303 to a GET page
and hands it what to show (a notice, field errors, the values typed) in a one-time cookie.

Reloading the page the browser lands on repeats only the GET, never the POST, so a reload
cannot place a second callback, save a setting twice or count another failed login. The
cookie is HMAC-signed with the portal secret and bound to the session, read once and deleted
by the page that shows it; it holds nothing the user did not just type or see.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass, field

from fastapi import Request
from fastapi.responses import RedirectResponse, Response

from portal.request_context import portal_of, session_of

FLASH_COOKIE = "anshin_flash"
_MAX_AGE_S = 300
_MAX_BYTES = 3500  # below the 4 KB a browser keeps per cookie

Values = dict[str, str | list[str]]


@dataclass(frozen=True)
class Flash:
    notice: str = ""
    errors: dict[str, str] = field(default_factory=dict)
    values: Values = field(default_factory=dict)

    def value(self, key: str, default: str = "") -> str:
        v = self.values.get(key, default)
        return v if isinstance(v, str) else default

    def values_list(self, key: str) -> list[str] | None:
        v = self.values.get(key)
        return [x for x in v if isinstance(x, str)] if isinstance(v, list) else None


def _mac(request: Request, payload: bytes) -> str:
    s = session_of(request)
    key = portal_of(request).settings.portal_secret.encode()
    bound = (s.token_hash if s is not None else "").encode() + b"\0" + payload
    return base64.urlsafe_b64encode(hmac.new(key, bound, hashlib.sha256).digest()).decode()


def redirect(request: Request, url: str, *, notice: str = "",
             errors: Mapping[str, str] | None = None,
             values: Mapping[str, str | list[str]] | None = None) -> Response:
    """303 to `url`; the page there shows `notice`, `errors` and `values` once."""
    response = RedirectResponse(url, status_code=303)
    body = {"n": notice, "e": dict(errors or {}), "v": dict(values or {})}
    if not notice and not errors and not values:
        return response
    payload = base64.urlsafe_b64encode(json.dumps(body, ensure_ascii=False).encode()).decode()
    cookie = f"{payload}.{_mac(request, payload.encode())}"
    if len(cookie) > _MAX_BYTES:  # never: forms are short; keep the notice and the errors
        return redirect(request, url, notice=notice, errors=errors)
    response.set_cookie(FLASH_COOKIE, cookie, max_age=_MAX_AGE_S, path="/", httponly=True,
                        samesite="lax",
                        secure=portal_of(request).settings.portal_cookie_secure)
    return response


def take(request: Request) -> Flash:
    """What the redirecting POST left for this page (empty if nothing, forged or stale)."""
    raw = request.cookies.get(FLASH_COOKIE, "")
    payload, _, mac = raw.partition(".")
    if not payload or not hmac.compare_digest(mac, _mac(request, payload.encode())):
        return Flash()
    try:
        body = json.loads(base64.urlsafe_b64decode(payload.encode()))
        notice, errors, values = body["n"], body["e"], body["v"]
    except (ValueError, KeyError, TypeError):
        return Flash()
    if not (isinstance(notice, str) and isinstance(errors, dict)
            and isinstance(values, dict)):
        return Flash()
    return Flash(notice, {str(k): str(v) for k, v in errors.items()}, values)


def consumed(request: Request, response: Response) -> Response:
    """Delete the flash cookie with the page that showed it."""
    if FLASH_COOKIE in request.cookies:
        response.delete_cookie(FLASH_COOKIE, path="/", httponly=True, samesite="lax",
                               secure=portal_of(request).settings.portal_cookie_secure)
    return response
