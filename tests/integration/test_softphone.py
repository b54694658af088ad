"""The 050 number on a softphone (issue 21): an account issued from the portal's writer
reaches Asterisk through the app's push (ARI push configuration), a phone registers with it
over TLS, a wrong password does not, and revoking removes it again."""

from __future__ import annotations

import psycopg
import pytest

from callflow.register_guard import SOURCE_FAILURES, SPRAY_FAILURES
from callflow.softphone import REALM, ha1
from callflow.store import Database, softphones
from integration.support import new_subscriber
from labkit.appproc import AppProcess
from labkit.asterisk import AsteriskContainer
from labkit.harness.register import register_tls
from labkit.harness.sipp import Uas
from labkit.harness.softphone_call import softphone_call
from labkit.harness.wait import wait_until
from labkit.postgres import PgCluster

pytestmark = pytest.mark.lab


async def test_issued_account_registers_over_tls_and_revoked_one_does_not(
        app: AppProcess, asterisk: AsteriskContainer, pg: PgCluster,
        sql: psycopg.Connection[tuple[object, ...]]) -> None:
    number = new_subscriber(sql)
    async with Database(pg.url) as db:
        issued = await softphones.issue(db, number)
        target = asterisk.softphone_tls_target
        assert issued.username == "sp" + number and len(issued.password) >= 22

        # only HA1 is stored, never the password
        row = sql.execute("SELECT * FROM softphone_accounts WHERE number = %s",
                          (number,)).fetchone()
        assert row is not None and issued.password not in map(str, row)
        assert ha1(issued.username, issued.password, REALM) in map(str, row)

        async def registered() -> bool:
            return await register_tls(target, issued.username, issued.password) == 200

        await wait_until(registered, 15, "the pushed account to register over TLS",
                         interval=0.5)
        # (its contact went with the TLS connection: Asterisk drops a contact whose
        # connection closed, so the phone's keep-alive matters)
        endpoint = asterisk.cli(f"pjsip show endpoint {issued.username}")
        assert all(f in " ".join(endpoint.split()) for f in (
            "media_encryption : sdes", "transport : transport-tls",
            "context : anshin-softphone", "rewrite_contact : true")), endpoint
        assert await register_tls(target, issued.username, issued.password + "x") != 200

        # a new password replaces the old one (the pushed auth is updated)
        renewed = await softphones.issue(db, number)

        async def renewed_works() -> bool:
            return await register_tls(target, renewed.username, renewed.password) == 200

        await wait_until(renewed_works, 15, "the new password", interval=0.5)
        assert await register_tls(target, issued.username, issued.password) != 200
        issued = renewed

        assert await softphones.revoke(db, number)
        assert await softphones.status(db, number) is None

        async def refused() -> bool:
            return await register_tls(target, issued.username, issued.password) != 200

        await wait_until(refused, 15, "the revoked account to be refused", interval=0.5)


async def test_softphone_call_shows_the_050_number_and_premium_is_refused(
        app: AppProcess, asterisk: AsteriskContainer, pg: PgCluster,
        sql: psycopg.Connection[tuple[object, ...]]) -> None:
    number = new_subscriber(sql)
    async with Database(pg.url) as db:
        issued = await softphones.issue(db, number)
    target = asterisk.softphone_tls_target

    async def registered() -> bool:
        return await register_tls(target, issued.username, issued.password) == 200

    await wait_until(registered, 15, "the pushed account", interval=0.5)
    async with Uas(mode="answer", port=asterisk.config.ports.carrier) as carrier:
        status = await softphone_call(target, issued.username, issued.password, "0312345678")
        refused = await softphone_call(target, issued.username, issued.password, "09901234567")
        calls = await carrier.calls()
    assert status == 200
    assert refused == 403  # 0990 (premium rate) never reaches the carrier
    assert [(c.request_user, c.from_user) for c in calls] == [("0312345678", number)]


async def test_repeated_wrong_passwords_deny_that_source_on_the_account(
        app: AppProcess, asterisk: AsteriskContainer, pg: PgCluster,
        sql: psycopg.Connection[tuple[object, ...]]) -> None:
    number = new_subscriber(sql)
    async with Database(pg.url) as db:
        issued = await softphones.issue(db, number)
    target = asterisk.softphone_tls_target

    async def registered() -> bool:
        return await register_tls(target, issued.username, issued.password) == 200

    await wait_until(registered, 15, "the pushed account", interval=0.5)
    for _ in range(SOURCE_FAILURES):
        assert await register_tls(target, issued.username, "guess") != 200
    # the guard reads Asterisk's security log and denies this address on this account:
    # now even the right password is refused from here
    await wait_until(lambda: "deny/permit" in asterisk.cli(
        f"pjsip show endpoint {issued.username}"), 10, "the source denied", interval=0.3)
    assert await register_tls(target, issued.username, issued.password) != 200
    # per account: another subscriber's softphone at the same address still registers
    other_number = new_subscriber(sql)
    async with Database(pg.url) as db:
        other = await softphones.issue(db, other_number)

    async def other_registered() -> bool:
        return await register_tls(target, other.username, other.password) == 200

    await wait_until(other_registered, 15, "another account from the same source",
                     interval=0.5)


async def test_a_source_spraying_many_accounts_is_banned_from_all_of_them(
        app: AppProcess, asterisk: AsteriskContainer, pg: PgCluster,
        sql: psycopg.Connection[tuple[object, ...]]) -> None:
    """One address tries one password over many user names (two real accounts, the rest
    names that do not exist): the guard bans it in the ACL file pjsip.conf includes and
    reloads res_pjsip; then even a real account with its right password is refused from
    there, while the same account registers from another address."""
    async with Database(pg.url) as db:
        victims = [await softphones.issue(db, new_subscriber(sql)) for _ in range(3)]
    target, sprayer = asterisk.softphone_tls_target, "127.0.0.21"
    victim = victims[0]

    async def registers_from(source: str) -> bool:
        try:
            return await register_tls(target, victim.username, victim.password,
                                      source=source) == 200
        except (OSError, RuntimeError):  # no answer: refused as well
            return False

    await wait_until(lambda: registers_from("127.0.0.1"), 15, "the pushed account",
                     interval=0.5)
    assert await registers_from(sprayer)  # not banned yet
    names = [v.username for v in victims[1:]]
    names += [f"sp0509{i:07d}" for i in range(SPRAY_FAILURES - len(names))]  # no such account
    for name in names:
        assert await register_tls(target, name, "Passw0rd!", source=sprayer) != 200
    bans = asterisk.run_dir / "media" / "pjsip-source-bans-0.conf"  # app instance 0
    await wait_until(lambda: bans.is_file() and f"deny = {sprayer}/32" in bans.read_text(), 10,
                     "the sprayer written into the bans file", interval=0.3)

    async def refused_from_sprayer() -> bool:  # by res_pjsip_acl, before any digest
        return await register_tls(target, victim.username, victim.password,
                                  source=sprayer) == 403

    await wait_until(refused_from_sprayer, 10, "the sprayer refused on a real account",
                     interval=0.5)
    # the reload left the pushed endpoint alone: the account registers from elsewhere
    assert await registers_from("127.0.0.1")
