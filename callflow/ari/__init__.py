"""In-house asyncio client for the Asterisk REST Interface (ARI).

* :class:`AriClient` - REST calls with timeouts, errors mapped to :class:`AriError`.
* :class:`EventStream` - the events WebSocket, reconnecting forever with backoff.
* :func:`parse_event` / :class:`Event` subclasses - typed events.
* :class:`Dispatcher` / :class:`CallEvents` - one ordered event queue per call task.
"""

from .client import AriClient
from .dispatch import CallEvents, Dispatcher, HandlerFactory
from .errors import (
    AriBadRequest,
    AriConflict,
    AriConnectionError,
    AriError,
    AriHttpError,
    AriNotFound,
    AriProtocolError,
    AriServerError,
    AriTimeout,
    AriUnprocessable,
    error_for_status,
)
from .events import (
    ChannelDestroyed,
    ChannelDtmfReceived,
    ChannelHangupRequest,
    ChannelStateChange,
    ChannelVarset,
    Dial,
    Event,
    PlaybackFinished,
    PlaybackStarted,
    RecordingFailed,
    RecordingFinished,
    RecordingStarted,
    StasisEnd,
    StasisStart,
    UnknownEvent,
    parse_event,
)
from .models import (
    AsteriskInfo,
    Bridge,
    CallerId,
    Channel,
    Endpoint,
    LiveRecording,
    Playback,
    StoredRecording,
    channel_id_from_target,
)
from .stream import EventStream

__all__ = [
    "AriBadRequest",
    "AriClient",
    "AriConflict",
    "AriConnectionError",
    "AriError",
    "AriHttpError",
    "AriNotFound",
    "AriProtocolError",
    "AriServerError",
    "AriTimeout",
    "AriUnprocessable",
    "AsteriskInfo",
    "Bridge",
    "CallEvents",
    "CallerId",
    "Channel",
    "ChannelDestroyed",
    "ChannelDtmfReceived",
    "ChannelHangupRequest",
    "ChannelStateChange",
    "ChannelVarset",
    "Dial",
    "Dispatcher",
    "Endpoint",
    "Event",
    "EventStream",
    "HandlerFactory",
    "LiveRecording",
    "Playback",
    "PlaybackFinished",
    "PlaybackStarted",
    "RecordingFailed",
    "RecordingFinished",
    "RecordingStarted",
    "StasisEnd",
    "StasisStart",
    "StoredRecording",
    "UnknownEvent",
    "channel_id_from_target",
    "error_for_status",
    "parse_event",
]
