"""`./lab up --nodes N`: the multi-node layout of the lab stack (docs/multinode.md).

The Kamailio edge takes the lab's SIP address (127.0.0.1 at the lab SIP port) and N Asterisk
nodes sit behind it, each on its own loopback address (127.0.0.2, 127.0.0.3, …) with the
same SIP and ARI ports, its own slice of the RTP range and its own call-control app. This
module plans the nodes, renders every node's /etc/asterisk and the edge's configuration under
the stack folder, and writes the compose override that runs them ($STACK_DIR/
compose.nodes.yml, JSON, which compose reads as YAML). PostgreSQL, the portal, the mail sink
and the transcriber of docker/compose.yml stay as they are; its one-node Asterisk and its two
app instances are switched off by the override.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

from labkit.edge import EdgeConfig, MediaRelay, render_edge
from labkit.lab import LAB_PHONES
from labkit.render import LabConfig, LabPorts, render

MAX_NODES = 9  # node-a … node-i; each needs its own status port after 8089
OVERRIDE = "compose.nodes.yml"
EDGE_DIR = "edge"  # under the stack folder: kamailio.cfg, dispatcher.list, ctl.sock
# docker/compose.yml's one-node services the override switches off
ONE_NODE_SERVICES = ("asterisk", "callflow", "callflow-b")
EDGE_CONTAINER = "anshin-edge"


@dataclass(frozen=True)
class StackPorts:
    """The stack's fixed ports (labkit.stack.stack_ports) the node layout uses."""

    sip: int            # the edge's SIP port on 127.0.0.1, and every node's on its address
    sip_tls: int        # every node's softphone TLS transport on its address
    http: int           # every node's ARI on its address
    rtp_start: int      # the lab's RTP range, split between the nodes
    rtp_end: int
    carrier: int        # the lab carrier gateway on 127.0.0.1 (calls the nodes place)
    status: int         # the first node's app operator endpoint; the next ones count up
    pg: int
    smtp: int
    # the edge's media relay (rtpengine): its control port and its own RTP range
    relay_control: int = 2223
    relay_rtp_start: int = 32000
    relay_rtp_end: int = 32999

    @classmethod
    def from_env(cls, ports: Mapping[str, int]) -> StackPorts:
        return cls(sip=ports["SIP_PORT"], sip_tls=ports["SIP_TLS_PORT"],
                   http=ports["HTTP_PORT"], rtp_start=ports["RTP_START"],
                   rtp_end=ports["RTP_END"], carrier=ports["CARRIER_PORT"],
                   status=ports["STATUS_PORT"], pg=ports["PG_PORT"], smtp=ports["SMTP_PORT"],
                   relay_control=ports.get("EDGE_RELAY_PORT", 2223),
                   relay_rtp_start=ports.get("EDGE_RTP_START", 32000),
                   relay_rtp_end=ports.get("EDGE_RTP_END", 32999))

    @property
    def edge_address(self) -> str:
        return f"127.0.0.1:{self.sip}"


@dataclass(frozen=True)
class StackNode:
    """One Asterisk node and its app."""

    name: str           # "node-a", …: the compose service of its Asterisk
    host: str           # its loopback address: SIP, TLS, ARI and RTP bind there
    status_port: int    # its app's /health /ready /metrics on 127.0.0.1
    sip_port: int       # the same on every node: only the address tells them apart
    rtp_start: int
    rtp_end: int

    @property
    def container(self) -> str:
        return f"anshin-{self.name}"

    @property
    def app_service(self) -> str:
        return f"{self.name}-app"

    @property
    def app_container(self) -> str:
        return f"anshin-{self.app_service}"

    @property
    def sip_uri(self) -> str:
        """The node as the edge's dispatcher names it."""
        return f"sip:{self.host}:{self.sip_port}"


def plan_nodes(count: int, ports: StackPorts) -> tuple[StackNode, ...]:
    """Node i on 127.0.0.(i+2), status port ports.status + i, and the i-th equal, even-aligned
    slice of the RTP range (RTP binds to all addresses unless told otherwise, so the slices
    must not overlap)."""
    if not 2 <= count <= MAX_NODES:
        raise ValueError(f"--nodes: between 2 and {MAX_NODES}, got {count}")
    span = ((ports.rtp_end - ports.rtp_start + 1) // count) & ~1
    if span < 20:
        raise ValueError(f"the RTP range {ports.rtp_start}-{ports.rtp_end} is too small for "
                         f"{count} nodes")
    nodes = []
    for i in range(count):
        host = f"127.0.0.{i + 2}"
        start = ports.rtp_start + i * span
        nodes.append(StackNode(name=f"node-{chr(ord('a') + i)}", host=host,
                               status_port=ports.status + i, sip_port=ports.sip,
                               rtp_start=start, rtp_end=start + span - 1))
    return tuple(nodes)


def node_config(node: StackNode, ports: StackPorts) -> LabConfig:
    """The node's Asterisk configuration: bound to its address, the edge its only SIP peer."""
    return LabConfig(
        instance=f"stack-{node.name}",
        ports=LabPorts(sip=ports.sip, http=ports.http, rtp_start=node.rtp_start,
                       rtp_end=node.rtp_end, carrier=ports.carrier, sip_tls=ports.sip_tls),
        softphone_tls_host=node.host, host=node.host, edge=ports.edge_address)


def edge_config(nodes: tuple[StackNode, ...], ports: StackPorts, topoh_key: str) -> EdgeConfig:
    return EdgeConfig(sip_port=ports.sip, nodes=tuple(n.sip_uri for n in nodes),
                      carrier_gateway=f"127.0.0.1:{ports.carrier}",
                      lab_phones=tuple(LAB_PHONES.split(",")), topoh_key=topoh_key,
                      # RTP through the edge: no SDP a caller or the carrier gets names a node
                      media_relay=MediaRelay(ports.relay_control, ports.relay_rtp_start,
                                             ports.relay_rtp_end))


@dataclass(frozen=True)
class Service:
    """One compose service of the override (host networking, like docker/compose.yml)."""

    image: str
    container_name: str
    command: tuple[str, ...] = ()
    environment: Mapping[str, str] = field(default_factory=dict)
    volumes: tuple[str, ...] = ()
    depends_on: tuple[str, ...] = ()
    stop_grace_period: str = ""

    def to_compose(self) -> dict[str, object]:
        out: dict[str, object] = {"image": self.image, "container_name": self.container_name,
                                  "network_mode": "host", "restart": "unless-stopped"}
        if self.command:
            out["command"] = list(self.command)
        if self.environment:
            out["environment"] = dict(self.environment)
        if self.volumes:
            out["volumes"] = list(self.volumes)
        if self.depends_on:
            out["depends_on"] = list(self.depends_on)
        if self.stop_grace_period:
            out["stop_grace_period"] = self.stop_grace_period
        return out


def node_dir(stack_dir: Path, node: StackNode) -> Path:
    return stack_dir / "nodes" / node.name


def node_services(node: StackNode, ports: StackPorts, stack_dir: Path,
                  config: LabConfig) -> dict[str, Service]:
    """The node's Asterisk and its app: one app instance owning all the node's Stasis names,
    its own media folder (what it copies for its Asterisk to play)."""
    here = node_dir(stack_dir, node)
    media = f"{here}/media:/var/lib/anshin/media"
    asterisk = Service(
        image="${ASTERISK_IMAGE:-anshin-asterisk}", container_name=node.container,
        volumes=(f"{here}/etc-asterisk:/etc/asterisk:ro",
                 "${REPO}/build/prompts:/usr/share/asterisk/sounds/anshin:ro", media,
                 f"{here}/recordings:/var/spool/asterisk/recording"))
    app = Service(
        image="${APP_IMAGE:-anshin-app}", container_name=node.app_container,
        environment={
            "ANSHIN_PROFILE": "lab",
            "ANSHIN_ARI_URL": f"http://{node.host}:{ports.http}/ari",
            "ANSHIN_ARI_USER": config.ari_user,
            "ANSHIN_ARI_PASSWORD": config.ari_password,
            "ANSHIN_ARI_APP": config.ari_app,
            "ANSHIN_ARI_APP_SPREAD": str(config.ari_app_spread),
            "ANSHIN_ARI_APP_INSTANCES": "1",
            "ANSHIN_ARI_APP_INSTANCE": "0",
            "ANSHIN_DATABASE_URL": f"postgresql://postgres@127.0.0.1:{ports.pg}/anshin",
            "ANSHIN_STATUS_PORT": str(node.status_port),
            "ANSHIN_SMTP_PORT": str(ports.smtp),
            "ANSHIN_LAB_PHONES": LAB_PHONES,
            "ANSHIN_TRANSCRIBE": "${TRANSCRIBE:-0}",
        },
        volumes=(media,), depends_on=("postgres", node.name),
        # docker stop sends SIGTERM: the instance drains (ANSHIN_DRAIN_SECONDS, 30 s) first
        stop_grace_period="40s")
    return {node.name: asterisk, node.app_service: app}


def edge_service(stack_dir: Path) -> Service:
    """Kamailio in docker/edge's image. The rendered files name their own paths (the control
    socket, the dispatcher list), so the folder is mounted at the same path inside."""
    edge = stack_dir / EDGE_DIR
    return Service(image="${EDGE_IMAGE:-anshin-edge}", container_name=EDGE_CONTAINER,
                   command=(str(edge),), volumes=(f"{edge}:{edge}",))


def compose_override(nodes: tuple[StackNode, ...], ports: StackPorts,
                     stack_dir: Path) -> dict[str, object]:
    services: dict[str, object] = {"edge": edge_service(stack_dir).to_compose()}
    for node in nodes:
        for name, service in node_services(node, ports, stack_dir,
                                           node_config(node, ports)).items():
            services[name] = service.to_compose()
    for name in ONE_NODE_SERVICES:
        # only started when the "one-node" profile is asked for, which ./lab never does
        services[name] = {"profiles": ["one-node"]}
    return {"version": "2.4", "services": services}


def topoh_key(edge_dir: Path) -> str:
    """The edge's topology-hiding key, kept across `./lab up`s (a new key on every start
    would change the configuration, and so restart the edge, each time)."""
    path = edge_dir / "topoh.key"
    if path.is_file():
        return path.read_text().strip()
    key = secrets.token_hex(12)
    edge_dir.mkdir(parents=True, exist_ok=True)
    path.write_text(key + "\n")
    return key


@dataclass(frozen=True)
class NodesLayout:
    """What prepare wrote and provision/status read back ($STACK_DIR/nodes.json)."""

    nodes: tuple[StackNode, ...]
    ports: StackPorts

    def to_json(self) -> str:
        return json.dumps({"count": len(self.nodes), "ports": asdict(self.ports)}, indent=2)

    @classmethod
    def load(cls, stack_dir: Path) -> NodesLayout | None:
        path = stack_dir / "nodes.json"
        if not (stack_dir / OVERRIDE).is_file() or not path.is_file():
            return None
        data = json.loads(path.read_text())
        ports = StackPorts(**{k: int(v) for k, v in data["ports"].items()})
        return cls(plan_nodes(int(data["count"]), ports), ports)


def prepare_nodes(stack_dir: Path, count: int, ports: StackPorts) -> NodesLayout:
    """Render every node's /etc/asterisk and the edge's configuration, and write the compose
    override and nodes.json."""
    nodes = plan_nodes(count, ports)
    for node in nodes:
        here = node_dir(stack_dir, node)
        render(node_config(node, ports), here / "etc-asterisk")
        for sub in ("media", "recordings"):
            (here / sub).mkdir(parents=True, exist_ok=True)
    edge_dir = stack_dir / EDGE_DIR
    render_edge(edge_config(nodes, ports, topoh_key(edge_dir)), edge_dir)
    (edge_dir / "run").mkdir(exist_ok=True)
    layout = NodesLayout(nodes, ports)
    (stack_dir / OVERRIDE).write_text(json.dumps(compose_override(nodes, ports, stack_dir),
                                                 indent=2) + "\n")
    (stack_dir / "nodes.json").write_text(layout.to_json() + "\n")
    return layout


def forget_nodes(stack_dir: Path) -> None:
    """Back to the one-node stack: without the override, `compose up --remove-orphans`
    removes the edge and the nodes."""
    (stack_dir / OVERRIDE).unlink(missing_ok=True)
    (stack_dir / "nodes.json").unlink(missing_ok=True)
