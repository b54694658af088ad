"""Log output for the app and the portal: text for people, or one JSON object per line
(ANSHIN_LOG_FORMAT=json) for a log collector.

Every line written while a call (or a portal request) is being handled carries its context
(call id, channel, 050 number; request id, method and path) from a context variable set at the
top of the call task or request: tasks the call spawns inherit it, so no log call passes it.

What must never reach a log: PINs, 2FA and verification codes, passwords, SMS bodies. Log
calls say *that* such a value was entered or sent, never the value; the log-secrets test
(tests/integration/test_observability.py) greps the captured logs of real flows for them.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Mapping
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Literal

LogFormat = Literal["text", "json"]

_context: ContextVar[Mapping[str, str] | None] = ContextVar("anshin_log_context", default=None)


def bind(**fields: str | None) -> None:
    """Add fields to the current task's log context (None values are left out)."""
    merged = dict(_context.get() or {})
    merged.update({k: v for k, v in fields.items() if v is not None})
    _context.set(merged)


def context() -> Mapping[str, str]:
    return _context.get() or {}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, the context fields, exc."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self._service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "service": self._service,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        entry.update(context())
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """The classic line, with the context as ``[key=value …]`` after the message."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        ctx = context()
        if not ctx:
            return line
        fields = " ".join(f"{k}={v}" for k, v in ctx.items())
        head, sep, rest = line.partition("\n")  # keep a traceback below the line
        return f"{head} [{fields}]{sep}{rest}"


def configure(level: str, fmt: LogFormat, service: str) -> None:
    """Replace the root handlers with one on stderr in the chosen format."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service) if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
