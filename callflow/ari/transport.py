"""How an ARI REST request reaches Asterisk: a small protocol with two implementations.

:class:`HttpTransport` sends each request over HTTP (keep-alive); ``ws_rest.WsRestTransport``
sends it as a ``RESTRequest`` frame over open WebSockets. :class:`~callflow.ari.client.AriClient`
picks one for JSON requests and always uses HTTP for binary downloads (recordings), which the
WebSocket framing does not carry.
"""

from __future__ import annotations

import base64
from typing import Any, Protocol

import aiohttp
from yarl import URL

from .errors import AriConnectionError, AriError, AriTimeout

__all__ = ["HttpTransport", "RestTransport", "basic_auth_header"]


class RestTransport(Protocol):
    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def send(self, method: str, path: str, params: dict[str, str], json: Any,
                   timeout: float) -> tuple[int, str, bytes]:
        """(status code, reason phrase, body) of one request. ``path`` starts with ``/``,
        is relative to ``/ari`` and is already quoted. Network failures raise
        :class:`AriTimeout` / :class:`AriConnectionError`; HTTP errors are returned, not
        raised (the client maps them in one place)."""
        ...


def basic_auth_header(user: str, password: str) -> str:
    # Built by hand: aiohttp.BasicAuth is deprecated in 3.14, encode_basic_auth is new.
    token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
    return f"Basic {token}"


class HttpTransport:
    """One aiohttp session against ``base_url`` (``http://host:port/ari``)."""

    def __init__(self, base_url: str, user: str, password: str, timeout: float) -> None:
        self.base_url = base_url.rstrip("/")
        self._timeout = timeout
        self._headers = {"Authorization": basic_auth_header(user, password),
                         "Accept": "application/json"}
        self._session: aiohttp.ClientSession | None = None

    async def open(self) -> None:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self._timeout), headers=self._headers)

    async def close(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    async def send(self, method: str, path: str, params: dict[str, str], json: Any,
                   timeout: float) -> tuple[int, str, bytes]:
        session = self._session
        if session is None or session.closed:
            raise AriError("AriClient is not open (use 'async with AriClient(...)')")
        url = URL(self.base_url + path, encoded=True)
        try:
            async with session.request(method, url, params=params, json=json,
                                       timeout=aiohttp.ClientTimeout(total=timeout)) as resp:
                return resp.status, resp.reason or "", await resp.read()
        except TimeoutError as exc:  # includes asyncio.TimeoutError and aiohttp's timeouts
            raise AriTimeout(f"{method} {path}: no answer within {timeout}s") from exc
        except (aiohttp.ClientError, OSError) as exc:
            raise AriConnectionError(f"{method} {path}: {type(exc).__name__}: {exc}") from exc
