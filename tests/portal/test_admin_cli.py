"""The operator CLI (`python -m portal.admin`) as operators run it: a process against a real
PostgreSQL, every command, and refused input ending with one `error:` line and exit status
1 - never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from argon2 import PasswordHasher

from callflow.deployment import LAB_DATABASE_URL
from labkit.portal_testkit import Sql
from labkit.ports import free_port
from labkit.postgres import PgCluster
from portal.admin import parser

REPO = Path(__file__).resolve().parents[2]
PIN = "4826"


def admin(pg: PgCluster, *args: str, stdin: str | None = None,
          database_url: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run the CLI; the database comes from ANSHIN_DATABASE_URL as in a lab shell, or from
    --database-url when given."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSHIN_")}
    env["ANSHIN_DATABASE_URL"] = pg.url
    argv = [sys.executable, "-m", "portal.admin"]
    if database_url is not None:
        argv += ["--database-url", database_url]
    return subprocess.run([*argv, *args], input=stdin, capture_output=True, text=True,
                          env=env, cwd=REPO, timeout=60)


def assert_refused(result: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert result.returncode == 1, result
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    assert result.stdout == ""


def new_email() -> str:
    return f"op-{uuid.uuid4().hex[:10]}@example.jp"


def new_050() -> str:
    return "050" + str(uuid.uuid4().int)[:8]


def test_provisions_an_account_its_050_number_and_contact(pg: PgCluster,
                                                          portal_sql: Sql) -> None:
    email, number = new_email(), new_050()

    created = admin(pg, "account", email, "--password", "first-password")
    assert created.returncode == 0, created.stderr
    assert created.stdout.startswith("account ") and email in created.stdout
    # idempotent: the same command resets the password (here from stdin)
    reset = admin(pg, "account", email, "--password-stdin", stdin="second-password\n")
    assert reset.returncode == 0, reset.stderr
    assert reset.stdout == created.stdout
    row = portal_sql.execute("SELECT password_hash FROM accounts WHERE email = %s",
                             (email,)).fetchone()
    assert row is not None and isinstance(row[0], str)
    assert PasswordHasher().verify(row[0], "second-password")

    hyphenated = f"{number[:3]}-{number[3:7]}-{number[7:]}"
    added = admin(pg, "number", email, hyphenated, "--pin", PIN)
    assert (added.returncode, added.stdout.strip()) == (0, f"number {number}"), added.stderr
    assert admin(pg, "number", email, number).returncode == 0  # again: no change, no error
    row = portal_sql.execute("SELECT voicemail_pin_hash FROM subscriber_numbers"
                             " WHERE number = %s", (number,)).fetchone()
    assert row is not None and isinstance(row[0], str)
    assert PasswordHasher().verify(row[0], PIN)

    contact = admin(pg, "contact", email, "090-1111-2222", "--label", "携帯")
    assert (contact.returncode, contact.stdout.strip()) == (0, "contact 09011112222")

    shown = admin(pg, "show", email)
    assert shown.returncode == 0, shown.stderr
    assert f"050 numbers: {number}" in shown.stdout
    assert "contact numbers: 09011112222" in shown.stdout
    assert "password" not in shown.stdout and PIN not in shown.stdout


def test_refused_input_is_one_error_line(pg: PgCluster) -> None:
    email, other = new_email(), new_email()
    assert admin(pg, "account", email, "--password", "long-enough").returncode == 0
    assert admin(pg, "account", other, "--password", "long-enough").returncode == 0
    taken = new_050()
    assert admin(pg, "number", other, taken).returncode == 0

    assert_refused(admin(pg, "account", "not-an-address", "--password", "long-enough"))
    assert_refused(admin(pg, "account", new_email(), "--password", "short"), "8 characters")
    assert_refused(admin(pg, "account", new_email(), "--password-stdin", stdin=""),
                   "8 characters")
    assert_refused(admin(pg, "number", email, "09011112222"), "not a 050 number")
    assert_refused(admin(pg, "number", email, "050-12"))
    assert_refused(admin(pg, "number", email, new_050(), "--pin", "12a"))
    assert_refused(admin(pg, "number", email, taken), "another account")
    assert_refused(admin(pg, "number", "nobody@example.jp", new_050()),
                   "no account nobody@example.jp")
    assert_refused(admin(pg, "contact", "nobody@example.jp", "09011112222"), "no account")
    assert_refused(admin(pg, "contact", email, "0990123456"))  # premium rate
    assert_refused(admin(pg, "show", "nobody@example.jp"), "no account")
    # a database that is not there: libpq's two-line message on one line
    assert_refused(admin(pg, "show", email,
                         database_url=f"postgresql://postgres@127.0.0.1:{free_port()}/anshin"),
                   "connection")


def test_malformed_command_line_is_usage_not_traceback(pg: PgCluster) -> None:
    result = admin(pg, "number", new_email())  # the number is missing
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "usage: python -m portal.admin" in result.stderr


def test_default_database_is_the_labs(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without --database-url and ANSHIN_DATABASE_URL the CLI uses `./lab up`'s database
    (role postgres on 127.0.0.1:5433), the same default as the app and the portal."""
    monkeypatch.delenv("ANSHIN_DATABASE_URL", raising=False)
    assert parser().parse_args(["show", "x@example.jp"]).database_url == LAB_DATABASE_URL
    assert LAB_DATABASE_URL == "postgresql://postgres@127.0.0.1:5433/anshin"
    monkeypatch.setenv("ANSHIN_DATABASE_URL", "postgresql://u:p@db/anshin")
    assert parser().parse_args(["show", "x@example.jp"]).database_url == \
        "postgresql://u:p@db/anshin"
