"""A local mail sink for the lab: accepts SMTP on 127.0.0.1 and stores messages in a Maildir."""

from __future__ import annotations

import argparse
import signal
import threading
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Mailbox


def ensure_maildir(path: Path) -> None:
    """Make ``path`` a Maildir (tmp/, new/, cur/), also when the folder exists already:
    `./lab up` creates it for the container's bind mount, and ``mailbox.Maildir(create=True)``
    only creates the three subfolders for a folder that does not exist yet, so every
    delivery then failed (no tmp/)."""
    for sub in ("tmp", "new", "cur"):
        (path / sub).mkdir(parents=True, exist_ok=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=2525)
    parser.add_argument("--maildir", type=Path, default=Path("build/mail"))
    args = parser.parse_args()
    ensure_maildir(args.maildir)
    controller = Controller(Mailbox(args.maildir), hostname="127.0.0.1", port=args.port)
    controller.start()
    print(f"mail sink on 127.0.0.1:{args.port}, Maildir {args.maildir}", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    controller.stop()


if __name__ == "__main__":
    main()
