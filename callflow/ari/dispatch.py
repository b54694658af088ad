"""Per-channel ordered dispatch: one task per call, owning one or more channels.

The stream feeds every event to :meth:`Dispatcher.dispatch` (sequentially). An event
concerning a channel owned by a live call goes onto that call's queue, so each call sees
its events in arrival order; a ``StasisStart`` for an unowned channel starts a new call
task (inside the dispatcher's ``asyncio.TaskGroup``); anything else is dropped.

Choices worth knowing:

* An event naming channels owned by *different* calls (e.g. ``Dial`` with caller and
  peer in two calls) is delivered to each of those calls once.
* :meth:`Dispatcher.adopt` (resync after reconnect) hands the factory a synthetic
  ``StasisStart`` with ``adopted=True``; its ``args`` are recovered best-effort from the
  channel's dialplan ``app_data`` (``"Stasis"`` / ``"<app>,a,b"`` → ``("a", "b")``),
  otherwise ``()``.
* When a call task ends (return, exception or cancellation) all its channels are
  released; their later events are dropped (a later ``StasisStart`` starts a new call).
  The dispatcher does not hang up channels left behind - that is the handler's job.
* Leaving ``async with dispatcher:`` cancels the running call tasks and waits for them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from types import TracebackType

from .events import Event, StasisStart
from .models import Channel

__all__ = ["CallEvents", "Dispatcher", "HandlerFactory"]

log = logging.getLogger("callflow.ari")


class CallEvents:
    """The event queue of one call. Created by the :class:`Dispatcher` only."""

    def __init__(self, dispatcher: Dispatcher, channel_id: str) -> None:
        self._dispatcher = dispatcher
        self.channel_id = channel_id
        self._queue: asyncio.Queue[Event] = asyncio.Queue()
        self._owned: set[str] = set()
        self._finished = False

    def __repr__(self) -> str:
        return f"<CallEvents {self.channel_id} owned={sorted(self._owned)}>"

    @property
    def owned(self) -> frozenset[str]:
        return frozenset(self._owned)

    @property
    def pending(self) -> int:
        """Events queued but not yet taken by :meth:`get`."""
        return self._queue.qsize()

    async def get(self, timeout: float | None = None) -> Event:
        """Next event for this call; raises ``asyncio.TimeoutError`` after ``timeout`` s."""
        if timeout is None:
            return await self._queue.get()
        async with asyncio.timeout(timeout):
            return await self._queue.get()

    def get_nowait(self) -> Event | None:
        """Next queued event, or ``None`` if there is none."""
        try:
            return self._queue.get_nowait()
        except asyncio.QueueEmpty:
            return None

    def claim(self, channel_id: str) -> None:
        """Route ``channel_id``'s events to this call from now on (e.g. an outbound leg
        originated with a known ``channel_id`` - claim it *before* originating so its
        StasisStart lands here). Raises ``ValueError`` if another live call owns it."""
        self._dispatcher._claim(self, channel_id)

    def release(self, channel_id: str) -> None:
        """Stop routing ``channel_id`` to this call (no-op if not owned)."""
        self._dispatcher._release(self, channel_id)


HandlerFactory = Callable[[StasisStart, CallEvents], Awaitable[None]]


def _stasis_args(channel: Channel) -> tuple[str, ...]:
    if channel.dialplan_app_name.lower() != "stasis" or not channel.dialplan_app_data:
        return ()
    return tuple(channel.dialplan_app_data.split(",")[1:])


class Dispatcher:
    """Routes events to per-call tasks. Use as ``async with Dispatcher(factory) as d:``."""

    def __init__(self, handler_factory: HandlerFactory) -> None:
        self._factory = handler_factory
        self._owners: dict[str, CallEvents] = {}
        self._calls: dict[CallEvents, asyncio.Task[None]] = {}
        self._tg: asyncio.TaskGroup | None = None
        self._idle = asyncio.Event()
        self._idle.set()

    # ------------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> Dispatcher:
        if self._tg is not None:
            raise RuntimeError("Dispatcher already running")
        tg = asyncio.TaskGroup()
        await tg.__aenter__()
        self._tg = tg
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        tg, self._tg = self._tg, None
        if tg is None:
            return
        for task in list(self._calls.values()):
            task.cancel()
        # Children never fail (handler errors are caught per call), and the body's own
        # exception must propagate as itself, not wrapped in an ExceptionGroup.
        await tg.__aexit__(None, None, None)

    # ------------------------------------------------------------------ state

    @property
    def live_calls(self) -> int:
        return len(self._calls)

    def owns(self, channel_id: str) -> bool:
        return channel_id in self._owners

    def owned_channels(self) -> list[str]:
        """Every channel id some live call owns (resync checks them against Asterisk)."""
        return list(self._owners)

    def owner(self, channel_id: str) -> CallEvents | None:
        return self._owners.get(channel_id)

    async def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until no call is live; ``False`` if ``timeout`` expired first."""
        try:
            async with asyncio.timeout(timeout):
                await self._idle.wait()
        except TimeoutError:
            return False
        return True

    # ------------------------------------------------------------------ routing

    async def dispatch(self, event: Event) -> None:
        """Route one event (call sequentially, in stream order). Never blocks."""
        targets: list[CallEvents] = []
        for cid in event.channel_ids():
            call = self._owners.get(cid)
            if call is not None and call not in targets:
                targets.append(call)
        if targets:
            for call in targets:
                call._queue.put_nowait(event)
        elif isinstance(event, StasisStart):
            self._start(event)
        else:
            log.debug("ARI %s for unowned channel(s) %s dropped", event.type, event.channel_ids())

    async def adopt(self, channel: Channel, *, application: str = "") -> bool:
        """Start a call for a channel found in Stasis on resync; ``False`` if some live
        call already owns it. See the module doc for the synthetic StasisStart."""
        if channel.id in self._owners:
            return False
        start = StasisStart(
            application=application,
            timestamp=datetime.now(UTC).isoformat(timespec="milliseconds"),
            channel=channel,
            args=_stasis_args(channel),
            adopted=True,
        )
        self._start(start)
        return True

    def start_call(self, channel_id: str,
                   handler: Callable[[CallEvents], Awaitable[None]]) -> asyncio.Task[None]:
        """Start a call task the app drives itself (a call it places, with no inbound
        channel): ``channel_id`` is claimed *before* the task runs, so every event for the
        channel about to be originated with that id - ChannelStateChange/Dial/
        ChannelDestroyed while it rings, StasisStart once answered - lands on the call's
        queue. The task counts as a live call; its channels are released when it ends.
        Raises ``ValueError`` if a live call already owns ``channel_id``."""
        tg = self._tg
        if tg is None:
            raise RuntimeError("Dispatcher is not running (use 'async with dispatcher:')")
        call = CallEvents(self, channel_id)
        self._claim(call, channel_id)
        task = tg.create_task(self._run_placed(call, handler), name=f"ari-placed-{channel_id}")
        self._calls[call] = task
        self._idle.clear()
        log.debug("ARI placed call started for %s (%d live)", channel_id, len(self._calls))
        return task

    async def _run_placed(self, call: CallEvents,
                          handler: Callable[[CallEvents], Awaitable[None]]) -> None:
        try:
            await handler(call)
        except asyncio.CancelledError:
            log.debug("ARI placed call %s cancelled", call.channel_id)
            raise
        except Exception:
            log.exception("ARI placed-call handler for channel %s failed", call.channel_id)
        finally:
            self._finish(call)

    def _start(self, start: StasisStart) -> None:
        tg = self._tg
        if tg is None:
            raise RuntimeError("Dispatcher is not running (use 'async with dispatcher:')")
        call = CallEvents(self, start.channel.id)
        self._claim(call, start.channel.id)
        call._queue.put_nowait(start)
        task = tg.create_task(self._run_call(call, start), name=f"ari-call-{start.channel.id}")
        self._calls[call] = task
        self._idle.clear()
        log.debug("ARI call started for %s (%d live)", start.channel.id, len(self._calls))

    async def _run_call(self, call: CallEvents, start: StasisStart) -> None:
        try:
            await self._factory(start, call)
        except asyncio.CancelledError:
            log.debug("ARI call %s cancelled", call.channel_id)
            raise
        except Exception:
            log.exception("ARI call handler for channel %s failed", call.channel_id)
        finally:
            self._finish(call)

    def _finish(self, call: CallEvents) -> None:
        call._finished = True
        for cid in call._owned:
            if self._owners.get(cid) is call:
                del self._owners[cid]
        call._owned.clear()
        self._calls.pop(call, None)
        if not self._calls:
            self._idle.set()

    def _claim(self, call: CallEvents, channel_id: str) -> None:
        if call._finished:
            raise RuntimeError(f"call {call.channel_id} has ended; cannot claim {channel_id}")
        owner = self._owners.get(channel_id)
        if owner is call:
            return
        if owner is not None:
            raise ValueError(f"channel {channel_id} is owned by call {owner.channel_id}")
        self._owners[channel_id] = call
        call._owned.add(channel_id)

    def _release(self, call: CallEvents, channel_id: str) -> None:
        if self._owners.get(channel_id) is call:
            del self._owners[channel_id]
        call._owned.discard(channel_id)
