"""The shipped monitoring files (docker/monitoring) speak of metrics the services export:
every metric an alert rule or a dashboard panel queries exists in the app's or the portal's
registry, and the alerts issue 18 asks for are there; Prometheus' own promtool (Debian's
prometheus package, which ./lab installs) accepts the rules."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import yaml
from prometheus_client.parser import text_string_to_metric_families

from callflow.metrics import DialplanCounters, LiveFigures, Metrics
from portal.metrics import PortalMetrics

MONITORING = Path(__file__).resolve().parents[2] / "docker" / "monitoring"
RULES = MONITORING / "anshin.rules.yml"
SCRAPE = MONITORING / "prometheus.yml"
DASHBOARD = MONITORING / "grafana" / "anshin-dashboard.json"
SUFFIXES = ("_bucket", "_count", "_sum", "_total", "_created")


def exported() -> set[str]:
    """Sample names both services export (with every optional family present)."""
    app = Metrics()
    app.watch_live(LiveFigures(lambda: 0, lambda: True, lambda: 1, lambda: 0))
    app.dialplan = DialplanCounters(0, 0)
    names: set[str] = set()
    for text in (app.prometheus().decode(), PortalMetrics().generate().decode()):
        for family in text_string_to_metric_families(text):
            names.add(family.name)
            names.update(s.name for s in family.samples)
            if family.type == "histogram":  # a labelled one has no sample before its first
                names.update(family.name + s for s in ("_bucket", "_count", "_sum"))
    return names


def used(expr: str) -> set[str]:
    return set(re.findall(r"\banshin_[a-z_]+", expr))


def rules() -> list[dict[str, Any]]:
    doc = yaml.safe_load(RULES.read_text())
    return [rule for group in doc["groups"] for rule in group["rules"]]


def dashboard_exprs() -> list[str]:
    doc = json.loads(DASHBOARD.read_text())
    return [t["expr"] for panel in doc["panels"] for t in panel["targets"]]


def test_alerts_and_panels_query_exported_metrics() -> None:
    names = exported()
    exprs = [str(r["expr"]) for r in rules()] + dashboard_exprs()
    unknown = {m for e in exprs for m in used(e) if m not in names}
    assert not unknown, f"queried but not exported: {sorted(unknown)}"


def test_the_alerts_operators_need_are_defined() -> None:
    by_name = {r["alert"]: str(r["expr"]) for r in rules()}
    assert "anshin_ari_connected == 0" in by_name["AnshinAppDisconnectedFromAri"]
    assert "600" in by_name["AnshinMailOutboxStuck"]  # 10 minutes
    assert "anshin_dialplan_fallback_announcements_total" in \
        by_name["AnshinDialplanFallbackAnnounced"]
    assert "anshin_portal_lockouts_total" in by_name["AnshinPortalLockoutSpike"]
    assert "anshin_ivr_lockouts_active" in by_name["AnshinIvrLockoutSpike"]


def test_scrape_config_names_both_services() -> None:
    doc = yaml.safe_load(SCRAPE.read_text())
    jobs = {job["job_name"]: job for job in doc["scrape_configs"]}
    assert set(jobs) == {"anshin-callflow", "anshin-portal"}
    assert all(job["metrics_path"] == "/metrics" for job in jobs.values())


def test_promtool_accepts_the_rules() -> None:
    out = subprocess.run(["promtool", "check", "rules", str(RULES)], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
