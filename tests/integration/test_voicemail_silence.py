"""The voicemail silence rule through real RTP: a caller may be quiet after the beep for
less than ``voicemail_max_silence_seconds`` (8 s) and still leave a message; a line that
stays quiet longer ends by itself. Quiet is sent both ways phones send it: as RTP packets
of silence, and as no packets at all (silence suppression, VAD/DTX — what softphones and
mobile networks do, and what used to end the message after ~4 s: Asterisk's recorder gives
up on a channel that delivers no frame for 2 × 2 s)."""

from __future__ import annotations

import psycopg
import pytest

from callflow.features.voicemail.audio import analyse_wav
from integration.support import new_subscriber
from labkit.appproc import AppProcess
from labkit.asterisk import AsteriskContainer
from labkit.harness.sipp import Dtmf, Quiet, Speak, Step, Wait, place_call

pytestmark = pytest.mark.lab

Sql = psycopg.Connection[tuple[object, ...]]
GREETING_S = 11.0  # vm_greeting + beep last ~10 s
MAX_SILENCE_S = 8.0  # the app's setting (callflow/config.py default)


def quiet(kind: str, seconds: float) -> Step:
    return Wait(seconds) if kind == "silent-rtp" else Quiet(seconds)


def stored(sql: Sql, number: str) -> list[tuple[object, ...]]:
    return sql.execute("SELECT caller, audio FROM voicemail_messages WHERE number = %s",
                       (number,)).fetchall()


@pytest.mark.parametrize("kind", ["silent-rtp", "no-rtp"])
async def test_caller_quiet_for_six_seconds_then_speaking_leaves_a_message(
        app: AppProcess, asterisk: AsteriskContainer, sql: Sql, kind: str) -> None:
    number = new_subscriber(sql, voicemail_enabled=True, forward_enabled=False)
    result = await place_call(
        target=asterisk.sip_target, dialed=number, caller="0312345678",
        steps=[Wait(GREETING_S), quiet(kind, 6.0), Speak(3.0), Dtmf("#")],
        wait_for_remote_bye=True, timeout_s=45)
    assert result.answered and result.remote_hung_up, result.describe()
    # still there when the caller spoke, and thanked after '#'
    bye = result.remote_bye_after_s
    assert bye is not None and bye > GREETING_S + 6 + 3, result.describe()
    [(caller, audio)] = stored(sql, number)
    assert caller == "0312345678"
    assert isinstance(audio, bytes) and analyse_wav(audio).speech_ms >= 1900


@pytest.mark.parametrize("kind", ["silent-rtp", "no-rtp"])
async def test_quiet_line_ends_after_the_configured_silence(
        app: AppProcess, asterisk: AsteriskContainer, sql: Sql, kind: str) -> None:
    number = new_subscriber(sql, voicemail_enabled=True, forward_enabled=False)
    result = await place_call(
        target=asterisk.sip_target, dialed=number, caller="0312345678",
        steps=[Wait(GREETING_S), quiet(kind, 40.0)], wait_for_remote_bye=True, timeout_s=55)
    assert result.answered and result.remote_hung_up, result.describe()
    # The greeting ends ~1 s before GREETING_S; the line is then ended after 8 s of quiet,
    # not after ~4 s (the old cut-off) and not only at the 3-minute limit.
    bye = result.remote_bye_after_s
    assert bye is not None, result.describe()
    assert GREETING_S + MAX_SILENCE_S - 3 < bye < GREETING_S + MAX_SILENCE_S + 6, bye
    assert stored(sql, number) == []
