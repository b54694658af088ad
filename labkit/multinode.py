"""The multi-node lab: the Kamailio edge in front of N Asterisk nodes, each on its own
loopback address (127.0.0.2, 127.0.0.3, …) with its own call-control app, all on one
PostgreSQL (docs/edge.md). Tests, the node-failure test and the edge benchmark build it here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from labkit.appproc import AppProcess
from labkit.asterisk import AsteriskContainer
from labkit.edge import Edge, EdgeConfig, MediaRelay
from labkit.fixtures import app_process, asterisk_container
from labkit.fixtures import edge as run_edge
from labkit.ports import free_port, free_range


def node_host(index: int) -> str:
    """The loopback address of node `index` (0 → 127.0.0.2: 127.0.0.1 is the edge's)."""
    return f"127.0.0.{index + 2}"


@dataclass
class Node:
    name: str  # "node-a", "node-b", …
    asterisk: AsteriskContainer
    app: AppProcess
    log_path: Path  # where the Asterisk log is written when the lab stops

    @property
    def sip_uri(self) -> str:
        """The node as the edge's dispatcher names it."""
        return f"sip:{self.asterisk.sip_target}"

    def calls_handled(self) -> int:
        """Calls this node's app has taken (its /health)."""
        health = self.app.health() or {}
        value = health.get("calls_handled", 0)
        return value if isinstance(value, int) else 0

    def kill(self) -> None:
        """The node dies at once, as a host would (docker kill: SIGKILL to Asterisk); its
        log so far is kept beside the one saved when the lab stops."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.log_path.with_name(f"{self.name}-asterisk-killed.log").write_text(
            self.asterisk.logs())
        self.asterisk.stop()

    async def restart(self) -> None:
        """Start the node again (same ports and configuration) and wait until its app is
        connected to it again."""
        self.asterisk.start()
        await self.asterisk.wait_ready()
        await asyncio.to_thread(self.app.wait_connected, 60)


@dataclass
class MultiNodeLab:
    edge: Edge
    nodes: list[Node]
    carrier_port: int  # where calls the nodes place leave the edge: the lab's carrier gateway

    @property
    def sip_target(self) -> str:
        """Where callers and the carrier send calls: the edge."""
        return self.edge.address

    def calls_per_node(self) -> dict[str, int]:
        return {node.name: node.calls_handled() for node in self.nodes}

    def node(self, uri: str) -> Node:
        return next(n for n in self.nodes if n.sip_uri == uri)


@contextmanager
def multinode_lab(run_dir: Path, database_url: str, *, nodes: int = 2, log_dir: Path,
                  media_relay: bool = True, edge_settings: dict[str, Any] | None = None,
                  **app_settings: str) -> Iterator[MultiNodeLab]:
    """The edge and `nodes` nodes, each with its app, started and ready; everything stopped
    on exit (node logs saved in `log_dir`). `media_relay`: RTP through the edge's rtpengine,
    so no SDP names a node (as production runs it); `edge_settings`: EdgeConfig values that
    differ (e.g. flood_limit); `app_settings`: ANSHIN_* values for every app."""
    edge_port = free_port()
    carrier_port = free_port()
    edge_address = f"127.0.0.1:{edge_port}"
    with ExitStack() as stack:
        members: list[Node] = []
        for i in range(nodes):
            name = f"node-{chr(ord('a') + i)}"
            log_path = log_dir / f"{name}-asterisk.log"
            asterisk = stack.enter_context(asterisk_container(
                run_dir / name, "n", log_path=log_path, host=node_host(i), edge=edge_address))
            app = stack.enter_context(app_process(
                asterisk, database_url, log_path=log_dir / f"{name}-app.log", **app_settings))
            members.append(Node(name, asterisk, app, log_path))
        relay = MediaRelay(free_port(), *free_range(4 * 200)) if media_relay else None
        config = EdgeConfig(sip_port=edge_port, nodes=tuple(n.sip_uri for n in members),
                            carrier_gateway=f"127.0.0.1:{carrier_port}", media_relay=relay)
        edge = stack.enter_context(run_edge(replace(config, **(edge_settings or {})),
                                            run_dir / "edge", log_path=log_dir / "edge.log"))
        yield MultiNodeLab(edge, members, carrier_port)

