"""ANSHIN_PROFILE: a production start refuses the secrets this repository ships, a missing
session secret, a database login without a password and non-Secure cookies, naming each
variable on one line; the lab keeps its defaults and says so explicitly."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from callflow.config import Settings
from callflow.deployment import (
    LAB_DATABASE_URL,
    SHIPPED_SECRETS,
    app_problems,
    database_url_problems,
    secret_problems,
)
from labkit.asterisk import AsteriskContainer
from labkit.lab import app_env
from labkit.render import LabConfig, LabPorts
from labkit.stack import DEMO_PASSWORD
from portal.config import PortalSettings
from portal.deployment import portal_problems

REPO = Path(__file__).resolve().parents[2]
GOOD_DB = "postgresql://anshin:Zq8-long-db-password@db.internal:5432/anshin"
GOOD_SECRET = "7f" * 32
GOOD_GATEWAY = "https://sms.example.jp/send"
LAB_CONFIG = LabConfig(instance="x", ports=LabPorts(sip=1, http=2, rtp_start=3, rtp_end=4,
                                                    carrier=5))


def variables(problems: object) -> list[str]:
    assert isinstance(problems, list)
    return [p.variable for p in problems]


def test_the_labs_secrets_are_known_as_shipped() -> None:
    assert LAB_CONFIG.ari_password in SHIPPED_SECRETS
    assert LAB_CONFIG.phone_password in SHIPPED_SECRETS
    assert DEMO_PASSWORD in SHIPPED_SECRETS
    assert Settings.model_fields["ari_password"].default in SHIPPED_SECRETS


@pytest.mark.parametrize(("value", "problem"), [
    (None, "not set"), ("", "not set"), ("anshin-ari-secret", "shipped"),
    ("lab-phone-secret", "shipped"), ("short", "shorter than 8"), ("a-long-own-secret", None)])
def test_secret_rule(value: str | None, problem: str | None) -> None:
    found = secret_problems("ANSHIN_X", value, min_length=8)
    if problem is None:
        assert found == []
    else:
        (p,) = found
        assert p.variable == "ANSHIN_X" and problem in p.reason
        assert "\n" not in str(p) and str(p).startswith("ANSHIN_X: ")


@pytest.mark.parametrize(("url", "environ", "ok"), [
    (LAB_DATABASE_URL, {}, False),  # the lab's trust login
    ("postgresql://anshin@db/anshin", {}, False),
    ("host=db user=anshin dbname=anshin", {}, False),
    ("postgresql://anshin:anshin@db/anshin", {}, False),  # a shipped/guessable password
    ("postgresql://anshin@db/anshin", {"PGPASSWORD": "x" * 20}, True),
    ("postgresql://anshin@db/anshin?passfile=/etc/anshin/pgpass", {}, True),
    ("postgresql://anshin@db/anshin?sslcert=/etc/anshin/client.crt", {}, True),
    (GOOD_DB, {}, True),
    ("not a url", {}, False),
])
def test_database_login_needs_a_credential(url: str, environ: dict[str, str],
                                           ok: bool) -> None:
    found = database_url_problems("ANSHIN_DATABASE_URL", url, environ)
    assert (found == []) is ok, found
    assert all(p.variable == "ANSHIN_DATABASE_URL" for p in found)


def test_app_production_refuses_shipped_defaults() -> None:
    found = app_problems(Settings(profile="production"), {})
    assert variables(found) == ["ANSHIN_ARI_PASSWORD", "ANSHIN_DATABASE_URL"]
    with_lab_phones = Settings(profile="production", ari_password="own-ari-password-123",
                               database_url=GOOD_DB, lab_phones="09000000001")
    assert variables(app_problems(with_lab_phones, {})) == ["ANSHIN_LAB_PHONES"]
    assert app_problems(Settings(profile="production", ari_password="own-ari-password-123",
                                 database_url=GOOD_DB), {}) == []


def test_app_lab_keeps_its_defaults() -> None:
    assert app_problems(Settings(profile="lab", lab_phones="09000000001"), {}) == []


def test_production_is_the_default_profile() -> None:
    assert Settings.model_fields["profile"].default == "production"
    assert PortalSettings.model_fields["profile"].default == "production"


def test_portal_production_refuses_shipped_defaults() -> None:
    found = portal_problems(PortalSettings(profile="production"), {})
    assert variables(found) == ["ANSHIN_PORTAL_SECRET", "ANSHIN_DATABASE_URL",
                                "ANSHIN_PORTAL_COOKIE_SECURE", "ANSHIN_PORTAL_SMS_GATEWAY_URL"]
    assert "not set" in found[0].reason  # the per-process random default does not count
    short = PortalSettings(profile="production", portal_secret="test-secret",
                           portal_cookie_secure=True, database_url=GOOD_DB,
                           portal_sms_gateway_url=GOOD_GATEWAY)
    assert variables(portal_problems(short, {})) == ["ANSHIN_PORTAL_SECRET"]
    good = PortalSettings(profile="production", portal_secret=GOOD_SECRET,
                          portal_cookie_secure=True, database_url=GOOD_DB,
                          portal_sms_gateway_url=GOOD_GATEWAY)
    assert portal_problems(good, {}) == []
    assert portal_problems(PortalSettings(profile="lab"), {}) == []


def test_portal_production_refuses_the_lab_pages_and_the_lab_sms_inbox() -> None:
    """/lab/sms shows every 2FA code without login; the lab provider sends nothing."""
    lab_pages = PortalSettings(profile="production", portal_secret=GOOD_SECRET,
                               portal_cookie_secure=True, database_url=GOOD_DB,
                               portal_sms_gateway_url=GOOD_GATEWAY, portal_lab_pages=True)
    assert variables(portal_problems(lab_pages, {})) == ["ANSHIN_PORTAL_LAB_PAGES"]
    lab_inbox = PortalSettings(profile="production", portal_secret=GOOD_SECRET,
                               portal_cookie_secure=True, database_url=GOOD_DB,
                               portal_sms_provider="lab")
    assert variables(portal_problems(lab_inbox, {})) == ["ANSHIN_PORTAL_SMS_PROVIDER"]
    assert portal_problems(PortalSettings(profile="lab", portal_lab_pages=True,
                                          portal_sms_provider="lab"), {}) == []


def test_the_lab_sets_the_lab_profile(tmp_path: Path) -> None:
    container = AsteriskContainer(image="x", config=LAB_CONFIG, prompts_dir=tmp_path,
                                  run_dir=tmp_path)
    assert app_env(container, LAB_DATABASE_URL)["ANSHIN_PROFILE"] == "lab"
    compose = (REPO / "docker/compose.yml").read_text()
    # callflow (two instances), transcriber, portal
    assert compose.count("ANSHIN_PROFILE: lab") == 4


def start(module: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("ANSHIN_", "PG"))}
    return subprocess.run([sys.executable, "-m", module], env={**clean, **env}, cwd=REPO,
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(("module", "names"), [
    ("callflow", ["ANSHIN_ARI_PASSWORD", "ANSHIN_DATABASE_URL"]),
    ("portal", ["ANSHIN_PORTAL_SECRET", "ANSHIN_DATABASE_URL", "ANSHIN_PORTAL_COOKIE_SECURE",
                "ANSHIN_PORTAL_SMS_GATEWAY_URL"]),
])
def test_production_start_with_defaults_exits_naming_each_variable(
        module: str, names: list[str]) -> None:
    for env in ({}, {"ANSHIN_PROFILE": "production"}):
        result = start(module, **env)
        assert result.returncode == 2, result
        assert "Traceback" not in result.stderr
        problem_lines = [line.strip() for line in result.stderr.splitlines()
                         if line.startswith("  ")]
        assert [line.split(":", 1)[0] for line in problem_lines] == names, result.stderr


def test_a_misspelt_profile_is_one_line_not_a_traceback() -> None:
    result = start("callflow", ANSHIN_PROFILE="prod")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "  ANSHIN_PROFILE: " in result.stderr
