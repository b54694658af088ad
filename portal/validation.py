"""Pure validation of what subscribers type, with Japanese messages shown next to the field."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from callflow.clock import JST
from callflow.features.callback.rules import MESSAGES as CALLBACK_MESSAGES
from callflow.numbers import NumberKind, kind, normalize
from callflow.pins import PROBLEM_JA, pin_problem
from callflow.store.blocklist import MAX_BLOCKED as BLOCK_LIMIT
from callflow.store.errors import InvalidValue
from callflow.store.forwarding import MAX_DESTINATIONS as FORWARD_LIMIT
from callflow.store.forwarding import forwardable

__all__ = ["BLOCK_LIMIT", "FORWARD_LIMIT", "JST", "RING_SECONDS", "Invalid"]

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


def validate_pin(raw: str, current: str | None = None) -> str:
    """A new voicemail PIN, by the same rule as the PIN-change IVR (callflow.pins)."""
    text = raw.strip().translate(_HALF_DIGITS)
    problem = pin_problem(text, current)
    if problem is not None:
        raise Invalid(PROBLEM_JA[problem])
    return text


def parse_id(raw: str) -> int | None:
    """A row id from a URL or a form field: ASCII digits only (str.isdigit() also accepts
    '²' or '١', which int() or a header then refuses), small enough for a bigint."""
    return int(raw) if re.fullmatch(r"[0-9]{1,18}", raw) else None


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


MSG_INTERNATIONAL = "国際電話の番号は指定できません。"


def validate_phone(raw: str, *, allow_050: bool = True,
                   international: str = MSG_INTERNATIONAL) -> str:
    """A Japanese phone number (fixed, mobile, 050) in canonical national form."""
    text = _digits_only(raw)
    if not text:
        raise Invalid("電話番号を入力してください。")
    number = normalize(text)
    if number is not None and kind(number) is NumberKind.INTERNATIONAL:
        raise Invalid(international)
    if number is None or not re.fullmatch(r"0[0-9]{9,10}", number):
        raise Invalid("電話番号は0から始まる10桁または11桁の半角数字で入力してください。")
    k = kind(number)
    if k in (NumberKind.PREMIUM, NumberKind.SPECIAL, NumberKind.FREEPHONE):
        raise Invalid("この電話番号は指定できません。")
    if k is NumberKind.SUBSCRIBER_050 and not allow_050:
        raise Invalid("050番号は指定できません。")
    return number


def validate_call_destination(raw: str) -> str:
    """The あんしん発信 destination as typed; the callback service applies its fraud rules
    afterwards (this only catches what needs no database, with the service's wording)."""
    return validate_phone(raw, international=CALLBACK_MESSAGES["international"])


def validate_forward_destination(raw: str, number: str) -> str:
    """A forwarding destination of the 050 `number`: the forwarding store's rule (never a
    050 number — the subscriber's own, an IVR's or anyone's — nor abroad or premium)."""
    if not _digits_only(raw):
        raise Invalid("電話番号を入力してください。")
    try:
        return forwardable(_digits_only(raw), number=number)
    except InvalidValue as exc:
        raise Invalid(str(exc)) from None


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


# ------------------------------------------------------------------ JSON API request errors

_REQUEST_ERROR_JA: dict[str, str] = {
    "missing": "入力してください。",
    "json_invalid": "リクエストの形式（JSON）が正しくありません。",
    "json_type": "リクエストの形式（JSON）が正しくありません。",
    "model_attributes_type": "JSONオブジェクトで指定してください。",
    "dict_type": "JSONオブジェクトで指定してください。",
    "model_type": "JSONオブジェクトで指定してください。",
    "bool_type": "true または false で指定してください。",
    "bool_parsing": "true または false で指定してください。",
    "int_type": "整数で指定してください。",
    "int_parsing": "整数で指定してください。",
    "int_from_float": "整数で指定してください。",
    "int_parsing_size": "数値が大きすぎます。",
    "string_type": "文字列で指定してください。",
    "string_too_long": "{max_length}文字以内で入力してください。",
    "list_type": "配列で指定してください。",
    "too_long": "{max_length}件以内で指定してください。",
    "literal_error": "次のいずれかを指定してください：{expected}",
    "greater_than_equal": "{ge}以上の値を指定してください。",
    "less_than_equal": "{le}以下の値を指定してください。",
}
_REQUEST_ERROR_DEFAULT = "値が正しくありません。"


def request_error_messages(errors: Sequence[Mapping[str, Any]]) -> list[tuple[str, str]]:
    """FastAPI/pydantic request-validation errors -> (field, Japanese message) pairs for the
    JSON API's 422 answer (pydantic's own texts are English). The field is the location
    without its "body"/"path"/"query" prefix, dotted ("destinations.2"), "body" for the body
    as a whole."""
    out: list[tuple[str, str]] = []
    for err in errors:
        loc = [str(part) for part in err.get("loc", ())]
        if loc and loc[0] in ("body", "path", "query", "header", "cookie"):
            loc = loc[1:] or loc[:1]
        template = _REQUEST_ERROR_JA.get(str(err.get("type", "")), _REQUEST_ERROR_DEFAULT)
        ctx = err.get("ctx") or {}
        try:
            message = template.format(**{k: str(v).replace(" or ", "、")  # literal choices
                                         for k, v in ctx.items()})
        except (KeyError, IndexError, ValueError):
            message = _REQUEST_ERROR_DEFAULT
        out.append((".".join(loc) or "body", message))
    return out
