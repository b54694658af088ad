"""Typed portal configuration, overridable by ANSHIN_* environment variables."""

from __future__ import annotations

import secrets
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from callflow.deployment import LAB_DATABASE_URL, Profile


class PortalSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ANSHIN_", frozen=True)

    # ANSHIN_PROFILE: "production" (default) refuses to start without its own session secret,
    # with Secure cookies off or a database login without a password (portal/deployment.py);
    # the lab sets "lab".
    profile: Profile = "production"
    database_url: str = LAB_DATABASE_URL
    db_timeout: float = 5.0
    portal_host: str = "127.0.0.1"
    portal_port: int = 8080
    # Keys the HMAC of 2FA codes (and signs flash cookies): required in production, the same
    # for every instance; the lab may leave it unset (a random one per process).
    portal_secret: str = Field(default_factory=lambda: secrets.token_hex(32))
    # Secure flag on cookies: on behind TLS in production, off for the plain-HTTP lab.
    portal_cookie_secure: bool = False
    portal_session_hours: int = 12
    portal_trust_days: int = 30
    # SMS: "http" posts to a gateway (ANSHIN_PORTAL_SMS_GATEWAY_URL, required); "lab" keeps
    # messages in sms_outbox for the lab inbox page — set by the lab, never the default.
    portal_sms_provider: Literal["lab", "http"] = "http"
    # Lab-only pages (/lab/sms: every SMS sent, i.e. every 2FA code, without login). Off unless
    # the lab turns them on (ANSHIN_PORTAL_LAB_PAGES=1, set by ./lab up and the tests).
    portal_lab_pages: bool = False
    portal_sms_gateway_url: str = ""
    portal_sms_gateway_token: str = ""
    portal_sms_timeout: float = 5.0
    # Logs: level, and "json" for one JSON object per line with the request's context
    # (callflow/logs.py); GET /metrics serves the Prometheus metrics (portal/metrics.py).
    log_level: str = "INFO"
    log_format: Literal["text", "json"] = "text"
    # Limits (R-ACC-4)
    portal_code_minutes: int = 10
    portal_login_max_failures: int = 5
    portal_code_max_failures: int = 5
    portal_lock_minutes: int = 15
    portal_max_sends_per_window: int = 5
