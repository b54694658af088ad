"""The session's log-secrets check (labkit/testlogs.py, run by tests/conftest.py at the end of
every session): what counts as a secret given away, what does not (the same digits inside a
timestamp, a call id or an account id), and that a kept log survives its path being reused."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from labkit import testlogs
from labkit.testlogs import Secrets, leaks, leaks_in_line

SECRETS = Secrets(numbers=frozenset({"4826", "482613"}),
                  texts=frozenset({"correct-horse-battery", "認証番号は 482613 です"}))


@pytest.mark.parametrize("line", [
    "2026-11-29 19:48:26,482 INFO callflow call 1764454826.12: retrieval login ok",
    "INFO portal 2FA code sent account=4826 method=sms",
    "INFO callflow call c1: mailbox 05012344826 has 3 messages",
    "DEBUG callflow.store took 4826 ms",
    "DEBUG callflow pin change: stored the new PIN hash for 05011112222",
    "INFO portal request_id=482613abc done",
])
def test_digits_that_are_not_a_secret_given_away(line: str) -> None:
    assert leaks_in_line(line, SECRETS) == []


@pytest.mark.parametrize("line", [
    "DEBUG callflow call c1: pin=4826",
    "DEBUG callflow call c1: collected digits '4826#'",
    "INFO portal verify code: 482613",
    "INFO callflow call c1: new PIN 9999",  # any PIN value after the word
    "DEBUG callflow call c1: DTMF 4",
    "DEBUG portal login payload {'password': 'correct-horse-battery'}",
    "INFO portal sms sent: 050あんしんナンバーの認証番号は 482613 です",
])
def test_a_secret_given_away(line: str) -> None:
    assert leaks_in_line(line, SECRETS)


def test_kept_logs_and_noted_secrets_are_read_at_the_end(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "session"
    monkeypatch.setenv(testlogs.ENV, str(folder))
    log = tmp_path / "app.log"
    log.write_text("INFO callflow started\n")
    testlogs.keep(log, "app")
    testlogs.keep(log, "app")  # a restart appending to the same file: kept once
    with log.open("a") as f:
        f.write("DEBUG callflow call c1: code=731955\n")
    log.unlink()  # a fixture reusing the path later does not lose what was written
    log.write_text("INFO callflow a new file at the same path\n")
    testlogs.keep(log, "app")
    testlogs.note_secret("731955", "number")
    assert sorted(p.name for p in folder.glob("*.log")) == ["app-1.log", "app-2.log"]
    assert [(f.log, f.line_no) for f in leaks(folder)] == [("app-1.log", 2)]


def test_without_a_session_folder_nothing_is_kept(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(testlogs.ENV, raising=False)
    log = tmp_path / "app.log"
    log.write_text("x\n")
    handlers = list(logging.getLogger("portal").handlers)  # a portal test may have added one
    testlogs.keep(log, "app")
    testlogs.note_secret("1", "number")
    testlogs.keep_portal_records()
    assert logging.getLogger("portal").handlers == handlers
    assert list(tmp_path.iterdir()) == [log]
