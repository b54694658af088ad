"""A phone behind NAT, for tests: two network namespaces joined by veth pairs.

    host (Asterisk, host networking)  vh-<tag> 10.201.K.1/30
        └─ veth ─ [nat namespace]     vn-<tag> 10.201.K.2/30   (MASQUERADE out of vn)
                                      vp-<tag> 192.168.K.1/24
                      └─ veth ─ [phone namespace] vq-<tag> 192.168.K.2/24, default via .1

Every address lives only on interfaces the lab creates (the host end of the first pair
included: Asterisk's softphone TLS transport binds it, LabConfig.softphone_tls_host), and
everything goes when the namespaces are deleted. The phone reaches Asterisk only through the
NAT, as a softphone on Wi-Fi or CGNAT would: Asterisk sees 10.201.K.2 and a NAT'd port.
The nat namespace counts the UDP packets it forwards each way (RTP/SRTP; SIP is TLS/TCP).
Needs root (CAP_NET_ADMIN), `ip` and `iptables`.
"""

from __future__ import annotations

import random
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass


def _run(*args: str) -> str:
    done = subprocess.run(args, check=True, capture_output=True, text=True, timeout=30)
    return done.stdout


@dataclass(frozen=True)
class NatLab:
    tag: str
    subnet: int

    @property
    def nat_ns(self) -> str:
        return f"anshin-nat-{self.tag}"

    @property
    def phone_ns(self) -> str:
        return f"anshin-phone-{self.tag}"

    @property
    def host_ip(self) -> str:
        """The host end of the first veth pair: where the phone finds Asterisk."""
        return f"10.201.{self.subnet}.1"

    @property
    def nat_public_ip(self) -> str:
        """The address the phone's packets come from, as Asterisk sees them."""
        return f"10.201.{self.subnet}.2"

    @property
    def phone_ip(self) -> str:
        return f"192.168.{self.subnet}.2"

    def in_phone(self, *args: str) -> list[str]:
        """A command line that runs `args` inside the phone's namespace."""
        return ["ip", "netns", "exec", self.phone_ns, *args]

    def udp_forwarded(self) -> tuple[int, int]:
        """UDP packets the NAT forwarded so far: (from the phone, to the phone)."""
        out = _run("ip", "netns", "exec", self.nat_ns, "iptables", "-L", "FORWARD", "-v",
                   "-x", "-n")
        counts = {"from": 0, "to": 0}
        for line in out.splitlines():
            cols = line.split()
            if len(cols) >= 7 and cols[3] in ("udp", "17"):
                if cols[5] == f"vp-{self.tag}":
                    counts["from"] += int(cols[0])
                elif cols[6] == f"vp-{self.tag}":
                    counts["to"] += int(cols[0])
        return counts["from"], counts["to"]

    def renew_mapping(self) -> None:
        """The NAT forgets its mappings (a CGNAT timeout, a new public port): the phone's
        next packets get a new source port."""
        _run("ip", "netns", "exec", self.nat_ns, "iptables", "-t", "nat", "-F", "POSTROUTING")
        _run("ip", "netns", "exec", self.nat_ns, "iptables", "-t", "nat", "-A", "POSTROUTING",
             "-o", f"vn-{self.tag}", "-p", "tcp", "-j", "MASQUERADE", "--random")
        _run("ip", "netns", "exec", self.nat_ns, "iptables", "-t", "nat", "-A", "POSTROUTING",
             "-o", f"vn-{self.tag}", "-j", "MASQUERADE", "--random")


@contextmanager
def nat_lab() -> Iterator[NatLab]:
    lab = NatLab(tag=uuid.uuid4().hex[:6], subnet=random.randrange(1, 250))
    t, n, p = lab.tag, lab.nat_ns, lab.phone_ns
    steps = [
        ("ip", "netns", "add", n), ("ip", "netns", "add", p),
        ("ip", "link", "add", f"vh-{t}", "type", "veth", "peer", "name", f"vn-{t}"),
        ("ip", "link", "set", f"vn-{t}", "netns", n),
        ("ip", "addr", "add", f"{lab.host_ip}/30", "dev", f"vh-{t}"),
        ("ip", "link", "set", f"vh-{t}", "up"),
        ("ip", "-n", n, "addr", "add", f"{lab.nat_public_ip}/30", "dev", f"vn-{t}"),
        ("ip", "-n", n, "link", "set", f"vn-{t}", "up"),
        ("ip", "-n", n, "link", "set", "lo", "up"),
        ("ip", "link", "add", f"vp-{t}", "type", "veth", "peer", "name", f"vq-{t}"),
        ("ip", "link", "set", f"vp-{t}", "netns", n),
        ("ip", "link", "set", f"vq-{t}", "netns", p),
        ("ip", "-n", n, "addr", "add", f"192.168.{lab.subnet}.1/24", "dev", f"vp-{t}"),
        ("ip", "-n", n, "link", "set", f"vp-{t}", "up"),
        ("ip", "-n", p, "addr", "add", f"{lab.phone_ip}/24", "dev", f"vq-{t}"),
        ("ip", "-n", p, "link", "set", f"vq-{t}", "up"),
        ("ip", "-n", p, "link", "set", "lo", "up"),
        ("ip", "-n", p, "route", "add", "default", "via", f"192.168.{lab.subnet}.1"),
        ("ip", "-n", n, "route", "add", "default", "via", lab.host_ip),
        ("ip", "netns", "exec", n, "sysctl", "-qw", "net.ipv4.ip_forward=1"),
        ("ip", "netns", "exec", n, "iptables", "-t", "nat", "-A", "POSTROUTING",
         "-o", f"vn-{t}", "-j", "MASQUERADE"),
        ("ip", "netns", "exec", n, "iptables", "-A", "FORWARD", "-i", f"vp-{t}",
         "-p", "udp", "-j", "ACCEPT"),
        ("ip", "netns", "exec", n, "iptables", "-A", "FORWARD", "-o", f"vp-{t}",
         "-p", "udp", "-j", "ACCEPT"),
    ]
    try:
        for step in steps:
            _run(*step)
        yield lab
    finally:
        for ns in (p, n):  # the veths go with their namespaces
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=30)
        subprocess.run(["ip", "link", "del", f"vh-{t}"], capture_output=True, timeout=30)
