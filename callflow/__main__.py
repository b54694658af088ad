"""`python -m callflow`: run the call-control app until SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

from callflow.app import App
from callflow.config import Settings


async def _main(settings: Settings) -> None:
    app = App(settings)
    task = asyncio.create_task(app.run(), name="callflow")
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, task.cancel)
    with contextlib.suppress(asyncio.CancelledError):
        await task


def main() -> None:
    settings = Settings()
    logging.basicConfig(
        level=settings.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    asyncio.run(_main(settings))


if __name__ == "__main__":
    main()
