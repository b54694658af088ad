"""Helpers for integration tests (import as `from integration.support import ...`)."""

from __future__ import annotations

import uuid

import psycopg
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope

from labkit.ports import free_port


def new_subscriber(conn: psycopg.Connection[tuple[object, ...]], **settings: object) -> str:
    """Provision an account with one fresh 050 number; returns the number."""
    number = "050" + str(uuid.uuid4().int)[:8]
    row = conn.execute(
        "INSERT INTO accounts (email, password_hash) VALUES (%s, 'x') RETURNING id",
        (f"{uuid.uuid4().hex[:10]}@example.jp",)).fetchone()
    assert row is not None
    conn.execute("INSERT INTO subscriber_numbers (number, account_id) VALUES (%s, %s)",
                 (number, row[0]))
    for key, value in settings.items():
        conn.execute(f"UPDATE subscriber_numbers SET {key} = %s WHERE number = %s",
                     (value, number))
    return number


class MailSink:
    """aiosmtpd on a free port, collecting every message; stop()/start() keep the port
    (the relay-down test)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.messages: list[tuple[str, list[str], bytes]] = []  # (MAIL FROM, RCPT TO, data)
        self._controller: Controller | None = None

    async def handle_DATA(self, server: object, session: object, envelope: Envelope
                          ) -> str:
        assert isinstance(envelope.content, bytes)
        self.messages.append((envelope.mail_from or "", list(envelope.rcpt_tos),
                              envelope.content))
        return "250 Message accepted for delivery"

    def start(self) -> None:
        if self._controller is None:
            self._controller = Controller(self, hostname="127.0.0.1", port=self.port)
            self._controller.start()

    def stop(self) -> None:
        controller, self._controller = self._controller, None
        if controller is not None:
            controller.stop()

    def to(self, addr: str) -> list[bytes]:
        return [data for _, rcpts, data in list(self.messages) if addr in rcpts]
