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
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, task.cancel)
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
