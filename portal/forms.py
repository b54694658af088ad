"""Pure form logic for each setting: raw fields in, a typed value or Japanese errors per field
out. Shared by the HTML pages and the JSON API; unit-tested without a database."""

from __future__ import annotations

from dataclasses import dataclass, field

from callflow.pins import PIN_DIGITS
from portal.validation import (
    BLOCK_LIMIT,
    FORWARD_LIMIT,
    Invalid,
    validate_block_number,
    validate_email,
    validate_forward_destination,
    validate_pin,
    validate_ring_seconds,
)

Errors = dict[str, str]


@dataclass(frozen=True)
class Forwarding:
    enabled: bool
    destinations: list[str]
    active: str | None
    ring_seconds: int
    show_caller: str  # 'caller' | '050'


def parse_forwarding(*, number: str, enabled: str, destinations: list[str], active: str,
                     ring_seconds: str, show_caller: str) -> tuple[Forwarding | None, Errors]:
    """`destinations` are the (up to 5) text boxes in order; `active` is the 1-based index of
    the chosen one (or the number itself, for the API). `number` is the 050 number whose
    calls are forwarded (it, and every other 050 number, is refused as a destination)."""
    errors: Errors = {}
    numbers: list[str] = []
    index_of: dict[str, str] = {}
    if len(destinations) > FORWARD_LIMIT:
        errors["destinations"] = forward_limit_message()
    for i, raw in enumerate(destinations[:FORWARD_LIMIT], start=1):
        if not raw.strip():
            continue
        try:
            destination = validate_forward_destination(raw, number)
        except Invalid as exc:
            errors[f"dest{i}"] = exc.message
            continue
        if destination in numbers:
            errors[f"dest{i}"] = "同じ電話番号が登録されています。"
            continue
        numbers.append(destination)
        index_of[str(i)] = destination
    chosen: str | None = None
    if active.strip():
        chosen = index_of.get(active.strip())
        if chosen is None:
            try:
                candidate = validate_forward_destination(active, number)
            except Invalid:
                candidate = None
            chosen = candidate if candidate in numbers else None
        if chosen is None and "destinations" not in errors:
            errors["active"] = "接続先に選んだ電話番号が入力されていません。"
    on = enabled == "on"
    if enabled not in ("on", "off"):
        errors["enabled"] = "指定番号への接続を選択してください。"
    if on and chosen is None and "active" not in errors:
        errors["active"] = "接続先の電話番号を選択してください。"
    ring = 20
    try:
        ring = validate_ring_seconds(ring_seconds)
    except Invalid as exc:
        errors["ring_seconds"] = exc.message
    if show_caller not in ("caller", "050"):
        errors["show_caller"] = "接続先に表示する番号を選択してください。"
    if errors:
        return None, errors
    return Forwarding(on, numbers, chosen, ring, show_caller), {}


@dataclass(frozen=True)
class Voicemail:
    enabled: bool
    email: str | None
    only_recorded: bool
    attach: bool
    pin: str | None  # None: keep the current PIN


def parse_voicemail(*, enabled: str, email: str, only_recorded: bool, attach: bool,
                    pin: str, pin_confirm: str | None, pin_set: bool
                    ) -> tuple[Voicemail | None, Errors]:
    errors: Errors = {}
    if enabled not in ("on", "off"):
        errors["enabled"] = "メッセージセンターの利用を選択してください。"
    on = enabled == "on"
    address: str | None = None
    if email.strip() or on:
        try:
            address = validate_email(email)
        except Invalid as exc:
            errors["email"] = exc.message
    new_pin: str | None = None
    if pin.strip():
        try:
            new_pin = validate_pin(pin)
        except Invalid as exc:
            errors["pin"] = exc.message
        if new_pin and pin_confirm is not None and pin_confirm.strip() != pin.strip():
            errors["pin_confirm"] = "確認のため同じ暗証番号を入力してください。"
    elif on and not pin_set:
        errors["pin"] = f"暗証番号（{PIN_DIGITS}桁）を入力してください。"
    if errors:
        return None, errors
    return Voicemail(on, address, only_recorded, attach, new_pin), {}


def parse_reject(raw: str) -> tuple[bool | None, Errors]:
    if raw == "reject":
        return True, {}
    if raw == "allow":
        return False, {}
    return None, {"reject": "非通知着信拒否設定を選択してください。"}


def add_to_blocklist(entries: list[str], raw: str) -> tuple[list[str], Errors]:
    """追加: the working list plus one number (normalised, not duplicated, at most 30)."""
    try:
        number = validate_block_number(raw)
    except Invalid as exc:
        return entries, {"new_number": exc.message}
    if number in entries:
        return entries, {"new_number": "この電話番号はすでに登録されています。"}
    if len(entries) >= BLOCK_LIMIT:
        return entries, {"new_number": limit_message()}
    return [*entries, number], {}


def forward_limit_message() -> str:
    return f"接続先は{FORWARD_LIMIT}件まで登録できます。"


def limit_message() -> str:
    return (f"指定番号着信拒否リストに登録できるのは{BLOCK_LIMIT}件までです。"
            "追加するには不要な番号を削除してください。")


def clean_entries(raw: list[str]) -> list[str]:
    """Hidden working-list fields coming back from the browser: re-validated, de-duplicated."""
    out: list[str] = []
    for item in raw:
        try:
            number = validate_block_number(item)
        except Invalid:
            continue
        if number not in out:
            out.append(number)
    return out[: BLOCK_LIMIT + 1]


@dataclass
class BlockEdit:
    entries: list[str]
    errors: Errors = field(default_factory=dict)
