"""応答メッセージ through real peers: a subscriber records a greeting in the retrieval IVR by
DTMF (SIPp sends the voice as RTP), keeps it, and the next caller to the 050 number hears it
instead of the standard greeting, then the beep.

The "voice" is SIPp's speech-like audio: a 400 Hz tone gated 0.3 s on / 0.1 s off, which
`tone_starts` finds again in what the caller received, and which the standard greeting
(Open JTalk speech, ≈9.6 s before the beep) never contains.
"""

from __future__ import annotations

import io
import wave

import psycopg
import pytest
from argon2 import PasswordHasher

from integration.support import new_subscriber
from labkit.appproc import AppProcess
from labkit.asterisk import AsteriskContainer
from labkit.harness.hearing import BEEP_HZ, tone_starts
from labkit.harness.sipp import Dtmf, Hangup, Speak, Wait, place_call
from labkit.harness.sipp import Step as SippStep

pytestmark = pytest.mark.lab

Sql = psycopg.Connection[tuple[object, ...]]
RETRIEVAL = "05033005000"
VOICE_HZ = 400.0


def keys(digits: str) -> Dtmf:
    return Dtmf(digits, mode="rfc4733", duration_s=0.08, gap_s=0.06)


def tone_wav(seconds: float) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\x10\x00\xf0\xff" * int(4000 * seconds))
    return buf.getvalue()


async def test_greeting_recorded_by_dtmf_is_what_the_next_caller_hears(
        app: AppProcess, asterisk: AsteriskContainer, sql: Sql) -> None:
    number = new_subscriber(sql, voicemail_enabled=True, forward_enabled=False,
                            voicemail_pin_hash=PasswordHasher().hash("4826"))
    # one short message, so that 9# is a choice in the long menu after it (≈15 s prompt and
    # a 10 s wait: a wide window for a paced script)
    sql.execute("INSERT INTO voicemail_messages (number, caller, duration_ms, audio)"
                " VALUES (%s, '09011112222', 1000, %s)", (number, tone_wav(1.0)))
    steps: list[SippStep] = [Wait(1.0), keys(number + "#"), keys("4826#"),
                             Wait(15.0), keys("9#"),  # in the menu after the message
                             Wait(2.0), keys("1#"),  # during the greeting menu: record
                             Wait(10.0), Speak(3.0), keys("#"),  # after guidance and beep
                             Wait(2.0), keys("2#"),  # during 「録音しました。」+ menu: listen
                             Wait(7.0), keys("3#")]  # during the menu again: keep
    result = await place_call(target=asterisk.sip_target, dialed=RETRIEVAL, steps=steps,
                              digit_gap_s=0.08, wait_for_remote_bye=True, timeout_s=60)
    assert result.answered and result.remote_hung_up, result.describe()
    # 2# played the take back: the caller heard their own "voice" (nothing else is 400 Hz)
    assert result.rtp is not None and tone_starts(result.rtp.wav(), VOICE_HZ), \
        "the recorded greeting was not played back"
    row = sql.execute("SELECT duration_ms, source FROM voicemail_greetings WHERE number = %s",
                      (number,)).fetchone()
    assert row is not None, result.describe()
    duration_ms, source = row
    assert source == "ivr" and isinstance(duration_ms, int) and 2500 <= duration_ms <= 8000
    # a greeting is not a message
    assert sql.execute("SELECT count(*) FROM voicemail_messages WHERE number = %s",
                       (number,)).fetchone() == (1,)
    assert sql.execute("SELECT count(*) FROM call_log WHERE route = 'retrieval_ivr:"
                       "greeting_kept' AND detail LIKE %s", (number + ":%",)).fetchone() == (1,)

    # a caller now hears the recorded voice, then the beep — far sooner than after the
    # standard greeting's ≈9.6 s
    result = await place_call(target=asterisk.sip_target, dialed=number, caller="0312345678",
                              steps=[Wait(duration_ms / 1000 + 3.0), Hangup()], timeout_s=30)
    assert result.answered and result.rtp is not None, result.describe()
    heard = result.rtp.wav()
    voice, beep = tone_starts(heard, VOICE_HZ), tone_starts(heard, BEEP_HZ)
    assert voice, "the caller did not hear the recorded greeting"
    assert len(beep) == 1 and voice[0] < beep[0] < duration_ms / 1000 + 1.5, (voice, beep)
    assert voice[-1] < beep[0]
