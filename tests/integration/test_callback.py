"""あんしん発信 through real peers: the portal API (service) -> PostgreSQL -> the app's
request worker -> Asterisk -> one SIPp UAS as the carrier gateway answering both legs
(routed by the called number). Also own-number verification and the 2FA voice call.

Ring timeouts are shortened per account (callback_account_limits) to keep this quick.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
import pytest_asyncio

from callflow.ari import AriClient
from callflow.features.callback import outcomes, service, verification
from callflow.features.callback.models import CallbackRefused
from callflow.store import Database, InvalidValue
from integration.support import new_subscriber
from labkit.appproc import AppProcess
from labkit.asterisk import AsteriskContainer
from labkit.harness.callback_uas import Behaviour, routed_uas_scenario
from labkit.harness.hearing import Ears, digit_runs, heard_in_order
from labkit.harness.rtp import RtpStream, write_pcap
from labkit.harness.sipp import SipMessage, Uas
from labkit.harness.wait import wait_until
from labkit.postgres import PgCluster

pytestmark = pytest.mark.lab

Sql = psycopg.Connection[tuple[object, ...]]
OWN = "09011110001"  # the subscriber's private mobile: leg 1, never shown to leg 2
DEST = "0312345678"  # the destination (leg 2)


@pytest_asyncio.fixture
async def db(pg: PgCluster) -> AsyncIterator[Database]:
    async with Database(pg.url) as database:
        yield database


def subscriber(sql: Sql, *, verified: bool = True, ring1: int = 6, ring2: int = 5,
               ) -> tuple[int, str, int]:
    """(account id, 050 number, own-number id) with short ring times."""
    number = new_subscriber(sql)
    row = sql.execute("SELECT account_id FROM subscriber_numbers WHERE number = %s",
                      (number,)).fetchone()
    assert row is not None
    account = int(str(row[0]))
    own = sql.execute(
        "INSERT INTO own_numbers (account_id, number, preferred, verified_at) "
        "VALUES (%s, %s, true, %s) RETURNING id",
        (account, OWN, datetime.now(UTC) if verified else None)).fetchone()
    assert own is not None
    sql.execute("INSERT INTO callback_account_limits (account_id, leg1_ring_seconds, "
                "leg2_ring_seconds) VALUES (%s, %s, %s)", (account, ring1, ring2))
    return account, number, int(str(own[0]))


def carrier(asterisk: AsteriskContainer, routes: dict[str, Behaviour]) -> Uas:
    return Uas(port=asterisk.config.ports.carrier, max_lifetime_s=120,
               custom_scenario=routed_uas_scenario(routes, Behaviour(mode="busy")))


async def wait_request(sql: Sql, rid: int, statuses: tuple[str, ...],
                       timeout_s: float = 30.0) -> tuple[str, str | None]:
    deadline = time.monotonic() + timeout_s
    while True:
        row = sql.execute("SELECT status, reason FROM call_requests WHERE id = %s",
                          (rid,)).fetchone()
        assert row is not None
        if row[0] in statuses:
            return str(row[0]), None if row[1] is None else str(row[1])
        if time.monotonic() > deadline:
            raise AssertionError(f"request {rid}: {row}, wanted {statuses}")
        await asyncio.sleep(0.1)


def legs(sql: Sql, rid: int) -> dict[int, tuple[object, ...]]:
    rows = sql.execute(
        "SELECT leg, from_number, to_number, created_at, answered_at, ended_at, result, "
        "billable_seconds FROM callback_legs WHERE request_id = %s ORDER BY leg",
        (rid,)).fetchall()
    return {int(str(r[0])): r for r in rows}


def assert_not_shown(messages: list[SipMessage], private: str) -> None:
    """R-OUT-4: a private number in no form (national, +81…, without the trunk 0) in any
    message of these dialogs."""
    assert messages
    for m in messages:
        assert private[1:] not in str(m), f"private number {private} leaked:\n{m}"


def dialog(messages: list[SipMessage], user: str) -> list[SipMessage]:
    """Every message of the dialogs whose INVITE was sent to ``user``."""
    ids = {m.header("call-id") for m in messages
           if m.direction == "received" and m.method == "INVITE" and m.to_user == user}
    return [m for m in messages if m.header("call-id") in ids]


async def media_both_ways(ari: AriClient, rid: int) -> bool:
    """The request's mixing bridge holds both legs and RTP flows each way on each of them."""
    bridges = [b for b in await ari.list_bridges() if b.id.startswith(f"cb{rid}-")]
    if len(bridges) != 1 or len(bridges[0].channels) != 2:
        return False
    for cid in bridges[0].channels:
        stats = await ari.request("GET", f"/channels/{cid}/rtp_statistics")
        assert isinstance(stats, dict)
        if not (stats["rxcount"] > 10 and stats["txcount"] > 10):
            return False
    return True


def speech_pcap(tmp_path: Path, seconds: float = 8.0) -> str:
    return str(write_pcap(tmp_path / "speech.pcap", RtpStream().speech(seconds).packets))


async def test_callback_success_bridges_and_bills_both_legs(
        app: AppProcess, asterisk: AsteriskContainer, sql: Sql, db: Database,
        tmp_path: Path) -> None:
    account, number, _own = subscriber(sql)
    pcap = speech_pcap(tmp_path)
    routes = {OWN: Behaviour(ring_ms=500, pcap=pcap),
              DEST: Behaviour(ring_ms=1500, hold_ms=4000, pcap=pcap)}
    cfg = asterisk.config
    async with carrier(asterisk, routes) as uas, \
            AriClient(asterisk.ari_url, cfg.ari_user, cfg.ari_password, cfg.ari_app) as ari:
        rid = await service.request_callback(db, account, number, "03-1234-5678")
        await wait_request(sql, rid, ("connected",), 20)
        # Bridged: a mixing bridge with both legs, media flowing both ways.
        await wait_until(lambda: media_both_ways(ari, rid), 10,
                         "one bridge with both legs and media both ways")
        status, reason = await wait_request(sql, rid, ("completed", "failed"), 20)
        assert (status, reason) == ("completed", None)
        messages = uas.messages()
    own_dialog, dest_dialog = dialog(messages, OWN), dialog(messages, DEST)
    invite1 = next(m for m in own_dialog if m.method == "INVITE")
    invite2 = next(m for m in dest_dialog if m.method == "INVITE")
    assert invite1.from_user == number and invite2.from_user == number
    assert invite1.timestamp and invite2.timestamp and invite1.timestamp < invite2.timestamp
    assert_not_shown(dest_dialog, OWN)  # R-OUT-4: nothing of it towards the destination
    assert any(m.method == "BYE" and m.direction == "received" for m in own_dialog), \
        "leg 1 was not hung up when the destination hung up"
    rec = legs(sql, rid)
    assert rec[1][1:3] == (number, OWN) and rec[2][1:3] == (number, DEST)
    for leg in (1, 2):
        _, _, _, created, answered, ended, result, billable = rec[leg]
        assert isinstance(created, datetime) and isinstance(answered, datetime)
        assert isinstance(ended, datetime) and created <= answered < ended
        assert result == "answered" and isinstance(billable, int) and billable >= 1
    assert rec[1][4] < rec[2][4]  # type: ignore[operator]  # leg 1 answered first
    assert rec[1][7] >= rec[2][7] >= 4  # type: ignore[operator]
    month = datetime.now(UTC).date()
    records = await service.billing_records(db, account, month)
    assert [(r.request_id, r.leg) for r in records] == [(rid, 1), (rid, 2)]
    csv_text = await service.billing_csv(db, account, month)
    assert csv_text.splitlines()[0].startswith("request_id,leg,from,to")
    assert f"{rid},2,{number},{DEST}," in csv_text


async def test_callback_survives_app_restart_and_is_billed(
        app: AppProcess, asterisk: AsteriskContainer, sql: Sql, db: Database,
        tmp_path: Path) -> None:
    """kill -9 while both legs are bridged: the restarted app adopts the bridge, the call
    goes on, and when the destination hangs up both billing records are closed (R-OUT-3)."""
    account, number, _own = subscriber(sql)
    pcap = speech_pcap(tmp_path, 12.0)
    routes = {OWN: Behaviour(ring_ms=300, pcap=pcap),
              DEST: Behaviour(ring_ms=300, hold_ms=9000, pcap=pcap)}
    cfg = asterisk.config
    async with carrier(asterisk, routes) as uas, \
            AriClient(asterisk.ari_url, cfg.ari_user, cfg.ari_password, cfg.ari_app) as ari:
        rid = await service.request_callback(db, account, number, DEST)
        await wait_request(sql, rid, ("connected",), 20)
        await wait_until(lambda: media_both_ways(ari, rid), 10,
                         "one bridge with both legs and media both ways")
        app.kill()
        app.start()
        app.wait_connected()
        status, reason = await wait_request(sql, rid, ("completed", "failed"), 30)
        messages = uas.messages()
    assert (status, reason) == ("completed", None)
    assert any(m.method == "BYE" and m.direction == "received"
               for m in dialog(messages, OWN)), "leg 1 not hung up after the destination left"
    rec = legs(sql, rid)
    for leg in (1, 2):
        ended, result, billable = rec[leg][5], rec[leg][6], rec[leg][7]
        assert isinstance(ended, datetime) and result == "answered", rec[leg]
        assert isinstance(billable, int) and billable >= 8, rec[leg]


@pytest.mark.parametrize(("dest", "reason"), [
    (Behaviour(mode="busy"), "dest_busy"),
    (Behaviour(mode="reject", code=403, reason="Forbidden"), "dest_rejected"),
    (Behaviour(mode="ring"), "dest_no_answer"),
])
async def test_destination_not_reached_announces_and_bills_leg1(
        app: AppProcess, asterisk: AsteriskContainer, sql: Sql, db: Database,
        dest: Behaviour, reason: str) -> None:
    account, number, _own = subscriber(sql, ring2=4)
    async with carrier(asterisk, {OWN: Behaviour(), DEST: dest}) as uas:
        rid = await service.request_callback(db, account, number, DEST)
        assert await wait_request(sql, rid, ("completed", "failed"), 30) == ("failed", reason)
        messages = uas.messages()
    # failure paths too: the destination never sees the private number
    assert_not_shown(dialog(messages, DEST), OWN)
    said = outcomes.explain(reason)  # what the status page says (issue 13 item 18)
    assert said is not None and said.startswith("相手先") and said != outcomes.GENERIC
    own_dialog = dialog(messages, OWN)
    bye = [m for m in own_dialog if m.method == "BYE" and m.direction == "received"]
    answered = [m for m in own_dialog if m.status == 200 and m.cseq_method == "INVITE"]
    assert bye and answered
    assert bye[0].timestamp and answered[0].timestamp
    # the announcement was played before the hang-up (each is a few seconds long)
    assert (bye[0].timestamp - answered[0].timestamp).total_seconds() >= 3.0
    rec = legs(sql, rid)
    assert rec[1][6] == "answered" and int(str(rec[1][7])) >= 3  # R-OUT-3: leg 1 billed
    assert rec[2][4] is None and rec[2][7] == 0
    assert rec[2][6] == reason.removeprefix("dest_")


async def test_leg1_not_answered(app: AppProcess, asterisk: AsteriskContainer, sql: Sql,
                                 db: Database) -> None:
    account, number, _own = subscriber(sql, ring1=3)
    async with carrier(asterisk, {OWN: Behaviour(mode="ring")}) as uas:
        rid = await service.request_callback(db, account, number, DEST)
        assert await wait_request(sql, rid, ("completed", "failed"), 20) == \
            ("failed", "leg1_no_answer")
        messages = await uas.wait_for(
            lambda ms: any(m.method == "CANCEL" for m in dialog(ms, OWN)), 5)
    assert not dialog(messages, DEST), "leg 2 must not be dialled"
    assert any(m.method == "CANCEL" for m in dialog(messages, OWN))
    rec = legs(sql, rid)
    assert rec[1][4] is None and rec[1][7] == 0 and rec[1][6] == "no_answer"
    assert rec[2][6] == "not_placed"


async def test_leg1_hangs_up_while_destination_rings(
        app: AppProcess, asterisk: AsteriskContainer, sql: Sql, db: Database) -> None:
    account, number, _own = subscriber(sql, ring2=20)
    routes = {OWN: Behaviour(hold_ms=3000), DEST: Behaviour(mode="ring")}
    async with carrier(asterisk, routes) as uas:
        rid = await service.request_callback(db, account, number, DEST)
        assert await wait_request(sql, rid, ("completed", "failed"), 20) == \
            ("failed", "leg1_hung_up")
        messages = await uas.wait_for(
            lambda ms: any(m.method == "CANCEL" for m in dialog(ms, DEST)), 5)
    assert_not_shown(dialog(messages, DEST), OWN)  # nor while it rang and was cancelled
    rec = legs(sql, rid)
    assert rec[1][6] == "answered" and int(str(rec[1][7])) >= 2
    assert rec[2][6] == "cancelled" and rec[2][7] == 0


async def test_refusals_and_verification_call(
        app: AppProcess, asterisk: AsteriskContainer, sql: Sql, db: Database) -> None:
    account, number, own_id = subscriber(sql, verified=False)
    forward_to = "09087650001"  # another private number of the subscriber
    sql.execute("INSERT INTO forward_destinations (number, destination, active)"
                " VALUES (%s, %s, true)", (number, forward_to))
    with pytest.raises(CallbackRefused) as exc:
        await service.request_callback(db, account, number, DEST)
    assert exc.value.reason_code == "unverified_own_number"
    # verification call: the UAS answers and keys the code the portal shows, then #
    code = "482915"
    async with carrier(asterisk, {OWN: Behaviour(dtmf=code + "#", dtmf_after_ms=1500)}) as uas:
        rid = await service.request_verification(db, account, own_id, code=code)
        shown = await service.latest_verifications(db, account)
        assert shown[OWN].id == rid and shown[OWN].code == code
        assert await wait_request(sql, rid, ("completed", "failed"), 30) == ("completed", None)
        invite = next(m for m in dialog(uas.messages(), OWN) if m.method == "INVITE")
        assert invite.from_user == number
        assert_not_shown(dialog(uas.messages(), OWN), forward_to)
    (own,) = await service.list_own_numbers(db, account)
    assert own.verified
    for dest, code in [("+14155550100", "international"), ("010-1-415-555-0100",
                       "international"), ("0990-123-456", "premium"),
                       ("0570-000-000", "special"), ("117", "special"),
                       (number, "same_050_number"), ("05033005000", "own_service_number"),
                       (OWN, "destination_is_own_phone")]:
        with pytest.raises(CallbackRefused) as exc:
            await service.request_callback(db, account, number, dest)
        assert exc.value.reason_code == code, dest
        assert exc.value.message_ja
    rows = sql.execute("SELECT count(*) FROM call_requests WHERE account_id = %s "
                       "AND kind = 'callback'", (account,)).fetchone()
    assert rows == (0,)


async def test_pressing_1_or_a_wrong_code_does_not_verify_and_failures_lock(
        app: AppProcess, asterisk: AsteriskContainer, sql: Sql, db: Database) -> None:
    """Issue 13 item 11: whoever answers must key the code the subscriber sees on the
    portal; 1 (the old confirmation) or a wrong code is refused, three wrong entries end the
    call, and three such calls lock the number for every account."""
    account, _number, _own = subscriber(sql)
    phone = "0803" + str(uuid.uuid4().int)[:7]  # a number of its own: it ends up locked
    own_id = await service.register_own_number(db, account, phone)
    # The callee presses 1 (what used to verify) and hangs up a few seconds later.
    async with carrier(asterisk, {phone: Behaviour(dtmf="1", hold_ms=7000)}):
        rid = await service.request_verification(db, account, own_id)
        assert await wait_request(sql, rid, ("completed", "failed"), 40) == \
            ("failed", "wrong_code")
    assert not await verified(db, account, phone)
    # Three wrong codes: the app says so and hangs up by itself; twice.
    wrong = Behaviour(dtmf="111111#222222#333333#", dtmf_after_ms=1500)
    async with carrier(asterisk, {phone: wrong}) as uas:
        for _ in range(2):
            rid = await service.request_verification(db, account, own_id)
            assert await wait_request(sql, rid, ("completed", "failed"), 40) == \
                ("failed", "wrong_code")
        byes = [m for m in dialog(uas.messages(), phone)
                if m.method == "BYE" and m.direction == "received"]
        assert len(byes) == 2, "the app must end the call after three wrong entries"
    assert not await verified(db, account, phone)
    with pytest.raises(CallbackRefused) as exc:
        await service.request_verification(db, account, own_id)
    assert exc.value.reason_code == "verification_locked"
    # the lock is the number's: another account registering it is refused too
    other, _n, _o = subscriber(sql)
    other_own = await service.register_own_number(db, other, phone)
    with pytest.raises(CallbackRefused) as exc:
        await service.request_verification(db, other, other_own)
    assert exc.value.reason_code == "verification_locked"


async def verified(db: Database, account: int, phone: str) -> bool:
    return any(o.verified for o in await service.list_own_numbers(db, account)
               if o.number == phone)


async def test_verification_call_busy_says_why_and_can_be_retried(
        app: AppProcess, asterisk: AsteriskContainer, sql: Sql, db: Database) -> None:
    """Issue 13 item 18: a verification call that cannot reach the phone ends 'failed' with
    the reason the portal shows, and asking again is allowed (within the caps)."""
    account, _number, _own = subscriber(sql)
    phone = "0801" + str(uuid.uuid4().int)[:7]
    own_id = await service.register_own_number(db, account, phone)
    async with carrier(asterisk, {phone: Behaviour(mode="busy")}):
        rid = await service.request_verification(db, account, own_id)
        assert await wait_request(sql, rid, ("completed", "failed"), 30) == \
            ("failed", "leg1_busy")
        latest = (await service.latest_verifications(db, account))[phone]
        assert outcomes.explain(latest.reason) == "お客さまの電話番号が話し中でした。"
        again = await service.request_verification(db, account, own_id)
        assert again != rid
        assert (await service.latest_verifications(db, account))[phone].id == again
        await wait_request(sql, again, ("completed", "failed"), 30)


async def test_request_refused_by_a_rule_at_dialling_time_is_not_dialled(
        app: AppProcess, sql: Sql, db: Database) -> None:
    """A callback row the rules refuse (here written around the service) ends 'failed' with
    the rule as its reason before anything is dialled."""
    account, number, _own = subscriber(sql)
    row = sql.execute(
        "INSERT INTO call_requests (kind, account_id, number, leg1, destination) "
        "VALUES ('callback', %s, %s, %s, '0990123456') RETURNING id",
        (account, number, OWN)).fetchone()
    assert row is not None
    rid = int(str(row[0]))
    assert await wait_request(sql, rid, ("completed", "failed"), 10) == \
        ("failed", "rule_premium")
    assert legs(sql, rid) == {}
    req = await service.get_request(db, rid, account)
    assert req is not None
    assert outcomes.explain(req.reason) == \
        "発信ルールにより発信できません。有料情報サービス（0990など）には発信できません。"


async def test_verification_requests_are_atomic_and_capped(
        app: AppProcess, asterisk: AsteriskContainer, sql: Sql, db: Database) -> None:
    """Concurrent requests for one phone number: exactly one call; the per-account caps."""
    account, _number, _own = subscriber(sql)
    phone = "0802" + str(uuid.uuid4().int)[:7]
    own_id = await service.register_own_number(db, account, phone)
    final = ("completed", "failed")
    async with carrier(asterisk, {phone: Behaviour(mode="busy")}):
        results = await asyncio.gather(
            *(service.request_verification(db, account, own_id) for _ in range(8)),
            return_exceptions=True)
        ids = [r for r in results if isinstance(r, int)]
        refused = [r for r in results if isinstance(r, CallbackRefused)]
        assert len(ids) == 1 and len(refused) == 7, results
        assert {r.reason_code for r in refused} == {"verification_in_progress"}
        await wait_request(sql, ids[0], final)
        # the hourly cap per account (the first call counts)
        for _ in range(verification.MAX_CALLS_PER_ACCOUNT_HOUR - 1):
            await wait_request(sql, await service.request_verification(db, account, own_id),
                               final)
        with pytest.raises(CallbackRefused) as exc:
            await service.request_verification(db, account, own_id)
    assert exc.value.reason_code == "verification_hourly_limit"


async def test_request_not_taken_in_time_expires(app: AppProcess, sql: Sql) -> None:
    number = new_subscriber(sql)
    row = sql.execute(
        "INSERT INTO call_requests (kind, number, leg1, destination, expires_at) "
        "VALUES ('callback', %s, %s, %s, now() - interval '1 second') RETURNING id",
        (number, OWN, DEST)).fetchone()
    assert row is not None
    assert await wait_request(sql, int(str(row[0])), ("expired", "failed"), 10) == \
        ("expired", "not_taken_in_time")
    # a verification call left 'ringing' by a dead instance is failed within minutes, not
    # hours (it would keep its number refused as 'in progress'); a callback that old is not
    lost = [sql.execute(
        "INSERT INTO call_requests (kind, number, leg1, destination, status, taken_at) "
        "VALUES (%s, %s, %s, %s, 'ringing', now() - interval '20 minutes') RETURNING id",
        (kind, number, OWN, DEST if kind == "callback" else None)).fetchone()
        for kind in ("verify_own_number", "callback")]
    verify_id, callback_id = (int(str(r[0])) for r in lost if r is not None)
    assert await wait_request(sql, verify_id, ("failed",), 10) == ("failed", "worker_lost")
    assert sql.execute("SELECT status FROM call_requests WHERE id = %s",
                       (callback_id,)).fetchone() == ("ringing",)
    sql.execute("UPDATE call_requests SET status = 'failed' WHERE id = %s", (callback_id,))


async def test_twofa_voice_call_reads_the_code(
        app: AppProcess, asterisk: AsteriskContainer, sql: Sql, db: Database,
        ears: Ears) -> None:
    number = new_subscriber(sql)
    row = sql.execute("SELECT account_id FROM subscriber_numbers WHERE number = %s",
                      (number,)).fetchone()
    assert row is not None
    contact = "0801234" + str(uuid.uuid4().int)[:4]
    code = "482915"
    # the carrier gateway answers like the called phone and keeps what it heard
    async with Uas(port=asterisk.config.ports.carrier, mode="answer", answer_after_s=0.3,
                   max_lifetime_s=120) as uas:
        rid = await service.request_twofa_voice(db, int(str(row[0])), contact, code)
        assert await wait_request(sql, rid, ("completed", "failed"), 60) == ("completed", None)
        messages = dialog(uas.messages(), contact)
        text = await ears.hear(uas.rtp_stats().wav())
    answered = next(m for m in messages if m.status == 200 and m.cseq_method == "INVITE")
    assert answered.timestamp
    # it shows the service's number, nothing of the subscriber's
    invite = next(m for m in messages if m.method == "INVITE")
    assert invite.from_user == "05033005000"
    assert_not_shown(messages, number)
    # greeting, intro, the six digits, 「もう一度繰り返します」, the six digits, the closing
    # (「お知らせします」 is sometimes heard as 「押し出します」: the key word is enough)
    assert heard_in_order(["ナンバーです", "認証番号", "もう一度繰り返します",
                           "このまま電話をお切りください"], text), text
    assert digit_runs(text).count(code) == 2, text


async def test_own_number_registry_and_caps(sql: Sql, db: Database) -> None:
    """The portal API on the database alone: registration, preferred, removal, caps."""
    account, number, first_id = subscriber(sql)
    with pytest.raises(InvalidValue):
        await service.register_own_number(db, account, "+1 415 555 0100")
    with pytest.raises(InvalidValue):
        await service.register_own_number(db, account, "0990-123-456")
    second = await service.register_own_number(db, account, "03-9999-0001", preferred=True)
    assert await service.register_own_number(db, account, "0399990001") == second
    owned = await service.list_own_numbers(db, account)
    assert [(o.id, o.preferred) for o in owned] == [(second, True), (first_id, False)]
    with pytest.raises(CallbackRefused) as exc:  # the preferred one is not verified
        await service.request_callback(db, account, number, DEST)
    assert exc.value.reason_code == "unverified_own_number"
    await service.set_preferred(db, account, first_id)
    await service.remove_own_number(db, account, second)
    assert [o.id for o in await service.list_own_numbers(db, account)] == [first_id]
    # one active callback per 050 number, then the hourly cap (lowered for this account)
    sql.execute("UPDATE callback_account_limits SET max_per_hour = 1 WHERE account_id = %s",
                (account,))
    sql.execute("INSERT INTO call_requests (kind, account_id, number, leg1, destination, "
                "status) VALUES ('callback', %s, %s, %s, %s, 'connected')",
                (account, number, OWN, DEST))
    with pytest.raises(CallbackRefused) as exc:
        await service.request_callback(db, account, number, DEST)
    assert exc.value.reason_code == "busy_050_number"
    sql.execute("UPDATE call_requests SET status = 'completed' WHERE number = %s", (number,))
    with pytest.raises(CallbackRefused) as exc:
        await service.request_callback(db, account, number, DEST)
    assert exc.value.reason_code == "hourly_limit" and "1回" in exc.value.message_ja
    other_account, _n, _o = subscriber(sql)
    with pytest.raises(CallbackRefused) as exc:
        await service.request_callback(db, other_account, number, DEST)
    assert exc.value.reason_code == "not_your_050_number"


# ------------------------------------------------------------------ fraud rules, in the database

def limits(sql: Sql, account: int, **values: int) -> None:
    for column, value in values.items():
        sql.execute(f"UPDATE callback_account_limits SET {column} = %s WHERE account_id = %s",
                    (value, account))


def past_request(sql: Sql, account: int, number: str, *, age: str,
                 billable_s: int | None = None) -> int:
    """A finished callback request made ``age`` ago (with its billed legs if given)."""
    row = sql.execute(
        "INSERT INTO call_requests (kind, account_id, number, leg1, destination, status,"
        " reason, created_at, expires_at) VALUES ('callback', %s, %s, %s, %s, 'completed',"
        " NULL, now() - %s::interval, now() - %s::interval) RETURNING id",
        (account, number, OWN, DEST, age, age)).fetchone()
    assert row is not None
    rid = int(str(row[0]))
    if billable_s is not None:
        for leg, to in ((1, OWN), (2, DEST)):
            sql.execute(
                "INSERT INTO callback_legs (request_id, leg, from_number, to_number, created_at,"
                " answered_at, ended_at, result, billable_seconds) VALUES (%s, %s, %s, %s,"
                " now() - %s::interval, now() - %s::interval, now() - %s::interval,"
                " 'answered', %s)", (rid, leg, number, to, age, age, age, billable_s))
    return rid


async def refused_for(db: Database, account: int, number: str) -> str:
    with pytest.raises(CallbackRefused) as exc:
        await service.request_callback(db, account, number, DEST)
    assert exc.value.message_ja
    return exc.value.reason_code


async def test_fraud_rules_read_the_usage_from_the_database(sql: Sql, db: Database) -> None:
    """daily_limit and spend_limit count what the database holds for the last 24 h (requests
    and billed legs), per account; no_own_number when the account has none."""
    account, number, _own = subscriber(sql)
    limits(sql, account, max_per_hour=10, max_per_day=2, max_billable_minutes_per_day=60)
    past_request(sql, account, number, age="25 hours")  # outside the day: not counted
    past_request(sql, account, number, age="3 hours")
    past_request(sql, account, number, age="2 hours")
    assert await refused_for(db, account, number) == "daily_limit"

    account, number, _own = subscriber(sql)
    limits(sql, account, max_per_hour=10, max_per_day=10, max_billable_minutes_per_day=3)
    past_request(sql, account, number, age="26 hours", billable_s=3600)  # yesterday's
    past_request(sql, account, number, age="5 hours", billable_s=60)  # 2 legs: 2 minutes
    past_request(sql, account, number, age="4 hours", billable_s=30)  # +1 minute: at the cap
    assert await refused_for(db, account, number) == "spend_limit"

    account, number, own_id = subscriber(sql)
    sql.execute("DELETE FROM own_numbers WHERE id = %s", (own_id,))
    assert await refused_for(db, account, number) == "no_own_number"
    assert sql.execute("SELECT count(*) FROM call_requests WHERE account_id = %s",
                       (account,)).fetchone() == (0,)


async def test_two_requests_at_once_for_one_050_number_place_one_call(
        app: AppProcess, asterisk: AsteriskContainer, sql: Sql, db: Database) -> None:
    """Two あんしん発信 requests for the same 050 number at the same moment (two browsers):
    the row lock serialises them, one is accepted, the other refused as busy."""
    account, number, _own = subscriber(sql)
    async with carrier(asterisk, {OWN: Behaviour(mode="busy")}) as uas:
        results = await asyncio.gather(
            *(service.request_callback(db, account, number, DEST) for _ in range(2)),
            return_exceptions=True)
        accepted = [r for r in results if isinstance(r, int)]
        refused = [r for r in results if isinstance(r, CallbackRefused)]
        assert len(accepted) == 1 and len(refused) == 1, results
        assert refused[0].reason_code == "busy_050_number"
        # the own phone is busy: the one request ends, and the number is free again
        assert await wait_request(sql, accepted[0], ("completed", "failed"), 20) == \
            ("failed", "leg1_busy")
        again = await service.request_callback(db, account, number, DEST)
        await wait_request(sql, again, ("completed", "failed"), 20)
        calls = {m.header("call-id") for m in dialog(uas.messages(), OWN)
                 if m.method == "INVITE"}
    assert len(calls) == 2, "one call per accepted request"


async def test_request_whose_own_number_was_removed_is_not_dialled(
        app: AppProcess, sql: Sql) -> None:
    """The worker checks again before it spends money: a request whose own phone is no longer
    the account's (removed after the request, or a row written around the service) ends
    'failed' with rule_no_own_number and no leg is placed."""
    account, number, own_id = subscriber(sql)
    sql.execute("DELETE FROM own_numbers WHERE id = %s", (own_id,))
    row = sql.execute(
        "INSERT INTO call_requests (kind, account_id, number, leg1, destination) "
        "VALUES ('callback', %s, %s, %s, %s) RETURNING id",
        (account, number, OWN, DEST)).fetchone()
    assert row is not None
    rid = int(str(row[0]))
    assert await wait_request(sql, rid, ("completed", "failed"), 10) == \
        ("failed", "rule_no_own_number")
    assert legs(sql, rid) == {}
