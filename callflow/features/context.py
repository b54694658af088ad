"""What every feature handler gets besides its call."""

from __future__ import annotations

from dataclasses import dataclass

from callflow.ari import AriClient
from callflow.config import Settings
from callflow.store import Database


@dataclass(frozen=True)
class Services:
    settings: Settings
    db: Database
    ari: AriClient
