"""Own-number verification decisions and the Japanese reasons of failed calls (pure)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from callflow.features.callback import verification as v
from callflow.features.callback.legs import LegResult
from callflow.features.callback.models import CallbackRefused
from callflow.features.callback.outcomes import GENERIC, RULE, explain
from callflow.features.callback.rules import MESSAGES

CODE = "048213"


def test_new_codes_are_six_digits() -> None:
    codes = {v.new_code() for _ in range(200)}
    assert all(len(c) == v.CODE_DIGITS and c.isdigit() for c in codes)
    assert len(codes) > 190


@pytest.mark.parametrize(("entered", "entry"), [
    ("", v.Entry.NONE), ("1", v.Entry.WRONG), (CODE, v.Entry.RIGHT),
    (CODE + "1", v.Entry.WRONG), (CODE[:-1], v.Entry.WRONG), ("48213", v.Entry.WRONG),
])
def test_judge(entered: str, entry: v.Entry) -> None:
    assert v.judge(entered, CODE) is entry


def test_pressing_1_never_verifies_and_three_entries_end_the_call() -> None:
    attempt = v.Attempt()
    prompts = []
    while not attempt.over:
        prompts.append(attempt.prompt)
        attempt = attempt.add(v.judge("1", CODE))
    assert not attempt.verified
    assert prompts == ["verify_own_number", "verify_code_wrong", "verify_code_wrong"]
    assert attempt.failure_reason == v.WRONG_CODE


def test_silence_is_no_input_and_the_right_code_verifies_late() -> None:
    attempt = v.Attempt().add(v.Entry.NONE)
    assert attempt.prompt == "verify_code_again" and not attempt.over
    assert attempt.add(v.Entry.NONE).add(v.Entry.NONE).failure_reason == v.NO_INPUT
    done = attempt.add(v.Entry.WRONG).add(v.judge(CODE, CODE))
    assert done.verified and done.over


@given(st.lists(st.text(alphabet="0123456789*#", max_size=8), max_size=6))
def test_only_the_code_verifies(entries: list[str]) -> None:
    attempt = v.Attempt()
    for entered in entries:
        if attempt.over:
            break
        attempt = attempt.add(v.judge(entered, CODE))
    assert attempt.verified == (CODE in entries[:v.MAX_ENTRIES])
    assert len(attempt.entries) <= v.MAX_ENTRIES


def history(**kw: int | bool) -> v.History:
    base: dict[str, int | bool] = dict(account_calls_last_hour=0, account_calls_last_day=0,
                                       number_calls_last_day=0, number_wrong_code_calls=0,
                                       active_on_number=False)
    base.update(kw)
    return v.History(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(("kw", "code"), [
    ({"active_on_number": True}, "verification_in_progress"),
    ({"number_wrong_code_calls": v.LOCK_AFTER_FAILED_CALLS}, "verification_locked"),
    ({"account_calls_last_hour": v.MAX_CALLS_PER_ACCOUNT_HOUR}, "verification_hourly_limit"),
    ({"account_calls_last_day": v.MAX_CALLS_PER_ACCOUNT_DAY}, "verification_daily_limit"),
    ({"number_calls_last_day": v.MAX_CALLS_PER_NUMBER_DAY},
     "verification_number_daily_limit"),
])
def test_history_refusals(kw: dict[str, int | bool], code: str) -> None:
    v.check_history(history())
    with pytest.raises(CallbackRefused) as exc:
        v.check_history(history(**kw))
    assert exc.value.reason_code == code
    assert "{" not in exc.value.message_ja and exc.value.message_ja.endswith("。")


@pytest.mark.parametrize("result", [r for r in LegResult if r is not LegResult.ANSWERED])
def test_every_unanswered_leg_has_its_reason(result: LegResult) -> None:
    for prefix in ("leg1_", "dest_"):
        text = explain(prefix + result.value)
        assert text and text != GENERIC, prefix + result.value


def test_reasons_in_japanese() -> None:
    assert explain(None) is None
    assert explain("dest_no_answer") == "相手先から応答がありませんでした。"
    assert explain("dest_busy") == "相手先が話し中でした。"
    assert explain("leg1_no_answer") == "お客さまの電話番号から応答がありませんでした。"
    assert explain("rule_international") == RULE + MESSAGES["international"]
    assert explain("rule_hourly_limit") is not None
    assert "{" not in (explain("rule_hourly_limit") or "{")
    assert explain("rule_no_own_number") == RULE + MESSAGES["no_own_number"]
    for reason in ("wrong_code", "no_input", "hung_up", "not_taken_in_time", "leg1_hung_up",
                   "worker_lost"):
        assert explain(reason) not in (None, GENERIC), reason
    assert explain("something_new") == GENERIC
