"""The production deployment files (docs/deploy.md) as an operator would use them:
docker/compose.prod.yml runs nothing lab-only, every service is health-checked and restarted,
secrets come from the env file; docker/prod.env.example lists every setting a production start
requires and cannot itself be started (its placeholders are refused); the carrier trunk
template keeps the identity settings the product relies on. No daemon, no network."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from unit.test_shipped_config import sections

from callflow.config import Settings
from callflow.deployment import app_problems
from portal.config import PortalSettings
from portal.deployment import portal_problems

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "docker/compose.prod.yml"
EXAMPLE = REPO / "docker/prod.env.example"
TRUNK = REPO / "docker/asterisk/pjsip.prod.conf.example"
DEPLOY_DOC = REPO / "docs/deploy.md"

# Settings the production deployment needs beyond what the start checks refuse to miss:
# where Asterisk, the relay and the SMS gateway are (create_app needs the gateway URL).
ALSO_REQUIRED = {
    "ANSHIN_ARI_URL", "ANSHIN_ARI_USER", "ANSHIN_PSTN_ENDPOINT", "ANSHIN_STATUS_PORT",
    "ANSHIN_STATUS_HOST", "ANSHIN_SMTP_HOST", "ANSHIN_SMTP_PORT", "ANSHIN_MAIL_FROM",
    "ANSHIN_RETRIEVAL_NUMBER", "ANSHIN_PIN_CHANGE_NUMBER", "ANSHIN_PORTAL_HOST",
    "ANSHIN_PORTAL_PORT", "ANSHIN_PORTAL_SMS_PROVIDER", "ANSHIN_PORTAL_SMS_GATEWAY_URL",
}
# Values that must never appear in the production compose file.
SECRET_KEYS = re.compile(r"PASSWORD|SECRET|TOKEN|DATABASE_URL")


def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(data, dict)
    return data


def services() -> dict[str, dict[str, Any]]:
    found = compose()["services"]
    assert isinstance(found, dict)
    return found


def example() -> dict[str, str]:
    values: dict[str, str] = {}
    for line in EXAMPLE.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, sep, value = line.partition("=")
            assert sep and key == key.strip() and re.fullmatch(r"[A-Z][A-Z0-9_]*", key), line
            values[key] = value
    return values


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {str(k): str(v) for k, v in env.items()}


def test_the_same_images_as_the_lab_and_no_lab_only_service() -> None:
    svc = services()
    assert {"postgres", "asterisk", "migrate", "callflow", "portal"} <= set(svc)
    assert not {"mailsink", "demo", "bench"} & set(svc)
    lab = yaml.safe_load((REPO / "docker/compose.yml").read_text())["services"]
    for name in ("postgres", "asterisk", "callflow", "portal"):
        assert svc[name]["image"] == lab[name]["image"], name
    text = json.dumps(compose())  # what compose reads, comments aside
    for lab_only in ("labkit", "mailsink", "ANSHIN_PORTAL_LAB_PAGES", "ANSHIN_LAB_PHONES",
                     "demo", "bench", "/lab/"):
        assert lab_only not in text, lab_only
    for name, service in svc.items():
        env = environment(service)
        assert env.get("ANSHIN_PROFILE", "production") == "production", name
        assert env.get("ANSHIN_PORTAL_SMS_PROVIDER", "http") != "lab", name
        assert service.get("network_mode") == "host", name  # binds where settings say


def test_every_service_has_a_healthcheck_and_a_restart_policy() -> None:
    for name, service in services().items():
        check = service.get("healthcheck")
        assert isinstance(check, dict) and check.get("test") and not check.get("disable"), name
        assert "restart" in service, name
        one_shot = name == "migrate"
        assert service["restart"] == ("no" if one_shot else "unless-stopped"), name
    checks = {name: " ".join(s["healthcheck"]["test"]) for name, s in services().items()}
    assert "/ready" in checks["callflow"] and "ANSHIN_STATUS_PORT" in checks["callflow"]
    assert "/health" in checks["portal"] and "ANSHIN_PORTAL_PORT" in checks["portal"]
    assert "pg_isready" in checks["postgres"]
    assert "asterisk -rx" in checks["asterisk"]


def test_migrations_run_once_before_the_app_and_the_portal() -> None:
    svc = services()
    assert svc["migrate"]["command"] == ["python", "-m", "callflow.migrate", "upgrade"]
    assert svc["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in ("callflow", "callflow-b", "portal"):
        assert svc[name]["depends_on"]["migrate"]["condition"] == \
            "service_completed_successfully", name


def test_two_app_instances_with_their_own_names_and_endpoints() -> None:
    """docs/operations.md "Two instances per Asterisk": each instance owns half of the
    application names, has its own operator endpoint, and is given longer than its drain to
    stop (docker stop sends SIGTERM)."""
    svc = services()
    base = example()
    instances = [svc["callflow"], svc["callflow-b"]]
    settings = []
    for service in instances:
        assert service["command"] == ["python", "-m", "callflow"]
        assert service["image"] == svc["callflow"]["image"]
        assert "media:/var/lib/anshin/media" in service["volumes"]
        assert "/ready" in " ".join(service["healthcheck"]["test"])
        env = environment(service)
        assert env["ANSHIN_PROFILE"] == "production"
        # ${STATUS_PORT_B:-8090} as compose reads it without the variable set
        port = re.sub(r"\$\{[A-Z_]+:-(\d+)\}", r"\1", env.get("ANSHIN_STATUS_PORT", ""))
        values = {**base, **env, "ANSHIN_STATUS_PORT": port or base["ANSHIN_STATUS_PORT"]}
        settings.append(Settings(ari_app_spread=int(values["ANSHIN_ARI_APP_SPREAD"]),
                                 ari_app_instances=int(values["ANSHIN_ARI_APP_INSTANCES"]),
                                 ari_app_instance=int(values["ANSHIN_ARI_APP_INSTANCE"]),
                                 status_port=int(values["ANSHIN_STATUS_PORT"])))
        grace = str(service["stop_grace_period"])
        assert grace.endswith("s") and float(grace[:-1]) > settings[-1].drain_seconds
    a, b = settings
    assert a.ari_app_instances == b.ari_app_instances == 2
    assert {a.ari_app_instance, b.ari_app_instance} == {0, 1}
    assert a.ari_apps and b.ari_apps and not set(a.ari_apps) & set(b.ari_apps)
    assert a.status_port != b.status_port
    scrape = (REPO / "docker/monitoring/prometheus.yml").read_text()
    assert f"callflow:{a.status_port}" in scrape and f"callflow-b:{b.status_port}" in scrape
    assert "callflow-b" in DEPLOY_DOC.read_text()


def test_data_lives_in_volumes() -> None:
    svc = services()
    volumes = compose()["volumes"]
    mounts = {name: [str(v) for v in s.get("volumes", [])] for name, s in svc.items()}
    assert "pgdata:/data" in mounts["postgres"]
    assert "recordings:/var/spool/asterisk/recording" in mounts["asterisk"]
    assert "media:/var/lib/anshin/media" in mounts["asterisk"]
    assert "media:/var/lib/anshin/media" in mounts["callflow"]
    assert {"pgdata", "recordings", "media"} <= set(volumes)


def test_a_standby_is_an_optional_profile_streaming_from_the_primary() -> None:
    svc = services()
    standby = svc["postgres-standby"]
    assert standby["profiles"] == ["standby"]
    assert standby["image"] == svc["postgres"]["image"]
    env = environment(standby)
    assert env["PG_ROLE"] == "standby" and "PG_PRIMARY_HOST" in env
    assert "pgdata:/data" in standby["volumes"]  # its own machine's volume
    # the primary can let the standby's machine in; the entrypoint knows both settings
    assert {"PG_LISTEN", "PG_ALLOW_FROM"} <= set(environment(svc["postgres"]))
    entrypoint = (REPO / "docker/postgres/entrypoint.sh").read_text()
    for name in ("PG_ROLE", "PG_PRIMARY_HOST", "PG_ALLOW_FROM", "pg_basebackup", " -R "):
        assert name in entrypoint, name


def test_monitoring_is_an_optional_profile_mounting_docker_monitoring() -> None:
    svc = services()
    for name in ("prometheus", "grafana"):
        assert svc[name]["profiles"] == ["monitoring"], name
    mounts = " ".join(svc["prometheus"]["volumes"] + svc["grafana"]["volumes"])
    for path in ("monitoring/prometheus.yml", "monitoring/anshin.rules.yml",
                 "monitoring/grafana/anshin-dashboard.json",
                 "monitoring/grafana/provisioning/datasources.yml"):
        assert path in mounts, path
        assert (REPO / "docker" / path).is_file(), path


def test_the_edge_is_an_optional_profile_on_a_rendered_folder() -> None:
    """docs/multinode.md: Kamailio (docker/edge) on its own host, started on the folder the
    operator rendered edge/kamailio.cfg into, mounted at the same path (the rendered file names
    its control socket and dispatcher list by it); healthy when its control socket answers."""
    edge = services()["edge"]
    assert edge["profiles"] == ["edge"]
    assert edge["image"] == "${EDGE_IMAGE:-anshin-edge}"
    folder = "${EDGE_CONF_DIR:-/etc/anshin/edge}"
    assert edge["command"] == [folder] and edge["volumes"] == [f"{folder}:{folder}"]
    assert edge["healthcheck"]["test"][-3:] == ["-s", f"unix:{folder}/ctl.sock", "core.uptime"]
    assert "environment" not in edge and "env_file" not in edge  # no app settings, no secrets
    assert (REPO / "docker/edge/Dockerfile").is_file()


def test_secrets_come_from_the_env_file() -> None:
    for name, service in services().items():
        for key, value in environment(service).items():
            if SECRET_KEYS.search(key):
                assert re.fullmatch(r"\$\{[A-Z_]+(:?\?[^}]*)?\}", value), (name, key, value)
    app_services = [s for s in services().values() if s["image"] == "${APP_IMAGE:-anshin-app}"]
    assert len(app_services) == 4  # migrate, callflow, callflow-b, portal
    for service in app_services:
        assert service["env_file"] == "${PROD_ENV_FILE:-prod.env}"


def required_by_the_start_checks(monkeypatch: pytest.MonkeyPatch) -> set[str]:
    for key in list(os.environ):
        if key.startswith("ANSHIN_"):
            monkeypatch.delenv(key)
    app = app_problems(Settings(), {})
    portal = portal_problems(PortalSettings(), {})
    return {p.variable for p in [*app, *portal]}


def test_the_example_lists_every_required_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    required = required_by_the_start_checks(monkeypatch)
    assert required >= {"ANSHIN_ARI_PASSWORD", "ANSHIN_DATABASE_URL", "ANSHIN_PORTAL_SECRET",
                         "ANSHIN_PORTAL_COOKIE_SECURE"}
    values = example()
    assert required | ALSO_REQUIRED <= set(values)
    known = {f"ANSHIN_{name.upper()}" for name in
             [*Settings.model_fields, *PortalSettings.model_fields]}
    unknown = {k for k in values if k.startswith("ANSHIN_")} - known
    assert unknown == set()  # a misspelt name would be silently ignored
    assert values["ANSHIN_PROFILE"] == "production"
    assert values["ANSHIN_LAB_PHONES"] == ""
    assert values["ANSHIN_PORTAL_SMS_PROVIDER"] == "http"
    # every ${VAR} the compose file needs is in the example too
    wanted = set(re.findall(r"\$\{([A-Z_]+)", COMPOSE.read_text())) - {"PROD_ENV_FILE"}
    assert wanted <= set(values)


def test_the_example_cannot_be_started_as_it_is(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith("ANSHIN_"):
            monkeypatch.delenv(key)
    values = example()
    for key, value in values.items():
        if key.startswith("ANSHIN_"):
            monkeypatch.setenv(key, value)
    app = {p.variable for p in app_problems(Settings(), values)}
    portal = {p.variable for p in portal_problems(PortalSettings(), values)}
    # each secret placeholder on its own is refused, not just one of them
    assert {"ANSHIN_ARI_PASSWORD", "ANSHIN_DATABASE_URL"} <= app
    assert {"ANSHIN_PORTAL_SECRET", "ANSHIN_DATABASE_URL"} <= portal
    assert "ANSHIN_PORTAL_COOKIE_SECURE" not in portal  # the example keeps cookies Secure
    # the compose-only secrets carry the same refused placeholder
    assert values["POSTGRES_PASSWORD"] == values["GRAFANA_ADMIN_PASSWORD"] == "changeme"


def test_docker_compose_accepts_the_file(tmp_path: Path) -> None:
    if shutil.which("docker-compose") is None:
        pytest.skip("docker-compose is not installed (./lab installs it)")
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("ANSHIN_", "PG"))},
           "PROD_ENV_FILE": "prod.env.example"}
    for profile in ([], ["--profile", "monitoring"], ["--profile", "standby"],
                    ["--profile", "edge"]):
        result = subprocess.run(
            ["docker-compose", "-p", "anshin-prod-check", "-f", str(COMPOSE), "--env-file",
             str(EXAMPLE), *profile, "config", "-q"],
            env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr


def test_the_carrier_trunk_template_keeps_the_identity_settings() -> None:
    pjsip = sections(TRUNK.read_text())
    carrier = pjsip["carrier/endpoint"]
    expected = {
        "context": "from-pstn", "allow": "ulaw,alaw", "disallow": "all",
        "dtmf_mode": "rfc4733", "direct_media": "no", "rtp_symmetric": "yes",
        "force_rport": "yes", "rewrite_contact": "yes", "send_pai": "no", "send_rpid": "no",
        "send_connected_line": "no", "trust_connected_line": "no",
        "trust_id_outbound": "no", "timers": "yes",
    }
    assert {k: carrier.get(k) for k in expected} == expected
    assert not carrier.get("auth")  # the carrier never authenticates to us
    assert pjsip["carrier/identify"]["endpoint"] == "carrier"
    registration = pjsip["carrier-reg/registration"]
    assert registration["outbound_auth"] == "carrier-auth"
    assert registration["auth_rejection_permanent"] == "no"
    assert registration["line"] == "yes" and registration["endpoint"] == "carrier"
    # an endpoint without inbound auth must not be reachable by naming it in From
    order = pjsip["global/global"]["endpoint_identifier_order"].split(",")
    assert "username" not in order and "anonymous" not in order
    assert not any(key.endswith("/endpoint") and key != "carrier/endpoint" for key in pjsip)
    # the product dials PJSIP/{number}@carrier unless told otherwise
    assert Settings.model_fields["pstn_endpoint"].default == "PJSIP/{number}@carrier"


def test_the_deploy_page_names_only_real_settings() -> None:
    text = DEPLOY_DOC.read_text()
    known = {f"ANSHIN_{name.upper()}" for name in
             [*Settings.model_fields, *PortalSettings.model_fields]}
    # ANSHIN_BACKUP_COMPRESS is ops/backup.sh's; the lab's port variables are labkit's
    others = {"ANSHIN_BACKUP_COMPRESS"}
    named = set(re.findall(r"\bANSHIN_[A-Z0-9_]*[A-Z0-9](?!_\*)\b", text))
    assert named - known - others == set()
    prefixes = set(re.findall(r"\b(ANSHIN_[A-Z0-9_]+_)\*", text))  # ANSHIN_SMTP_*
    assert all(any(k.startswith(p) for k in known) for p in prefixes), prefixes
    for path in re.findall(r"\]\(((?:\.\./)?[\w./-]+)\)", text):
        assert (DEPLOY_DOC.parent / path).exists(), path
