"""`python -m callflow`: run the call-control app until SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal

from pydantic import ValidationError

from callflow.app import App
from callflow.config import Settings
from callflow.deployment import (
    app_problems,
    invalid_settings,
    refuse_to_start,
    refuse_unless_schema_current,
)
from callflow.logs import configure as configure_logs


async def _main(settings: Settings) -> None:
    app = App(settings)
    task = asyncio.create_task(app.run(), name="callflow")
    loop = asyncio.get_running_loop()
    draining: set[asyncio.Task[None]] = set()

    async def drain_then_stop() -> None:
        await app.drain()
        task.cancel()

    def on_sigterm() -> None:
        # The first SIGTERM drains (docs/operations.md, "Deploying one instance at a
        # time"); a second one stops at once.
        if draining:
            task.cancel()
            return
        draining.add(loop.create_task(drain_then_stop(), name="drain"))

    loop.add_signal_handler(signal.SIGTERM, on_sigterm)
    loop.add_signal_handler(signal.SIGINT, task.cancel)
    with contextlib.suppress(asyncio.CancelledError):
        await task


def main() -> None:
    try:
        settings = Settings()
    except ValidationError as exc:
        invalid_settings("callflow", exc)
    refuse_to_start("callflow", app_problems(settings, os.environ))
    refuse_unless_schema_current("callflow", settings.database_url)
    configure_logs(settings.log_level, settings.log_format, "callflow")
    asyncio.run(_main(settings))


if __name__ == "__main__":
    main()
