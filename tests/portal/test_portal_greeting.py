"""応答メッセージ uploaded in the portal: real MP3/M4A/WAV files made with ffmpeg, converted by
the portal to 8 kHz mono, stored, refused with a clear Japanese reason, and removed again."""

from __future__ import annotations

import io
import subprocess
import wave
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from callflow.greeting import PROBLEM_JA, Problem, analyse
from labkit.portal_dev import PortalServer
from labkit.portal_testkit import Acct, Sql, api_login, make_account

PROMPTS = Path(__file__).resolve().parents[2] / "build" / "prompts"
#: a real Japanese voice: 「こちらは050あんしんナンバーです。お電話ありがとうございます。」
VOICE = PROMPTS / "demo_greeting.wav"


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y", *args],
                   check=True, timeout=60)


@pytest.fixture
def owner(portal: PortalServer, portal_sql: Sql) -> Iterator[tuple[httpx.Client, str, Acct]]:
    acct = make_account(portal_sql)
    client, csrf = api_login(portal.url, portal_sql, acct)
    yield client, csrf, acct
    client.close()


def stored(sql: Sql, number: str) -> tuple[object, ...] | None:
    return sql.execute("SELECT duration_ms, source, audio FROM voicemail_greetings"
                       " WHERE number = %s", (number,)).fetchone()


def test_upload_mp3_and_m4a_converted_refusals_and_back_to_standard(
        owner: tuple[httpx.Client, str, Acct], portal_sql: Sql, tmp_path: Path) -> None:
    client, csrf, acct = owner
    n = acct.numbers[0]
    h = {"X-CSRF-Token": csrf}
    assert client.get(f"/api/v1/numbers/{n}/greeting").json()["own"] is False
    voice_s = analyse(VOICE.read_bytes()).duration_ms / 1000

    # an MP3 at 44.1 kHz stereo, as a phone's recorder app makes them
    mp3 = tmp_path / "greeting.mp3"
    ffmpeg("-i", str(VOICE), "-ar", "44100", "-ac", "2", "-b:a", "128k", str(mp3))
    r = client.put(f"/api/v1/numbers/{n}/greeting", content=mp3.read_bytes(),
                   headers={**h, "Content-Type": "audio/mpeg"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["own"] is True and body["source"] == "portal"
    assert abs(body["duration_ms"] / 1000 - voice_s) < 0.2, (body, voice_s)
    row = stored(portal_sql, n)
    assert row is not None and isinstance(row[2], bytes)
    with wave.open(io.BytesIO(row[2])) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (8000, 1, 2)
    # the portal plays back what callers hear
    audio = client.get(body["audio_url"])
    assert audio.status_code == 200 and audio.content == row[2]

    # an M4A (AAC) replaces it; sent as a form upload from the page
    m4a = tmp_path / "greeting.m4a"
    ffmpeg("-i", str(VOICE), "-ar", "48000", "-c:a", "aac", "-b:a", "96k", str(m4a))
    r = client.post(f"/n/{n}/greeting/upload", data={"csrf_token": csrf},
                    files={"file": ("voice.m4a", m4a.read_bytes(), "audio/mp4")},
                    follow_redirects=True)
    assert r.status_code == 200 and "応答メッセージを登録しました" in r.text, r.text[-500:]
    assert "お客さまの応答メッセージ" in r.text
    row2 = stored(portal_sql, n)
    assert row2 is not None and row2[2] != row[2]

    # refusals, each with its reason; the stored greeting stays
    long_wav = tmp_path / "long.wav"
    ffmpeg("-stream_loop", "7", "-i", str(VOICE), "-ar", "16000", str(long_wav))  # ≈42 s
    silent = tmp_path / "silent.wav"
    ffmpeg("-f", "lavfi", "-i", "anullsrc=r=8000:cl=mono", "-t", "5", str(silent))
    quiet = tmp_path / "quiet.mp3"
    ffmpeg("-i", str(VOICE), "-af", "volume=-20dB", str(quiet))
    loud = tmp_path / "loud.wav"
    ffmpeg("-i", str(VOICE), "-af", "volume=20dB", str(loud))
    for data, problem in ((b"%PDF-1.7\n" + b"x" * 2000, Problem.WRONG_FORMAT),
                          (b"ID3" + b"\x00" * 2000, Problem.UNREADABLE),
                          (long_wav.read_bytes(), Problem.TOO_LONG),
                          (silent.read_bytes(), Problem.SILENT),
                          (quiet.read_bytes(), Problem.TOO_QUIET),
                          (loud.read_bytes(), Problem.TOO_LOUD)):
        r = client.put(f"/api/v1/numbers/{n}/greeting", content=data, headers=h)
        assert r.status_code == 422, (problem, r.text)
        assert r.json()["detail"] == [{"field": "file", "message": PROBLEM_JA[problem]}]
    assert stored(portal_sql, n) == row2
    r = client.post(f"/n/{n}/greeting/upload", data={"csrf_token": csrf},
                    files={"file": ("long.wav", long_wav.read_bytes(), "audio/wav")},
                    follow_redirects=True)
    assert PROBLEM_JA[Problem.TOO_LONG] in r.text

    # back to the standard greeting: the file goes with it
    r = client.delete(f"/api/v1/numbers/{n}/greeting", headers=h)
    assert r.status_code == 200 and r.json() == {
        "own": False, "duration_ms": None, "source": None, "updated_at": None,
        "audio_url": None}
    assert stored(portal_sql, n) is None
    assert client.get(f"/n/{n}/greeting.wav").status_code == 404


def test_another_account_cannot_touch_the_greeting(
        owner: tuple[httpx.Client, str, Acct], portal: PortalServer, portal_sql: Sql) -> None:
    client, csrf, _ = owner
    other = make_account(portal_sql)
    n = other.numbers[0]
    h = {"X-CSRF-Token": csrf}
    assert client.get(f"/api/v1/numbers/{n}/greeting").status_code == 404
    assert client.put(f"/api/v1/numbers/{n}/greeting", content=VOICE.read_bytes(),
                      headers=h).status_code == 404
    assert client.get(f"/n/{n}/greeting.wav").status_code == 404
    assert stored(portal_sql, n) is None
