"""Run the portal in a background thread for the lab: tests, screenshot runs, local experiments.
Lab tooling, never imported by the product (tests/unit/test_import_rules.py)."""

from __future__ import annotations

import threading
import time
import urllib.request

import uvicorn

from labkit import testlogs
from labkit.ports import free_port
from portal.app import create_app
from portal.auth import PasswordHashing
from portal.config import PortalSettings
from portal.request_context import Portal
from portal.sms import SmsProvider


class PortalServer:
    def __init__(self, settings: PortalSettings, *, sms: SmsProvider | None = None,
                 passwords: PasswordHashing | None = None) -> None:
        self.port = settings.portal_port or free_port()
        # A lab server by definition (tests, screenshots): the lab profile.
        self.settings = settings.model_copy(update={"portal_port": self.port, "profile": "lab"})
        self.app = create_app(self.settings, sms=sms, passwords=passwords)
        config = uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning",
                                access_log=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="portal", daemon=True)

    @property
    def portal(self) -> Portal:
        """The running portal's state (tests look at its password-hashing threads)."""
        p: Portal = self.app.state.portal
        return p

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> PortalServer:
        testlogs.keep_portal_records()  # the session's log-secrets check reads them
        self.thread.start()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(self.url + "/login", timeout=2):
                    return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("portal did not start")

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
