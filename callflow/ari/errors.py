"""Exception tree for the ARI client.

Everything the ARI layer raises is an :class:`AriError`::

    AriError
    ├── AriConnectionError      refused / reset / DNS / WebSocket closed
    │   └── AriTimeout          no answer within the request timeout
    ├── AriProtocolError        2xx answer whose body is not the JSON we expect
    └── AriHttpError            Asterisk answered with an HTTP error status
        ├── AriBadRequest       400
        ├── AriNotFound         404
        ├── AriConflict         409 (e.g. channel not in Stasis)
        ├── AriUnprocessable    422
        └── AriServerError      5xx
"""

from __future__ import annotations

__all__ = [
    "AriBadRequest",
    "AriConflict",
    "AriConnectionError",
    "AriError",
    "AriHttpError",
    "AriNotFound",
    "AriProtocolError",
    "AriServerError",
    "AriTimeout",
    "AriUnprocessable",
    "error_for_status",
]


class AriError(Exception):
    """Base class of every error raised by ``callflow.ari``."""


class AriConnectionError(AriError):
    """Asterisk could not be reached, or the connection broke mid-request."""


class AriTimeout(AriConnectionError):
    """Asterisk did not answer within the configured timeout."""


class AriProtocolError(AriError):
    """A successful HTTP answer whose body is not what the ARI spec promises."""


class AriHttpError(AriError):
    """Asterisk answered with an HTTP error status (4xx/5xx)."""

    def __init__(self, status: int, method: str, path: str, message: str) -> None:
        self.status = status
        self.method = method
        self.path = path
        self.message = message
        super().__init__(f"{method} {path} -> HTTP {status}: {message}")

    def __reduce__(self) -> tuple[type[AriHttpError], tuple[int, str, str, str]]:
        return (type(self), (self.status, self.method, self.path, self.message))


class AriBadRequest(AriHttpError):
    """400: invalid parameters."""


class AriNotFound(AriHttpError):
    """404: channel / playback / recording / bridge (or variable) not found."""


class AriConflict(AriHttpError):
    """409: resource in the wrong state, e.g. channel not in a Stasis application."""


class AriUnprocessable(AriHttpError):
    """422: request understood but not applicable (e.g. bad recording format)."""


class AriServerError(AriHttpError):
    """5xx: Asterisk-side failure."""


_BY_STATUS: dict[int, type[AriHttpError]] = {
    400: AriBadRequest,
    404: AriNotFound,
    409: AriConflict,
    422: AriUnprocessable,
}


def error_for_status(status: int, method: str, path: str, message: str) -> AriHttpError:
    """Build the most specific :class:`AriHttpError` subclass for an HTTP status."""
    cls = _BY_STATUS.get(status)
    if cls is None:
        cls = AriServerError if 500 <= status <= 599 else AriHttpError
    return cls(status, method, path, message)
