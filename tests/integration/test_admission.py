"""Admission control (dialplan/anshin.conf [anshin-inbound]): when too many inbound calls
are waiting for the app, new ones are refused at once with 503, admitted calls go on, and
the service takes calls again as soon as the backlog is gone.

A stalled app (SIGSTOP: its WebSocket stays connected, so Stasis() still succeeds and the
calls queue up in Asterisk as they do when the app or the box falls behind in a burst) is
the deterministic stand-in for overload; the benchmark measures it under real load
(bench/README.md, overload mode).
"""

from __future__ import annotations

import asyncio
import re
import signal
from collections.abc import Iterator

import pytest

from integration.support import new_subscriber
from integration.test_inbound import CALLER, Sql, add_forward, uas_for
from labkit.appproc import AppProcess
from labkit.asterisk import AsteriskContainer
from labkit.harness.sipp import Hangup, Wait, place_call
from labkit.harness.wait import wait_until

pytestmark = pytest.mark.lab

RETRIEVAL = "05033005000"
SHIPPED_LIMIT = 30  # asterisk-conf/extensions.conf [globals]


def in_setup(asterisk: AsteriskContainer) -> int:
    """Calls Asterisk counts as waiting for the app (the admission control's group)."""
    out = asterisk.cli("group show channels")
    return sum(1 for line in out.splitlines() if re.search(r"\ssetup\s+anshin\s*$", line))


def refusals(asterisk: AsteriskContainer) -> int:
    out = asterisk.cli("dialplan show globals")
    m = re.search(r"ANSHIN_OVERLOAD_REFUSALS=(\d+)", out)
    return int(m.group(1)) if m else 0


@pytest.fixture
def setup_limit(asterisk: AsteriskContainer) -> Iterator[None]:
    yield
    asterisk.cli(f"dialplan set global ANSHIN_SETUP_LIMIT {SHIPPED_LIMIT}")


def set_limit(asterisk: AsteriskContainer, limit: int) -> None:
    asterisk.cli(f"dialplan set global ANSHIN_SETUP_LIMIT {limit}")


async def test_calls_beyond_the_limit_get_503_at_once_and_service_recovers(
        app: AppProcess, asterisk: AsteriskContainer, setup_limit: None) -> None:
    set_limit(asterisk, 2)
    before = refusals(asterisk)
    assert app.proc is not None
    app.proc.send_signal(signal.SIGSTOP)
    try:
        waiting = [asyncio.create_task(place_call(
            target=asterisk.sip_target, dialed=RETRIEVAL, steps=[Wait(1.0), Hangup()],
            timeout_s=40)) for _ in range(2)]
        await wait_until(lambda: in_setup(asterisk) == 2, 15, "two calls wait for the app")
        refused = await place_call(target=asterisk.sip_target, dialed=RETRIEVAL, timeout_s=20)
        assert refused.final_status == 503 and not refused.answered, refused.describe()
        # refused by the dialplan, not by a timer: well under a second even on a busy host
        assert refused.setup_s is not None and refused.setup_s < 1.0, refused.describe()
        assert in_setup(asterisk) == 2
    finally:
        app.proc.send_signal(signal.SIGCONT)
    # the admitted calls go on once the app catches up
    for result in await asyncio.gather(*waiting):
        assert result.answered, result.describe()
    assert refusals(asterisk) == before + 1
    # answered calls no longer count, and new calls are taken again at once
    await wait_until(lambda: in_setup(asterisk) == 0, 10, "no call waits for the app")
    again = await place_call(target=asterisk.sip_target, dialed=RETRIEVAL,
                             steps=[Wait(1.0), Hangup()], timeout_s=20)
    assert again.answered, again.describe()


async def test_a_ringing_forward_does_not_count_as_waiting(
        app: AppProcess, asterisk: AsteriskContainer, sql: Sql, setup_limit: None) -> None:
    number = new_subscriber(sql, forward_enabled=True, forward_ring_seconds=20,
                            voicemail_enabled=True)
    add_forward(sql, number)
    set_limit(asterisk, 1)
    async with uas_for(asterisk, mode="ring") as uas:
        ringing = asyncio.create_task(place_call(
            target=asterisk.sip_target, dialed=number, caller=CALLER, cancel_after_s=6.0,
            timeout_s=30))
        await uas.wait_for_calls(1)
        # The forward left the app for Dial: it is out of the count, so with a limit of one
        # the next caller is admitted.
        assert in_setup(asterisk) == 0
        other = await place_call(target=asterisk.sip_target, dialed=RETRIEVAL,
                                 steps=[Wait(1.0), Hangup()], timeout_s=20)
        assert other.answered, other.describe()
        result = await ringing
        assert result.cancelled, result.describe()
