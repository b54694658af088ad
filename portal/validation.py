"""Pure validation of what subscribers type, with Japanese messages shown next to the field."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

from callflow.numbers import NumberKind, kind, normalize

JST = timezone(timedelta(hours=9), "JST")
BLOCK_LIMIT = 30
FORWARD_LIMIT = 5
RING_SECONDS = (5, 10, 15, 20, 25, 30, 40, 50, 60)


@dataclass(frozen=True)
class Invalid(Exception):
    message: str


_HALF_DIGITS = str.maketrans("０１２３４５６７８９", "0123456789")


def normalize_code(raw: str) -> str:
    """A 6-digit 2FA code: full-width digits become half-width; anything else is refused."""
    text = raw.strip().translate(_HALF_DIGITS)
    if not text:
        raise Invalid("認証番号を入力してください。")
    if not re.fullmatch(r"[0-9]{6}", text):
        raise Invalid("認証番号は6桁の半角数字で入力してください。")
    return text


def validate_pin(raw: str) -> str:
    text = raw.strip().translate(_HALF_DIGITS)
    if not re.fullmatch(r"[0-9]{4}", text):
        raise Invalid("暗証番号は4桁の半角数字で入力してください。")
    return text


_EMAIL = re.compile(r"^[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(\.[A-Za-z0-9\-]+)+$")


def validate_email(raw: str) -> str:
    text = raw.strip()
    if not text:
        raise Invalid("メールアドレスを入力してください。")
    if len(text) > 254 or not _EMAIL.fullmatch(text):
        raise Invalid("メールアドレスの形式が正しくありません。")
    return text


def _digits_only(raw: str) -> str:
    text = unicodedata.normalize("NFKC", raw).strip()
    return re.sub(r"[\s\-‐‑‒–—―ー−()]", "", text)


def validate_phone(raw: str, *, allow_050: bool = True) -> str:
    """A Japanese phone number (fixed, mobile, 050) in canonical national form."""
    text = _digits_only(raw)
    if not text:
        raise Invalid("電話番号を入力してください。")
    number = normalize(text)
    if number is None or not re.fullmatch(r"0[0-9]{9,10}", number):
        raise Invalid("電話番号は0から始まる10桁または11桁の半角数字で入力してください。")
    k = kind(number)
    if k in (NumberKind.PREMIUM, NumberKind.SPECIAL, NumberKind.FREEPHONE):
        raise Invalid("この電話番号は指定できません。")
    if k is NumberKind.SUBSCRIBER_050 and not allow_050:
        raise Invalid("050番号は指定できません。")
    return number


def validate_block_number(raw: str) -> str:
    """A number for the block list: any normalisable caller number (domestic or +foreign)."""
    text = _digits_only(raw)
    if not text:
        raise Invalid("電話番号を入力してください。")
    number = normalize(text)
    if number is None or not re.fullmatch(r"\+?[0-9]{2,20}", number):
        raise Invalid("電話番号は半角数字で入力してください。")
    return number


def sms_capable(number: str) -> bool:
    """SMS is offered only for mobile numbers starting 070/080/090 (R-ACC-2)."""
    return re.fullmatch(r"0[789]0[0-9]{8}", number) is not None


def validate_ring_seconds(raw: str | int) -> int:
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise Invalid("呼出時間を選択してください。") from None
    if value not in RING_SECONDS:
        raise Invalid("呼出時間を選択してください。")
    return value


def format_jst(moment: datetime) -> str:
    """`2014/11/14 16:55:14` in Japan time (the guide's history format)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(JST).strftime("%Y/%m/%d %H:%M:%S")


def mask_number(number: str) -> str:
    """Contact numbers on screen: only the last 3 digits (the guide's `--890`)."""
    return "*" * max(0, len(number) - 3) + number[-3:]
