"""Typed ARI events (see Asterisk ``rest-api/api-docs/events.json``).

All events are frozen, keyword-only dataclasses deriving from :class:`Event`, which
carries the common ``type`` / ``application`` / ``timestamp`` fields.
:func:`parse_event` never raises: unknown event types *and* known types whose
required object (``channel``, ``playback``, ``recording``, ``peer``) is missing or
malformed come back as :class:`UnknownEvent` with the original mapping in ``raw``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypedDict

from .models import (
    Channel,
    LiveRecording,
    Playback,
    _bool,
    _int,
    _mapping,
    _opt_int,
    _str,
    _str_tuple,
)

__all__ = [
    "ChannelDestroyed",
    "ChannelDtmfReceived",
    "ChannelHangupRequest",
    "ChannelStateChange",
    "ChannelVarset",
    "Dial",
    "Event",
    "PlaybackFinished",
    "PlaybackStarted",
    "RecordingFailed",
    "RecordingFinished",
    "RecordingStarted",
    "StasisEnd",
    "StasisStart",
    "UnknownEvent",
    "parse_event",
]

log = logging.getLogger("callflow.ari")


@dataclass(frozen=True, kw_only=True)
class Event:
    """Base of every ARI event."""

    type: str = ""
    application: str = ""
    timestamp: str = ""

    def channel_ids(self) -> tuple[str, ...]:
        """Channel ids this event concerns (used for per-call dispatch)."""
        return ()


@dataclass(frozen=True, kw_only=True)
class _ChannelEvent(Event):
    channel: Channel

    def channel_ids(self) -> tuple[str, ...]:
        return (self.channel.id,)


@dataclass(frozen=True, kw_only=True)
class StasisStart(_ChannelEvent):
    """A channel entered the app.

    ``adopted`` is not part of ARI: it is ``True`` only for the synthetic StasisStart the
    :class:`~callflow.ari.dispatch.Dispatcher` builds in ``adopt()`` for a channel found
    in Stasis after a reconnect (then ``args`` are recovered best-effort from the
    channel's dialplan ``app_data``). ``channel_ids()`` also names ``replace_channel``
    so a masquerade replacing a channel owned by a call is routed to that call.
    """

    type: str = "StasisStart"
    args: tuple[str, ...] = ()
    replace_channel: Channel | None = None
    adopted: bool = False

    def channel_ids(self) -> tuple[str, ...]:
        if self.replace_channel is not None and self.replace_channel.id != self.channel.id:
            return (self.channel.id, self.replace_channel.id)
        return (self.channel.id,)


@dataclass(frozen=True, kw_only=True)
class StasisEnd(_ChannelEvent):
    type: str = "StasisEnd"


@dataclass(frozen=True, kw_only=True)
class ChannelDtmfReceived(_ChannelEvent):
    type: str = "ChannelDtmfReceived"
    digit: str = ""
    duration_ms: int = 0


@dataclass(frozen=True, kw_only=True)
class ChannelHangupRequest(_ChannelEvent):
    type: str = "ChannelHangupRequest"
    cause: int | None = None
    soft: bool = False


@dataclass(frozen=True, kw_only=True)
class ChannelDestroyed(_ChannelEvent):
    type: str = "ChannelDestroyed"
    cause: int = 0
    cause_txt: str = ""


@dataclass(frozen=True, kw_only=True)
class ChannelStateChange(_ChannelEvent):
    type: str = "ChannelStateChange"


@dataclass(frozen=True, kw_only=True)
class ChannelVarset(Event):
    """``channel`` is ``None`` for a global variable."""

    type: str = "ChannelVarset"
    channel: Channel | None = None
    variable: str = ""
    value: str = ""

    def channel_ids(self) -> tuple[str, ...]:
        return (self.channel.id,) if self.channel is not None else ()


@dataclass(frozen=True, kw_only=True)
class Dial(Event):
    """Dial progress on ``peer`` (the dialed channel); ``caller`` is absent for
    channels originated through ARI. ``dialstatus`` is ``""`` when dialing starts."""

    type: str = "Dial"
    caller: Channel | None = None
    peer: Channel
    dialstatus: str = ""
    dialstring: str = ""
    forward: str = ""

    def channel_ids(self) -> tuple[str, ...]:
        if self.caller is not None and self.caller.id != self.peer.id:
            return (self.peer.id, self.caller.id)
        return (self.peer.id,)


@dataclass(frozen=True, kw_only=True)
class _PlaybackEvent(Event):
    playback: Playback

    def channel_ids(self) -> tuple[str, ...]:
        cid = self.playback.target_channel_id
        return (cid,) if cid else ()


@dataclass(frozen=True, kw_only=True)
class PlaybackStarted(_PlaybackEvent):
    type: str = "PlaybackStarted"


@dataclass(frozen=True, kw_only=True)
class PlaybackFinished(_PlaybackEvent):
    type: str = "PlaybackFinished"


@dataclass(frozen=True, kw_only=True)
class _RecordingEvent(Event):
    recording: LiveRecording

    def channel_ids(self) -> tuple[str, ...]:
        cid = self.recording.target_channel_id
        return (cid,) if cid else ()


@dataclass(frozen=True, kw_only=True)
class RecordingStarted(_RecordingEvent):
    type: str = "RecordingStarted"


@dataclass(frozen=True, kw_only=True)
class RecordingFinished(_RecordingEvent):
    type: str = "RecordingFinished"


@dataclass(frozen=True, kw_only=True)
class RecordingFailed(_RecordingEvent):
    type: str = "RecordingFailed"


@dataclass(frozen=True, kw_only=True)
class UnknownEvent(Event):
    """Any event type we do not model (or a known type too malformed to parse)."""

    raw: Mapping[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------- parsing


class _Common(TypedDict):
    type: str
    application: str
    timestamp: str


def _channel(data: Mapping[str, Any], key: str) -> Channel:
    value = data.get(key)
    if not isinstance(value, Mapping):
        raise ValueError(f"missing {key!r} object")
    return Channel.from_json(value)


def _opt_channel(data: Mapping[str, Any], key: str) -> Channel | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise ValueError(f"{key!r} is not an object")
    return Channel.from_json(value)


def _stasis_start(d: Mapping[str, Any], c: _Common) -> Event:
    return StasisStart(
        **c,
        channel=_channel(d, "channel"),
        args=_str_tuple(d.get("args")),
        replace_channel=_opt_channel(d, "replace_channel"),
    )


def _stasis_end(d: Mapping[str, Any], c: _Common) -> Event:
    return StasisEnd(**c, channel=_channel(d, "channel"))


def _dtmf(d: Mapping[str, Any], c: _Common) -> Event:
    return ChannelDtmfReceived(
        **c,
        channel=_channel(d, "channel"),
        digit=_str(d, "digit"),
        duration_ms=_int(d, "duration_ms"),
    )


def _hangup_request(d: Mapping[str, Any], c: _Common) -> Event:
    return ChannelHangupRequest(
        **c, channel=_channel(d, "channel"), cause=_opt_int(d, "cause"), soft=_bool(d, "soft")
    )


def _destroyed(d: Mapping[str, Any], c: _Common) -> Event:
    return ChannelDestroyed(
        **c, channel=_channel(d, "channel"), cause=_int(d, "cause"), cause_txt=_str(d, "cause_txt")
    )


def _state_change(d: Mapping[str, Any], c: _Common) -> Event:
    return ChannelStateChange(**c, channel=_channel(d, "channel"))


def _varset(d: Mapping[str, Any], c: _Common) -> Event:
    return ChannelVarset(
        **c,
        channel=_opt_channel(d, "channel"),
        variable=_str(d, "variable"),
        value=_str(d, "value"),
    )


def _dial(d: Mapping[str, Any], c: _Common) -> Event:
    return Dial(
        **c,
        caller=_opt_channel(d, "caller"),
        peer=_channel(d, "peer"),
        dialstatus=_str(d, "dialstatus"),
        dialstring=_str(d, "dialstring"),
        forward=_str(d, "forward"),
    )


def _playback(d: Mapping[str, Any]) -> Playback:
    return Playback.from_json(_mapping(d, "playback"))


def _recording(d: Mapping[str, Any]) -> LiveRecording:
    return LiveRecording.from_json(_mapping(d, "recording"))


_PARSERS: dict[str, Callable[[Mapping[str, Any], _Common], Event]] = {
    "StasisStart": _stasis_start,
    "StasisEnd": _stasis_end,
    "ChannelDtmfReceived": _dtmf,
    "ChannelHangupRequest": _hangup_request,
    "ChannelDestroyed": _destroyed,
    "ChannelStateChange": _state_change,
    "ChannelVarset": _varset,
    "Dial": _dial,
    "PlaybackStarted": lambda d, c: PlaybackStarted(**c, playback=_playback(d)),
    "PlaybackFinished": lambda d, c: PlaybackFinished(**c, playback=_playback(d)),
    "RecordingStarted": lambda d, c: RecordingStarted(**c, recording=_recording(d)),
    "RecordingFinished": lambda d, c: RecordingFinished(**c, recording=_recording(d)),
    "RecordingFailed": lambda d, c: RecordingFailed(**c, recording=_recording(d)),
}


def parse_event(data: Mapping[str, Any]) -> Event:
    """Turn one decoded ARI event object into a typed :class:`Event`. Never raises."""
    common: _Common = {
        "type": _str(data, "type"),
        "application": _str(data, "application"),
        "timestamp": _str(data, "timestamp"),
    }
    parser = _PARSERS.get(common["type"])
    if parser is not None:
        try:
            return parser(data, common)
        except (ValueError, TypeError, AttributeError) as exc:
            log.warning("malformed ARI %s event (%s); treated as unknown", common["type"], exc)
    return UnknownEvent(**common, raw=data)
