"""Typed portal configuration, overridable by ANSHIN_* environment variables."""

from __future__ import annotations

import secrets
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class PortalSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ANSHIN_", frozen=True)

    database_url: str = "postgresql://anshin@127.0.0.1:5433/anshin"
    db_timeout: float = 5.0
    portal_host: str = "127.0.0.1"
    portal_port: int = 8080
    # Signs nothing secret by itself; keys the HMAC of 2FA codes. Set it for several instances.
    portal_secret: str = Field(default_factory=lambda: secrets.token_hex(32))
    # Secure flag on cookies: on behind TLS in production, off for the plain-HTTP lab.
    portal_cookie_secure: bool = False
    portal_session_hours: int = 12
    portal_trust_days: int = 30
    # SMS: "lab" keeps messages in sms_outbox for the lab inbox page; "http" posts to a gateway.
    portal_sms_provider: Literal["lab", "http"] = "lab"
    portal_sms_gateway_url: str = ""
    portal_sms_gateway_token: str = ""
    portal_sms_timeout: float = 5.0
    # Limits (R-ACC-4)
    portal_code_minutes: int = 10
    portal_login_max_failures: int = 5
    portal_code_max_failures: int = 5
    portal_lock_minutes: int = 15
    portal_max_sends_per_window: int = 5
