"""labkit.harness.hearing: the comparison rules (fast, hypothesis) and the recogniser itself
on the project's own prompts (offline; fails, never skips, without the 'hearing' extra)."""

from __future__ import annotations

import io
import math
import os
import wave
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from labkit.harness.hearing import (
    BEEP_HZ,
    digit_runs,
    heard,
    heard_in_order,
    missing_words,
    normalise,
    tone_starts,
    transcribe_timed,
)
from labkit.harness.rtp import PT_PCMU, heard_pcm, linear_to_ulaw, pcm_to_wav

PROMPTS = Path(os.environ.get("ANSHIN_PROMPTS_DIR",
                              Path(__file__).resolve().parents[3] / "build" / "prompts"))

japanese = st.text(
    alphabet=st.sampled_from("あいうえおかきくけこアイウエオカキクケコーを件目番号暗証"
                             "0123456789、。 "),
    max_size=40)


# ------------------------------------------------------------------ normalise

def test_normalise_folds_the_writings_a_recogniser_may_choose() -> None:
    assert normalise("メッセージ") == normalise("めっせーじ") == "めっせーじ"
    assert normalise("4桁") == normalise("４桁") == normalise("四桁") == "よん桁"
    assert normalise("186をつけて、おかけ直し。") == "いちはちろくをつけておかけ直し"
    # the counter's homophones (「一見目」 for 1件目) meet at けんめ
    assert normalise("一見目") == normalise("1件目") == normalise("イチケンメ") == "いちけんめ"
    assert normalise(" Ａ B、。！？「」") == "ab"


@given(japanese)
def test_normalise_is_idempotent_and_drops_punctuation(text: str) -> None:
    once = normalise(text)
    assert normalise(once) == once
    assert not any(c in once for c in "、。 0123456789")


@given(japanese)
def test_katakana_and_hiragana_are_the_same_word(text: str) -> None:
    katakana = "".join(chr(ord(c) + 0x60) if "ぁ" <= c <= "ゖ" else c for c in text)
    assert normalise(katakana) == normalise(text)


# ------------------------------------------------------------------ heard

@given(japanese, st.integers(0, 40), st.integers(1, 12))
def test_any_part_of_a_transcript_is_heard_in_it(text: str, start: int, size: int) -> None:
    word = text[start:start + size]
    assert heard([word], text, tolerance=0.0)
    assert heard_in_order([word, word[-1:]], text + word[-1:], tolerance=0.0)


def test_small_slips_are_tolerated_other_words_are_not() -> None:
    # what the recogniser made of the real prompts (8 kHz, Open JTalk)
    text = "ただいまメッセージを合わずかりできる検査を超えているため、録音することができません。"
    assert heard(["メッセージをお預かりできる"], text)
    assert heard(["反省番号を変更しました"[1:], "暗証番号を変更しました"], "反省番号を変更しました")
    assert missing_words(["発信音のあとに", "録音することができません"], text) == ["発信音のあとに"]
    assert not heard(["暗証番号を変更しました"], "メッセージを消去しました。")


def test_order_counts() -> None:
    text = "一見目 再生済みです 最初のメッセージに戻ります二見目"
    assert heard_in_order(["1件目", "最初のメッセージに戻ります", "2件目"], text)
    assert not heard_in_order(["2件目", "1件目"], text)
    assert not heard_in_order(["1件目", "1件目"], text, tolerance=0.1)


def test_digit_runs_read_a_code_read_one_digit_at_a_time() -> None:
    text = ("こちらは0501シンナンバーです 認証番号をお知らせします4 8 2 5 1 3 "
            "もう一度繰り返します4 8 2 5 1 3 心辺りのない場合は")
    assert [r for r in digit_runs(text) if len(r) == 6] == ["482513", "482513"]
    assert digit_runs("もう一度、四八二、九一五です") == ["482915"]
    assert digit_runs("１２３") == ["123"]
    # ゴー written as 号 (heard on a real 2FA call), but 番号 is no digit
    assert digit_runs("お知らせします48291号 もう一度繰り返します4829 1号") == ["482915", "482915"]
    assert digit_runs("電話番号の前に186を") == ["186"]


# ------------------------------------------------------------------ audio


def tone_wav(seconds: float, hz: float, lead_s: float = 0.0) -> bytes:
    samples = [0] * round(lead_s * 8000) + [
        round(8000 * math.sin(2 * math.pi * hz * i / 8000)) for i in range(round(seconds * 8000))]
    return pcm_to_wav(b"".join(s.to_bytes(2, "little", signed=True) for s in samples))


def test_the_beep_is_found_where_it_is() -> None:
    assert tone_starts(tone_wav(0.3, BEEP_HZ, lead_s=1.0), BEEP_HZ) == [1.0]
    assert tone_starts(tone_wav(0.3, 400.0, lead_s=1.0), BEEP_HZ) == []
    assert tone_starts(tone_wav(0.1, BEEP_HZ), BEEP_HZ) == []  # too short for a beep


def test_heard_audio_keeps_arrival_pauses_as_silence() -> None:
    frame = bytes([linear_to_ulaw(1000)]) * 160
    pcm = heard_pcm([(10.0, PT_PCMU, frame), (10.02, PT_PCMU, frame),  # back to back
                     (11.04, PT_PCMU, frame)])  # after a 1 s pause
    assert len(pcm) // 2 == round(1.04 * 8000) + 160
    with wave.open(io.BytesIO(pcm_to_wav(pcm))) as w:
        assert (w.getframerate(), w.getsampwidth(), w.getnchannels()) == (8000, 2, 1)


# ------------------------------------------------------------------ the recogniser


def prompts_wav(*ids: str) -> bytes:
    frames = b""
    for prompt in ids:
        with wave.open(str(PROMPTS / f"{prompt}.wav")) as w:
            assert w.getframerate() == 8000
            frames += w.readframes(w.getnframes()) + b"\0\0" * 1600
    return pcm_to_wav(frames)


def test_the_recogniser_hears_the_prompts_offline() -> None:
    if not (PROMPTS / "twofa_code_intro.wav").is_file():
        pytest.fail(f"no prompts in {PROMPTS}: ./lab test generates them")
    code = "482915"
    transcript = transcribe_timed(prompts_wav(
        "twofa_code_intro", *(f"digit_{d}" for d in code), "twofa_repeat",
        *(f"digit_{d}" for d in code)))
    assert heard_in_order(["認証番号", "もう一度繰り返します"], transcript.text)
    assert digit_runs(transcript.text) == [code, code], transcript.text
    assert transcript.cpu_s > 0 and transcript.audio_s > 8


def test_in_order_may_allow_a_misheard_word_but_never_a_wrong_order() -> None:
    from labkit.harness.hearing import heard_in_order

    # the first 「再生済みです」 misheard: with the best window taken for it, the later words
    # are looked for after its second reading and are missed
    text = ("1件目最制不味ですメッセージを消去しました1件目再生済みです"
            "すべてのメッセージを消去しました")
    words = ["1件目", "再生済みです", "メッセージを消去しました", "1件目",
             "すべてのメッセージを消去しました"]
    assert not heard_in_order(words, text)
    assert heard_in_order(words, text, misses=1)
    assert not heard_in_order(list(reversed(words)), text, misses=1)
    # one miss allowed, not two
    assert not heard_in_order(["最初のメッセージに戻ります", "入力が正しくありません", "1件目"],
                              text, misses=1)
