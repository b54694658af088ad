"""Toll-fraud guards for あんしん発信 (SPEC §7): pure decisions, no I/O.

Destination classes allowed by default (operator-configurable through ``Settings``):

* allowed: fixed lines, mobiles (070/080/090), 050 IP phones, and freephone (0120/0800:
  free for the caller, no revenue share, so no fraud value; many support desks use them);
* refused: international (``+``/``010``; the classic toll-fraud target), premium-rate
  (0990 and what libphonenumber calls premium), special services (0570 navi-dial,
  0180 telephone services, short codes such as 104/110/117/177, 00XY carrier codes),
  extra prefixes listed in ``callback_blocked_prefixes``;
* refused always: our own IVR access numbers (a loop through the service), the very 050
  number the call is shown from, and the subscriber's own leg-1 phone.

Rate caps per account: attempts per rolling hour / day, billable minutes per rolling day;
and at most one active callback per 050 number (also a partial unique index in SQL).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from callflow.config import Settings
from callflow.numbers import NumberKind, kind, normalize

from .models import CallbackRefused

#: reason code -> Japanese message shown on the portal (format fields: see refuse()).
MESSAGES: dict[str, str] = {
    "invalid_destination": "発信先の電話番号が正しくありません。",
    "international": "国際電話には発信できません。",
    "premium": "有料情報サービス（0990など）には発信できません。",
    "special": "この電話番号（ナビダイヤル・特番など）には発信できません。",
    "freephone": "フリーダイヤルには発信できません。",
    "blocked_prefix": "この電話番号には発信できません。",
    "own_service_number": "050あんしんナンバーのサービス番号には発信できません。",
    "same_050_number": "ご自身の050番号には発信できません。",
    "destination_is_own_phone": "発信に使うお客さまの電話番号と同じ番号には発信できません。",
    "not_your_050_number": "この050番号はお客さまのご契約ではありません。",
    "no_own_number": "発信に使うお客さまの電話番号が登録されていません。",
    "unverified_own_number": (
        "お客さまの電話番号の確認が済んでいません。事前登録の画面で［確認電話］をタップし、"
        "お電話で画面の確認番号を入力してください。"
    ),
    "invalid_own_number": "お客さまの電話番号が正しくありません。国内の電話番号をご登録ください。",
    "busy_050_number": (
        "この050番号は現在発信中です。通話が終わってから、もう一度お試しください。"
    ),
    "hourly_limit": (
        "発信回数の上限（1時間あたり{limit}回）に達しました。しばらくたってからお試しください。"
    ),
    "daily_limit": "発信回数の上限（1日あたり{limit}回）に達しました。明日以降にお試しください。",
    "spend_limit": "通話時間の上限（1日あたり{limit}分）に達しました。明日以降にお試しください。",
}


def refusal(code: str, **fields: object) -> CallbackRefused:
    return CallbackRefused(code, MESSAGES[code].format(**fields))


@dataclass(frozen=True)
class Policy:
    allow_international: bool = False
    allow_freephone: bool = True
    blocked_prefixes: tuple[str, ...] = ("0990", "0570", "0180")
    service_numbers: frozenset[str] = frozenset()
    max_per_hour: int = 10
    max_per_day: int = 30
    max_billable_minutes_per_day: int = 180

    @classmethod
    def from_settings(cls, s: Settings) -> Policy:
        return cls(
            allow_international=s.callback_allow_international,
            allow_freephone=s.callback_allow_freephone,
            blocked_prefixes=tuple(s.callback_blocked_prefixes),
            service_numbers=frozenset({s.retrieval_number, s.pin_change_number}),
            max_per_hour=s.callback_max_per_hour,
            max_per_day=s.callback_max_per_day,
            max_billable_minutes_per_day=s.callback_max_billable_minutes_per_day,
        )


def check_destination(raw: str, *, number_050: str, own_phone: str | None,
                      policy: Policy) -> str:
    """The canonical destination, or raises :class:`CallbackRefused`."""
    dest = normalize(raw)
    if dest is None:
        raise refusal("invalid_destination")
    match kind(dest):
        case NumberKind.INTERNATIONAL:
            if not policy.allow_international:
                raise refusal("international")
        case NumberKind.PREMIUM:
            raise refusal("premium")
        case NumberKind.SPECIAL:
            raise refusal("special")
        case NumberKind.FREEPHONE:
            if not policy.allow_freephone:
                raise refusal("freephone")
        case NumberKind.FIXED | NumberKind.MOBILE | NumberKind.SUBSCRIBER_050:
            pass
    if any(dest.startswith(p) for p in policy.blocked_prefixes if p):
        raise refusal("blocked_prefix")
    if dest in policy.service_numbers:
        raise refusal("own_service_number")
    if dest == number_050:
        raise refusal("same_050_number")
    if own_phone is not None and dest == own_phone:
        raise refusal("destination_is_own_phone")
    return dest


def check_own_phone(raw: str) -> str:
    """A registrable own phone: a Japanese fixed line or mobile, canonical; else refused.

    (Not 050: an IP phone could itself be forwarded anywhere, and not freephone/special.)
    """
    number = normalize(raw)
    if number is None or kind(number) not in (NumberKind.FIXED, NumberKind.MOBILE):
        raise refusal("invalid_own_number")
    return number


@dataclass(frozen=True)
class Usage:
    """An account's recent callback usage (from the database)."""

    attempts_last_hour: int
    attempts_last_day: int
    billable_seconds_last_day: int
    active_on_050: Collection[int] = ()  # active request ids on the 050 number


def check_usage(usage: Usage, policy: Policy) -> None:
    if usage.active_on_050:
        raise refusal("busy_050_number")
    if usage.attempts_last_hour >= policy.max_per_hour:
        raise refusal("hourly_limit", limit=policy.max_per_hour)
    if usage.attempts_last_day >= policy.max_per_day:
        raise refusal("daily_limit", limit=policy.max_per_day)
    if usage.billable_seconds_last_day >= policy.max_billable_minutes_per_day * 60:
        raise refusal("spend_limit", limit=policy.max_billable_minutes_per_day)
