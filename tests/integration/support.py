"""Helpers for integration tests (import as `from integration.support import ...`)."""

from __future__ import annotations

import email
import uuid
from email.message import EmailMessage
from email.policy import default

import psycopg

from labkit.mailsink import MailSink

__all__ = ["MailSink", "body_of", "new_subscriber", "parse_mail"]


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



def parse_mail(raw: bytes) -> EmailMessage:
    msg = email.message_from_bytes(raw, policy=default)
    assert isinstance(msg, EmailMessage)
    return msg


def body_of(msg: EmailMessage) -> str:
    """The mail's plain-text body."""
    part = msg.get_body(preferencelist=("plain",))
    assert part is not None
    text = part.get_content()
    assert isinstance(text, str)
    return text
