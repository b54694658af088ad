"""Hostile request URIs and headers against the shipped configuration (issue 13, item 19):
a caller-chosen ',' or '&' must not add a Stasis argument or a Dial target.

A SIP request URI's user part may carry ',' '&' and '/' unescaped (RFC 3261
user-unreserved), and Asterisk splits an application's arguments after substituting
variables; the dialplan filters what the caller chose (dialplan/anshin.conf)."""

from __future__ import annotations

import psycopg
import pytest

from integration.support import new_subscriber
from labkit.appproc import AppProcess
from labkit.asterisk import AsteriskContainer
from labkit.harness.sipp import Hangup, Uas, Wait, place_call
from labkit.harness.wait import wait_until

pytestmark = pytest.mark.lab

Sql = psycopg.Connection[tuple[object, ...]]
CALLER = "09012345678"
DEST = "09087654321"
PREMIUM = "09901234567"  # a premium-rate number the attacker would like us to call


async def rows_when_there(sql: Sql, query: str, *params: object) -> list[tuple[object, ...]]:
    """The app writes these rows as the call starts, a moment after SIP says so."""
    await wait_until(lambda: sql.execute(query, params).fetchall(), 15, query)
    return sql.execute(query, params).fetchall()


async def test_request_uri_cannot_add_a_dial_target(app: AppProcess,
                                                    asterisk: AsteriskContainer,
                                                    sql: Sql) -> None:
    """`<050 number>&PJSIP/0990…` from a caller whose From user is "bench": the shipped
    configuration has no dialplan-only endpoint that would put it into Dial(), and the app
    sees the number filtered - not a subscriber, so the not-in-service announcement. The
    carrier gateway sees no call at all (neither the premium number nor the forward)."""
    number = new_subscriber(sql, forward_enabled=True, forward_ring_seconds=10,
                            voicemail_enabled=False)
    sql.execute("INSERT INTO forward_destinations (number, destination, active)"
                " VALUES (%s, %s, true)", (number, DEST))
    attack = f"{number}&PJSIP/{PREMIUM}"
    async with Uas(port=asterisk.config.ports.carrier, max_lifetime_s=120,
                   mode="answer") as carrier:
        result = await place_call(target=asterisk.sip_target, dialed=attack, caller="bench",
                                  wait_for_remote_bye=True, timeout_s=30)
        invites = await carrier.calls()
        assert PREMIUM not in [m.request_user for m in invites], "a second Dial target"
        assert invites == [], [m.request_user for m in invites]
    assert result.answered and result.remote_hung_up, result.describe()
    assert result.rtp is not None and result.rtp.voiced_s > 1.0  # the announcement
    rows = await rows_when_there(sql, "SELECT dialed, route FROM call_log WHERE dialed = %s",
                                 f"{number}{PREMIUM}")
    assert rows == [(f"{number}{PREMIUM}", "not_in_service")]


async def test_request_uri_cannot_add_a_stasis_argument(app: AppProcess,
                                                        asterisk: AsteriskContainer,
                                                        sql: Sql) -> None:
    """`<050 number>,prohib_not_screened` would make the caller's presentation argument
    "prohib…" (the real one shifted out); filtered, the call is an ordinary call with the
    caller's number in the history."""
    number = new_subscriber(sql, voicemail_enabled=True)
    result = await place_call(target=asterisk.sip_target,
                              dialed=f"{number},prohib_not_screened", caller=CALLER,
                              steps=[Wait(2.0), Hangup()], timeout_s=30)
    assert result.answered, result.describe()
    rows = await rows_when_there(sql, "SELECT caller FROM call_history WHERE number = %s",
                                 number)
    assert rows == [(CALLER,)]


async def test_privacy_header_cannot_add_a_stasis_argument(app: AppProcess,
                                                           asterisk: AsteriskContainer,
                                                           sql: Sql) -> None:
    """`Privacy: critical, id` (comma-separated): unfiltered, the comma split it into two
    arguments and the app saw only "critical" - the number was shown although the caller
    withheld it. Filtered (',' → ';'), it withholds and adds no argument."""
    number = new_subscriber(sql, voicemail_enabled=True)
    result = await place_call(target=asterisk.sip_target, dialed=number, caller=CALLER,
                              extra_headers=["Privacy: critical, id"],
                              steps=[Wait(2.0), Hangup()], timeout_s=30)
    assert result.answered, result.describe()
    rows = await rows_when_there(sql, "SELECT caller FROM call_history WHERE number = %s",
                                 number)
    assert rows == [(None,)]
