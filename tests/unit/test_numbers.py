"""Number normalisation: every written form of one number has one canonical form."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from callflow.numbers import NumberKind, is_anonymous, kind, normalize

_FULL_WIDTH = str.maketrans("0123456789+-", "０１２３４５６７８９＋－")


@pytest.mark.parametrize("raw", [
    "09012345678", "090-1234-5678", "+81 90-1234-5678", "+819012345678", "+81-90-1234-5678",
    "０９０－１２３４－５６７８", "(090) 1234 5678", " 090 1234 5678 ", "0081 90 1234 5678",
    "010-81-90-1234-5678", "090‐1234‐5678", "＋８１９０１２３４５６７８",
])
def test_forms_of_one_mobile_number(raw: str) -> None:
    assert normalize(raw) == "09012345678"


@pytest.mark.parametrize("raw,expected", [
    ("+14155550100", "+14155550100"),
    ("03-1234-5678", "0312345678"),
    ("+81 3 1234 5678", "0312345678"),
    ("050-3300-5000", "05033005000"),
])
def test_other_numbers(raw: str, expected: str) -> None:
    assert normalize(raw) == expected


@pytest.mark.parametrize("raw", ["", "abc", "090-12a4-5678", "+", "+81", "anonymous", None])
def test_not_numbers(raw: str | None) -> None:
    assert normalize(raw) is None


@pytest.mark.parametrize("raw", [None, "", " ", "anonymous", "Anonymous", "ANONYMOUS",
                                 "unavailable", "Unavailable", "private", "withheld"])
def test_anonymous_forms(raw: str | None) -> None:
    assert is_anonymous(raw)


def test_numbers_are_not_anonymous() -> None:
    assert not is_anonymous("09012345678")


def test_kinds() -> None:
    assert kind("09012345678") is NumberKind.MOBILE
    assert kind("05012345678") is NumberKind.SUBSCRIBER_050
    assert kind("0312345678") is NumberKind.FIXED
    assert kind("0120123456") is NumberKind.FREEPHONE
    assert kind("0990123456") is NumberKind.PREMIUM
    assert kind("+14155550100") is NumberKind.INTERNATIONAL


mobile = st.from_regex(r"0[789]0[0-9]{8}", fullmatch=True)
separators = st.sampled_from(["", "-", " ", "‐", "ー", "－", "　"])


@given(mobile, separators, st.booleans(), st.booleans())
def test_written_forms_normalise_to_national(number: str, sep: str, e164: bool,
                                             full_width: bool) -> None:
    body = number[1:] if e164 else number
    text = sep.join([body[:2], body[2:6], body[6:]]) if e164 else \
        sep.join([body[:3], body[3:7], body[7:]])
    if e164:
        text = "+81" + sep + text
    if full_width:
        text = text.translate(_FULL_WIDTH)
    assert normalize(text) == number


@given(st.text(max_size=30))
def test_normalize_never_raises_and_is_idempotent(text: str) -> None:
    first = normalize(text)
    if first is not None:
        assert normalize(first) == first
