"""Free loopback ports, so that two checkouts can run their labs side by side."""

from __future__ import annotations

import random
import socket


def _free(port: int) -> bool:
    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
        with socket.socket(socket.AF_INET, kind) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                return False
    return True


def free_port() -> int:
    """A port free for both TCP and UDP on 127.0.0.1."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if _free(port):
            return port


def free_range(size: int, low: int = 20000, high: int = 60000) -> tuple[int, int]:
    """A block of `size` consecutive free UDP ports (for RTP), even-aligned."""
    rng = random.Random()
    for _ in range(200):
        start = rng.randrange(low, high - size) & ~1
        if all(_free(p) for p in range(start, start + size, 7)):
            return start, start + size - 1
    raise RuntimeError("no free RTP port range found")
