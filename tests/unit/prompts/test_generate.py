"""ivr_prompts: manifest validation and real generation with Open JTalk + sox."""

from __future__ import annotations

import dataclasses
import re
import shutil
import wave
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from ivr_prompts import generate as gen
from ivr_prompts.manifest import PROMPT_IDS, ManifestError, load_manifest, read_manifest

needs_tools = pytest.mark.skipif(
    shutil.which("open_jtalk") is None or shutil.which("sox") is None,
    reason="open_jtalk and sox are required (apt-get install open-jtalk sox ...)",
)

# --- the packaged manifest -----------------------------------------------------

REQUIRED = [
    "unavailable", "not_in_service", "demo_greeting", "goodbye", "anonymous_rejected", "blocked",
    "forward_failed", "vm_greeting", "vm_full", "vm_saved", "welcome", "enter_number",
    "enter_pin", "auth_failed", "locked", "no_messages", "new_messages_prefix",
    "saved_messages_prefix", "ken", "arimasu", "already_heard", "message_received_at",
    "from_number", "kara", "menu_after_message", "deleted", "all_deleted", "back_to_first",
    "invalid_input", "no_input", "pin_menu", "enter_new_pin", "confirm_new_pin", "pin_mismatch",
    "pin_invalid", "pin_same_as_current", "pin_changed", "callback_connecting",
    "callback_dest_busy", "callback_dest_no_answer", "callback_failed", "verify_own_number",
    "verify_code_wrong", "verify_code_again", "verify_failed", "verified",
    "twofa_code_intro", "twofa_repeat", "am", "pm", "beep",
]  # fmt: skip


def test_manifest_has_every_required_prompt() -> None:
    numbered = (
        [f"digit_{i}" for i in range(10)]
        + [f"count_{i}" for i in range(1, 21)]
        + [f"month_{i}" for i in range(1, 13)]
        + [f"day_{i}" for i in range(1, 32)]
        + [f"hour_{i}" for i in range(13)]
        + [f"minute_{i}" for i in range(1, 60)]
    )
    missing = sorted(set(REQUIRED + numbered) - PROMPT_IDS)
    assert not missing


def test_manifest_wording_from_the_guide() -> None:
    texts = load_manifest()
    assert (
        texts["no_messages"] == "メッセージはお預かりしておりません。ご利用ありがとうございました。"
    )
    assert texts["not_in_service"] == "おかけになった電話番号は現在使われておりません。"
    assert texts["goodbye"] == "ご利用ありがとうございました。"
    assert texts["welcome"] == "こちらはメッセージセンターです。"
    assert "1とシャープ" in texts["menu_after_message"]
    # Must not reveal whether the number or the PIN was wrong.
    assert "または" in texts["auth_failed"]
    assert all(re.fullmatch(r"[a-z][a-z0-9_]*", i) for i in PROMPT_IDS)
    assert "beep" in PROMPT_IDS and "beep" not in texts


def _write(path: Path, body: str) -> Path:
    path.write_text(body, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('[prompts.a]\nBad-Id = "x"\n', "snake_case"),
        ('[prompts.a]\nx = "a"\n[prompts.b]\nx = "b"\n', "both"),
        ('[prompts.a]\nx = "  "\n', "non-empty"),
        ('[prompts.a]\nx = { text = "a", sai = "b" }\n', "unknown keys"),
        ('[prompts.a]\nx = "a"\n[tones]\nx = { frequency = 1000, duration = 0.3 }\n', "also"),
        ('[prompts.a]\nx = "a"\n[tones]\nb = { frequency = 9000, duration = 0.3 }\n', "Hz"),
        ("[prompts.a]\nx = \n", "manifest"),
    ],
)
def test_manifest_errors(tmp_path: Path, body: str, message: str) -> None:
    with pytest.raises(ManifestError, match=message):
        read_manifest(_write(tmp_path / "manifest.toml", body))


@needs_tools
def test_number_and_date_readings_are_exact() -> None:
    """Katakana `say` of every number/date piece is read exactly as written (this is
    how はち -> ワチ and ハツカ -> ハッカ were caught)."""
    m = read_manifest()
    tools = gen.Toolchain.from_env()
    pieces = [
        p for p in m.prompts.values()
        if re.fullmatch(r"(digit|count|ken|nth|month|day|hour|minute)_\d+|am|pm|today|yesterday"
                    r"|kenme", p.id)
    ]  # fmt: skip

    def hira_to_kata(s: str) -> str:
        return "".join(chr(ord(c) + 0x60) if "ぁ" <= c <= "ゖ" else c for c in s)

    def check(say: str) -> tuple[str, str]:
        return hira_to_kata(say), gen.reading(say, tools).replace("’", "")

    with ThreadPoolExecutor(max_workers=2) as pool:
        wrong = [(w, got) for w, got in pool.map(check, [p.say for p in pieces]) if w != got]
    assert len(pieces) > 170
    assert not wrong


# --- generation ------------------------------------------------------------------

SMALL = """
[prompts.test]
goodbye = "ご利用ありがとうございました。"
welcome = "こちらはメッセージセンターです。"
day_20 = { text = "20日", say = "はつか" }

[tones]
beep = { frequency = 1000, duration = 0.3 }
"""


def _wav_info(path: Path) -> tuple[int, int, int, float]:
    with wave.open(str(path), "rb") as w:
        assert w.getcomptype() == "NONE"
        return w.getframerate(), w.getnchannels(), w.getsampwidth(), w.getnframes() / 8000


@needs_tools
def test_generate_check_and_cache(tmp_path: Path) -> None:
    out = tmp_path / "prompts"
    manifest_path = _write(tmp_path / "manifest.toml", SMALL)
    manifest = read_manifest(manifest_path)
    tools = gen.Toolchain.from_env()

    assert gen.check(out, manifest, tools) == ["beep", "day_20", "goodbye", "welcome"]
    first = gen.generate(out, manifest, tools, jobs=2)
    assert first.failed == {}
    assert sorted(first.generated) == ["beep", "day_20", "goodbye", "welcome"]
    for pid in ("goodbye", "welcome"):
        rate, channels, width, seconds = _wav_info(out / f"{pid}.wav")
        assert (rate, channels, width) == (8000, 1, 2)
        assert seconds > 0.3
    rate, channels, width, seconds = _wav_info(out / "beep.wav")
    assert (rate, channels, width) == (8000, 1, 2)
    assert seconds == pytest.approx(0.3, abs=0.01)
    assert gen.check(out, manifest, tools) == []
    assert not list(out.glob(".tmp-*"))

    # Second run: nothing regenerated, files untouched.
    mtimes = {p.name: p.stat().st_mtime_ns for p in out.glob("*.wav")}
    second = gen.generate(out, manifest, tools)
    assert second.generated == [] and len(second.up_to_date) == 4
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("*.wav")} == mtimes

    # Changed text: only that prompt is regenerated; a dropped id is removed.
    changed = SMALL.replace(
        "こちらはメッセージセンターです。", "こちらは、メッセージセンターです。"
    )
    changed = changed.replace('day_20 = { text = "20日", say = "はつか" }\n', "")
    manifest2 = read_manifest(_write(manifest_path, changed))
    assert gen.check(out, manifest2, tools) == ["welcome"]
    third = gen.generate(out, manifest2, tools)
    assert third.generated == ["welcome"]
    assert third.removed == ["day_20"]
    assert not (out / "day_20.wav").exists()
    assert (out / "goodbye.wav").stat().st_mtime_ns == mtimes["goodbye.wav"]

    # A deleted output file is noticed by --check and regenerated.
    (out / "goodbye.wav").unlink()
    argv = ["--out", str(out), "--manifest", str(manifest_path)]
    assert gen.main([*argv, "--check"]) == 1
    assert gen.main(argv) == 0
    assert gen.main([*argv, "--check"]) == 0


def test_hash_depends_on_text_voice_and_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tools = gen.Toolchain.from_env()
    if not tools.voice.is_file() or not (tools.dic / "sys.dic").is_file():
        pytest.skip("Open JTalk dictionary/voice not installed")
    manifest = read_manifest(_write(tmp_path / "manifest.toml", SMALL))
    base = gen.content_hashes(manifest, tools)
    assert len(set(base.values())) == len(base)

    voice = tmp_path / "voice.htsvoice"
    voice.write_bytes(tools.voice.read_bytes() + b"\n")
    other_voice = gen.content_hashes(manifest, dataclasses.replace(tools, voice=voice))
    assert other_voice["goodbye"] != base["goodbye"]
    assert other_voice["beep"] == base["beep"]  # tones do not depend on the voice

    monkeypatch.setattr(gen, "GENERATOR_VERSION", "test")
    assert all(h != base[k] for k, h in gen.content_hashes(manifest, tools).items())


def test_clear_errors_for_missing_tools(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    manifest = read_manifest(_write(tmp_path / "manifest.toml", SMALL))
    tools = gen.Toolchain.from_env()
    if not tools.voice.is_file():
        pytest.skip("Open JTalk voice not installed")
    no_jtalk = dataclasses.replace(tools, open_jtalk=None)
    with pytest.raises(gen.GenerateError, match="open_jtalk not found"):
        gen.generate(tmp_path / "out", manifest, no_jtalk)

    monkeypatch.setenv("OPEN_JTALK_VOICE", str(tmp_path / "nope.htsvoice"))
    with pytest.raises(gen.GenerateError, match="OPEN_JTALK_VOICE"):
        gen.generate(tmp_path / "out", manifest)
    assert gen.main(["--out", str(tmp_path / "out")]) == 2

    monkeypatch.delenv("OPEN_JTALK_VOICE")
    monkeypatch.setenv("OPEN_JTALK_DIC", str(tmp_path))
    with pytest.raises(gen.GenerateError, match="OPEN_JTALK_DIC"):
        gen.check(tmp_path / "out", manifest)
