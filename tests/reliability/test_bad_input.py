"""Item 6: bad input from the network - DTMF garbage (1000-digit bursts, digits during
prompts, both DTMF modes), callers hanging up at every step of the IVRs, malformed caller
ids and dialed numbers. No crash, no stuck channel, no leaked call task."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

import psycopg
import pytest
from argon2 import PasswordHasher
from integration.support import new_subscriber

from labkit.appproc import AppProcess
from labkit.asterisk import AsteriskContainer
from labkit.harness.rtp import dtmf_digit_period_s
from labkit.harness.sipp import CallResult, Dtmf, Hangup, Step, Wait, place_call
from reliability.results import Row
from reliability.support import as_int, health, wait_health, wait_no_channels

pytestmark = pytest.mark.lab

Sql = psycopg.Connection[tuple[object, ...]]
RETRIEVAL = "05033005000"
PIN_CHANGE = "05033005141"
PIN = "4826"


def step_s(step: Step) -> float:
    if isinstance(step, Wait):
        return step.seconds
    if isinstance(step, Dtmf):
        return len(step.digits) * dtmf_digit_period_s(step.duration_s, step.gap_s or 0.1)
    return 0.0


def cut_at(script: Sequence[Step], at_s: float) -> list[Step]:
    """`script` up to `at_s` seconds after the answer, then hang up."""
    out: list[Step] = []
    t = 0.0
    for step in script:
        d = step_s(step)
        if t + d > at_s:
            out.append(Wait(max(0.05, at_s - t)))
            break
        out.append(step)
        t += d
    out.append(Hangup())
    return out


@pytest.mark.timeout(240)
@pytest.mark.reliability(6, "Bad input: DTMF garbage, hang-ups at every IVR step, malformed "
                            "caller ids and dialed numbers")
async def test_bad_input(app: AppProcess, asterisk: AsteriskContainer, sql: Sql,
                         reliability: Row) -> None:
    number = new_subscriber(sql, voicemail_enabled=True,
                            voicemail_pin_hash=PasswordHasher().hash(PIN))
    sql.execute("INSERT INTO voicemail_messages (number, caller, duration_ms, audio,"
                " recording_name) VALUES (%s, '0311112222', 1000, 'x', %s)",
                (number, f"rel-{number}"))
    before = await health(app)
    log_start = app.log_path.stat().st_size
    pid = app.proc.pid if app.proc else None
    target = asterisk.sip_target
    # a full retrieval session: mailbox number, PIN, menu keys, then more menu keys
    retrieval: list[Step] = [Wait(0.5), Dtmf(number + "#"), Dtmf(PIN + "#"), Wait(2.0), Dtmf("1"),
                 Wait(2.0), Dtmf("2"), Wait(1.5), Dtmf("3"), Wait(1.5), Dtmf("9"),
                 Wait(1.5), Dtmf("*"), Wait(1.5)]
    pin_change: list[Step] = [Wait(0.5), Dtmf(number + "#"), Dtmf(PIN + "#"), Wait(1.5),
                  Dtmf("1357#"), Wait(1.0), Dtmf("1357#"), Wait(1.5)]
    walk_r = [round(0.3 + 1.1 * i, 1) for i in range(14)]  # 0.3 … 14.6 s
    walk_p = [round(0.3 + 1.0 * i, 1) for i in range(10)]
    calls: list[tuple[str, asyncio.Task[CallResult]]] = []

    def call(what: str, **kwargs: object) -> None:
        calls.append((what, asyncio.create_task(place_call(target=target, **kwargs))))  # type: ignore[arg-type]

    for t in walk_r:
        call(f"retrieval, hang up at {t}s", dialed=RETRIEVAL, steps=cut_at(retrieval, t),
             timeout_s=40)
    for t in walk_p:
        call(f"PIN change, hang up at {t}s", dialed=PIN_CHANGE, steps=cut_at(pin_change, t),
             timeout_s=40)
    garbage = "".join("0123456789*#ABCD"[i * 7 % 16] for i in range(1000))
    for dialed in (RETRIEVAL, PIN_CHANGE):
        call(f"1000 digits to {dialed}", dialed=dialed,
             steps=[Wait(0.1), Dtmf(garbage, duration_s=0.04, gap_s=0.02)],
             wait_for_remote_bye=True, timeout_s=150)
        call(f"digits during the prompts (INFO) to {dialed}", dialed=dialed,
             steps=[Dtmf("#*#*1#2#3#", mode="info", duration_s=0.05, gap_s=0.02),
                    Dtmf(number + "#" + "0000#", mode="info", duration_s=0.05, gap_s=0.02),
                    Dtmf("####****", mode="rfc4733", duration_s=0.04, gap_s=0.0)],
             wait_for_remote_bye=True, timeout_s=60)
    call("digits during the voicemail greeting", dialed=number,
         steps=[Dtmf("*" * 30 + "#" * 30, duration_s=0.04, gap_s=0.02), Wait(2.0),
                Hangup()], timeout_s=30)
    for caller in ("0" * 60, "+", "+81+81-3-1234", "ABCdef", "*#*#", "0120'--;x"):
        call(f"caller id {caller!r}", dialed=number, caller=caller,
             steps=[Wait(2.0), Hangup()], timeout_s=30)
    for dialed in ("050" + "9" * 60, "050-+-*#", "*", "#", "+0"):
        call(f"dialed {dialed!r}", dialed=dialed, wait_for_remote_bye=True, timeout_s=30)

    t0 = time.monotonic()
    results = [(w, await t) for w, t in calls]  # all placed at once
    wall_s = time.monotonic() - t0
    unanswered = [w for w, r in results if not r.answered and r.final_status != 404]
    assert not unanswered, unanswered
    idle_s = await wait_health(app, lambda h: h.get("live_calls") == 0, 30, "no live call")
    await wait_no_channels(asterisk, timeout=30)
    after = await health(app)
    assert app.proc is not None and app.proc.pid == pid and app.proc.poll() is None
    assert as_int(after.get("ari_connections")) == as_int(before.get("ari_connections"))
    handled = as_int(after.get("calls_handled")) - as_int(before.get("calls_handled"))
    answered = sum(1 for _, r in results if r.answered)
    errors = app.log_path.read_bytes()[log_start:].count(b"Traceback")
    reliability.note(f"{len(results)} hostile calls at once (hang-up walk through both IVRs, "
                     "1000-digit bursts in RFC 4733, digits typed over prompts in SIP INFO "
                     "and RFC 4733, garbage caller ids and dialed numbers). The app stayed "
                     "up on its first connection, every call ended, and the live-call count "
                     "and Asterisk's channel count went back to 0.")
    reliability.figure("calls", f"{len(results)} placed, {answered} answered, {handled} "
                       "handled by the app")
    reliability.figure("tracebacks in the app log", errors)
    reliability.figure("all calls over", wall_s, "s")
    reliability.figure("live calls back to 0 after the last call", idle_s, "s")
    assert errors == 0
