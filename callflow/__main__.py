"""`python -m callflow`: run the call-control app until SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal

from pydantic import ValidationError

from callflow.app import App
from callflow.config import Settings
from callflow.deployment import app_problems, invalid_settings, refuse_to_start


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
    logging.basicConfig(
        level=settings.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    asyncio.run(_main(settings))


if __name__ == "__main__":
    main()
