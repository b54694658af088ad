"""The call-request worker: any app instance places the calls the portal asks for.

Wake-ups come from ``LISTEN anshin_call_requests`` on a dedicated connection (the insert
trigger notifies) with a poll every ``call_request_poll_interval`` s as the safety net
(a lost LISTEN connection, a notification sent while reconnecting). A request is taken
with ``UPDATE ... WHERE id = (SELECT ... FOR UPDATE SKIP LOCKED)`` so instances never take
the same one; one not taken before ``expires_at`` becomes ``expired`` (the portal shows
it). Requests are only taken while the ARI events WebSocket is up, since the call task
needs its channel's events, and not while the instance drains (SIGTERM): a draining
instance finishes the calls it placed and leaves new requests to the other instance (or to
itself once restarted; a request waits up to its ``expires_at``).
"""

from __future__ import annotations

import asyncio
import logging

import psycopg

from callflow.ari import AriError, CallEvents
from callflow.features.callback import twofa_call
from callflow.logs import bind
from callflow.services import Services
from callflow.store import StoreError
from callflow.store.once import instance_name

from . import service, store
from .calls import CallbackRun, best_effort, new_channel_id, run_verification
from .models import CallRequest

log = logging.getLogger("callflow.features.callback")

CHANNEL = "anshin_call_requests"


async def handle_request(svc: Services, req: CallRequest, events: CallEvents) -> None:
    """The call task of one request (its leg-1 channel id is ``events.channel_id``)."""
    # every log line of this placed call carries it (callflow/logs.py)
    bind(call_id=events.channel_id, request=str(req.id), kind=req.kind, number=req.number)
    log.info("request %s (%s): placing call to %s", req.id, req.kind, req.leg1)
    try:
        refused = await service.placement_refusal(svc.db, req, svc.settings)
        if refused is not None:
            log.warning("request %s (%s) to %s refused before dialling: %s", req.id, req.kind,
                        req.leg1, refused.reason_code)
            await store.set_status(svc.db, req.id, "failed", f"rule_{refused.reason_code}")
            return
        if req.kind == "callback":
            ring1, ring2 = await store.ring_seconds(
                svc.db, req.account_id, svc.settings.callback_leg1_ring_seconds,
                svc.settings.callback_leg2_ring_seconds)
            await CallbackRun(svc, req, events, ring1, ring2).run()
        elif req.kind == "verify_own_number":
            await run_verification(svc, req, events)
        elif req.kind == "twofa_voice":
            await twofa_call.run(svc, req, events)
        else:
            await store.set_status(svc.db, req.id, "failed", "unknown_kind")
    except (AriError, StoreError) as exc:
        log.warning("request %s: ended on error: %s", req.id, exc)
        await best_effort(f"request {req.id}",
                          store.set_status(svc.db, req.id, "failed", "internal_error"))


class RequestWorker:
    def __init__(self, svc: Services) -> None:
        self.svc = svc
        self.name = instance_name()
        self.active = 0
        self.wake = asyncio.Event()

    async def run(self) -> None:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self._listen(), name="call-requests-listen")
            while True:
                try:
                    async with asyncio.timeout(self.svc.settings.call_request_poll_interval):
                        await self.wake.wait()
                except TimeoutError:
                    pass
                self.wake.clear()
                try:
                    await self.drain()
                except StoreError as exc:
                    log.warning("call requests: %s", exc)
                    await asyncio.sleep(1.0)
                except Exception:  # a job never ends by itself
                    log.exception("call requests: unexpected error")
                    await asyncio.sleep(1.0)

    async def _listen(self) -> None:
        delay = 1.0
        while True:
            try:
                conn = await psycopg.AsyncConnection.connect(
                    self.svc.settings.database_url, autocommit=True, connect_timeout=5)
                async with conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    log.info("call requests: listening on %s", CHANNEL)
                    delay = 1.0
                    self.wake.set()  # catch up on anything inserted meanwhile
                    async for _note in conn.notifies():
                        self.wake.set()
            except (psycopg.Error, OSError) as exc:
                log.warning("call requests: LISTEN connection lost (%s); polling meanwhile",
                            exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)

    async def drain(self) -> None:
        """Expire overdue requests, then take pending ones while there is capacity."""
        svc = self.svc
        await store.expire_overdue(svc.db, svc.settings.callback_max_call_seconds)
        if svc.dispatcher is None:
            return
        if svc.ari_connected is not None and not svc.ari_connected.is_set():
            return
        if svc.draining is not None and svc.draining.is_set():
            return
        while self.active < svc.settings.call_request_max_concurrent:
            req = await store.claim_next(svc.db, self.name)
            if req is None:
                return
            self._start(req)

    def _start(self, req: CallRequest) -> None:
        assert self.svc.dispatcher is not None
        svc = self.svc

        async def handler(events: CallEvents) -> None:
            await handle_request(svc, req, events)

        task = self.svc.dispatcher.start_call(new_channel_id(req.id, 1), handler)
        self.active += 1
        task.add_done_callback(self._done)

    def _done(self, _task: asyncio.Task[None]) -> None:
        self.active -= 1
        self.wake.set()


async def call_request_worker(svc: Services) -> None:
    await RequestWorker(svc).run()
