"""Typed, immutable views of ARI resources (see Asterisk ``rest-api/api-docs/*.json``).

``from_json`` is deliberately tolerant: missing or mistyped optional fields fall back to
defaults (``""``, ``0``, ``None``, empty containers). Only the identifying field of a
resource (``id`` / ``name``) is required; without it ``from_json`` raises ``ValueError``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "AsteriskInfo",
    "Bridge",
    "CallerId",
    "Channel",
    "LiveRecording",
    "Playback",
    "StoredRecording",
    "channel_id_from_target",
]


# --------------------------------------------------------------------------- helpers


def _str(data: Mapping[str, Any], key: str, default: str = "") -> str:
    value = data.get(key)
    if value is None:
        return default
    if isinstance(value, str):
        return value
    if isinstance(value, bool | int | float):
        return str(value)
    return default


def _opt_int(data: Mapping[str, Any], key: str) -> int | None:
    value = data.get(key)
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if math.isfinite(value) else None
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            return None
    return None


def _int(data: Mapping[str, Any], key: str, default: int = 0) -> int:
    value = _opt_int(data, key)
    return default if value is None else value


def _bool(data: Mapping[str, Any], key: str, default: bool = False) -> bool:
    value = data.get(key)
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        return value.strip().lower() in {"true", "yes", "1"}
    if isinstance(value, int | float):
        return bool(value)
    return default


def _mapping(data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = data.get(key)
    return value if isinstance(value, Mapping) else {}


def _required(data: Mapping[str, Any], key: str, what: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise ValueError(f"{what} without a {key!r}")
    return value


def _str_tuple(value: Any) -> tuple[str, ...]:
    if isinstance(value, list | tuple):
        return tuple(v if isinstance(v, str) else str(v) for v in value if v is not None)
    return ()


def channel_id_from_target(target_uri: str) -> str | None:
    """``"channel:<id>"`` → ``<id>``; anything else (``bridge:…``, ``""``) → ``None``."""
    scheme, sep, rest = target_uri.partition(":")
    if sep and scheme == "channel" and rest:
        return rest
    return None


# --------------------------------------------------------------------------- resources


@dataclass(frozen=True)
class CallerId:
    name: str = ""
    number: str = ""

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CallerId:
        return cls(name=_str(data, "name"), number=_str(data, "number"))


@dataclass(frozen=True)
class Channel:
    """ARI ``Channel``. ``dialplan_*`` flatten the nested ``dialplan`` object.

    ``dialplan_app_name`` / ``dialplan_app_data`` are extras (Asterisk ≥ 16.?); for a
    channel sitting in our app they read ``"Stasis"`` / ``"<app>,<arg1>,…"``.
    """

    id: str
    name: str = ""
    state: str = ""
    caller: CallerId = field(default_factory=CallerId)
    connected: CallerId = field(default_factory=CallerId)
    accountcode: str = ""
    dialplan_context: str = ""
    dialplan_exten: str = ""
    dialplan_priority: int = 0
    creationtime: str = ""
    language: str = ""
    channelvars: dict[str, str] = field(default_factory=dict)
    dialplan_app_name: str = ""
    dialplan_app_data: str = ""

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Channel:
        dialplan = _mapping(data, "dialplan")
        raw_vars = _mapping(data, "channelvars")
        channelvars = {
            str(k): ("" if v is None else v if isinstance(v, str) else str(v))
            for k, v in raw_vars.items()
        }
        return cls(
            id=_required(data, "id", "channel"),
            name=_str(data, "name"),
            state=_str(data, "state"),
            caller=CallerId.from_json(_mapping(data, "caller")),
            connected=CallerId.from_json(_mapping(data, "connected")),
            accountcode=_str(data, "accountcode"),
            dialplan_context=_str(dialplan, "context"),
            dialplan_exten=_str(dialplan, "exten"),
            dialplan_priority=_int(dialplan, "priority"),
            creationtime=_str(data, "creationtime"),
            language=_str(data, "language"),
            channelvars=channelvars,
            dialplan_app_name=_str(dialplan, "app_name"),
            dialplan_app_data=_str(dialplan, "app_data"),
        )


@dataclass(frozen=True)
class Playback:
    """ARI ``Playback``; ``state`` is queued / playing / continuing / done / failed."""

    id: str
    media_uri: str = ""
    target_uri: str = ""
    state: str = ""
    language: str = ""

    @property
    def target_channel_id(self) -> str | None:
        return channel_id_from_target(self.target_uri)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Playback:
        return cls(
            id=_required(data, "id", "playback"),
            media_uri=_str(data, "media_uri"),
            target_uri=_str(data, "target_uri"),
            state=_str(data, "state"),
            language=_str(data, "language"),
        )


@dataclass(frozen=True)
class LiveRecording:
    """ARI ``LiveRecording``; ``state`` is queued / recording / paused / done / failed /
    canceled. Durations are seconds and only present once the recording has ended."""

    name: str
    format: str = ""
    target_uri: str = ""
    state: str = ""
    duration: int | None = None
    talking_duration: int | None = None
    silence_duration: int | None = None
    cause: str | None = None

    @property
    def target_channel_id(self) -> str | None:
        return channel_id_from_target(self.target_uri)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> LiveRecording:
        cause = data.get("cause")
        return cls(
            name=_required(data, "name", "recording"),
            format=_str(data, "format"),
            target_uri=_str(data, "target_uri"),
            state=_str(data, "state"),
            duration=_opt_int(data, "duration"),
            talking_duration=_opt_int(data, "talking_duration"),
            silence_duration=_opt_int(data, "silence_duration"),
            cause=cause if isinstance(cause, str) else None,
        )


@dataclass(frozen=True)
class StoredRecording:
    name: str
    format: str = ""

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> StoredRecording:
        return cls(name=_required(data, "name", "stored recording"), format=_str(data, "format"))


@dataclass(frozen=True)
class Bridge:
    id: str
    technology: str = ""
    bridge_type: str = ""
    bridge_class: str = ""
    channels: tuple[str, ...] = ()
    name: str = ""

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Bridge:
        return cls(
            id=_required(data, "id", "bridge"),
            technology=_str(data, "technology"),
            bridge_type=_str(data, "bridge_type"),
            bridge_class=_str(data, "bridge_class"),
            channels=_str_tuple(data.get("channels")),
            name=_str(data, "name"),
        )


@dataclass(frozen=True)
class Endpoint:
    """ARI ``Endpoint``: ``state`` is ``online`` while a PJSIP contact is registered."""

    technology: str
    resource: str
    state: str = ""
    channel_ids: tuple[str, ...] = ()

    @property
    def online(self) -> bool:
        return self.state == "online"

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Endpoint:
        raw_ids = data.get("channel_ids")
        ids = tuple(str(i) for i in raw_ids) if isinstance(raw_ids, list) else ()
        return cls(technology=_required(data, "technology", "endpoint"),
                   resource=_required(data, "resource", "endpoint"),
                   state=_str(data, "state"), channel_ids=ids)


@dataclass(frozen=True)
class AsteriskInfo:
    """Subset of ``GET /asterisk/info`` (all fields optional)."""

    version: str = ""
    entity_id: str = ""
    startup_time: str = ""
    last_reload_time: str = ""

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AsteriskInfo:
        system = _mapping(data, "system")
        status = _mapping(data, "status")
        return cls(
            version=_str(system, "version"),
            entity_id=_str(system, "entity_id"),
            startup_time=_str(status, "startup_time"),
            last_reload_time=_str(status, "last_reload_time"),
        )
