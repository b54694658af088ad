"""The transcription worker: takes voicemail messages' jobs from the database, turns each
recording into Japanese text, stores it, and lets the message's notification go.

One job at a time per worker; run as many workers as the CPUs allow (each job is taken by one
of them: ``FOR UPDATE SKIP LOCKED`` and a lease, callflow/store/transcripts.py). The claim is
committed before the recogniser runs, so no transaction stays open for seconds of CPU; the text
and the release of the held mail commit together. A worker killed mid-job leaves a lease that
runs out, and the job is taken again; the mail is sent by the app's sender, never here, so a
crash never sends it twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from callflow.config import Settings
from callflow.mail.outbox import release_waiting
from callflow.store import Database, StoreError, transcripts
from callflow.store.once import instance_name
from callflow.transcribe.model import Recognition

log = logging.getLogger("callflow.transcribe")

Recognize = Callable[[bytes], Recognition]

#: a try that failed with an error (not a crash) is retried after this long
RETRY_AFTER_ERROR_S = 30.0


def worker_name() -> str:
    return instance_name()


async def work_once(db: Database, settings: Settings, recognize: Recognize,
                    worker: str) -> bool:
    """Do the oldest pending job; False when there was none."""
    async with db.transaction() as conn:
        job = await transcripts.claim(conn, worker=worker, lease_s=settings.transcribe_lease_s,
                                      max_attempts=settings.transcribe_max_attempts)
        if isinstance(job, transcripts.GivenUp):
            log.error("message %d: transcription given up after %d attempts",
                      job.message_id, settings.transcribe_max_attempts)
            await release_waiting(conn, job.message_id)
            return True
    if job is None:
        return False
    try:
        result = await _recognize_holding_lease(db, settings, recognize, worker, job)
    except Exception as exc:  # the recogniser's failures are many (bad WAV, runtime)
        give_up = job.attempt >= settings.transcribe_max_attempts
        log.warning("message %d: transcription failed (attempt %d%s): %s: %s",
                    job.message_id, job.attempt, ", given up" if give_up else "",
                    type(exc).__name__, exc)
        async with db.transaction() as conn:
            held = await transcripts.fail(conn, message_id=job.message_id, worker=worker,
                                          error=f"{type(exc).__name__}: {exc}",
                                          give_up=give_up, retry_in_s=RETRY_AFTER_ERROR_S)
            if held and give_up:
                await release_waiting(conn, job.message_id)
        return True
    async with db.transaction() as conn:
        stored = await transcripts.finish(
            conn, message_id=job.message_id, worker=worker, text=result.text,
            audio_ms=round(result.audio_s * 1000), cpu_ms=round(result.cpu_s * 1000))
        if stored:
            await release_waiting(conn, job.message_id)
    if stored:
        log.info("message %d transcribed: %.1f s of audio, %.1f s CPU, %d characters",
                 job.message_id, result.audio_s, result.cpu_s, len(result.text))
    else:
        log.warning("message %d: transcribed, but the job was no longer ours (lease ran out"
                    " or the message was deleted): text dropped", job.message_id)
    return True


async def _recognize_holding_lease(db: Database, settings: Settings, recognize: Recognize,
                                   worker: str, job: transcripts.TranscriptionJob
                                   ) -> Recognition:
    """Run the recogniser in a thread; meanwhile renew the lease every third of it, so that
    however long a message takes (or however busy the CPUs are) no other worker takes the
    job while this one is alive."""
    work = asyncio.ensure_future(asyncio.to_thread(recognize, job.audio))
    lease_s = settings.transcribe_lease_s
    while True:
        done, _pending = await asyncio.wait({work}, timeout=lease_s / 3)
        if done:
            return work.result()
        try:
            async with db.connection() as conn:
                await transcripts.renew(conn, message_id=job.message_id, worker=worker,
                                        lease_s=lease_s)
        except StoreError as exc:  # the lease may run out: the job may then be done twice
            log.warning("message %d: lease not renewed: %s", job.message_id, exc)


async def run(settings: Settings, recognize: Recognize, stop: asyncio.Event) -> None:
    """Work until ``stop`` is set (a job in progress is finished first). The database being
    away is logged and retried at the next poll."""
    worker = worker_name()
    db = Database(settings.database_url, timeout=settings.db_timeout, min_size=1, max_size=2)
    await db.open()
    log.info("transcription worker %s ready", worker)
    try:
        while not stop.is_set():
            try:
                while not stop.is_set() and await work_once(db, settings, recognize, worker):
                    pass
            except StoreError as exc:
                log.warning("transcription jobs unreachable (will retry): %s", exc)
            except Exception:  # the worker must not die
                log.exception("transcription worker error (will retry)")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), settings.transcribe_poll_interval)
    finally:
        await db.close()
