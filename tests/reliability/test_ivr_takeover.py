"""Item 2: the app is killed (kill -9) and restarted while one caller is in the retrieval IVR's
menu after a message and another in the PIN-change IVR between the two entries of the new
PIN. The new process takes both calls over from the progress kept on their channels
(callflow/adoption.py): each caller hears the step again after a pause and, keeping on typing,
completes the flow."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

import psycopg
import pytest
from argon2 import PasswordHasher
from integration.support import new_subscriber
from integration.test_ivr import add_message, keys
from integration.test_ivr import messages as mailbox_messages

from callflow import call_state
from callflow.ari import AriClient, AriNotFound
from labkit.appproc import AppProcess
from labkit.asterisk import AsteriskContainer
from labkit.harness.rtp import VOICE_THRESHOLD
from labkit.harness.sipp import CallResult, Hangup, Wait, place_call
from labkit.harness.wait import wait_until
from reliability.results import Row
from reliability.support import wait_no_channels, wait_ready

pytestmark = pytest.mark.lab

Sql = psycopg.Connection[tuple[object, ...]]
RETRIEVAL = "05033005000"
PIN_CHANGE = "05033005141"


async def steps_by_channel(ari: AriClient) -> dict[str, dict[str, str]]:
    """The IVR step each channel in Asterisk keeps (white box: what the app stored)."""
    out: dict[str, dict[str, str]] = {}
    for channel in await ari.list_channels():
        try:
            value = await ari.get_channel_var(channel.id, call_state.VAR)
        except AriNotFound:
            continue
        payload, _, _ = value.rpartition("|")
        if payload:
            out[channel.id] = call_state.decode(payload)
    return out


def longest_quiet(result: CallResult, start: float, seconds: float) -> float:
    """The longest stretch the caller heard as nothing (no packet, or packets under the voice
    threshold) in the `seconds` after `start` (loop time), from the audio received over RTP
    in 20 ms frames. It includes ordinary pauses (between words, after a prompt)."""
    rtp = result.rtp
    assert rtp is not None and rtp.first_at is not None, result.describe()
    samples = memoryview(rtp.pcm).cast("h")
    frame = 160  # 20 ms at 8 kHz
    first = max(0, int((start - rtp.first_at) / 0.02))
    longest = run = 0
    for k in range(first, first + int(seconds / 0.02)):
        chunk = samples[k * frame:(k + 1) * frame]
        quiet = len(chunk) < frame or sum(abs(x) for x in chunk) / frame <= VOICE_THRESHOLD
        run = run + 1 if quiet else 0
        longest = max(longest, run)
    return longest * 0.02


@pytest.mark.reliability(2, "App killed (kill -9) and restarted with a caller in the "
                            "retrieval IVR's menu and one in the PIN-change IVR between the "
                            "two entries of the new PIN")
async def test_ivr_callers_continue_after_kill(app: AppProcess, asterisk: AsteriskContainer,
                                               sql: Sql, reliability: Row) -> None:
    hasher = PasswordHasher()
    box = new_subscriber(sql, voicemail_enabled=True, voicemail_pin_hash=hasher.hash("4826"))
    message = add_message(sql, box, age=timedelta(minutes=30), seconds=1.0)
    pin_box = new_subscriber(sql, voicemail_enabled=True,
                             voicemail_pin_hash=hasher.hash("4826"))
    mode = "rfc4733"
    # Each script types its login at once (type-ahead), then waits long enough for the app to
    # be killed and taken over, then types what the step asks: 1# (delete) in the menu, the
    # new PIN again at the confirmation.
    retrieval = asyncio.create_task(place_call(
        target=asterisk.sip_target, dialed=RETRIEVAL, digit_gap_s=0.08,
        steps=[Wait(1.0), keys(box + "#", mode), keys("4826#", mode), Wait(24.0),
               keys("1#", mode), Wait(20.0), Hangup()],
        wait_for_remote_bye=True, timeout_s=90))
    cfg = asterisk.config
    async with AriClient(asterisk.ari_url, cfg.ari_user, cfg.ari_password, "rel-probe",
                         timeout=5) as ari:
        await wait_until(lambda: _any_step(ari, "r", "p"), 30, "the retrieval caller's message")
        pin_change = asyncio.create_task(place_call(
            target=asterisk.sip_target, dialed=PIN_CHANGE, digit_gap_s=0.08,
            steps=[Wait(1.0), keys(pin_box + "#", mode), keys("4826#", mode),
                   keys("3#", mode), keys("3911#", mode), Wait(14.0), keys("3911#", mode),
                   Wait(20.0), Hangup()],
            wait_for_remote_bye=True, timeout_s=90))
        await wait_until(lambda: _both_waiting(ari), 30,
                         "the retrieval menu and the PIN confirmation")
        kept = await steps_by_channel(ari)
    loop = asyncio.get_running_loop()
    app.kill()
    t_kill = time.monotonic()
    kill_at = loop.time()
    app.start()
    back_s = await wait_ready(app, 30, "the app to come back")
    r_result, p_result = await retrieval, await pin_change
    assert r_result.answered and r_result.remote_hung_up, r_result.describe()
    assert p_result.answered and p_result.remote_hung_up, p_result.describe()
    # the retrieval caller deleted the message after the restart (the last one: hang-up)
    assert message not in mailbox_messages(sql, box)
    deleted = sql.execute("SELECT channel_id FROM call_log WHERE route ="
                          " 'retrieval_ivr:deleted' AND detail = %s",
                          (f"{box}:{message}",)).fetchall()
    assert len(deleted) == 1
    # the PIN caller's new PIN is stored
    row = sql.execute("SELECT voicemail_pin_hash FROM subscriber_numbers WHERE number = %s",
                      (pin_box,)).fetchone()
    assert row is not None and isinstance(row[0], str) and hasher.verify(row[0], "3911")
    # never a PIN on a channel
    assert all("3911" not in str(v) and "4826" not in str(v) for v in kept.values()), kept
    await wait_no_channels(asterisk)
    r_silence = longest_quiet(r_result, kill_at, 8.0)
    p_silence = longest_quiet(p_result, kill_at, 8.0)
    assert r_silence < 10 and p_silence < 10
    reliability.note("Both calls stayed up: the new process found them in Stasis, read the "
                     "step each had kept on its channel (ANSHIN_RESUME, sealed), and re-ran "
                     "it from the start of its prompt: the retrieval caller heard the menu "
                     "again and 1# deleted the message being presented; the PIN-change "
                     "caller heard 「確認のため…」 again and the second entry was compared "
                     "with the first by its keyed fingerprint, and the new PIN stored. Keys "
                     "typed while no process listened would be lost (none here).")
    reliability.figure("kill → app ready", back_s, "s")
    reliability.figure("longest silence the caller heard in the 8 s after the kill (RTP), "
                       "retrieval / PIN change",
                       f"{r_silence:.2f} s / {p_silence:.2f} s")
    reliability.figure("call ended after the kill, retrieval / PIN change",
                       f"{r_result.remote_bye_after_s or 0:.1f} s / "
                       f"{p_result.remote_bye_after_s or 0:.1f} s after the INVITE")
    reliability.figure("test wall time after the kill", time.monotonic() - t_kill, "s")


async def _any_step(ari: AriClient, kind: str, step: str) -> bool:
    return any(f.get("k") == kind and f.get("s") == step
               for f in (await steps_by_channel(ari)).values())


async def _both_waiting(ari: AriClient) -> bool:
    steps = (await steps_by_channel(ari)).values()
    return (any(f.get("k") == "r" and f.get("s") == "u" for f in steps)
            and any(f.get("k") == "p" and f.get("s") == "k" for f in steps))
