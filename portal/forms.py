"""Pure form logic for each setting: raw fields in, a typed value or Japanese errors per field
out. Shared by the HTML pages and the JSON API; unit-tested without a database."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field

from callflow.pins import PIN_DIGITS
from callflow.quiet_hours import DAYS_PER_WEEK, QuietAction, QuietHours, QuietWindow
from callflow.store.call_screening import MAX_EXCEPTIONS as SCREENING_EXCEPTION_LIMIT
from callflow.store.quiet_hours import MAX_EXCEPTIONS as QUIET_EXCEPTION_LIMIT
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
    mode: str = "single"  # 'single' | 'simultaneous' | 'sequential' (store.forwarding)
    ring_each: list[int | None] = field(default_factory=list)  # per destination, in order


FORWARD_MODE_LABELS = {"single": "選んだ1件に接続",
                       "simultaneous": "すべての接続先を同時に呼び出す",
                       "sequential": "接続先を順番に呼び出す"}


def parse_forwarding(*, number: str, enabled: str, destinations: list[str], active: str,
                     ring_seconds: str, show_caller: str, mode: str = "single",
                     ring_each: list[str] | None = None) -> tuple[Forwarding | None, Errors]:
    """`destinations` are the (up to 5) text boxes in order; `active` is the 1-based index of
    the chosen one (or the number itself, for the API). `number` is the 050 number whose
    calls are forwarded (it, and every other 050 number, is refused as a destination).
    `mode`: ring the active one, all at once, or one after the other; `ring_each`: the ring
    time of each text box in the sequential mode (empty: `ring_seconds`)."""
    errors: Errors = {}
    numbers: list[str] = []
    index_of: dict[str, str] = {}
    rings: list[int | None] = []
    several = mode in ("simultaneous", "sequential")
    if mode not in FORWARD_MODE_LABELS:
        errors["mode"] = "接続のしかたを選択してください。"
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
        each = (ring_each or [])[i - 1] if i <= len(ring_each or []) else ""
        if mode == "sequential" and each.strip():
            try:
                rings.append(validate_ring_seconds(each))
            except Invalid as exc:
                errors[f"ring{i}"] = exc.message
        else:
            rings.append(None)
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
    if on and several and not numbers and not any(k.startswith("dest") for k in errors):
        errors["destinations"] = "接続先の電話番号を入力してください。"
    elif on and not several and chosen is None and "active" not in errors:
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
    return Forwarding(on, numbers, chosen, ring, show_caller, mode, rings), {}


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


# ------------------------------------------------------------------ おやすみモード

_TIME = re.compile(r"([0-9]{1,2}):([0-9]{2})")


def parse_time(raw: str) -> int | None:
    """'22:00' / '7:05' / full-width digits → minutes after 00:00; None if not a time."""
    m = _TIME.fullmatch(unicodedata.normalize("NFKC", raw).strip())
    if m is None or int(m.group(1)) > 23 or int(m.group(2)) > 59:
        return None
    return int(m.group(1)) * 60 + int(m.group(2))


def split_numbers(raw: str) -> list[str]:
    """The exception box: one number a line (commas and spaces separate as well)."""
    return [part for part in re.split(r"[\s,、，]+", raw) if part]


def parse_quiet_hours(*, enabled: str, action: str, starts: list[str], ends: list[str],
                      exceptions: list[str]) -> tuple[QuietHours | None, Errors]:
    """`starts`/`ends`: the time boxes of 月…日 (both empty: no window that day); an end at
    or before the start is the next morning. `exceptions`: numbers as typed."""
    errors: Errors = {}
    if enabled not in ("on", "off"):
        errors["enabled"] = "おやすみモードの利用を選択してください。"
    if action not in ("voicemail", "announce"):
        errors["handling"] = "おやすみモード中の着信の扱いを選択してください。"
    windows: list[QuietWindow] = []
    for day in range(DAYS_PER_WEEK):
        start_raw = starts[day].strip() if day < len(starts) else ""
        end_raw = ends[day].strip() if day < len(ends) else ""
        if not start_raw and not end_raw:
            continue
        if not start_raw or not end_raw:
            errors[f"day{day}"] = "開始時刻と終了時刻を両方入力してください。"
            continue
        start, end = parse_time(start_raw), parse_time(end_raw)
        if start is None or end is None:
            errors[f"day{day}"] = "時刻は「22:00」のように00:00～23:59で入力してください。"
            continue
        windows.append(QuietWindow(day, start, end))
    if enabled == "on" and not windows and not any(k.startswith("day") for k in errors):
        errors["windows"] = "おやすみモードにする時間帯を1つ以上入力してください。"
    numbers = _exception_numbers(exceptions, QUIET_EXCEPTION_LIMIT,
                                 quiet_exception_limit_message(), errors)
    if errors:
        return None, errors
    return QuietHours(enabled == "on", QuietAction(action), tuple(windows), tuple(numbers)), {}


def _exception_numbers(raws: Iterable[str], limit: int, limit_message: str,
                       errors: Errors) -> list[str]:
    """Exception numbers (quiet hours, call screening) as the block list normalises them,
    without repeats; the first bad one, or too many, is put in errors["exceptions"]."""
    numbers: list[str] = []
    for raw in raws:
        try:
            number = validate_block_number(raw)
        except Invalid as exc:
            errors["exceptions"] = f"{raw}：{exc.message}"
            break
        if number not in numbers:
            numbers.append(number)
    if len(numbers) > limit and "exceptions" not in errors:
        errors["exceptions"] = limit_message
    return numbers


def quiet_exception_limit_message() -> str:
    return f"例外の電話番号は{QUIET_EXCEPTION_LIMIT}件まで登録できます。"


# ------------------------------------------------------------------ 名乗り確認

SCREENING_CHOICES = {"on": "利用する", "off": "利用しない"}


def screening_exception_limit_message() -> str:
    return f"名乗り確認なしでおつなぎする電話番号は{SCREENING_EXCEPTION_LIMIT}件まで登録できます。"


def parse_call_screening(v: dict[str, str]) -> tuple[tuple[bool, tuple[str, ...]] | None, Errors]:
    """(on, exception numbers) from the form's text, or the errors to show."""
    errors: Errors = {}
    if v["screening"] not in SCREENING_CHOICES:
        errors["screening"] = "名乗り確認を利用するかどうかを選択してください。"
    numbers = _exception_numbers(split_numbers(v["exceptions"]), SCREENING_EXCEPTION_LIMIT,
                                 screening_exception_limit_message(), errors)
    if errors:
        return None, errors
    return (v["screening"] == "on", tuple(numbers)), {}
