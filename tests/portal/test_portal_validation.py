"""Pure validation and form logic (no database, no browser)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from callflow.pins import PROBLEM_JA, pin_problem
from callflow.store.errors import InvalidValue
from callflow.store.forwarding import forwardable
from portal import forms
from portal.validation import (
    Invalid,
    format_jst,
    mask_number,
    normalize_code,
    parse_id,
    request_error_messages,
    sms_capable,
    validate_call_destination,
    validate_email,
    validate_forward_destination,
    validate_phone,
    validate_pin,
)

FULL = str.maketrans("0123456789", "０１２３４５６７８９")
OWN_050 = "05012345678"


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
    assert validate_pin("４８２６") == "4826"
    for bad in ("123", "12345", "abcd", "", "１２３"):
        with pytest.raises(Invalid, match="4桁"):
            validate_pin(bad)
    # what the PIN-change IVR refuses, the portal, the API and the CLI refuse too
    for simple in ("0000", "1234", "1111", "8765", "7890", "0987", "１２３４"):
        with pytest.raises(Invalid, match="連続した数字"):
            validate_pin(simple)
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
    fwd, errors = forms.parse_forwarding(number=OWN_050, enabled="on",
                                         destinations=["09011112222", "", "", "0311112222", ""],
                                         active="4", ring_seconds="20", show_caller="caller")
    assert not errors and fwd is not None
    assert fwd.destinations == ["09011112222", "0311112222"] and fwd.active == "0311112222"
    fwd, errors = forms.parse_forwarding(number=OWN_050, enabled="on",
                                         destinations=["", "", "", "", ""],
                                         active="", ring_seconds="7", show_caller="x")
    assert fwd is None and set(errors) == {"active", "ring_seconds", "show_caller"}
    fwd, errors = forms.parse_forwarding(number=OWN_050, enabled="on",
                                         destinations=["09011112222"] * 2,
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
                                       attach=False, pin="4826", pin_confirm="4862",
                                       pin_set=True)
    assert errors == {"pin_confirm": "確認のため同じ暗証番号を入力してください。"}


@given(st.from_regex(r"[0-9]{4}", fullmatch=True))
def test_one_pin_rule_for_the_portal_and_the_ivr(pin: str) -> None:
    """The portal (and the CLI, which calls validate_pin) accepts exactly what the PIN-change
    IVR accepts, with the IVR's reason in Japanese."""
    problem = pin_problem(pin)
    if problem is None:
        assert validate_pin(pin) == pin
    else:
        with pytest.raises(Invalid) as e:
            validate_pin(pin)
        assert e.value.message == PROBLEM_JA[problem]


def test_forward_destinations_are_never_050_numbers() -> None:
    assert validate_forward_destination("090-1111-2222", OWN_050) == "09011112222"
    assert validate_forward_destination("+81 3-1111-2222", OWN_050) == "0311112222"
    refused = {
        "050-1234-5678": "この050番号自身",  # the subscriber's own number: a loop at once
        "05033005000": "050番号",  # the retrieval IVR
        "050-3300-5141": "050番号",  # the PIN-change IVR
        "+81 50 9999 0000": "050番号",  # anyone's 050 number, in any written form
        "０５０１１１１２２２２": "050番号",
        "+1 415 555 0100": "国際電話",
        "010-1-415-555-0100": "国際電話",
        "0990-123-456": "指定できません",
        "0120-123-456": "指定できません",
        "12": "10桁または11桁",
        "": "入力してください",
    }
    for raw, why in refused.items():
        with pytest.raises(Invalid, match=why):
            validate_forward_destination(raw, OWN_050)
    # the store's own check says the same, whoever calls it
    with pytest.raises(InvalidValue, match="050番号"):
        forwardable("050-3300-5000", number=OWN_050)
    fwd, errors = forms.parse_forwarding(number=OWN_050, enabled="on",
                                         destinations=["05012345678", "05033005000"],
                                         active="1", ring_seconds="20", show_caller="caller")
    assert fwd is None
    assert "自身" in errors["dest1"] and "050番号" in errors["dest2"]


def test_international_destinations_get_the_international_message() -> None:
    for raw in ("+1 415 555 0100", "010-1-415-555-0100", "00 1 415 555 0100", "+44 20 7946 0000"):
        with pytest.raises(Invalid) as e:
            validate_call_destination(raw)
        assert e.value.message == "国際電話には発信できません。"
    assert validate_call_destination("+81 90-1234-5678") == "09012345678"


@given(st.text(max_size=20))
def test_ids_are_ascii_digits_only(raw: str) -> None:
    value = parse_id(raw)
    if value is not None:
        assert raw.isascii() and raw.isdigit() and value == int(raw) < 10**18
    for unicode_digits in ("²", "١", "１２", "٣٤", "1²"):
        assert parse_id(unicode_digits) is None


def test_api_request_errors_are_japanese() -> None:
    errors: list[dict[str, object]] = [
        {"type": "missing", "loc": ("body", "enabled"), "msg": "Field required"},
        {"type": "string_too_long", "loc": ("body", "number"), "msg": "x",
         "ctx": {"max_length": 40}},
        {"type": "json_invalid", "loc": ("body", 1), "msg": "JSON decode error"},
        {"type": "int_parsing", "loc": ("path", "message_id"), "msg": "x"},
        {"type": "something_new", "loc": ("body",), "msg": "x"},
    ]
    assert request_error_messages(errors) == [
        ("enabled", "入力してください。"),
        ("number", "40文字以内で入力してください。"),
        ("1", "リクエストの形式（JSON）が正しくありません。"),
        ("message_id", "整数で指定してください。"),
        ("body", "値が正しくありません。"),
    ]


def test_the_mailbox_store_refuses_what_the_rule_refuses() -> None:
    from callflow.store.mailbox import hash_pin
    for simple in ("0000", "1234", "9876"):
        with pytest.raises(InvalidValue, match="連続した数字"):
            hash_pin(simple)
    with pytest.raises(InvalidValue, match="4桁"):
        hash_pin("12345")
    assert hash_pin("4826").startswith("$argon2")
