"""Typed configuration for the call-control app, overridable by ANSHIN_* environment variables."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ANSHIN_", frozen=True)

    # ARI (Asterisk REST Interface)
    ari_url: str = "http://127.0.0.1:8088/ari"
    ari_user: str = "anshin"
    ari_password: str = "anshin-ari-secret"
    ari_app: str = "anshin"
    ari_timeout: float = Field(default=5.0, description="seconds per REST request")

    # PostgreSQL
    database_url: str = "postgresql://anshin@127.0.0.1:5433/anshin"
    db_timeout: float = 5.0
    db_pool_min: int = 1
    db_pool_max: int = 10

    # Outbound calls to ordinary numbers (forward targets, callback legs): an ARI
    # endpoint template; {number} is the national-format number.
    pstn_endpoint: str = "PJSIP/{number}@carrier"

    # Prompt media prefix as Asterisk sees it (sounds dir relative path).
    prompt_prefix: str = "sound:anshin/"

    # IVR access numbers (national format).
    retrieval_number: str = "05033005000"
    pin_change_number: str = "05033005141"

    # Operator endpoint: health and live-call metrics over HTTP (0 = off).
    status_port: int = 0

    log_level: str = "INFO"
