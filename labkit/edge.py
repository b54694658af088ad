"""The SIP edge (Kamailio) in front of the Asterisk nodes, run as a host process by the lab.

`edge/kamailio.cfg` carries @@NAME@@ tokens; `Edge` renders it (labkit.render.render_text:
an unknown token is an error) with its dispatcher list into a run folder and starts
`kamailio -DD -E` there with its own control socket, so several labs run side by side and
the system's /etc/kamailio and its service are never touched. docs/edge.md says what the
edge does and how each limit is sized.
"""

from __future__ import annotations

import ipaddress
import os
import re
import secrets
import signal
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from labkit import testlogs
from labkit.render import REPO, render_text

TEMPLATE = REPO / "edge" / "kamailio.cfg"
KAMAILIO = os.environ.get("KAMAILIO_BINARY", "/usr/sbin/kamailio")
KAMCMD = os.environ.get("KAMCMD_BINARY", "/usr/sbin/kamcmd")
RTPENGINE = os.environ.get("RTPENGINE_BINARY", "/usr/bin/rtpengine")

_NODE_URI = re.compile(r"^sip:(\d{1,3}(?:\.\d{1,3}){3}):(\d{1,5})$")
_HOST_PORT = re.compile(r"^(\d{1,3}(?:\.\d{1,3}){3}):(\d{1,5})$")
_PHONE_USER = re.compile(r"^[0-9]{3,20}$")
# the password and realm are written into a quoted Kamailio string
_CFG_SAFE = re.compile(r'^[A-Za-z0-9._~!#%&*+,/:;=?^|@-]{1,128}$')


def _ipv4(value: str, what: str) -> None:
    try:
        ipaddress.IPv4Address(value)
    except ValueError as exc:
        raise ValueError(f"{what}: not an IPv4 address: {value!r}") from exc


def _port(value: int, what: str) -> None:
    if not 1 <= value <= 65535:
        raise ValueError(f"{what}: port out of range: {value}")


@dataclass(frozen=True)
class MediaRelay:
    """rtpengine on the edge host (userspace, --table=-1): RTP goes through the edge, so the
    SDP a caller, the carrier or a phone receives names the edge, never a node."""

    # rtpengine's ng control socket: UDP on 127.0.0.1 of the edge host, never its public
    # address (whoever reaches it can open, divert and tear down media sessions)
    control_port: int
    port_min: int                     # its RTP ports (two per call leg and direction pair)
    port_max: int

    def __post_init__(self) -> None:
        for port in (self.control_port, self.port_min, self.port_max):
            _port(port, "media relay")
        if self.port_max - self.port_min < 3:
            raise ValueError("media relay: the RTP port range needs at least 4 ports")


@dataclass(frozen=True)
class EdgeConfig:
    """One edge: where it listens, the nodes behind it and its limits (docs/edge.md)."""

    sip_port: int                     # the edge's UDP port (the carrier's and phones' target)
    nodes: tuple[str, ...]            # the nodes' SIP targets, e.g. ("sip:127.0.0.2:5070", …)
    carrier_gateway: str              # where calls the nodes place go out, "host:port"
    host: str = "127.0.0.1"           # the edge's address (also what topoh masks nodes as)
    carrier_acl: tuple[str, ...] = ("127.0.0.0/8",)  # CIDRs a carrier INVITE may come from
    lab_phones: tuple[str, ...] = ("09000000001", "09000000002")
    phone_password: str = "lab-phone-secret"
    realm: str = "anshin"
    probe_interval_s: int = 1         # OPTIONS to every node this often
    probe_threshold: int = 1          # failed probes before a node is taken out
    invite_timeout_ms: int = 1500     # no reply from a node within this: the next node
    flood_limit: int = 400            # initial INVITE+REGISTER a second per source address
    flood_ban_s: int = 10             # how long a flooding source is refused
    spray_failures: int = 10          # digest failures per source (any account) → ban
    spray_window_s: int = 60          # … counted until this long after the last failure
    spray_ban_s: int = 300            # how long a sprayer is refused
    workers: int = 4                  # Kamailio UDP worker processes
    media_relay: MediaRelay | None = None  # None: RTP flows between caller and node directly
    topoh_key: str = field(default_factory=lambda: secrets.token_hex(12))

    def __post_init__(self) -> None:
        _ipv4(self.host, "edge host")
        _port(self.sip_port, "edge sip_port")
        if not self.nodes:
            raise ValueError("the edge needs at least one node")
        for node in self.nodes:
            m = _NODE_URI.match(node)
            if not m:
                raise ValueError(f"node target must be sip:<IPv4>:<port>, got {node!r}")
            _ipv4(m.group(1), f"node {node}")
            _port(int(m.group(2)), f"node {node}")
        if len(set(self.nodes)) != len(self.nodes):
            raise ValueError(f"a node is listed twice: {self.nodes}")
        m = _HOST_PORT.match(self.carrier_gateway)
        if not m:
            raise ValueError(f"carrier gateway must be <IPv4>:<port>, got "
                             f"{self.carrier_gateway!r}")
        _ipv4(m.group(1), "carrier gateway")
        _port(int(m.group(2)), "carrier gateway")
        if not self.carrier_acl:
            raise ValueError("the carrier ACL is empty: no carrier call could come in")
        for cidr in self.carrier_acl:
            try:
                ipaddress.IPv4Network(cidr)
            except ValueError as exc:
                raise ValueError(f"carrier ACL: not an IPv4 network: {cidr!r}") from exc
        if not self.lab_phones or not all(_PHONE_USER.match(u) for u in self.lab_phones):
            raise ValueError(f"lab phones must be digit strings: {self.lab_phones}")
        for value, what in ((self.phone_password, "phone password"), (self.realm, "realm")):
            if not _CFG_SAFE.match(value):
                raise ValueError(f"{what}: only printable ASCII without quotes, "
                                 "backslashes or spaces")
        for name in ("probe_interval_s", "probe_threshold", "invite_timeout_ms", "flood_limit",
                     "flood_ban_s", "spray_failures", "spray_window_s", "spray_ban_s",
                     "workers"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        if self.invite_timeout_ms < 200:
            raise ValueError("invite_timeout_ms below 200 ms takes live nodes for dead")
        if not re.fullmatch(r"[0-9a-f]{8,64}", self.topoh_key):
            raise ValueError("topoh_key: 8-64 lowercase hex digits")

    @property
    def address(self) -> str:
        """host:port, the edge's SIP address."""
        return f"{self.host}:{self.sip_port}"

    def tokens(self, run_dir: Path) -> dict[str, str]:
        return {
            "EDGE_HOST": self.host,
            "SIP_PORT": str(self.sip_port),
            "CTL_SOCKET": str(run_dir / "ctl.sock"),
            "DISPATCHER_LIST": str(run_dir / "dispatcher.list"),
            "CARRIER_GATEWAY": self.carrier_gateway,
            "CARRIER_ACL": ",".join(self.carrier_acl),
            "PHONE_USERS_RE": "^(" + "|".join(self.lab_phones) + ")$",
            "PHONE_PASSWORD": self.phone_password,
            "REALM": self.realm,
            "PROBE_INTERVAL_S": str(self.probe_interval_s),
            "PROBE_THRESHOLD": str(self.probe_threshold),
            "INVITE_TIMEOUT_MS": str(self.invite_timeout_ms),
            "FLOOD_LIMIT": str(self.flood_limit),
            "FLOOD_BAN_S": str(self.flood_ban_s),
            "SPRAY_FAILURES": str(self.spray_failures),
            "SPRAY_WINDOW_S": str(self.spray_window_s),
            "SPRAY_BAN_S": str(self.spray_ban_s),
            "WORKERS": str(self.workers),
            "TOPOH_KEY": self.topoh_key,
            "MEDIA_RELAY_DEFINE": ("#!define WITH_MEDIA_RELAY" if self.media_relay
                                   else "# no media relay"),
            "MEDIA_RELAY_CONTROL": (f"127.0.0.1:{self.media_relay.control_port}"
                                    if self.media_relay else "none"),
        }


def relay_args(config: EdgeConfig) -> list[str]:
    """rtpengine's command line (after the program) for the edge's media relay: userspace
    only (--table=-1: no kernel module), on the edge's address, controlled by Kamailio."""
    relay = config.media_relay
    if relay is None:
        raise ValueError("this edge has no media relay")
    return ["--config-file=none", "--foreground", "--log-stderr", "--table=-1",
            f"--interface={config.host}", f"--listen-ng=127.0.0.1:{relay.control_port}",
            f"--port-min={relay.port_min}", f"--port-max={relay.port_max}", "--log-level=5"]


def dispatcher_list(nodes: tuple[str, ...]) -> str:
    """Set 1: every node, probed (flags 8 = probing state from the start)."""
    return "".join(f"1 {node} 8 0 node={i}\n" for i, node in enumerate(nodes, start=1))


def render_edge(config: EdgeConfig, run_dir: Path, template: Path = TEMPLATE) -> Path:
    """Write kamailio.cfg and dispatcher.list into run_dir; returns the configuration file.
    An unknown @@TOKEN@@ in the template is a KeyError."""
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "dispatcher.list").write_text(dispatcher_list(config.nodes), encoding="utf-8")
    # rtpengine's arguments, one per line, for whoever starts the relay beside Kamailio (the
    # edge image's start script, docker/edge/run-edge.sh; Edge.start here)
    args = run_dir / "rtpengine.args"
    if config.media_relay is not None:
        args.write_text("".join(a + "\n" for a in relay_args(config)), encoding="utf-8")
    else:
        args.unlink(missing_ok=True)
    cfg = run_dir / "kamailio.cfg"
    cfg.write_text(render_text(template.read_text(encoding="utf-8"), config.tokens(run_dir),
                               template.name), encoding="utf-8")
    return cfg


@dataclass(frozen=True)
class NodeState:
    uri: str          # as in EdgeConfig.nodes
    active: bool      # the dispatcher sends new calls there
    probing: bool     # OPTIONS probes are going to it


def parse_dispatcher_list(text: str) -> list[NodeState]:
    """kamcmd's `dispatcher.list` output: each destination's URI and FLAGS
    (A active / I inactive / D disabled, P probing)."""
    states: list[NodeState] = []
    uri: str | None = None
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("URI:"):
            uri = line.split(":", 1)[1].strip()
        elif line.startswith("FLAGS:") and uri is not None:
            flags = line.split(":", 1)[1].strip()
            states.append(NodeState(uri, active=flags.startswith("A"), probing="P" in flags))
            uri = None
    return states


class Edge:
    """One Kamailio edge process: render, start, wait_ready, stop/kill, and what it knows."""

    def __init__(self, config: EdgeConfig, run_dir: Path) -> None:
        self.config = config
        self.run_dir = run_dir
        self.log_path = run_dir / "kamailio.log"
        self.ctl = f"unix:{run_dir / 'ctl.sock'}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.relay: subprocess.Popen[bytes] | None = None  # rtpengine, with media_relay

    @property
    def address(self) -> str:
        return self.config.address

    def render(self) -> Path:
        return render_edge(self.config, self.run_dir)

    def start(self) -> None:
        cfg = self.render()
        runtime = self.run_dir / "run"
        runtime.mkdir(exist_ok=True)
        check = subprocess.run([KAMAILIO, "-c", "-f", str(cfg)], capture_output=True,
                               timeout=30, check=False)
        if check.returncode != 0:
            raise RuntimeError("kamailio rejected its configuration:\n"
                               + check.stderr.decode(errors="replace")[-4000:])
        relay = self.config.media_relay
        if relay is not None:
            with open(self.run_dir / "rtpengine.log", "ab") as log:
                self.relay = subprocess.Popen(
                    [RTPENGINE, *relay_args(self.config)],
                    stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                    start_new_session=True)
            # kamailio's rtpengine module takes a relay that does not answer at start-up for
            # disabled (for rtpengine_disable_tout, 60 s): start it only once rtpengine answers
            self._wait_relay()
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [KAMAILIO, "-DD", "-E", "-f", str(cfg), "-w", str(self.run_dir),
                 "-Y", str(runtime)],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True)
        testlogs.keep(self.log_path, "edge")

    def relay_answers(self, timeout: float = 0.5) -> bool:
        """rtpengine answers an ng "ping" (bencoded, over UDP)."""
        if self.config.media_relay is None:
            return False
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(timeout)
            try:
                s.sendto(b"edge-ready d7:command4:pinge",
                         ("127.0.0.1", self.config.media_relay.control_port))
                return b"pong" in s.recv(4096)
            except OSError:
                return False

    def _wait_relay(self, timeout: float = 15.0) -> None:
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            if self.relay is not None and self.relay.poll() is not None:
                raise RuntimeError(f"rtpengine exited ({self.relay.returncode}):\n"
                                   f"{self.relay_logs()[-4000:]}")
            if self.relay_answers():
                return
            time.sleep(0.05)
        raise TimeoutError(f"rtpengine not answering after {timeout}s:\n"
                           f"{self.relay_logs()[-4000:]}")

    def rpc(self, *command: str, timeout: float = 5.0) -> str:
        """One control command (kamcmd over the lab's own socket), e.g. rpc("dispatcher.list")."""
        out = subprocess.run([KAMCMD, "-s", self.ctl, *command], capture_output=True,
                             timeout=timeout, check=False)
        if out.returncode != 0:
            raise RuntimeError(f"kamcmd {' '.join(command)}: "
                               f"{(out.stderr or out.stdout).decode(errors='replace').strip()}")
        return out.stdout.decode(errors="replace")

    def answers_options(self, timeout: float = 1.0) -> bool:
        """An OPTIONS to the edge itself is answered 200."""
        branch = "z9hG4bK" + uuid.uuid4().hex[:16]
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind((self.config.host, 0))
            port = s.getsockname()[1]
            msg = (f"OPTIONS sip:{self.address} SIP/2.0\r\n"
                   f"Via: SIP/2.0/UDP {self.config.host}:{port};branch={branch};rport\r\n"
                   "Max-Forwards: 70\r\n"
                   f"From: <sip:probe@{self.config.host}>;tag={branch[-8:]}\r\n"
                   f"To: <sip:{self.address}>\r\n"
                   f"Call-ID: {branch}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n")
            s.settimeout(timeout)
            try:
                s.sendto(msg.encode(), (self.config.host, self.config.sip_port))
                data = s.recv(4096)
            except OSError:
                return False
        return data.startswith(b"SIP/2.0 200")

    def wait_ready(self, timeout: float = 20.0) -> float:
        """Until the control socket and the SIP socket answer; seconds taken."""
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"kamailio exited ({self.proc.returncode}):\n"
                                   f"{self.logs()[-4000:]}")
            try:
                self.rpc("core.uptime", timeout=2.0)
                if self.answers_options():
                    return time.monotonic() - t0
            except (RuntimeError, subprocess.TimeoutExpired):
                pass
            time.sleep(0.05)
        raise TimeoutError(f"edge not ready after {timeout}s:\n{self.logs()[-4000:]}")

    def stop(self, timeout: float = 10.0) -> None:
        for proc in (self.proc, self.relay):
            _signal(proc, signal.SIGTERM, timeout)

    def kill(self) -> None:
        for proc in (self.proc, self.relay):
            _signal(proc, signal.SIGKILL, 5.0)

    def logs(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def relay_logs(self) -> str:
        try:
            return (self.run_dir / "rtpengine.log").read_text(errors="replace")
        except OSError:
            return ""

    def node_states(self) -> dict[str, bool]:
        """Each node's target → whether the dispatcher sends new calls to it now."""
        return {s.uri: s.active for s in parse_dispatcher_list(self.rpc("dispatcher.list"))}

    def active_nodes(self) -> list[str]:
        return [uri for uri, active in self.node_states().items() if active]

    def banned(self) -> dict[str, list[str]]:
        """Source addresses on each ban list now: "flood" and "auth" (password spraying)."""
        out: dict[str, list[str]] = {}
        for kind, table in (("flood", "floodban"), ("auth", "authban")):
            text = self.rpc("htable.dump", table)
            out[kind] = sorted(set(re.findall(r"name:\s*(\S+)", text)))
        return out

    def cpu_seconds(self) -> float:
        """User + system CPU of the edge's processes so far (kamailio's main process, its
        children, and children that have exited; rtpengine with media_relay), from /proc: the
        bench's CPU per call at the edge."""
        if self.proc is None:
            return 0.0
        tick = os.sysconf("SC_CLK_TCK")
        main = self.proc.pid
        total = _own_ticks(self.relay.pid) if self.relay is not None else 0
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            pid, ppid = int(stat.parent.name), int(fields[1])
            if pid == main:
                # utime, stime, cutime, cstime (fields 14-17 of proc(5))
                total += sum(int(v) for v in fields[11:15])
            elif ppid == main:
                total += int(fields[11]) + int(fields[12])
        return total / tick


def _own_ticks(pid: int) -> int:
    """utime + stime + cutime + cstime of one process (all its threads), 0 if gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0
    return sum(int(v) for v in fields[11:15])


def _signal(proc: subprocess.Popen[bytes] | None, sig: signal.Signals, timeout: float) -> None:
    if proc is None or proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, sig)  # its own session: the main process and its children
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5.0)
