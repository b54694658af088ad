"""`python -m callflow.transcribe`: run one voicemail transcription worker until
SIGTERM/SIGINT (docs/transcription.md). Needs the `transcribe` extra; loads the recogniser
before taking any job, and exits with status 2 if it cannot."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys

from pydantic import ValidationError

from callflow.config import Settings
from callflow.deployment import database_url_problems, invalid_settings, refuse_to_start
from callflow.logs import configure as configure_logs
from callflow.transcribe.model import Recognition, RecognizerUnavailable, recognize, recognizer
from callflow.transcribe.worker import run

PROGRAM = "callflow.transcribe"
log = logging.getLogger("callflow.transcribe")


def voicemail_text(wav: bytes) -> Recognition:
    """A voicemail's text: Japanese, VAD on (a message's silences are skipped)."""
    return recognize(wav, vad=True)


async def _main(settings: Settings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await run(settings, voicemail_text, stop)


def main() -> None:
    try:
        settings = Settings()
    except ValidationError as exc:
        invalid_settings(PROGRAM, exc)
    if settings.profile != "lab":
        refuse_to_start(PROGRAM, database_url_problems("ANSHIN_DATABASE_URL",
                                                       settings.database_url, os.environ))
    configure_logs(settings.log_level, settings.log_format, "transcribe")
    if not settings.transcribe:
        log.warning("ANSHIN_TRANSCRIBE is off: the app makes no jobs, this worker will idle")
    try:
        recognizer(settings.transcribe_threads)
    except RecognizerUnavailable as exc:
        print(f"{PROGRAM}: {exc}", file=sys.stderr)
        sys.exit(2)
    asyncio.run(_main(settings))


if __name__ == "__main__":
    main()
