"""Foundation through real peers: SIPp → Asterisk (the project's image) → the app → PostgreSQL."""

from __future__ import annotations

import asyncio
import re
import time

import psycopg
import pytest

from integration.support import new_subscriber
from labkit.appproc import AppProcess
from labkit.asterisk import AsteriskContainer
from labkit.harness.hearing import Ears, heard
from labkit.harness.sipp import Dtmf, Hangup, Wait, place_call
from labkit.harness.wait import wait_until

pytestmark = pytest.mark.lab

Sql = psycopg.Connection[tuple[object, ...]]


def routes_for(sql: Sql, channel_like: str = "%", since: float = 0) -> list[tuple[object, ...]]:
    return sql.execute(
        "SELECT dialed, route, caller, detail FROM call_log"
        " WHERE started_at >= to_timestamp(%s) ORDER BY id", (since,)).fetchall()


async def test_unknown_number_hears_not_in_service(app: AppProcess, asterisk: AsteriskContainer,
                                                   sql: Sql, ears: Ears) -> None:
    t0 = time.time()
    result = await place_call(target=asterisk.sip_target, dialed="0311112222",
                              wait_for_remote_bye=True, timeout_s=20)
    assert result.answered, result.describe()
    assert result.remote_hung_up, "the app must hang up after the announcement"
    assert result.rtp is not None
    # 「おかけになった電話番号は現在使われておりません。」 is about 3 s of speech.
    assert result.rtp.voiced_s > 1.5, result.describe()
    assert result.remote_bye_after_s is not None and result.remote_bye_after_s > 1.5
    text = await ears.hear(result.rtp.wav())
    assert heard(["おかけになった電話番号は現在使われておりません"], text), text
    assert ("0311112222", "not_in_service") in [(r[0], r[1]) for r in routes_for(sql, since=t0)]


async def test_demo_subscriber_reaches_inbound_handler(app: AppProcess, asterisk: AsteriskContainer,
                                                       sql: Sql) -> None:
    number = new_subscriber(sql)
    t0 = time.time()
    result = await place_call(target=asterisk.sip_target, dialed=number, caller="0312345678",
                              wait_for_remote_bye=True, timeout_s=20)
    assert result.answered and result.remote_hung_up, result.describe()
    assert result.rtp is not None and result.rtp.voiced_s > 1.5
    rows = routes_for(sql, since=t0)
    assert (number, "subscriber", "0312345678") in [(r[0], r[1], r[2]) for r in rows]


async def test_unprovisioned_050_number_is_not_in_service(app: AppProcess,
                                                          asterisk: AsteriskContainer,
                                                          sql: Sql) -> None:
    t0 = time.time()
    result = await place_call(target=asterisk.sip_target, dialed="05099998888",
                              wait_for_remote_bye=True, timeout_s=20)
    assert result.answered and result.remote_hung_up, result.describe()
    assert ("05099998888", "not_in_service") in [(r[0], r[1]) for r in routes_for(sql, since=t0)]


@pytest.mark.parametrize("dialed", ["05033005000", "+815033005141", "050-3300-5000"])
@pytest.mark.parametrize("mode", ["rfc4733", "info"])
async def test_ivr_numbers_receive_digits(app: AppProcess, asterisk: AsteriskContainer, sql: Sql,
                                          dialed: str, mode: str) -> None:
    # Repeated digits ("11", "22") must arrive as separate presses in both DTMF modes: the
    # IVR can only count a wrong PIN against this mailbox if every digit of its number arrived.
    number = new_subscriber(sql)
    entered = "0501122" + number[-4:]
    sql.execute("UPDATE subscriber_numbers SET number = %s WHERE number = %s", (entered, number))
    result = await place_call(target=asterisk.sip_target, dialed=dialed,
                              steps=[Wait(1.0), Dtmf(entered + "#", mode=mode),  # type: ignore[arg-type]
                                     Dtmf("9900#", mode=mode), Wait(3.0), Hangup()],  # type: ignore[arg-type]
                              timeout_s=30)
    assert result.answered, result.describe()
    await wait_until(lambda: sql.execute("SELECT failed_attempts FROM ivr_lockouts"
                                         " WHERE number = %s", (entered,)).fetchone() == (1,),
                     10, "one failed PIN attempt counted against the mailbox")


async def test_app_stopped_dialplan_fallback_announces(app: AppProcess,
                                                       asterisk: AsteriskContainer) -> None:
    app.stop()
    try:
        result = await place_call(target=asterisk.sip_target, dialed="05033005000",
                                  wait_for_remote_bye=True, timeout_s=25)
    finally:
        app.start()
        app.wait_connected()
    assert result.answered, result.describe()
    assert result.remote_hung_up, result.describe()
    assert result.rtp is not None and result.rtp.voiced_s > 1.5, result.describe()
    assert re.search(r"Stasis app anshin(-\d+)? not connected", asterisk.logs())


async def test_asterisk_restart_app_reconnects(app: AppProcess, asterisk: AsteriskContainer,
                                               sql: Sql) -> None:
    before = app.health() or {}
    asterisk.restart()
    await asterisk.wait_ready()

    def reconnected() -> dict[str, object] | None:
        health = app.health() or {}
        if health.get("ari_connected") and \
                int(health.get("ari_connections", 0)) > int(before.get("ari_connections", 0)):  # type: ignore[call-overload]
            return health
        return None

    reconnect_s = await wait_until(reconnected, 10, "the app to reconnect to ARI", interval=0.02)
    assert reconnect_s < 2.0  # the reconnect backoff is capped at 1 s
    t0 = time.time()
    result = await place_call(target=asterisk.sip_target, dialed="0311112222",
                              wait_for_remote_bye=True, timeout_s=20)
    assert result.answered and result.remote_hung_up, result.describe()
    assert [r for r in routes_for(sql, since=t0) if r[1] == "not_in_service"]


# ------------------------------------------------------------------ bad input

async def test_anonymous_and_empty_caller_ids(app: AppProcess, asterisk: AsteriskContainer,
                                              sql: Sql) -> None:
    t0 = time.time()
    for caller, privacy in (("anonymous", False), ("09011112222", True)):
        result = await place_call(target=asterisk.sip_target, dialed="0311112222", caller=caller,
                                  privacy_id=privacy, wait_for_remote_bye=True, timeout_s=20)
        assert result.answered and result.remote_hung_up, result.describe()
    rows = [r for r in routes_for(sql, since=t0) if r[1] == "not_in_service"]
    assert len(rows) == 2


@pytest.mark.parametrize("dialed", ["12#45*", "+", "0" * 40, "*", "050-3300-50000"])
async def test_malformed_dialed_numbers(app: AppProcess, asterisk: AsteriskContainer,
                                        dialed: str) -> None:
    result = await place_call(target=asterisk.sip_target, dialed=dialed,
                              wait_for_remote_bye=True, timeout_s=20)
    assert result.answered and result.remote_hung_up, result.describe()
    assert (app.health() or {}).get("ari_connected")


async def test_letters_refused_by_sip(app: AppProcess, asterisk: AsteriskContainer) -> None:
    result = await place_call(target=asterisk.sip_target, dialed="hello", timeout_s=10)
    assert not result.answered
    assert result.final_status == 404, result.describe()


async def test_very_long_digit_string_and_concurrent_calls(app: AppProcess,
                                                           asterisk: AsteriskContainer,
                                                           sql: Sql) -> None:
    t0 = time.time()
    long_call = place_call(target=asterisk.sip_target, dialed="05033005000",
                           steps=[Wait(0.5), Dtmf("9" * 200 + "#", mode="rfc4733",
                                                    duration_s=0.06, gap_s=0.04)],
                           # the IVR refuses the entry, re-prompts, times out twice, hangs up
                           wait_for_remote_bye=True, timeout_s=90)
    others = [place_call(target=asterisk.sip_target, dialed="0311112222",
                         wait_for_remote_bye=True, timeout_s=20) for _ in range(3)]
    results = await asyncio.gather(long_call, *others)
    for r in results:
        assert r.answered and r.remote_hung_up, r.describe()
    # the over-long entry is refused by the retrieval IVR, which gives up and hangs up
    assert ("05033005000", "retrieval_ivr") in [(r[0], r[1]) for r in routes_for(sql, since=t0)]
