"""Helpers for integration tests (import as `from integration.support import ...`)."""

from __future__ import annotations

import uuid

import psycopg

from labkit.mailsink import MailSink

__all__ = ["MailSink", "new_subscriber"]


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

