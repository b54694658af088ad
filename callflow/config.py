"""Typed configuration for the call-control app, overridable by ANSHIN_* environment variables."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from callflow.deployment import LAB_DATABASE_URL, Profile


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ANSHIN_", frozen=True)

    # ANSHIN_PROFILE: "production" (default) refuses to start with a secret shipped in this
    # repository or a database login without a password (callflow/deployment.py); the lab
    # sets "lab" and keeps its defaults.
    profile: Profile = "production"

    # ARI (Asterisk REST Interface)
    ari_url: str = "http://127.0.0.1:8088/ari"
    ari_user: str = "anshin"
    ari_password: str = "anshin-ari-secret"
    ari_app: str = "anshin"
    # Asterisk queues each Stasis application's events in ONE taskprocessor; under load that
    # queue is the bottleneck (bench/README.md). With a spread of N the dialplan sends each
    # call to one of "<ari_app>-0" … "<ari_app>-<N-1>" at random and the app subscribes to
    # all of them on its one WebSocket, so each gets its own queue. Must match the dialplan's
    # ARI_APP_SPREAD global (rendered from the same lab configuration).
    ari_app_spread: int = Field(default=1, ge=1, le=32)
    # Several app instances per Asterisk (rolling restarts, docs/operations.md "Two
    # instances"): instance k of N serves the names whose index i has i % N == k (with a
    # spread of 1, one instance only). The dialplan tries the names in turn from a random
    # one, so a new call reaches whichever instance is up. Never give two running instances
    # the same names: Asterisk 22 hands a name to the newest WebSocket and leaves the other
    # one connected but deaf (tests/integration/test_ari_live.py).
    ari_app_instances: int = Field(default=1, ge=1, le=32)
    ari_app_instance: int = Field(default=0, ge=0, le=31)
    # SIGTERM: this instance takes no new call (the dialplan skips its names) and exits once
    # its calls have ended or after this long, leaving the rest to its restarted self.
    drain_seconds: float = Field(default=30.0, ge=0)
    ari_timeout: float = Field(default=5.0, description="seconds per REST request")
    # REST requests as frames over this many WebSockets instead of HTTP (0 = HTTP;
    # needs Asterisk ≥ 20.14/21.9/22.4): callflow/ari/ws_rest.py, measured in
    # bench/README.md (app CPU per forwarded call −10 %).
    ari_rest_sockets: int = Field(default=2, ge=0, le=16)
    # Event types Asterisk need not send us (PUT /applications/{app}/eventFilter on every
    # connect): no handler reads them, and each costs Asterisk a JSON dump + WebSocket write
    # and us a parse (bench/: measured per call). Set ANSHIN_ARI_DECLINED_EVENTS='[]' to get all.
    ari_declined_events: tuple[str, ...] = (
        "ChannelVarset", "ChannelDialplan", "ChannelCallerId", "ChannelConnectedLine",
        "ChannelEnteredBridge", "ChannelLeftBridge", "BridgeCreated", "BridgeDestroyed",
        "ChannelStateChange")

    # PostgreSQL
    database_url: str = LAB_DATABASE_URL
    db_timeout: float = 5.0
    db_pool_min: int = 1
    db_pool_max: int = 10

    # Outbound calls to ordinary numbers (forward targets, callback legs): an ARI
    # endpoint template; {number} is the national-format number.
    pstn_endpoint: str = "PJSIP/{number}@carrier"
    # Numbers that may be lab phones (softphones registered as a PJSIP endpoint of that
    # name, comma-separated): a call to one rings the phone while it is registered. Empty
    # in production, so no call pays for the lookup.
    lab_phones: str = ""

    # Prompt media prefix as Asterisk sees it (sounds dir relative path).
    prompt_prefix: str = "sound:anshin/"

    # Voicemail audio to play is copied from the database into media_dir (a directory this
    # app writes and Asterisk reads, mounted there as asterisk_media_dir). A cache only: the
    # database holds the audio, so any app instance can serve any message.
    media_dir: Path = Path("/var/lib/anshin/media")
    asterisk_media_dir: str = "/var/lib/anshin/media"

    # IVR access numbers (national format).
    retrieval_number: str = "05033005000"
    pin_change_number: str = "05033005141"

    # Voicemail IVRs (callflow/features/ivr/): digit timeouts, and how many consecutive
    # timeouts / bad entries before goodbye.
    ivr_first_digit_timeout: float = 10.0
    ivr_inter_digit_timeout: float = 5.0
    ivr_max_failures: int = 3
    # 168 h expiry job: how often it runs (it also runs at start-up).
    voicemail_expiry_interval: float = 300.0
    # Shift the app's one clock (Services.clock: lockouts, expiry, voicemail and history
    # times, billing legs, mail dates) by this many seconds: tests of the 15-minute
    # lock and 168 h expiry restart the app with it. 0 in production.
    clock_offset_s: float = 0.0

    # Voicemail deposit (R-IN-4): longest message, and how long a silent line may last
    # before the recording ends by itself.
    voicemail_max_seconds: int = 180
    voicemail_max_silence_seconds: int = 8
    # Recording recovery: how often Asterisk's stored vm-* recordings (left behind when the
    # app died before saving them) are swept into the database.
    recording_recovery_interval: float = 60.0

    # 迷惑電話の可能性 (store/likely_spam.py): a caller number is labelled once at least this
    # many distinct subscribers (accounts) have blocked it within the last 90 days.
    likely_spam_min_subscribers: int = Field(default=5, ge=1)

    # The 050 number on a softphone (callflow/softphone.py): how often the app pushes new or
    # revoked softphone accounts to Asterisk (seconds), and whether softphones may use plain
    # UDP/RTP (off: TLS signalling and SRTP media only).
    softphone_sync_interval: float = Field(default=2.0, gt=0)
    softphone_allow_udp: bool = False
    # Addresses the REGISTER guard never bans for password spraying (callflow/register_guard
    # .py): comma-separated IPv4 networks, e.g. the carrier trunk's and the SIP edge's.
    register_guard_never_ban: str = ""

    # E-mail notification (R-IN-5) through the mail_outbox table and an SMTP relay.
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 2525
    smtp_timeout: float = Field(default=15.0, description="seconds per SMTP operation")
    smtp_starttls: bool = False
    smtp_username: str | None = None
    smtp_password: str | None = None
    mail_from: str = "noreply@anshin-number.example.jp"
    mail_from_name: str = "050あんしんナンバー"
    mail_poll_interval: float = 2.0
    # Retry schedule for a relay that is down: base * 2**(attempts-1), capped.
    mail_retry_base: float = 30.0
    mail_retry_max: float = 3600.0
    # A message the relay keeps refusing permanently (5xx) is given up after this many tries.
    mail_max_attempts: int = 10

    # Voicemail transcription (docs/transcription.md): off unless ANSHIN_TRANSCRIBE=1 and a
    # worker runs (python -m callflow.transcribe, the `transcribe` extra). On, each message
    # gets a job, and its notification waits for the text at most transcript_wait_s.
    transcribe: bool = False
    transcript_wait_s: float = Field(default=30.0, ge=0, le=600)
    # The worker: a job is leased this long and the lease renewed every third of it while
    # the worker works (a worker that died is replaced once it ran out), tried at most this
    # often, polled at this interval; recogniser threads per worker.
    transcribe_lease_s: float = Field(default=30.0, gt=0)
    transcribe_max_attempts: int = Field(default=3, ge=1)
    transcribe_poll_interval: float = Field(default=1.0, gt=0)
    transcribe_threads: int = Field(default=2, ge=1, le=16)

    # あんしん発信 (two-leg callback) and other app-placed calls (callflow/features/callback/).
    # Fraud guards (callflow/features/callback/rules.py); per-account overrides:
    # callback_account_limits.
    callback_allow_international: bool = False
    callback_allow_freephone: bool = True
    callback_blocked_prefixes: tuple[str, ...] = ("0990", "0570", "0180")
    callback_max_per_hour: int = 10
    callback_max_per_day: int = 30
    callback_max_billable_minutes_per_day: int = 180
    callback_leg1_ring_seconds: int = 30
    callback_leg2_ring_seconds: int = 40
    callback_max_call_seconds: int = 4 * 3600
    # Verification / 2FA voice calls: how long the called phone may ring.
    app_call_ring_seconds: int = 30
    # The request worker: poll interval (LISTEN/NOTIFY is the fast path) and concurrency.
    call_request_poll_interval: float = 1.0
    call_request_max_concurrent: int = 20

    # Data lifecycle (callflow/store/retention.py, docs/operations.md): days each kind of row
    # is kept, and how often the retention job runs (it also runs at start-up).
    retention_history_days: int = Field(default=90, ge=1)
    retention_outbox_days: int = Field(default=30, ge=1)
    retention_sessions_days: int = Field(default=7, ge=1)
    retention_billing_days: int = Field(default=7 * 365 + 2, ge=1)  # 7 years
    retention_interval: float = Field(default=3600.0, gt=0)

    # Operator endpoint: /health, /ready, /metrics (Prometheus) over HTTP (0 = off). The lab
    # keeps it on 127.0.0.1; a container sets 0.0.0.0 so Prometheus can scrape it.
    status_port: int = 0
    status_host: str = "127.0.0.1"

    log_level: str = "INFO"
    # "json": one JSON object per line with the call's context (callflow/logs.py)
    log_format: Literal["text", "json"] = "text"

    @property
    def ari_apps(self) -> list[str]:
        """Every Stasis application name the app serves."""
        if self.ari_app_spread == 1:
            return [self.ari_app]
        return [f"{self.ari_app}-{i}" for i in range(self.ari_app_spread)
                if i % self.ari_app_instances == self.ari_app_instance]

    @property
    def never_banned_networks(self) -> tuple[ipaddress.IPv4Network, ...]:
        """register_guard_never_ban as networks (checked at start-up, _networks_parse)."""
        return tuple(ipaddress.IPv4Network(n.strip())
                     for n in self.register_guard_never_ban.split(",") if n.strip())

    @model_validator(mode="after")
    def _networks_parse(self) -> Settings:
        # a typo here would otherwise stop the REGISTER guard, not the start
        try:
            self.never_banned_networks  # noqa: B018
        except ValueError as exc:
            raise ValueError(f"register_guard_never_ban: {exc}") from exc
        return self

    @model_validator(mode="after")
    def _instances_fit_the_names(self) -> Settings:
        if self.ari_app_instance >= self.ari_app_instances:
            raise ValueError("ari_app_instance must be below ari_app_instances")
        if self.ari_app_instances > 1 and self.ari_app_spread < self.ari_app_instances:
            raise ValueError("each instance needs its own names: ari_app_spread must be at "
                             "least ari_app_instances")
        return self
