"""Japanese phone-number normalisation: one canonical form for comparing and storing numbers.

Canonical form: national format with the trunk prefix ("09012345678", "05033005000") for
Japanese numbers, E.164 with '+' for foreign ones ("+14155550100"). `+81 90-1234-5678`,
`090-1234-5678`, `０９０１２３４５６７８` and `(090) 1234 5678` are all "09012345678".
"""

from __future__ import annotations

import re
import unicodedata
from enum import Enum

import phonenumbers

_SEPARATORS = re.compile(r"[\s\-‐‑‒–—―ー−().]")
_ANONYMOUS = {"", "anonymous", "unavailable", "unknown", "private", "restricted", "withheld"}


class NumberKind(Enum):
    SUBSCRIBER_050 = "050"  # IP phone numbers like ours
    MOBILE = "mobile"  # 070/080/090
    FIXED = "fixed"
    FREEPHONE = "freephone"  # 0120/0800
    PREMIUM = "premium"  # 0990 etc.
    SPECIAL = "special"  # short codes, 0570 navi-dial, ...
    INTERNATIONAL = "international"


def normalize(raw: str | None) -> str | None:
    """Canonical form of a dialed or caller number, or None if it is not a number at all."""
    if raw is None:
        return None
    text = unicodedata.normalize("NFKC", raw).strip()
    text = _SEPARATORS.sub("", text)
    if text.startswith("00") and not text.startswith("000"):
        text = "+" + text[2:]  # international access from abroad
    elif text.startswith("010"):
        text = "+" + text[3:]  # Japanese international prefix
    if text.startswith("+"):
        digits = text[1:]
        if not digits.isdigit() or not 3 <= len(digits) <= 15:
            return None
        if digits.startswith("81"):
            national = digits[2:]
            return national if national.startswith("0") else "0" + national
        return "+" + digits
    if not text.isdigit() or not 1 <= len(text) <= 20:
        return None
    return text


def is_anonymous(number: str | None) -> bool:
    """A caller id that presents no number (withheld, unavailable or empty)."""
    if number is None:
        return True
    return unicodedata.normalize("NFKC", number).strip().lower() in _ANONYMOUS


def is_050(number: str) -> bool:
    return re.fullmatch(r"050[0-9]{8}", number) is not None


def kind(number: str) -> NumberKind:
    """Classify a canonical number (from `normalize`)."""
    if number.startswith("+"):
        return NumberKind.INTERNATIONAL
    if is_050(number):
        return NumberKind.SUBSCRIBER_050
    if re.fullmatch(r"0[789]0[0-9]{8}", number):
        return NumberKind.MOBILE
    if number.startswith(("0120", "0800")):
        return NumberKind.FREEPHONE
    if number.startswith("0990"):
        return NumberKind.PREMIUM
    if number.startswith(("0570", "0180")) or not number.startswith("0"):
        return NumberKind.SPECIAL
    try:
        parsed = phonenumbers.parse(number, "JP")
    except phonenumbers.NumberParseException:
        return NumberKind.SPECIAL
    if phonenumbers.number_type(parsed) == phonenumbers.PhoneNumberType.PREMIUM_RATE:
        return NumberKind.PREMIUM
    if phonenumbers.is_valid_number(parsed):
        return NumberKind.FIXED
    return NumberKind.SPECIAL


def display(number: str) -> str:
    """Hyphenated national display form, e.g. 050-1234-1234 (the portal header)."""
    if is_050(number) or re.fullmatch(r"0[789]0[0-9]{8}", number):
        return f"{number[:3]}-{number[3:7]}-{number[7:]}"
    try:
        parsed = phonenumbers.parse(number, "JP")
    except phonenumbers.NumberParseException:
        return number
    fmt = (phonenumbers.PhoneNumberFormat.INTERNATIONAL if number.startswith("+")
           else phonenumbers.PhoneNumberFormat.NATIONAL)
    return str(phonenumbers.format_number(parsed, fmt))
