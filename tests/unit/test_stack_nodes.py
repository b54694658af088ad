"""`./lab up --nodes N` (labkit/stacknodes.py, docs/multinode.md): what `labkit.stack prepare
--nodes 3` writes — the compose override (the edge, three nodes and their apps, the one-node
services off), each node's rendered Asterisk configuration and the edge's — and that
docker-compose accepts the override on top of docker/compose.yml. Nothing is started."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from labkit.stack import prepare, stack_ports
from labkit.stacknodes import OVERRIDE, NodesLayout, StackPorts, plan_nodes

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for key in list(os.environ):
        if key.startswith("ANSHIN_") and key.endswith(("_PORT", "_START", "_END")):
            monkeypatch.delenv(key)
    prepare(tmp_path, nodes=3)
    return tmp_path


def override(stack: Path) -> dict[str, Any]:
    data = json.loads((stack / OVERRIDE).read_text())
    assert isinstance(data, dict)
    return data


def test_the_edge_relays_the_media(stack: Path) -> None:
    args = (stack / "edge" / "rtpengine.args").read_text().splitlines()
    assert "--listen-ng=127.0.0.1:2223" in args
    assert "--port-min=32000" in args and "--port-max=32999" in args


def test_three_nodes_each_with_its_app_behind_the_edge(stack: Path) -> None:
    services = override(stack)["services"]
    assert set(services) == {"edge", "node-a", "node-a-app", "node-b", "node-b-app", "node-c",
                             "node-c-app", "asterisk", "callflow", "callflow-b"}
    # the one-node Asterisk and its two instances are off (a profile ./lab never asks for)
    for name in ("asterisk", "callflow", "callflow-b"):
        assert services[name] == {"profiles": ["one-node"]}
    for name, service in services.items():
        if name not in ("asterisk", "callflow", "callflow-b"):
            assert service["network_mode"] == "host", name
            assert service["restart"] == "unless-stopped", name
            assert service["container_name"] == f"anshin-{name}", name
    edge = services["edge"]
    assert edge["image"] == "${EDGE_IMAGE:-anshin-edge}"
    assert edge["command"] == [str(stack / "edge")]
    assert edge["volumes"] == [f"{stack / 'edge'}:{stack / 'edge'}"]
    for i, name in enumerate(("node-a", "node-b", "node-c")):
        host = f"127.0.0.{i + 2}"
        node, app = services[name], services[f"{name}-app"]
        here = stack / "nodes" / name
        assert node["image"] == "${ASTERISK_IMAGE:-anshin-asterisk}"
        assert f"{here}/etc-asterisk:/etc/asterisk:ro" in node["volumes"]
        media = f"{here}/media:/var/lib/anshin/media"
        assert media in node["volumes"] and app["volumes"] == [media]
        assert app["image"] == "${APP_IMAGE:-anshin-app}"
        assert app["depends_on"] == ["postgres", name]
        env = app["environment"]
        assert env["ANSHIN_ARI_URL"] == f"http://{host}:8088/ari"
        assert env["ANSHIN_STATUS_PORT"] == str(8089 + i)
        assert (env["ANSHIN_ARI_APP_INSTANCES"], env["ANSHIN_ARI_APP_INSTANCE"]) == ("1", "0")
        assert env["ANSHIN_DATABASE_URL"] == "postgresql://postgres@127.0.0.1:5433/anshin"
        assert env["ANSHIN_PROFILE"] == "lab" and env["ANSHIN_SMTP_PORT"] == "2525"
        assert env["ANSHIN_LAB_PHONES"] == "09000000001,09000000002"


def conf(path: Path) -> str:
    return path.read_text()


def test_each_node_binds_its_own_address_with_the_edge_as_its_only_peer(stack: Path) -> None:
    ranges = []
    for i, name in enumerate(("node-a", "node-b", "node-c")):
        host = f"127.0.0.{i + 2}"
        etc = stack / "nodes" / name / "etc-asterisk"
        pjsip, http = conf(etc / "pjsip.conf"), conf(etc / "http.conf")
        assert f"bind = {host}:5070" in pjsip and f"bind = {host}:5071" in pjsip
        assert f"bindaddr = {host}" in http and "bindport = 8088" in http
        assert "127.0.0.1:5070" in pjsip  # the carrier trunk is the edge
        rtp = conf(etc / "rtp.conf")
        start = int(re.search(r"rtpstart = (\d+)", rtp).group(1))  # type: ignore[union-attr]
        end = int(re.search(r"rtpend = (\d+)", rtp).group(1))  # type: ignore[union-attr]
        ranges.append((start, end))
    # RTP may bind every address: the three slices of 31000-31999 must not overlap
    assert ranges == [(31000, 31331), (31332, 31663), (31664, 31995)]
    edge = stack / "edge"
    cfg = conf(edge / "kamailio.cfg")
    assert "listen=udp:127.0.0.1:5070" in cfg
    assert str(edge / "ctl.sock") in cfg and str(edge / "dispatcher.list") in cfg
    assert "@@" not in cfg.replace("sip:edge@127.0.0.1", "")
    listed = re.findall(r"^1 (\S+) ", conf(edge / "dispatcher.list"), re.M)
    assert listed == ["sip:127.0.0.2:5070", "sip:127.0.0.3:5070", "sip:127.0.0.4:5070"]


def test_layout_is_read_back_and_the_one_node_default_forgets_it(stack: Path) -> None:
    layout = NodesLayout.load(stack)
    assert layout is not None and [n.name for n in layout.nodes] == ["node-a", "node-b",
                                                                      "node-c"]
    key = (stack / "edge" / "topoh.key").read_text()
    prepare(stack, nodes=3)
    assert (stack / "edge" / "topoh.key").read_text() == key  # the edge keeps its key
    prepare(stack)  # ./lab up: the one-node stack exactly as before
    assert not (stack / OVERRIDE).exists() and NodesLayout.load(stack) is None
    assert (stack / "etc-asterisk" / "pjsip.conf").is_file()


def test_node_count_limits() -> None:
    ports = StackPorts.from_env(stack_ports())
    for bad in (1, 10):
        with pytest.raises(ValueError, match="--nodes"):
            plan_nodes(bad, ports)
    assert [n.status_port for n in plan_nodes(9, ports)] == list(range(8089, 8098))


def test_docker_compose_accepts_the_override(stack: Path) -> None:
    if shutil.which("docker-compose") is None:
        pytest.skip("docker-compose is not installed (./lab installs it)")
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("ANSHIN_", "PG"))},
           "REPO": str(REPO), "STACK_DIR": str(stack), "PG_PORT": "5433",
           "HTTP_PORT": "8088", "STATUS_PORT": "8089", "STATUS_PORT_B": "8090",
           "SMTP_PORT": "2525", "PORTAL_PORT": "8080"}
    result = subprocess.run(
        ["docker-compose", "-p", "anshin-nodes-check", "-f", str(REPO / "docker/compose.yml"),
         "-f", str(stack / OVERRIDE), "--project-directory", str(stack), "config",
         "--services"], env=env, cwd=stack, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert {"edge", "node-c-app", "postgres", "portal"} <= set(result.stdout.split())
