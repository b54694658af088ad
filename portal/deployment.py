"""What the portal refuses to start with in the production profile (callflow/deployment.py)."""

from __future__ import annotations

from collections.abc import Mapping

from callflow.deployment import Problem, database_url_problems, secret_problems
from portal.config import PortalSettings

# The session secret keys the HMAC of 2FA codes: as long as a token_hex(32).
SECRET_MIN_LENGTH = 32


def portal_problems(settings: PortalSettings, environ: Mapping[str, str]) -> list[Problem]:
    """[] in the lab. In production: the session secret must be set (not the per-process
    random default, which every restart and every other instance would disagree with), not
    shipped and long; cookies must be Secure (the portal runs behind TLS); the database
    login must need a password; nothing lab-only (the /lab/ pages show every 2FA code
    without login, the lab SMS provider sends nothing); the SMS gateway must be named."""
    if settings.profile == "lab":
        return []
    secret = settings.portal_secret if "portal_secret" in settings.model_fields_set else None
    problems = [
        *secret_problems("ANSHIN_PORTAL_SECRET", secret, min_length=SECRET_MIN_LENGTH),
        *database_url_problems("ANSHIN_DATABASE_URL", settings.database_url, environ),
    ]
    if not settings.portal_cookie_secure:
        problems.append(Problem("ANSHIN_PORTAL_COOKIE_SECURE",
                                "is off: session cookies would travel without TLS; set it "
                                "to true and serve the portal over HTTPS"))
    if settings.portal_lab_pages:
        problems.append(Problem("ANSHIN_PORTAL_LAB_PAGES",
                                "lab pages (every 2FA code sent, without login) are for the "
                                "lab only; leave it unset"))
    if settings.portal_sms_provider == "lab":
        problems.append(Problem("ANSHIN_PORTAL_SMS_PROVIDER",
                                "'lab' keeps 2FA codes in the database instead of sending "
                                "them; use http and ANSHIN_PORTAL_SMS_GATEWAY_URL"))
    elif not settings.portal_sms_gateway_url:
        problems.append(Problem("ANSHIN_PORTAL_SMS_GATEWAY_URL",
                                "not set (required in production: where 2FA codes are "
                                "sent by SMS, docs/deploy.md)"))
    return problems
