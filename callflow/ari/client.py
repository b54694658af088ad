"""Async REST client for the Asterisk REST Interface (ARI).

Usage::

    async with AriClient("http://127.0.0.1:8088/ari", "user", "secret", "anshin") as ari:
        await ari.answer(channel_id)

Every request carries a timeout and every failure is mapped into
:mod:`callflow.ari.errors`: timeouts → :class:`AriTimeout`, socket/DNS/reset →
:class:`AriConnectionError`, HTTP 4xx/5xx → :func:`error_for_status` (message taken
from the JSON body's ``"message"``), undecodable 2xx bodies → :class:`AriProtocolError`.
"""

from __future__ import annotations

import json as jsonlib
import logging
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import quote

from .errors import AriError, AriNotFound, AriProtocolError, error_for_status
from .models import (
    AsteriskInfo,
    Bridge,
    Channel,
    Endpoint,
    LiveRecording,
    Playback,
    StoredRecording,
)
from .transport import HttpTransport, RestTransport
from .ws_rest import WsRestTransport

__all__ = ["AriClient", "Params"]

log = logging.getLogger("callflow.ari")

ParamValue = str | int | float | bool | None
Params = Mapping[str, ParamValue]

_T = TypeVar("_T")


def _seg(value: str) -> str:
    """URL-quote one path segment (``/`` included)."""
    return quote(value, safe="")


def _clean_params(params: Params | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in (params or {}).items():
        if value is None:
            continue
        if isinstance(value, bool):
            out[key] = "true" if value else "false"
        else:
            out[key] = str(value)
    return out


def _error_message(body: bytes, fallback: str) -> str:
    if body:
        try:
            data = jsonlib.loads(body)
        except ValueError:
            text = body.decode("utf-8", "replace").strip()
            return text[:300] or fallback
        if isinstance(data, Mapping):
            message = data.get("message") or data.get("error")
            if isinstance(message, str) and message:
                return message
    return fallback


class AriClient:
    """REST requests against ``base_url`` (``http://host:port/ari``), HTTP basic auth.

    ``app`` is the Stasis application name, used by :meth:`originate`. ``rest_sockets > 0``
    sends JSON requests as RESTRequest frames over that many WebSockets (ws_rest.py);
    binary downloads (recordings) always go over HTTP.
    """

    def __init__(
        self, base_url: str, user: str, password: str, app: str, timeout: float = 5.0,
        *, rest_sockets: int = 0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.app = app
        self.timeout = timeout
        # Called with (method, path) before every request (metrics; must not raise or block).
        self.on_request: Callable[[str, str], None] | None = None
        self._http = HttpTransport(self.base_url, user, password, timeout)
        self._ws_rest = (WsRestTransport(base_url, user, password, app, sockets=rest_sockets)
                         if rest_sockets > 0 else None)
        self._json: RestTransport = self._ws_rest if self._ws_rest is not None else self._http
        self._open = False

    # ------------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> AriClient:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def open(self) -> None:
        await self._http.open()
        if self._ws_rest is not None:
            await self._ws_rest.open()
        self._open = True

    async def close(self) -> None:
        self._open = False
        if self._ws_rest is not None:
            await self._ws_rest.close()
        await self._http.close()

    # ------------------------------------------------------------------ generic

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Params | None = None,
        json: Any = None,
        request_timeout: float | None = None,
    ) -> Any:
        """Send one request; return the decoded JSON body, or ``None`` when it is empty
        (e.g. 204). ``path`` is relative to ``base_url`` and must already be quoted;
        ``request_timeout`` overrides the client's default for this request."""
        body = await self._send(self._json, method, path, params=params, json=json,
                                request_timeout=request_timeout)
        if not body.strip():
            return None
        try:
            return jsonlib.loads(body)
        except ValueError as exc:
            raise AriProtocolError(f"{method} {path}: response is not JSON: {exc}") from exc

    async def request_bytes(
        self,
        method: str,
        path: str,
        *,
        params: Params | None = None,
        request_timeout: float | None = None,
    ) -> bytes:
        """Like :meth:`request` but return the raw body (e.g. a recording file)."""
        return await self._send(self._http, method, path, params=params, json=None,
                                request_timeout=request_timeout)

    async def _send(
        self,
        transport: RestTransport,
        method: str,
        path: str,
        *,
        params: Params | None,
        json: Any,
        request_timeout: float | None,
    ) -> bytes:
        if not self._open:
            raise AriError("AriClient is not open (use 'async with AriClient(...)')")
        if not path.startswith("/"):
            path = "/" + path
        if self.on_request is not None:
            self.on_request(method, path)
        timeout = self.timeout if request_timeout is None else request_timeout
        status, reason, body = await transport.send(
            method, path, _clean_params(params), json, timeout)
        if status >= 400:
            err = error_for_status(status, method, path, _error_message(body, reason))
            log.debug("ARI %s", err)
            raise err
        return body

    # ------------------------------------------------------------------ helpers

    @staticmethod
    def _parse(what: str, data: Any, parser: Callable[[Mapping[str, Any]], _T]) -> _T:
        if not isinstance(data, Mapping):
            raise AriProtocolError(f"expected a {what} object, got {type(data).__name__}")
        try:
            return parser(data)
        except (ValueError, TypeError) as exc:
            raise AriProtocolError(f"malformed {what}: {exc}") from exc

    @classmethod
    def _parse_list(
        cls, what: str, data: Any, parser: Callable[[Mapping[str, Any]], _T]
    ) -> list[_T]:
        if not isinstance(data, list):
            raise AriProtocolError(f"expected a list of {what}, got {type(data).__name__}")
        return [cls._parse(what, item, parser) for item in data]

    # ------------------------------------------------------------------ asterisk

    async def get_info(self) -> AsteriskInfo:
        data = await self.request("GET", "/asterisk/info")
        return self._parse("asterisk info", data, AsteriskInfo.from_json)

    # ------------------------------------------------------------------ channels

    async def list_channels(self) -> list[Channel]:
        data = await self.request("GET", "/channels")
        return self._parse_list("channel", data, Channel.from_json)

    async def get_channel(self, channel_id: str) -> Channel:
        data = await self.request("GET", f"/channels/{_seg(channel_id)}")
        return self._parse("channel", data, Channel.from_json)

    async def answer(self, channel_id: str) -> None:
        await self.request("POST", f"/channels/{_seg(channel_id)}/answer")

    async def ring(self, channel_id: str) -> None:
        await self.request("POST", f"/channels/{_seg(channel_id)}/ring")

    async def hangup(self, channel_id: str, reason: str = "normal") -> None:
        """``reason``: normal, busy, congestion, no_answer, timeout, rejected, unallocated,
        normal_unspecified, number_incomplete, codec_mismatch, interworking, failure,
        answered_elsewhere."""
        await self.request("DELETE", f"/channels/{_seg(channel_id)}", params={"reason": reason})

    async def play(
        self,
        channel_id: str,
        media: str | Sequence[str],
        playback_id: str | None = None,
        lang: str | None = None,
    ) -> Playback:
        """Play one or several media URIs (``sound:…``, ``digits:…``, ``number:…``…).

        Several URIs are sent as one comma-separated ``media`` parameter, which is how
        Asterisk parses ``allowMultiple`` query parameters (a repeated parameter would
        overwrite the previous one). They play back to back as one playback.
        """
        items = [media] if isinstance(media, str) else list(media)
        if not items:
            raise ValueError("play() needs at least one media URI")
        params: dict[str, ParamValue] = {
            "media": ",".join(items),
            "lang": lang,
            "playbackId": playback_id,
        }
        data = await self.request("POST", f"/channels/{_seg(channel_id)}/play", params=params)
        return self._parse("playback", data, Playback.from_json)

    async def stop_playback(self, playback_id: str) -> None:
        await self.request("DELETE", f"/playbacks/{_seg(playback_id)}")

    async def record(
        self,
        channel_id: str,
        name: str,
        *,
        fmt: str = "wav",
        max_duration_seconds: int = 0,
        max_silence_seconds: int = 0,
        beep: bool = False,
        terminate_on: str = "none",
        if_exists: str = "fail",
    ) -> LiveRecording:
        """Start recording the channel. ``terminate_on``: none, any, *, #;
        ``if_exists``: fail, overwrite, append."""
        params: dict[str, ParamValue] = {
            "name": name,
            "format": fmt,
            "maxDurationSeconds": max_duration_seconds,
            "maxSilenceSeconds": max_silence_seconds,
            "beep": beep,
            "terminateOn": terminate_on,
            "ifExists": if_exists,
        }
        data = await self.request("POST", f"/channels/{_seg(channel_id)}/record", params=params)
        return self._parse("live recording", data, LiveRecording.from_json)

    async def stop_recording(self, name: str) -> None:
        await self.request("POST", f"/recordings/live/{_seg(name)}/stop")

    async def start_silence(self, channel_id: str) -> None:
        """Play silence to the channel until the next media operation (playback) replaces
        it. Its 20 ms timer also wakes the channel's reader, so a recording goes on while
        the caller's phone sends no RTP (silence suppression)."""
        await self.request("POST", f"/channels/{_seg(channel_id)}/silence")

    async def rtp_packets_received(self, channel_id: str) -> int:
        """How many RTP packets the channel has received so far (``rxcount`` of
        ``GET /channels/{id}/rtp_statistics``; AriNotFound for a channel without RTP)."""
        data = await self.request("GET", f"/channels/{_seg(channel_id)}/rtp_statistics")
        if not isinstance(data, Mapping) or not isinstance(data.get("rxcount"), int):
            raise AriProtocolError(f"rtp_statistics without rxcount: {data!r:.200}")
        count: int = data["rxcount"]
        return count

    async def get_stored_recording_file(self, name: str) -> bytes:
        return await self.request_bytes("GET", f"/recordings/stored/{_seg(name)}/file")

    async def delete_stored_recording(self, name: str) -> None:
        await self.request("DELETE", f"/recordings/stored/{_seg(name)}")

    async def list_stored_recordings(self) -> list[StoredRecording]:
        """Every finished recording in Asterisk's recording directory."""
        data = await self.request("GET", "/recordings/stored")
        return self._parse_list("stored recording", data, StoredRecording.from_json)

    async def get_live_recording(self, name: str) -> LiveRecording:
        """A recording still in progress (AriNotFound once it has finished)."""
        data = await self.request("GET", f"/recordings/live/{_seg(name)}")
        return self._parse("live recording", data, LiveRecording.from_json)

    async def originate(
        self,
        endpoint: str,
        *,
        app_args: str = "",
        caller_id: str | None = None,
        timeout: int = 30,  # Asterisk dial timeout (s), not ours
        channel_id: str | None = None,
        originator: str | None = None,
        variables: Mapping[str, str] | None = None,
        formats: str | None = None,
        app: str | None = None,
    ) -> Channel:
        """``POST /channels`` into our app (or ``app``, another Stasis application this
        client serves). ``timeout`` is the dial timeout in seconds (Asterisk's, not the
        HTTP one); ``variables`` go in the JSON body."""
        params: dict[str, ParamValue] = {
            "endpoint": endpoint,
            "app": app or self.app,
            "appArgs": app_args or None,
            "callerId": caller_id,
            "timeout": timeout,
            "channelId": channel_id,
            "originator": originator,
            "formats": formats,
        }
        body = {"variables": dict(variables)} if variables else None
        data = await self.request("POST", "/channels", params=params, json=body)
        return self._parse("channel", data, Channel.from_json)

    async def set_channel_var(self, channel_id: str, variable: str, value: str) -> None:
        await self.request(
            "POST",
            f"/channels/{_seg(channel_id)}/variable",
            params={"variable": variable, "value": value},
        )

    async def get_channel_var(self, channel_id: str, variable: str) -> str:
        """Raises :class:`AriNotFound` when the channel (or, on recent Asterisk, the
        variable) does not exist."""
        data = await self.request(
            "GET", f"/channels/{_seg(channel_id)}/variable", params={"variable": variable}
        )
        if not isinstance(data, Mapping):
            raise AriProtocolError(f"expected a Variable object, got {type(data).__name__}")
        value = data.get("value")
        return value if isinstance(value, str) else "" if value is None else str(value)

    async def get_global_var(self, variable: str) -> str | None:
        """A dialplan global variable (None when Asterisk does not have it)."""
        try:
            data = await self.request("GET", "/asterisk/variable", params={"variable": variable})
        except AriNotFound:
            return None
        if not isinstance(data, Mapping):
            raise AriProtocolError(f"expected a Variable object, got {type(data).__name__}")
        value = data.get("value")
        return value if isinstance(value, str) and value else None

    async def set_global_var(self, variable: str, value: str) -> None:
        """Set a dialplan global variable."""
        await self.request("POST", "/asterisk/variable",
                           params={"variable": variable, "value": value})

    async def continue_in_dialplan(
        self,
        channel_id: str,
        context: str | None = None,
        extension: str | None = None,
        priority: int | None = None,
        label: str | None = None,
    ) -> None:
        await self.request(
            "POST",
            f"/channels/{_seg(channel_id)}/continue",
            params={
                "context": context,
                "extension": extension,
                "priority": priority,
                "label": label,
            },
        )

    async def subscribe(self, app: str, event_source: str) -> None:
        """``POST /applications/{app}/subscription``: send ``app`` the events of
        ``event_source`` (e.g. ``channel:<id>``) even when it is not in Stasis - a channel
        the app hands to the dialplan stays watched until it is destroyed."""
        await self.request("POST", f"/applications/{_seg(app)}/subscription",
                           params={"eventSource": event_source})

    async def set_event_filter(self, app: str, disallowed: Sequence[str]) -> None:
        """``PUT /applications/{app}/eventFilter``: Asterisk stops sending ``app`` the
        given event types (fewer messages built and serialised per call)."""
        await self.request("PUT", f"/applications/{_seg(app)}/eventFilter",
                           json={"disallowed": [{"type": t} for t in disallowed]})

    async def send_dtmf(self, channel_id: str, dtmf: str) -> None:
        await self.request("POST", f"/channels/{_seg(channel_id)}/dtmf", params={"dtmf": dtmf})

    # ------------------------------------------------------------------ endpoints

    async def get_endpoint(self, technology: str, resource: str) -> Endpoint:
        """``GET /endpoints/{tech}/{resource}`` (AriNotFound for an unknown endpoint)."""
        data = await self.request("GET", f"/endpoints/{_seg(technology)}/{_seg(resource)}")
        return self._parse("endpoint", data, Endpoint.from_json)

    # ------------------------------------------------------------------ push configuration

    async def put_config_object(self, config_class: str, object_type: str, object_id: str,
                                fields: Sequence[tuple[str, str]]) -> None:
        """``PUT /asterisk/config/dynamic/{class}/{type}/{id}``: create or replace a sorcery
        object (e.g. res_pjsip endpoint) in a writable wizard (sorcery.conf memory)."""
        await self.request(
            "PUT", f"/asterisk/config/dynamic/{_seg(config_class)}/{_seg(object_type)}"
            f"/{_seg(object_id)}",
            json={"fields": [{"attribute": a, "value": v} for a, v in fields]})

    async def delete_config_object(self, config_class: str, object_type: str,
                                   object_id: str) -> bool:
        """``DELETE`` of the same; False when Asterisk did not have it."""
        try:
            await self.request(
                "DELETE", f"/asterisk/config/dynamic/{_seg(config_class)}/{_seg(object_type)}"
                f"/{_seg(object_id)}")
        except AriNotFound:
            return False
        return True

    async def reload_module(self, module: str) -> None:
        """``PUT /asterisk/modules/{module}``: reload one Asterisk module (e.g. res_pjsip.so;
        409 AriConflict when it has no reload or another reload is running)."""
        await self.request("PUT", f"/asterisk/modules/{_seg(module)}", request_timeout=15.0)

    # ------------------------------------------------------------------ bridges

    async def create_bridge(
        self, bridge_type: str = "mixing", bridge_id: str | None = None, name: str | None = None
    ) -> Bridge:
        data = await self.request(
            "POST", "/bridges", params={"type": bridge_type, "bridgeId": bridge_id, "name": name}
        )
        return self._parse("bridge", data, Bridge.from_json)

    async def add_channel(self, bridge_id: str, channel_ids: Sequence[str]) -> None:
        ids = [channel_ids] if isinstance(channel_ids, str) else list(channel_ids)
        await self.request(
            "POST", f"/bridges/{_seg(bridge_id)}/addChannel", params={"channel": ",".join(ids)}
        )

    async def remove_channel(self, bridge_id: str, channel_id: str) -> None:
        await self.request(
            "POST", f"/bridges/{_seg(bridge_id)}/removeChannel", params={"channel": channel_id}
        )

    async def destroy_bridge(self, bridge_id: str) -> None:
        await self.request("DELETE", f"/bridges/{_seg(bridge_id)}")

    async def list_bridges(self) -> list[Bridge]:
        data = await self.request("GET", "/bridges")
        return self._parse_list("bridge", data, Bridge.from_json)
