"""The deployment profile (ANSHIN_PROFILE) and what a production start refuses.

`production` (the default) is a real service: a secret the repository ships (the lab's ARI
password, softphone password, demo password …), a missing one, or a PostgreSQL login without
a password would let anyone who has read this repository in. The lab (`./lab up`, the tests,
the benchmarks) sets ANSHIN_PROFILE=lab explicitly and keeps its well-known defaults.

Pure checks: each problem names the environment variable to set, one line each; the process
entry points (`python -m callflow`, `python -m portal`) print them and exit.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, NoReturn

import psycopg
import psycopg.conninfo
from pydantic import ValidationError

from callflow.migrate import schema_state

if TYPE_CHECKING:
    from callflow.config import Settings

__all__ = ["LAB_DATABASE_URL", "SHIPPED_SECRETS", "Problem", "Profile", "app_problems",
           "database_url_problems", "invalid_settings", "refuse_to_start",
           "refuse_unless_schema_current", "secret_problems"]

Profile = Literal["lab", "production"]

# The lab's database (labkit/stack.py, docker/compose.yml): PostgreSQL on 127.0.0.1:5433 that
# trusts the `postgres` role. The default of every component, so that the operator CLI and a
# bare `python -m …` reach `./lab up`'s database; production refuses it (no password).
LAB_DATABASE_URL = "postgresql://postgres@127.0.0.1:5433/anshin"

# Secrets that appear in this repository (lab defaults, README, tests): never valid in
# production. tests/unit/test_deployment.py keeps the list in step with labkit's defaults.
SHIPPED_SECRETS = frozenset({
    "anshin-ari-secret",  # ARI password (callflow/config.py, labkit/render.py)
    "lab-phone-secret",  # the lab softphones' SIP password (labkit/render.py)
    "anshin-demo",  # the demo account's portal password (labkit/stack.py)
    "test-secret",  # the portal tests' session secret
    "anshin", "postgres", "password", "secret", "changeme",
})

# How long a start waits for the database to answer the schema check (it may be starting
# at the same time, e.g. after a power cut) before refusing.
SCHEMA_CHECK_WAIT_S = 30.0

# Connection parameters other than a password that make PostgreSQL authenticate the app.
_CREDENTIAL_PARAMS = ("password", "passfile", "sslcert")
_CREDENTIAL_ENV = ("PGPASSWORD", "PGPASSFILE")


@dataclass(frozen=True)
class Problem:
    variable: str  # the environment variable to set, e.g. "ANSHIN_ARI_PASSWORD"
    reason: str

    def __str__(self) -> str:
        return f"{self.variable}: {self.reason}"


def secret_problems(variable: str, value: str | None, *, min_length: int = 0) -> list[Problem]:
    """A secret that is missing, shipped with the repository, or too short to guess."""
    if not value:
        return [Problem(variable, "not set (required in production)")]
    if value in SHIPPED_SECRETS:
        return [Problem(variable, "is a default shipped with the repository; set your own")]
    if len(value) < min_length:
        return [Problem(variable, f"shorter than {min_length} characters")]
    return []


def database_url_problems(variable: str, url: str,
                          environ: Mapping[str, str] | None = None) -> list[Problem]:
    """A PostgreSQL URL with which the server would let the app in without a password (the
    lab's `trust` login). A password in the URL, a passfile/sslcert parameter or
    PGPASSWORD/PGPASSFILE in the environment count as a credential."""
    try:
        params = psycopg.conninfo.conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return [Problem(variable, "is not a valid PostgreSQL URL")]
    env = environ if environ is not None else {}
    password = params.get("password")
    if isinstance(password, str) and password in SHIPPED_SECRETS:
        return [Problem(variable, "has a password shipped with the repository; set your own")]
    if any(params.get(p) for p in _CREDENTIAL_PARAMS) or any(env.get(v) for v in _CREDENTIAL_ENV):
        return []
    return [Problem(variable, "has no password: PostgreSQL must not trust connections (the "
                              "lab's login); use postgresql://USER:PASSWORD@HOST:PORT/DB")]


def app_problems(settings: Settings, environ: Mapping[str, str]) -> list[Problem]:
    """What the call-control app refuses to start with in production; [] in the lab."""
    if settings.profile == "lab":
        return []
    problems = [
        *secret_problems("ANSHIN_ARI_PASSWORD", settings.ari_password),
        *database_url_problems("ANSHIN_DATABASE_URL", settings.database_url, environ),
    ]
    if settings.lab_phones:
        problems.append(Problem(
            "ANSHIN_LAB_PHONES", "lab softphones (SIP password shipped with the repository) "
                                 "are for the lab only; leave it empty"))
    return problems


def invalid_settings(program: str, exc: ValidationError) -> NoReturn:
    """A setting that does not parse (e.g. ANSHIN_PROFILE=prod): one line per variable."""
    print(f"{program}: invalid settings:", file=sys.stderr)
    for error in exc.errors():
        name = "ANSHIN_" + "_".join(str(part) for part in error["loc"]).upper()
        print(f"  {name}: {error['msg']}", file=sys.stderr)
    sys.exit(2)


def refuse_unless_schema_current(program: str, database_url: str,
                                 wait_s: float = SCHEMA_CHECK_WAIT_S) -> None:
    """Exit with status 2 and one line on stderr unless the database has exactly the
    migrations this release ships (pending ones: run `upgrade`; unknown ones: a newer
    release migrated it). Every profile: the lab migrates before it starts anything. A
    database that does not answer is waited for (it may be starting beside us) up to
    `wait_s`, then refused too: nothing could be checked."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            problem = schema_state(database_url).problem()
            break
        except psycopg.OperationalError as exc:
            if time.monotonic() >= deadline:
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else "no answer"
                problem = (f"cannot check the database schema: the database does not answer "
                           f"({first}); check ANSHIN_DATABASE_URL")
                break
            time.sleep(1.0)
    if problem is not None:
        print(f"{program}: refusing to start: {problem}", file=sys.stderr)
        sys.exit(2)


def refuse_to_start(program: str, problems: Iterable[Problem]) -> None:
    """Print one line per problem to stderr and exit with status 2; return if there is none."""
    lines = [str(p) for p in problems]
    if not lines:
        return
    print(f"{program}: refusing to start in the production profile (ANSHIN_PROFILE):",
          file=sys.stderr)
    for line in lines:
        print(f"  {line}", file=sys.stderr)
    print(f"{program}: fix the settings above, or set ANSHIN_PROFILE=lab for a lab "
          "on this machine", file=sys.stderr)
    sys.exit(2)
