"""The call-control application: wires ARI events to one handler task per call.

`App.run()` owns everything for its lifetime: the database pool, the ARI REST client, the
dispatcher (one task per call) and the events WebSocket (with reconnect and resync).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Awaitable, Callable

from callflow.adoption import resume_adopted
from callflow.ari import AriClient, AriError, AriNotFound, CallEvents, Dispatcher, EventStream
from callflow.ari.events import ChannelDestroyed, ChannelHangupRequest, StasisEnd, StasisStart
from callflow.ari.models import Channel
from callflow.call import Call, CallerHungUp
from callflow.clock import SystemClock
from callflow.config import Settings
from callflow.features import announcements
from callflow.features.callback.legs import leg_of_channel
from callflow.features.callback.resume import resume_callback, unbridged_callbacks
from callflow.features.callback.store import close_adopted_legs
from callflow.features.inbound import handler as inbound
from callflow.features.ivr.driver import handle_pin_change, handle_retrieval
from callflow.jobs import all_jobs
from callflow.logs import bind
from callflow.metrics import (
    FALLBACK_COUNTER,
    OVERLOAD_COUNTER,
    DialplanCounters,
    LiveFigures,
    Metrics,
)
from callflow.routing import Route, RouteKind, classify
from callflow.services import Services
from callflow.stasis_args import Entry
from callflow.status import StatusServer
from callflow.store import Database, StoreError
from callflow.store.calls import log_call, was_logged
from callflow.store.figures import database_reachable, operational_figures
from callflow.store.history import mark_answered_forwards
from callflow.store.subscribers import incoming_call

log = logging.getLogger("callflow.app")

RouteHandler = Callable[[Call, Services], Awaitable[None]]

#: + an application name: "1" while the instance serving it drains (dialplan/anshin.conf,
#: [anshin-stasis] skips it for new calls)
DRAINING_PREFIX = "ANSHIN_DRAINING_"


def _stopping() -> bool:
    """This call task is being cancelled because the process stops (after a drain, or
    SIGINT): the call is left in Asterisk for the next process to take over or hang up
    (callflow/adoption.py), as after a crash."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


class _CallEnd:
    """How a call ended, for anshin_calls_total{route, outcome}."""

    def __init__(self) -> None:
        self.route = "none"  # until routing.classify decided
        self.outcome = "completed"


async def _not_in_service(call: Call, services: Services) -> None:
    await announcements.not_in_service(call)


# Which feature takes a call, by the kind of number dialed (routing.classify). Calls to a
# subscriber's 050 number also need the subscriber's settings, read with the call's log
# row in one round trip, and go to inbound.handle.
ROUTE_HANDLERS: dict[RouteKind, RouteHandler] = {
    RouteKind.RETRIEVAL_IVR: handle_retrieval,
    RouteKind.PIN_CHANGE_IVR: handle_pin_change,
    RouteKind.NOT_IN_SERVICE: _not_in_service,
}


class App:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.db = Database(settings.database_url, timeout=settings.db_timeout,
                           min_size=settings.db_pool_min, max_size=settings.db_pool_max)
        self.ari = AriClient(settings.ari_url, settings.ari_user, settings.ari_password,
                             settings.ari_apps[0], timeout=settings.ari_timeout,
                             rest_sockets=settings.ari_rest_sockets)
        self.metrics = Metrics()
        self.ari.on_request = self.metrics.on_ari_request
        self.dispatcher = Dispatcher(self._run_call)
        self.stream = EventStream(
            settings.ari_url, settings.ari_user, settings.ari_password,
            ",".join(settings.ari_apps),
            on_event=self.dispatcher.dispatch, on_connect=self._resync)
        self.services = Services(settings=settings, db=self.db, ari=self.ari,
                                 clock=SystemClock(settings.clock_offset_s),
                                 dispatcher=self.dispatcher,
                                 # after the resync: see EventStream.synced
                                 ari_connected=self.stream.synced,
                                 draining=asyncio.Event())
        self.live = LiveFigures(
            live_calls=lambda: self.dispatcher.live_calls,
            ari_connected=self.stream.connected.is_set,
            ari_connections=lambda: self.stream.connections,
            ari_reconnects=lambda: self.stream.reconnects)
        self.metrics.watch_live(self.live)
        self.calls_handled = 0
        self.started_at = time.time()
        self.draining = False  # SIGTERM received: no new calls (drain)

    async def run(self) -> None:
        async with self.db, self.ari, self.dispatcher, asyncio.TaskGroup() as jobs:
            for name, job in all_jobs():
                jobs.create_task(job(self.services), name=f"job-{name}")
            jobs.create_task(self.metrics.watch_loop(), name="loop-lag")
            jobs.create_task(self.metrics.watch_database(
                lambda: operational_figures(self.db, self.services.clock.now()),
                self._dialplan_counters), name="metrics-database")
            status = StatusServer(self.health, self.metrics, self.settings.status_port,
                                  database_ok=lambda: database_reachable(self.db),
                                  host=self.settings.status_host)
            await status.start()
            try:
                await self.stream.run()
            finally:
                await status.stop()

    def health(self) -> dict[str, object]:
        """The operator endpoint's /health figures."""
        live = self.live
        return {
            "ari_connected": live.ari_connected(),
            "ari_connections": live.ari_connections(),
            "ari_reconnects": live.ari_reconnects(),
            "live_calls": live.live_calls(),
            "calls_handled": self.calls_handled,
            "uptime_s": round(time.time() - self.started_at, 1),
            # asyncio tasks alive (calls, jobs, connections): flat over a day (bench.soak)
            "tasks": len(asyncio.all_tasks()),
            "draining": self.draining,
        }

    # ---------------------------------------------------------------- drain

    async def drain(self) -> bool:
        """SIGTERM: take no new call - the dialplan skips this instance's application names
        (global ANSHIN_DRAINING_<name> = 1) while another instance is up - and wait until the
        live calls have ended, for at most `drain_seconds`. True if none is left; calls still
        live stay in Asterisk for the restarted instance to take over (callflow/adoption.py).
        """
        self.draining = True
        if self.services.draining is not None:
            self.services.draining.set()  # no new call requests taken either
        t0 = time.monotonic()
        await self._mark_draining()
        idle = await self.dispatcher.wait_idle(self.settings.drain_seconds)
        log.warning("drain: %s after %.1f s", "no call left" if idle else
                    f"{self.dispatcher.live_calls} call(s) left for the restarted instance",
                    time.monotonic() - t0)
        return idle

    async def _mark_draining(self) -> None:
        """Tell the dialplan whether this instance takes new calls (also on every connect: a
        restarted instance clears what its draining predecessor set)."""
        for app in self.settings.ari_apps:
            try:
                await self.ari.set_global_var(f"{DRAINING_PREFIX}{app}",
                                              "1" if self.draining else "0")
            except AriError as exc:
                log.warning("cannot mark %s %s: %s", app,
                            "draining" if self.draining else "open", exc)

    async def _dialplan_counters(self) -> DialplanCounters | None:
        if not self.stream.connected.is_set():
            return None

        async def count(name: str) -> int:
            value = await self.ari.get_global_var(name)
            return int(value) if value is not None and value.isdigit() else 0

        return DialplanCounters(fallbacks=await count(FALLBACK_COUNTER),
                                overload_refusals=await count(OVERLOAD_COUNTER))

    # ---------------------------------------------------------------- resync

    async def _resync(self) -> None:
        """After (re)connecting, rebuild what the lost connection hid from us:

        * channels a live call of ours owns that Asterisk no longer has (the caller hung up
          while the WebSocket was down, or Asterisk restarted): their owners get the
          ChannelDestroyed they missed, so they clean up (end the other leg, the bridge);
        * bridged calls left by a previous app process (callbacks; forwarded calls are
          carried by Dial and need nothing): media flows in Asterisk without us, so they
          are kept up and watched - when one side hangs up, the other is hung up and the
          bridge destroyed;
        * callbacks left before their bridge (leg 2 ringing): taken over by the callback
          feature (callflow/features/callback/resume.py);
        * every other channel still in one of our Stasis applications is taken over from
          the progress it kept (callflow/adoption.py: IVR step, recording), or else hung
          up rather than left in silence. Channels of another instance's names are left.
        """
        await self._set_event_filter()
        await self._mark_draining()
        # What the dialplan announced while no app was connected shows at once (the
        # periodic refresh is slower).
        try:
            self.metrics.dialplan = await self._dialplan_counters()
        except (AriError, ValueError) as exc:
            log.debug("resync: dialplan counters not read: %s", exc)
        try:
            channels = await self.ari.list_channels()
            bridges = await self.ari.list_bridges()
        except AriError as exc:
            log.warning("resync: cannot list channels and bridges: %s", exc)
            return
        await self._end_lost_channels({c.id for c in channels})
        await self._settle_forwards(channels)
        # Only our own application names: another instance's calls are its own (we would
        # get none of their events).
        mine = set(self.settings.ari_apps)
        orphans = {c.id: c for c in channels
                   if not self.dispatcher.owns(c.id) and c.dialplan_app_name.lower() == "stasis"
                   and c.dialplan_app_data.split(",")[0] in mine}
        for bridge in bridges:
            members = list(bridge.channels)
            if not members or not all(cid in orphans for cid in members):
                continue  # empty (a live call may be filling it) or one of ours
            for cid in members:
                del orphans[cid]
            self.dispatcher.start_call(
                members[0], functools.partial(self._watch_bridge, bridge.id, members))
        # Callbacks not bridged yet (leg 2 ringing): resumed by their feature.
        for taken in unbridged_callbacks(list(orphans), [c.id for c in channels]):
            for leg_id in (taken.leg1, taken.leg2):
                if leg_id is not None:
                    orphans.pop(leg_id, None)
            self.dispatcher.start_call(
                taken.leg1, functools.partial(resume_callback, self.services, taken))
        for channel in orphans.values():
            # the name it is in (a forward subscribes that application to the channel)
            await self.dispatcher.adopt(
                channel, application=channel.dialplan_app_data.split(",")[0])

    async def _settle_forwards(self, channels: list[Channel]) -> None:
        """Forwarded calls Dial carries, answered (the caller's channel is up only once the
        forward answered): a process that stopped before their hang-up did not write
        "forwarded" into their history row; written now (idempotent, either instance)."""
        answered = [c.id for c in channels
                    if c.dialplan_app_name.lower() == "dial" and c.state == "Up"]
        try:
            settled = await mark_answered_forwards(self.db, answered)
        except StoreError as exc:
            log.warning("resync: history of forwarded calls not settled: %s", exc)
            return
        if settled:
            log.info("resync: %d forwarded call(s) of a previous process marked forwarded",
                     settled)

    async def _end_lost_channels(self, listed: set[str]) -> None:
        for channel_id in self.dispatcher.owned_channels():
            if channel_id in listed:
                continue
            try:
                await self.ari.get_channel(channel_id)
                continue  # created since the list (an originate that was in flight)
            except AriNotFound:
                pass
            except AriError:
                continue
            log.warning("resync: channel %s vanished while we were disconnected", channel_id)
            await self.dispatcher.dispatch(ChannelDestroyed(
                application=self.settings.ari_app, channel=Channel(id=channel_id),
                cause_txt="gone while the ARI connection was down"))

    async def _watch_bridge(self, bridge_id: str, members: list[str],
                            events: CallEvents) -> None:
        """A bridge adopted on resync: keep it until a member leaves, then end the rest."""
        for cid in members:
            events.claim(cid)
        alive = set(members)
        log.info("resync: bridge %s adopted with %s", bridge_id, ", ".join(members))
        try:
            for cid in members:  # one may have gone before we claimed it
                try:
                    await self.ari.get_channel(cid)
                except AriNotFound:
                    alive.discard(cid)
            if len(members) < 2:
                return
            async with asyncio.timeout(self.settings.callback_max_call_seconds):
                while alive == set(members):
                    event = await events.get()
                    if isinstance(event, StasisEnd | ChannelHangupRequest | ChannelDestroyed):
                        alive.discard(event.channel.id)
        except TimeoutError:
            log.warning("resync: bridge %s reached the longest call allowed", bridge_id)
        finally:
            log.info("resync: adopted bridge %s ends", bridge_id)
            for cid in alive:
                with contextlib.suppress(AriError):
                    await self.ari.hangup(cid)
            with contextlib.suppress(AriError):
                await self.ari.destroy_bridge(bridge_id)
            legs = [leg for cid in members if (leg := leg_of_channel(cid)) is not None]
            if legs:
                try:
                    await close_adopted_legs(self.db, legs, self.services.clock.now())
                except StoreError as exc:
                    log.error("resync: billing of callback legs %s not closed: %s", legs, exc)

    async def _set_event_filter(self) -> None:
        declined = self.settings.ari_declined_events
        if not declined:
            return
        for app in self.settings.ari_apps:
            try:
                await self.ari.set_event_filter(app, declined)
            except AriError as exc:  # older Asterisk: we just get every event
                log.warning("cannot set the ARI event filter of %s: %s", app, exc)

    # ---------------------------------------------------------------- per call

    async def _run_call(self, start: StasisStart, events: CallEvents) -> None:
        self.metrics.call_started(None if start.adopted else start.timestamp)
        bind(call_id=start.channel.id, channel=start.channel.name or None)
        call = Call(self.ari, events, start, self.settings.prompt_prefix)
        self.calls_handled += 1
        end = _CallEnd()
        try:
            if start.adopted:
                # A call a previous process left: resumed from the progress it kept on
                # the channel (IVR step, running recording), else hung up rather than left
                # in silence. (Bridged calls are adopted by _watch_bridge instead.)
                end.route = "adopted"
                resumed = await resume_adopted(call, self.services)
                if resumed is not None:
                    end.route = resumed
                    return
                if await self._never_routed(call):
                    # Arrived as the previous process stopped: nothing was done with it
                    # yet, so it is routed as a new call (the caller only waited longer).
                    log.info("call %s: adopted before routing, routing it now", call.id)
                    await self._route(call, end)
                    return
                log.info("call %s: orphan after reconnect, hanging up", call.id)
                end.route, end.outcome = "adopted", "orphan"
                await call.hangup()
                return
            await self._route(call, end)
        except CallerHungUp:
            end.outcome = "caller_hung_up"
            log.info("call %s: caller hung up", call.id)
        except (AriError, StoreError) as exc:
            end.outcome = "error"
            log.warning("call %s: ended on error: %s", call.id, exc)
        except Exception:
            end.outcome = "error"  # a bug: the dispatcher logs it
            raise
        finally:
            self.metrics.call_ended(end.route, end.outcome)
            if not _stopping():
                await call.hangup()

    async def _never_routed(self, call: Call) -> bool:
        """An adopted call the previous process had not begun to route: an incoming call,
        not answered, without its call_log row (the first thing routing writes) - a process
        dying right after Asterisk handed it the call; the rolling restart with kill -9 met
        it, and hanging it up was a failed call."""
        if call.stasis.entry is not Entry.INBOUND or call.channel.state == "Up":
            return False
        try:
            return not await was_logged(self.db, call.id)
        except StoreError:
            return False

    async def _route(self, call: Call, end: _CallEnd) -> None:
        dialed = call.stasis.dialed_or(call.channel.dialplan_exten)
        route = classify(dialed, retrieval_number=self.settings.retrieval_number,
                         pin_change_number=self.settings.pin_change_number)
        end.route = route.kind.value
        if route.kind is RouteKind.SUBSCRIBER:
            bind(number=route.number)
        caller = call.channel.caller.number or None
        log.info("call %s from %r to %r: %s", call.id, caller, dialed, route.kind.value)
        incoming = None
        try:
            if route.kind is RouteKind.SUBSCRIBER and route.number:
                # One round trip: call_log row, settings, block list, forward destination.
                incoming = await incoming_call(
                    self.db, number=route.number, presented=inbound.presented_caller(call),
                    channel_id=call.id, dialed=dialed[:64], caller=caller)
                if incoming is None:
                    route = Route(RouteKind.NOT_IN_SERVICE, route.number)
                    end.route = route.kind.value
            else:
                await log_call(self.db, channel_id=call.id, dialed=dialed[:64],
                               route=route.kind.value, caller=caller)
        except StoreError as exc:
            # Degraded mode: without the database we cannot screen or route safely.
            log.error("call %s: database unavailable (%s): announcing", call.id, exc)
            end.outcome = "unavailable"
            await announcements.unavailable(call)
            return
        if route.kind is RouteKind.SUBSCRIBER:
            assert incoming is not None
            await inbound.handle(call, self.services, incoming)
        else:
            await ROUTE_HANDLERS[route.kind](call, self.services)


