"""The edge's configuration (labkit/edge.py): validation, rendering of edge/kamailio.cfg, and
reading the dispatcher's node states."""

from __future__ import annotations

import dataclasses
import subprocess
from pathlib import Path

import pytest

from labkit.edge import (
    KAMAILIO,
    EdgeConfig,
    MediaRelay,
    dispatcher_list,
    parse_dispatcher_list,
    render_edge,
)

NODES = ("sip:127.0.0.2:5070", "sip:127.0.0.3:5070")


def config(**changes: object) -> EdgeConfig:
    base = EdgeConfig(sip_port=5060, nodes=NODES, carrier_gateway="127.0.0.1:5090")
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


@pytest.mark.parametrize("relay", [None, MediaRelay(22222, 30000, 30099)])
def test_rendering_fills_every_token_and_kamailio_accepts_it(
        tmp_path: Path, relay: MediaRelay | None) -> None:
    cfg = render_edge(config(flood_limit=123, carrier_acl=("10.0.0.0/8", "127.0.0.1/32"),
                             media_relay=relay), tmp_path)
    text = cfg.read_text()
    assert ("udp:127.0.0.1:22222" in text) == (relay is not None)
    assert "@@" not in text.replace("sip:edge@127.0.0.1", "")
    assert '"10.0.0.0/8,127.0.0.1/32"' in text and "reqs_density_per_unit\", 123" in text
    assert "lab-phone-secret" in text
    assert (tmp_path / "dispatcher.list").read_text() == dispatcher_list(NODES)
    # the relay's command line for the edge image's start script; its control socket on
    # loopback only, whatever the edge's public address
    args = tmp_path / "rtpengine.args"
    assert args.exists() == (relay is not None)
    if relay is not None:
        lines = args.read_text().splitlines()
        assert "--listen-ng=127.0.0.1:22222" in lines and "--table=-1" in lines
        public = render_edge(config(host="203.0.113.10", media_relay=relay), tmp_path / "p")
        assert "udp:127.0.0.1:22222" in public.read_text()
        assert "--listen-ng=127.0.0.1:22222" in (tmp_path / "p" / "rtpengine.args").read_text()
    check = subprocess.run([KAMAILIO, "-c", "-f", str(cfg)], capture_output=True, timeout=30,
                           check=False)
    assert check.returncode == 0, check.stderr.decode()[-2000:]


def test_an_unknown_token_is_an_error(tmp_path: Path) -> None:
    template = tmp_path / "broken.cfg"
    template.write_text('listen=udp:@@EDGE_HOST@@:@@SIP_PROT@@\n')
    with pytest.raises(KeyError, match="SIP_PROT"):
        render_edge(config(), tmp_path / "out", template)


@pytest.mark.parametrize("changes", [
    {"nodes": ()},
    {"nodes": ("127.0.0.2:5070",)},
    {"nodes": ("sip:127.0.0.2:5070", "sip:127.0.0.2:5070")},
    {"nodes": ("sip:node1.example:5070",)},
    {"carrier_gateway": "127.0.0.1"},
    {"carrier_acl": ()},
    {"carrier_acl": ("127.0.0.1/33",)},
    {"lab_phones": ("0900000000a",)},
    {"phone_password": 'a"b'},
    {"phone_password": "a b"},
    {"host": "localhost"},
    {"sip_port": 0},
    {"probe_interval_s": 0},
    {"flood_limit": 0},
    {"invite_timeout_ms": 100},
    {"topoh_key": "xyz"},
])
def test_invalid_settings_are_refused(changes: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        config(**changes)


def test_a_media_relay_needs_a_port_range() -> None:
    with pytest.raises(ValueError):
        MediaRelay(22222, 30000, 30001)


def test_each_lab_gets_its_own_topology_hiding_key() -> None:
    assert config().topoh_key != config().topoh_key


DISPATCHER_LIST = """{
\tNRSETS: 1
\tRECORDS: {
\t\tSET: {
\t\t\tID: 1
\t\t\tTARGETS: {
\t\t\t\tDEST: {
\t\t\t\t\tURI: sip:127.0.0.2:5070
\t\t\t\t\tFLAGS: AP
\t\t\t\t\tPRIORITY: 0
\t\t\t\t}
\t\t\t\tDEST: {
\t\t\t\t\tURI: sip:127.0.0.3:5070
\t\t\t\t\tFLAGS: IP
\t\t\t\t\tPRIORITY: 0
\t\t\t\t}
\t\t\t}
\t\t}
\t}
}
"""


def test_node_states_are_read_from_the_dispatcher_list() -> None:
    states = parse_dispatcher_list(DISPATCHER_LIST)
    assert [(s.uri, s.active, s.probing) for s in states] == [
        ("sip:127.0.0.2:5070", True, True), ("sip:127.0.0.3:5070", False, True)]
