"""Calls the app places to an ordinary number reach a lab phone registered under that number
(otherwise the carrier gateway)."""

from __future__ import annotations

import psycopg
import pytest

from integration.support import new_subscriber
from labkit.appproc import AppProcess
from labkit.asterisk import AsteriskContainer
from labkit.harness.register import register
from labkit.harness.sipp import Uas, place_call
from labkit.ports import free_port

pytestmark = pytest.mark.lab

LAB_PHONE = "09000000002"


async def test_forward_reaches_registered_lab_phone_not_the_carrier(
        app: AppProcess, asterisk: AsteriskContainer,
        sql: psycopg.Connection[tuple[object, ...]]) -> None:
    number = new_subscriber(sql, forward_enabled=True, forward_ring_seconds=8)
    sql.execute("INSERT INTO forward_destinations (number, destination, active)"
                " VALUES (%s, %s, true)", (number, LAB_PHONE))
    phone_port = free_port()
    await register(asterisk.sip_target, LAB_PHONE, asterisk.config.phone_password, phone_port)
    try:
        async with Uas(mode="answer", answer_after_s=0.5, hold_s=2.0, port=phone_port) as phone, \
                Uas(mode="answer", port=asterisk.config.ports.carrier) as carrier:
            result = await place_call(target=asterisk.sip_target, dialed=number,
                                      caller="0312345678", wait_for_remote_bye=True,
                                      timeout_s=25)
            phone_calls = await phone.calls()
            carrier_calls = await carrier.calls()
    finally:
        await register(asterisk.sip_target, LAB_PHONE, asterisk.config.phone_password,
                       phone_port, expires=0)
    assert result.answered, result.describe()
    assert [c.request_user for c in phone_calls] == [LAB_PHONE]
    assert carrier_calls == []
