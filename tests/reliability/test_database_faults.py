"""Item 4: PostgreSQL goes away for ~10 s while calls are in progress and new ones arrive."""

from __future__ import annotations

import asyncio
import time
import uuid

import psycopg
import pytest
from integration.support import MailSink, new_subscriber

from callflow.features.voicemail.audio import analyse_wav
from labkit.appproc import AppProcess
from labkit.asterisk import AsteriskContainer
from labkit.harness.sipp import Dtmf, Hangup, Speak, Uas, Wait, place_call
from labkit.harness.wait import wait_until
from labkit.postgres import PgCluster
from reliability.results import Row
from reliability.support import channel_log, wait_no_channels

pytestmark = pytest.mark.lab

Sql = psycopg.Connection[tuple[object, ...]]
GREETING_S = 11.0
DEST = "09087654321"


@pytest.mark.reliability(4, "PostgreSQL stopped for ~10 s during a voicemail recording and "
                            "a bridged forwarded call; new calls arrive meanwhile")
async def test_database_outage(app: AppProcess, asterisk: AsteriskContainer, pg: PgCluster,
                               sql: Sql, mail_sink: MailSink, reliability: Row) -> None:
    addr = f"rel-{uuid.uuid4().hex[:10]}@example.jp"
    vm_number = new_subscriber(sql, voicemail_enabled=True, forward_enabled=False,
                               notify_email=addr, notify_only_recorded=True)
    fwd_number = new_subscriber(sql, forward_enabled=True, voicemail_enabled=False)
    sql.execute("INSERT INTO forward_destinations (number, destination, active)"
                " VALUES (%s, %s, true)", (fwd_number, DEST))
    other = new_subscriber(sql, voicemail_enabled=True, forward_enabled=False)
    since = time.time()
    async with Uas(port=asterisk.config.ports.carrier, mode="answer", answer_after_s=0.5,
                   hold_s=None, max_lifetime_s=120) as uas:
        forwarded = asyncio.create_task(place_call(
            target=asterisk.sip_target, dialed=fwd_number, caller="09012345678",
            steps=[Speak(26.0), Hangup()], timeout_s=45))
        voicemail = asyncio.create_task(place_call(
            target=asterisk.sip_target, dialed=vm_number, caller="08011112222",
            steps=[Wait(GREETING_S), Speak(5.0), Dtmf("#")], wait_for_remote_bye=True,
            timeout_s=45))
        await asyncio.sleep(GREETING_S + 1.5)  # the caller is talking to the recorder
        assert uas.rtp_stats().voiced_s > 3.0
        t_down = time.monotonic()
        await asyncio.to_thread(pg.halt)
        voiced_at_down = uas.rtp_stats().voiced_s
        # a new call during the outage: the subscriber cannot be looked up
        during = await place_call(target=asterisk.sip_target, dialed=other,
                                  caller="0312345678", wait_for_remote_bye=True, timeout_s=30)
        assert during.answered and during.remote_hung_up, during.describe()
        assert during.rtp is not None and during.rtp.voiced_s > 1.5, during.describe()
        vm = await voicemail
        assert vm.answered and vm.remote_hung_up, vm.describe()
        # '#' at ~16 s; the app cannot save, says 「お預かりしました」 anyway (the file waits
        # in Asterisk) and hangs up
        assert vm.remote_bye_after_s is not None and vm.remote_bye_after_s > GREETING_S + 5
        await asyncio.sleep(max(0.0, 10.0 - (time.monotonic() - t_down)))
        outage_s = time.monotonic() - t_down
        await asyncio.to_thread(pg.resume)
        t_up = time.monotonic()
        # the next call after the database is back is handled normally
        first_ok_s: float | None = None
        tries = 0
        while first_ok_s is None and tries < 10:
            tries += 1
            probe = await place_call(target=asterisk.sip_target, dialed="05099990001",
                                     wait_for_remote_bye=True, timeout_s=20)
            with psycopg.connect(pg.url, autocommit=True) as conn:
                routes = [r[2] for r in channel_log(conn, since)
                          if r[1] == "05099990001"]
            if routes and routes[-1] == "not_in_service":
                first_ok_s = probe.setup_s or 0.0
        assert first_ok_s is not None, "no call handled normally after the database came back"
        fwd = await forwarded
        assert fwd.answered and fwd.local_hung_up and not fwd.remote_hung_up, fwd.describe()
        voiced_in_outage = uas.rtp_stats().voiced_s - voiced_at_down
    with psycopg.connect(pg.url, autocommit=True) as conn:
        def stored() -> list[tuple[object, ...]]:
            return conn.execute("SELECT audio FROM voicemail_messages WHERE number = %s",
                                (vm_number,)).fetchall()
        await wait_until(stored, 20, "the deferred message")
        saved_s = time.monotonic() - t_up
        [(audio,)] = stored()
        assert isinstance(audio, bytes) and analyse_wav(audio).speech_ms >= 3000
        await wait_until(lambda: mail_sink.to(addr), 15, "the message's mail")
        mailed_s = time.monotonic() - t_up
        outbox = conn.execute("SELECT count(*) FROM mail_outbox WHERE to_addr = %s",
                              (addr,)).fetchone()
        assert outbox == (1,)
        history = conn.execute("SELECT number, outcome FROM call_history WHERE number IN"
                               " (%s, %s, %s) ORDER BY id", (vm_number, fwd_number, other)
                               ).fetchall()
        # the forwarded and voicemail calls were recorded before the outage; the call during
        # the outage could not be (no database) - it is in Asterisk's CDR only
        assert (fwd_number, "forwarded") in history and (vm_number, "voicemail") in history
        assert not [h for h in history if h[0] == other]
    assert len(mail_sink.to(addr)) == 1
    await wait_no_channels(asterisk)
    setup = during.setup_s or 0.0
    reliability.note("The forwarded call stayed bridged (media in Asterisk, no database "
                     "needed) and ended normally. The caller recording a message finished; "
                     "the app could not save it, told the caller it was kept and left the "
                     "file in Asterisk; the recovery sweep saved it with its mail once the "
                     "database was back (one row, one outbox entry, one mail). A new call "
                     f"during the outage was answered after {setup:.2f} s with the "
                     "「ただいま…」 announcement (degraded mode: no screening possible "
                     "without the block list, so never connected; a pooled connection "
                     "used within the last 2 s is not pinged first, so its failure is the "
                     "first sign). The pool reconnected by itself: the first call after "
                     "the restart was routed normally.")
    reliability.figure("outage", outage_s, "s")
    reliability.figure("bridged media during the outage", voiced_in_outage, "s of speech")
    reliability.figure("new call during the outage: INVITE → 200 (announcement)", setup, "s")
    reliability.figure("first call after the database is back",
                       f"routed normally on try {tries}, INVITE → 200 {first_ok_s:.2f} s")
    reliability.figure("deferred message saved (after the database is back)", saved_s, "s")
    reliability.figure("its mail delivered (after the database is back)", mailed_s, "s")
