"""What every portal request works with, shared by the pages, the API and the login flow: the
portal's state (settings, database, SMS, templates, password hashing), the visitor's session and
its cookies, and the exceptions a route raises for the application to answer (login page, 404,
CSRF refusal). The application (portal.app) wires these up; nothing here imports it."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request
from fastapi.templating import Jinja2Templates

from callflow.store import Database
from portal import auth
from portal.config import PortalSettings
from portal.sms import SmsProvider

SESSION_COOKIE = "anshin_session"
TRUST_COOKIE = "anshin_trusted"
# Before login: a random nonce whose HMAC is the CSRF token (auth.anonymous_session); no row.
NONCE_COOKIE = "anshin_nonce"


@dataclass
class Portal:
    settings: PortalSettings
    db: Database
    sms: SmsProvider
    templates: Jinja2Templates
    passwords: auth.PasswordHashing


class LoginRequired(Exception):
    pass


class NotFound(Exception):
    pass


class CsrfRejected(Exception):
    pass


def portal_of(request: Request) -> Portal:
    p: Portal = request.app.state.portal
    return p


def session_of(request: Request) -> auth.Session | None:
    s: auth.Session | None = getattr(request.state, "session", None)
    return s


def set_session_cookie(request: Request, token: str) -> None:
    request.state.new_session_token = token


def ensure_session(request: Request) -> auth.Session:
    """The visitor's session; one who has none gets a pre-login session that lives only in a
    cookie (its CSRF token for the login form), so anonymous requests store nothing."""
    s = session_of(request)
    if s is None:
        nonce = auth.new_nonce()
        s = auth.anonymous_session(portal_of(request).settings.portal_secret, nonce)
        assert s is not None
        request.state.new_nonce = nonce
        request.state.session = s
    return s
