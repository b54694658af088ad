"""Pure validation and form logic (no database, no browser)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from portal import forms
from portal.validation import (
    Invalid,
    format_jst,
    mask_number,
    normalize_code,
    sms_capable,
    validate_email,
    validate_phone,
    validate_pin,
)

FULL = str.maketrans("0123456789", "０１２３４５６７８９")


@given(st.from_regex(r"[0-9]{6}", fullmatch=True), st.booleans())
def test_six_digit_codes_half_or_full_width(code: str, full: bool) -> None:
    assert normalize_code(code.translate(FULL) if full else code) == code


@given(st.text(max_size=12))
def test_anything_else_is_refused_in_japanese(text: str) -> None:
    half = text.strip().translate(str.maketrans("０１２３４５６７８９", "0123456789"))
    if len(half) == 6 and half.isascii() and half.isdigit():
        return
    with pytest.raises(Invalid) as e:
        normalize_code(text)
    assert "認証番号" in e.value.message


@given(st.from_regex(r"0[789]0[0-9]{8}", fullmatch=True))
def test_sms_only_for_mobiles(number: str) -> None:
    assert sms_capable(number)
    assert not sms_capable("03" + number[3:11])
    assert not sms_capable("050" + number[3:])


def test_phone_numbers() -> None:
    assert validate_phone("+81 90-1234-5678") == "09012345678"
    assert validate_phone("０３－１２３４－５６７８") == "0312345678"
    for bad, why in [("", "入力"), ("12", "10桁"), ("0990123456", "指定できません"),
                     ("0120123456", "指定できません")]:
        with pytest.raises(Invalid, match=why):
            validate_phone(bad)
    with pytest.raises(Invalid):
        validate_phone("05012345678", allow_050=False)


def test_pin_and_email() -> None:
    assert validate_pin("１２３４") == "1234"
    for bad in ("123", "12345", "abcd", ""):
        with pytest.raises(Invalid, match="4桁"):
            validate_pin(bad)
    assert validate_email(" a.b+c@example.co.jp ") == "a.b+c@example.co.jp"
    for bad in ("a@b", "no-at", "a b@example.jp"):
        with pytest.raises(Invalid):
            validate_email(bad)


def test_history_time_format_is_jst() -> None:
    assert format_jst(datetime(2014, 11, 14, 7, 55, 14, tzinfo=UTC)) == "2014/11/14 16:55:14"
    assert mask_number("09012345890") == "********890"


@given(st.lists(st.from_regex(r"0[1-9][0-9]{8}", fullmatch=True), unique=True, max_size=35))
def test_block_list_never_exceeds_thirty(numbers: list[str]) -> None:
    entries: list[str] = []
    refused = 0
    for n in numbers:
        entries, errors = forms.add_to_blocklist(entries, n)
        refused += bool(errors)
    assert len(entries) == min(30, len(numbers))
    assert refused == max(0, len(numbers) - 30)


def test_block_list_normalises_and_refuses_duplicates() -> None:
    entries, errors = forms.add_to_blocklist([], "+81 90-1234-5678")
    assert entries == ["09012345678"] and not errors
    entries, errors = forms.add_to_blocklist(entries, "090-1234-5678")
    assert errors == {"new_number": "この電話番号はすでに登録されています。"}


def test_forwarding_form() -> None:
    fwd, errors = forms.parse_forwarding(enabled="on", destinations=["09011112222", "", "",
                                                                     "0311112222", ""],
                                         active="4", ring_seconds="20", show_caller="caller")
    assert not errors and fwd is not None
    assert fwd.destinations == ["09011112222", "0311112222"] and fwd.active == "0311112222"
    fwd, errors = forms.parse_forwarding(enabled="on", destinations=["", "", "", "", ""],
                                         active="", ring_seconds="7", show_caller="x")
    assert fwd is None and set(errors) == {"active", "ring_seconds", "show_caller"}
    fwd, errors = forms.parse_forwarding(enabled="on", destinations=["09011112222"] * 2,
                                         active="1", ring_seconds="20", show_caller="050")
    assert errors == {"dest2": "同じ電話番号が登録されています。"}


def test_voicemail_form() -> None:
    vm, errors = forms.parse_voicemail(enabled="on", email="", only_recorded=False,
                                       attach=False, pin="", pin_confirm="", pin_set=False)
    assert vm is None and set(errors) == {"email", "pin"}
    vm, errors = forms.parse_voicemail(enabled="on", email="a@example.jp", only_recorded=True,
                                       attach=True, pin="", pin_confirm="", pin_set=True)
    assert vm is not None and vm.pin is None
    vm, errors = forms.parse_voicemail(enabled="off", email="", only_recorded=False,
                                       attach=False, pin="1234", pin_confirm="1243",
                                       pin_set=True)
    assert errors == {"pin_confirm": "確認のため同じ暗証番号を入力してください。"}
