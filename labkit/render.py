"""Render the repository's Asterisk configuration for one lab instance.

`asterisk-conf/*.conf` and `dialplan/*.conf` carry @@NAME@@ tokens (ports, secrets); this
module substitutes them and writes a complete /etc/asterisk directory. An unknown token is
an error, so a typo cannot silently reach Asterisk.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TOKEN = re.compile(r"@@([A-Z_]+)@@")


@dataclass(frozen=True)
class LabPorts:
    sip: int
    http: int
    rtp_start: int
    rtp_end: int
    carrier: int
    # the softphones' TLS transport (0: an ephemeral port chosen by Asterisk; unit tests)
    sip_tls: int = 0


@dataclass(frozen=True)
class LabConfig:
    instance: str
    ports: LabPorts
    ari_user: str = "anshin"
    ari_password: str = "anshin-ari-secret"
    ari_app: str = "anshin"
    ari_app_spread: int = 4  # Stasis application names calls are spread over
    phone_password: str = "lab-phone-secret"
    # where the softphones' TLS transport listens: loopback, or the host end of a test's
    # veth pair so a phone in a network namespace reaches it (tests/integration/netns.py)
    softphone_tls_host: str = "127.0.0.1"
    # The node's own address: its SIP transport and ARI bind there (127.0.0.2, 127.0.0.3, …
    # for the nodes of a multi-node lab, docs/edge.md).
    host: str = "127.0.0.1"
    # "host:port" of the Kamailio edge in front of this node, or "" (one node, no edge). With
    # an edge, the edge is the node's only SIP peer: the carrier trunk is identified by the
    # edge's address, calls out go to it, and the node's address never appears in From.
    edge: str = ""

    def tokens(self) -> dict[str, str]:
        ports = {f"{k.upper()}_PORT": str(v) for k, v in asdict(self.ports).items()
                 if k in ("sip", "http", "carrier")}
        return {
            **ports,
            "RTP_START": str(self.ports.rtp_start),
            "RTP_END": str(self.ports.rtp_end),
            "INSTANCE": self.instance,
            "ARI_USER": self.ari_user,
            "ARI_PASSWORD": self.ari_password,
            "ARI_APP": self.ari_app,
            "ARI_APP_SPREAD": str(self.ari_app_spread),
            "PHONE_PASSWORD": self.phone_password,
            "SOFTPHONE_TLS_BIND": f"{self.softphone_tls_host}:{self.ports.sip_tls}",
            "NODE_HOST": self.host,
            **self._trunk_tokens(),
        }

    def _trunk_tokens(self) -> dict[str, str]:
        if not self.edge:
            return {"IDENTIFY_ORDER": "username,ip,anonymous", "CARRIER_MATCH": "127.0.0.0/8",
                    "CARRIER_TARGET": f"127.0.0.1:{self.ports.carrier}",
                    "FROM_DOMAIN": self.host}
        edge_host = self.edge.rpartition(":")[0]
        return {"IDENTIFY_ORDER": "ip", "CARRIER_MATCH": f"{edge_host}/32",
                "CARRIER_TARGET": self.edge, "FROM_DOMAIN": edge_host}


def render_text(text: str, tokens: dict[str, str], source: str) -> str:
    def sub(m: re.Match[str]) -> str:
        name = m.group(1)
        if name not in tokens:
            raise KeyError(f"{source}: unknown token @@{name}@@")
        return tokens[name]

    return TOKEN.sub(sub, text)


def render(config: LabConfig, dest: Path, extra: Mapping[str, str] | None = None) -> Path:
    """Write the rendered configuration to dest (replacing it) and return dest.

    `extra` maps a file name (e.g. "pjsip.conf") to configuration appended to that rendered
    file: what only one lab has (the benchmark's dialplan-only endpoint, bench/lab.py) and
    the shipped configuration must not."""
    tokens = config.tokens()
    if dest.exists():
        shutil.rmtree(dest)
    (dest / "dialplan").mkdir(parents=True)
    for src_dir, sub in ((REPO / "asterisk-conf", ""), (REPO / "dialplan", "dialplan")):
        for src in sorted(src_dir.glob("*.conf")):
            out = dest / sub / src.name
            out.write_text(render_text(src.read_text(encoding="utf-8"), tokens, src.name),
                           encoding="utf-8")
    lab_tls_certificate(dest / "keys")
    for name, text in (extra or {}).items():
        out = dest / name
        if not out.is_file():
            raise KeyError(f"extra configuration for {name}: no such rendered file")
        with out.open("a", encoding="utf-8") as f:
            f.write("\n" + render_text(text, tokens, f"extra {name}"))
    return dest


def lab_tls_certificate(keys: Path) -> None:
    """A fresh self-signed certificate for the softphones' TLS transport (pjsip.conf
    [transport-tls]), made for each rendered lab and never committed. Production uses the
    operator's certificate at the same paths (docs/softphone.md)."""
    keys.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-days", "30", "-subj", "/CN=anshin-lab-softphone",
         "-keyout", str(keys / "softphone-tls.key"), "-out", str(keys / "softphone-tls.crt")],
        check=True, capture_output=True, timeout=30)
