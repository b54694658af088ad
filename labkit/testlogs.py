"""The logs of the product processes a test session ran, kept in one folder, and the check
that none of the secrets the tests typed appears in them (issue 18: "never a PIN, code,
password or full SMS body in any log").

`tests/conftest.py` names the session's folder (build/test-logs/<time>-<pid>/) in
ANSHIN_TEST_LOG_DIR before any test runs; without it (the benchmarks, `./lab up`) nothing here
does anything. The app (`labkit.appproc.AppProcess`) hard-links each log it writes into the
folder, so a log a test moves or deletes afterwards is still read; the portal's dev server
(`labkit.portal_dev`, a thread of the test process) adds a handler writing the product's
records there. The tests' helpers note the secrets they used as they go (`note_secret`: the
2FA codes read from the lab SMS outbox, the SMS bodies, account passwords); the PINs are the
tests' literals (`TEST_PINS`). At the end of the session `tests/conftest.py` runs `leaks()`
over the folder and fails the run on a finding.

Matching: a password or an SMS body is distinctive, so any occurrence counts. PINs and 2FA
codes are 4 and 6 digits, which also occur inside timestamps (19:48:26), call ids
(1764454826.12), durations and account ids, so a digit string counts only where a log would
give it away: right after a word that names it (`pin=4826`, `code: 123456`, `digits '4826#'`,
`DTMF 4`). A leak that writes the number with no such word before it is not caught; the
per-flow test (tests/integration/test_observability.py) checks its own flows' lines for the
bare digits too.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ENV = "ANSHIN_TEST_LOG_DIR"
SECRETS_FILE = "secrets.jsonl"
PORTAL_LOG = "portal.log"

#: the voicemail PINs the tests type (literals in tests/, labkit.stack's demo PIN)
TEST_PINS = ("4826", "3911", "7391", "6157", "7733", "3917")
#: passwords that appear in the lab and the tests
TEST_PASSWORDS = ("anshin-demo", "correct-horse-battery")

# Words after which a digit string is a secret given away. Only separators may stand between
# the word and the digits ("pin=4826", "pin: 4826", "digits '4826#'"), so that a line like
# "2FA code sent account=4826" (an account id) is not a finding.
_LABEL = (r"(?:pin|pins|code|codes|passcode|password|digits?|dtmf|entered|collected|typed"
          r"|暗証番号|認証番号)")
_SEPARATOR = r"[^0-9A-Za-z\n]{0,6}"
#: a PIN given away whatever its value, and a DTMF key logged one by one
GENERIC = (re.compile(rf"(?i)\bpin{_SEPARATOR}(?<![0-9])[0-9]{{4,8}}(?![0-9])"),
           re.compile(r"DTMF\W*[0-9]"))


def session_dir() -> Path | None:
    value = os.environ.get(ENV)
    return Path(value) if value else None


def keep(log: Path, kind: str) -> None:
    """Keep `log` (a product process's log file, already created) in the session's folder,
    as a hard link: the process goes on writing the same file, whatever becomes of its path."""
    folder = session_dir()
    if folder is None or not log.exists():
        return
    folder.mkdir(parents=True, exist_ok=True)
    st = log.stat()
    kept = {(p.stat().st_dev, p.stat().st_ino) for p in folder.glob("*.log")}
    if (st.st_dev, st.st_ino) in kept:  # the same file, appended to by a restart
        return
    n = len(list(folder.glob(f"{kind}-*.log"))) + 1
    try:
        os.link(log, folder / f"{kind}-{n}.log")
    except OSError:  # another file system: a copy at this moment is better than nothing
        (folder / f"{kind}-{n}.log").write_bytes(log.read_bytes())


def keep_portal_records() -> None:
    """Write the records of the product's loggers in this process (the portal's dev server
    runs in a thread here) to the session's portal log, at DEBUG unless a level was chosen.
    Once per process; a no-op without a session folder."""
    folder = session_dir()
    product = [logging.getLogger(name) for name in ("portal", "callflow")]
    if folder is None or any(getattr(h, "anshin_session", False)
                             for h in product[0].handlers):
        return
    folder.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(folder / PORTAL_LOG, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    handler.anshin_session = True  # type: ignore[attr-defined]
    for logger in product:
        logger.addHandler(handler)
        if logger.level == logging.NOTSET:
            logger.setLevel(logging.DEBUG)


def note_secret(value: str, kind: str) -> None:
    """Record a secret a test used (kind "number": a PIN or code, matched in context;
    "text": a password or an SMS body, matched anywhere)."""
    folder = session_dir()
    if folder is None or not value:
        return
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / SECRETS_FILE, "a", encoding="utf-8") as f:
        f.write(json.dumps({"kind": kind, "value": value}, ensure_ascii=False) + "\n")


@dataclass(frozen=True)
class Secrets:
    numbers: frozenset[str]
    texts: frozenset[str]


def secrets_used(folder: Path) -> Secrets:
    numbers, texts = set(TEST_PINS), set(TEST_PASSWORDS)
    path = folder / SECRETS_FILE
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            entry = json.loads(line)
            (numbers if entry["kind"] == "number" else texts).add(str(entry["value"]))
    return Secrets(frozenset(numbers), frozenset(texts))


@dataclass(frozen=True)
class Finding:
    log: str  # file name in the session folder
    line_no: int
    what: str  # which secret (masked) or pattern

    def __str__(self) -> str:
        return f"{self.log}:{self.line_no}: {self.what}"


def _mask(secret: str) -> str:
    return secret[:2] + "…" if len(secret) > 6 else secret[:1] + "…"


def leaks_in_line(line: str, secrets: Secrets) -> list[str]:
    """What of `secrets` (and the generic patterns) `line` gives away; [] if nothing."""
    found = [f"text {_mask(t)}" for t in secrets.texts if t in line]
    if any(ch.isdigit() for ch in line):
        for number in secrets.numbers:
            if number in line and re.search(
                    rf"(?i){_LABEL}{_SEPARATOR}(?<![0-9]){re.escape(number)}(?![0-9])", line):
                found.append(f"number {_mask(number)} after a word naming it")
        found += [f"pattern {p.pattern}" for p in GENERIC if p.search(line)]
    return found


def leaks(folder: Path) -> Iterator[Finding]:
    """Every line of every log in `folder` that gives a secret away."""
    secrets = secrets_used(folder)
    for log in sorted(folder.glob("*.log")):
        with open(log, encoding="utf-8", errors="replace") as f:
            for n, line in enumerate(f, 1):
                for what in leaks_in_line(line, secrets):
                    yield Finding(log.name, n, what)


def logs_read(folder: Path) -> list[tuple[str, int]]:
    """(log, size in bytes) of what `leaks` reads: the report says what was checked."""
    return [(p.name, p.stat().st_size) for p in sorted(folder.glob("*.log"))]
