"""The 050 number on a real softphone behind NAT (issue 21), as it will happen: baresip in
its own network namespace behind a NAT namespace (labkit/natlab.py) registers over TLS
with SRTP (SDES), rings with a forwarded call and answers it, and audio flows both ways
(what the SIPp caller received, and the UDP the NAT forwarded each way); it places a call
that reaches the carrier showing the 050 number; after the NAT changes its mapping the
phone's next registration makes it reachable again.

This file runs its own Asterisk: the softphone TLS transport must listen on the host end
of the test's veth pair (Asterisk runs with host networking; the lab's is on loopback)."""

from __future__ import annotations

import asyncio
import dataclasses
import re
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from callflow.store import Database, softphones
from integration.support import new_subscriber
from labkit import fixtures
from labkit.appproc import AppProcess
from labkit.asterisk import AsteriskContainer
from labkit.harness.baresip import Baresip
from labkit.harness.sipp import Uas, place_call
from labkit.harness.wait import wait_until
from labkit.lab import new_asterisk
from labkit.natlab import NatLab, nat_lab
from labkit.postgres import PgCluster

pytestmark = pytest.mark.lab

BUILD = Path(__file__).resolve().parents[2] / "build"
DESTINATION = "0312345679"  # the subscriber's landline, rung with the softphone (no answer)


@pytest.fixture(scope="module")
def natlab() -> Iterator[NatLab]:
    with nat_lab() as lab:
        yield lab


@pytest.fixture(scope="module")
def nat_asterisk(natlab: NatLab, lab_dir: Path) -> Iterator[AsteriskContainer]:
    container = new_asterisk(lab_dir / "asterisk-nat", "nat")
    container.config = dataclasses.replace(container.config,
                                           softphone_tls_host=natlab.host_ip)
    container.start()
    try:
        asyncio.run(container.wait_ready())
        yield container
    finally:
        (BUILD / "test-asterisk-nat.log").write_text(container.logs())
        container.stop()


@pytest.fixture(scope="module")
def nat_app(nat_asterisk: AsteriskContainer, pg: PgCluster) -> Iterator[AppProcess]:
    with fixtures.app_process(nat_asterisk, pg.url,
                              log_path=BUILD / "test-app-nat.log") as proc:
        yield proc


def contact_of(asterisk: AsteriskContainer, username: str) -> str | None:
    """The registered contact's address (ip:port), once Asterisk's qualify reached it."""
    if not re.search(rf"Contact:\s+{username}/\S+\s+\S+\s+Avail",
                     asterisk.cli(f"pjsip show aor {username}")):
        return None
    # the contact's full URI (the CLI table cuts it): Asterisk keeps contacts in its astdb
    m = re.search(rf"/registrar/contact/{username};@\S+\s*:.*?\"uri\":\"sip:[^@\"]+@"
                  r"([0-9.]+:[0-9]+)", asterisk.cli("database show registrar/contact"))
    return m.group(1) if m else None


async def test_softphone_behind_nat_rings_answers_talks_and_calls_out(
        nat_app: AppProcess, nat_asterisk: AsteriskContainer, natlab: NatLab,
        pg: PgCluster, lab_dir: Path, sql: psycopg.Connection[tuple[object, ...]]) -> None:
    number = new_subscriber(sql, forward_enabled=True, forward_ring_seconds=20)
    sql.execute("INSERT INTO forward_destinations (number, destination, active)"
                " VALUES (%s, %s, true)", (number, DESTINATION))
    async with Database(pg.url) as db:
        issued = await softphones.issue(db, number)
    phone = Baresip(natlab, lab_dir / f"baresip-{number}",
                    server=nat_asterisk.softphone_tls_target, username=issued.username,
                    password=issued.password)
    # the subscriber types the account in after the portal showed it; by then the app has
    # pushed it to Asterisk (a phone refused once waits long before it tries again)
    await wait_until(lambda: "Unable to find" not in nat_asterisk.cli(
        f"pjsip show endpoint {issued.username}"), 15, "the account pushed", interval=0.3)
    phone.start()
    try:
        await wait_until(lambda: contact_of(nat_asterisk, issued.username), 20,
                         "baresip registered over TLS (and qualified)", interval=0.5)
        first = contact_of(nat_asterisk, issued.username)
        assert first is not None and first.startswith(natlab.nat_public_ip + ":"), first

        # a forwarded call rings the landline and the softphone; the softphone answers
        before = natlab.udp_forwarded()
        async with Uas(mode="ring", port=nat_asterisk.config.ports.carrier) as landline:
            result = await place_call(target=nat_asterisk.sip_target, dialed=number,
                                      caller="0311112222", audio_seconds=3.0, hold_s=1.0,
                                      timeout_s=30)
            rung = await landline.calls()
        sent, received = (a - b for a, b in zip(natlab.udp_forwarded(), before, strict=True))
        assert result.answered, result.describe() + phone.log()[-2000:]
        assert [c.request_user for c in rung] == [DESTINATION]
        assert result.rtp is not None and result.rtp.packets >= 100, result.rtp  # phone→caller
        assert received >= 100 and sent >= 100, (sent, received)  # SRTP through the NAT
        assert "SRTP is Enabled" in phone.log()
        # nothing towards the caller names the subscriber's phones
        towards_caller = " ".join(f"{m.first_line} {m.headers} {m.body}"
                                  for m in result.received())
        assert DESTINATION not in towards_caller and issued.username not in towards_caller
        print(f"RTP through the NAT: {sent} packets from the phone, {received} to it;"
              f" the caller received {result.rtp.packets}")

        # it calls out showing the 050 number
        async with Uas(mode="answer", hold_s=1.0,
                       port=nat_asterisk.config.ports.carrier) as callee:
            phone.dial("0312345678")
            await wait_until(callee.calls, 15, "the softphone's call at the carrier")
            calls = await callee.calls()
        assert [(c.request_user, c.from_user) for c in calls] == [("0312345678", number)]

        # the NAT forgets the mapping; the phone's next registration comes from a new port
        phone.stop()
        natlab.renew_mapping()
        phone.start()

        def moved() -> bool:
            now = contact_of(nat_asterisk, issued.username)
            return now is not None and now != first

        await wait_until(moved, 20, "the contact at the new NAT port", interval=0.5)
        async with Uas(mode="ring", port=nat_asterisk.config.ports.carrier):
            again = await place_call(target=nat_asterisk.sip_target, dialed=number,
                                     caller="0311112222", audio_seconds=1.0, hold_s=0.5,
                                     timeout_s=30)
        assert again.answered, again.describe()
        assert again.rtp is not None and again.rtp.packets >= 25, again.rtp

        # not a ring destination any more: only the landline rings
        answered_before = phone.log().count("answering call")
        async with Database(pg.url) as db:
            await softphones.set_rings(db, number, False)
        await wait_until(lambda: f"ANSHIN_SP_{number}=0" in nat_asterisk.cli(
            "dialplan show globals"), 10, "the ring switch pushed", interval=0.3)
        async with Uas(mode="ring", port=nat_asterisk.config.ports.carrier) as landline:
            quiet = await place_call(target=nat_asterisk.sip_target, dialed=number,
                                     caller="0311112222", cancel_after_s=4.0, timeout_s=20)
            rung = await landline.calls()
        assert not quiet.answered and [c.request_user for c in rung] == [DESTINATION]
        assert phone.log().count("answering call") == answered_before
        # the re-pushed account kept the phone's registration
        assert contact_of(nat_asterisk, issued.username) is not None
    finally:
        phone.stop()
        (BUILD / "test-baresip.log").write_text(phone.log())


async def test_accounts_are_pushed_again_after_an_asterisk_restart(
        nat_app: AppProcess, nat_asterisk: AsteriskContainer, pg: PgCluster,
        sql: psycopg.Connection[tuple[object, ...]]) -> None:
    """Pushed accounts live in Asterisk's memory: the app notices the new start time and
    pushes every account again."""
    number = new_subscriber(sql)
    async with Database(pg.url) as db:
        issued = await softphones.issue(db, number)

    def known() -> bool:
        return "Unable to find" not in nat_asterisk.cli(f"pjsip show endpoint {issued.username}")

    await wait_until(known, 15, "the account pushed", interval=0.3)
    nat_asterisk.restart()
    await nat_asterisk.wait_ready()
    await wait_until(known, 30, "the account pushed again after the restart", interval=0.5)
