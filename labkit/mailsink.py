"""Local mail sinks for the lab on 127.0.0.1: `./lab up`'s Maildir sink (``python -m
labkit.mailsink``) and :class:`MailSink`, the in-memory one the test labs read mail from."""

from __future__ import annotations

import argparse
import signal
import threading
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Mailbox
from aiosmtpd.smtp import Envelope

from labkit.ports import free_port


def ensure_maildir(path: Path) -> None:
    """Make ``path`` a Maildir (tmp/, new/, cur/), also when the folder exists already:
    `./lab up` creates it for the container's bind mount, and ``mailbox.Maildir(create=True)``
    only creates the three subfolders for a folder that does not exist yet, so every
    delivery then failed (no tmp/)."""
    for sub in ("tmp", "new", "cur"):
        (path / sub).mkdir(parents=True, exist_ok=True)



class MailSink:
    """aiosmtpd on a free port, collecting every message; stop()/start() keep the port
    (the relay-down test)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.messages: list[tuple[str, list[str], bytes]] = []  # (MAIL FROM, RCPT TO, data)
        self._controller: Controller | None = None

    async def handle_DATA(self, server: object, session: object, envelope: Envelope
                          ) -> str:
        assert isinstance(envelope.content, bytes)
        self.messages.append((envelope.mail_from or "", list(envelope.rcpt_tos),
                              envelope.content))
        return "250 Message accepted for delivery"

    def start(self) -> None:
        if self._controller is None:
            self._controller = Controller(self, hostname="127.0.0.1", port=self.port)
            self._controller.start()

    def stop(self) -> None:
        controller, self._controller = self._controller, None
        if controller is not None:
            controller.stop()

    def to(self, addr: str) -> list[bytes]:
        return [data for _, rcpts, data in list(self.messages) if addr in rcpts]


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
