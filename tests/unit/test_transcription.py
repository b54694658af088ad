"""Voicemail transcription, the pure parts: the text in the notification mail, the character
error rate the measurements use, the portal's search words, callers' speech as RTP, the
recogniser's input, and the setting that keeps it all off by default."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import wave
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from callflow.config import Settings
from callflow.mail.compose import (
    TRANSCRIPT_HEADING,
    IncomingCall,
    compose_notification,
    with_transcript,
)
from callflow.mail.outbox import OutboxRow
from callflow.transcribe.audio import pcm16_mono
from labkit.harness.hearing import cer
from labkit.harness.rtp import SAMPLES_PER_PACKET, RtpStream, parse_rtp, ulaw_to_linear
from portal.web.messages import message_search

T0 = datetime(2026, 11, 29, 5, 0, 0, tzinfo=UTC)


def wav(samples: list[int], rate: int = 8000) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(b"".join(s.to_bytes(2, "little", signed=True) for s in samples))
    return buf.getvalue()


def notification(*, recorded: bool = True, attach: bool = True) -> str:
    call = IncomingCall(number="05012345678", caller="09011112222", received_at=T0,
                        duration_ms=4200 if recorded else None,
                        audio=wav([0] * 8000) if recorded else None)
    return compose_notification(call, to_addr="a@example.jp", attach=attach,
                                retrieval_number="05033005000").body


def test_the_text_goes_right_under_the_message_line_above_the_attachment_note() -> None:
    body = with_transcript(notification(), "田中です。 お電話ください。\n")
    lines = body.split("\n")
    at = lines.index(TRANSCRIPT_HEADING)
    assert lines[at - 2].startswith("メッセージ：あり（録音時間 5秒）") and lines[at - 1] == ""
    assert lines[at + 1] == "「田中です。 お電話ください。」"  # spaces folded, one line
    assert body.index(TRANSCRIPT_HEADING) < body.index("録音されたメッセージを添付しています")


def test_no_text_or_no_message_leaves_the_mail_as_it_was() -> None:
    assert with_transcript(notification(), " \n ") == notification()
    without_message = notification(recorded=False)
    assert with_transcript(without_message, "もしもし") == without_message


@given(st.text(min_size=1).filter(lambda t: t.split() != []))
def test_the_mail_keeps_every_line_it_had(text: str) -> None:
    body = notification(attach=False)
    out = with_transcript(body, text).split("\n")
    kept = iter(out)
    assert all(line in kept for line in body.split("\n"))  # in order, none lost
    assert len(out) == len(body.split("\n")) + 3


def test_the_outbox_row_carries_the_text_into_the_mail_it_sends() -> None:
    body = notification()
    row = OutboxRow(1, T0, "a@example.jp", "件名", body, None, None, 0)
    assert row.mail.body == body
    with_text = OutboxRow(1, T0, "a@example.jp", "件名", body, None, None, 0, "もしもし")
    assert with_text.mail.body == with_transcript(body, "もしもし")


def test_character_error_rate_counts_edits_not_spelling_variants() -> None:
    assert cer("田中です。", "田中です") == 0.0  # punctuation
    assert cer("ニモツ", "にもつ") == 0.0  # katakana = hiragana
    assert cer("午後3時", "午後三時") == 0.0  # digits either way
    assert cer("荷物が届きました", "荷物は届きました") == 1 / 8  # one substitution
    assert cer("荷物", "荷物です") == 1.0  # two insertions over two characters
    assert cer("荷物", "") == 1.0
    assert cer("", "") == 0.0


def test_the_search_words_are_folded_and_bounded() -> None:
    assert message_search("  ｶﾞｽ代 ") == "ガス代"  # half-width katakana as Whisper writes
    assert message_search("ＡＢＣ１２") == "ABC12"
    assert len(message_search("あ" * 80)) == 50


def test_a_callers_voice_goes_out_as_pcmu_frames_of_20_ms() -> None:
    samples = [round(8000 * ((i % 40) / 20 - 1)) for i in range(8000 + 10)]  # 1.00125 s
    stream = RtpStream().voice(wav(samples))
    assert len(stream.packets) == 51 and abs(stream.duration_s - 1.02) < 1e-9
    first = parse_rtp(stream.packets[0].data)
    assert first is not None and len(first.payload) == SAMPLES_PER_PACKET
    decoded = [ulaw_to_linear(b) for b in first.payload]
    assert max(abs(a - b) for a, b in zip(decoded, samples, strict=False)) < 300  # μ-law step
    last = parse_rtp(stream.packets[-1].data)
    assert last is not None and set(last.payload[10:]) == {0xFF}  # padded with silence


def test_the_recogniser_hears_8_khz_audio_resampled_to_16_khz() -> None:
    samples, seconds = pcm16_mono(wav([1000, -1000] * 4000))
    assert seconds == 1.0 and len(samples) == 16000
    assert abs(float(samples.max()) - 1000 / 32768) < 1e-6


def test_transcription_is_off_unless_turned_on() -> None:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.transcribe is False and settings.transcript_wait_s == 30.0


def test_the_worker_refuses_a_production_start_with_the_labs_database_login() -> None:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("ANSHIN_", "PG"))}
    done = subprocess.run([sys.executable, "-m", "callflow.transcribe"],
                          env={**clean, "ANSHIN_PROFILE": "production"}, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2 and "ANSHIN_DATABASE_URL" in done.stderr, done.stderr
