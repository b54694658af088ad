"""What every feature handler gets besides its call."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from callflow.ari import AriClient, Dispatcher
from callflow.clock import Clock
from callflow.config import Settings
from callflow.store import Database


@dataclass(frozen=True)
class Services:
    settings: Settings
    db: Database
    ari: AriClient
    # The app's one clock (ANSHIN_CLOCK_OFFSET_S shifts it): every time decision and every
    # time a subscriber sees - lockouts, expiry, slot holds, billing legs, mail and history.
    clock: Clock
    # For calls the app places itself (callback, verification, 2FA voice): start a call
    # task owning a channel before originating it; and "the events WebSocket is up (and its
    # resync done)".
    dispatcher: Dispatcher | None = None
    ari_connected: asyncio.Event | None = None
    # Set while the instance drains (SIGTERM): it places no new call either (the
    # call-request worker leaves requests to the other instance).
    draining: asyncio.Event | None = None
