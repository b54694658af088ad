"""Fraud guards for あんしん発信: every rule refuses with its reason code and message."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from callflow.config import Settings
from callflow.features.callback.models import CallbackRefused
from callflow.features.callback.rules import (
    MESSAGES,
    Policy,
    Usage,
    check_destination,
    check_own_phone,
    check_usage,
)

N050 = "05012345678"
OWN = "09011112222"
POLICY = Policy.from_settings(Settings())


def refused(raw: str, policy: Policy = POLICY) -> str:
    with pytest.raises(CallbackRefused) as exc:
        check_destination(raw, number_050=N050, own_phone=OWN, policy=policy)
    assert exc.value.message_ja == MESSAGES[exc.value.reason_code]
    return exc.value.reason_code


@pytest.mark.parametrize(("raw", "code"), [
    ("+14155550100", "international"),
    ("010-1-415-555-0100", "international"),
    ("0044 20 7946 0000", "international"),
    ("0990-123-456", "premium"),
    ("0570-000-111", "special"),
    ("0180-99-1234", "special"),
    ("117", "special"),
    ("110", "special"),
    ("104", "special"),
    ("", "invalid_destination"),
    ("abc", "invalid_destination"),
    ("05012345678", "same_050_number"),
    ("+81 50-1234-5678", "same_050_number"),
    ("050-3300-5000", "own_service_number"),
    ("05033005141", "own_service_number"),
    ("090-1111-2222", "destination_is_own_phone"),
])
def test_refused_destinations(raw: str, code: str) -> None:
    assert refused(raw) == code


@pytest.mark.parametrize(("raw", "canonical"), [
    ("03-1234-5678", "0312345678"),
    ("+81 90 8765 4321", "09087654321"),
    ("０８０－１２３４－５６７８", "08012345678"),
    ("050-9999-0000", "05099990000"),
    ("0120-123-456", "0120123456"),
    ("0800-123-4567", "08001234567"),
])
def test_allowed_destinations(raw: str, canonical: str) -> None:
    assert check_destination(raw, number_050=N050, own_phone=OWN, policy=POLICY) == canonical


def test_policy_switches() -> None:
    strict = Policy(allow_freephone=False, blocked_prefixes=("03",))
    assert refused("0120-123-456", strict) == "freephone"
    assert refused("03-1234-5678", strict) == "blocked_prefix"
    lenient = Policy(allow_international=True)
    assert check_destination("+14155550100", number_050=N050, own_phone=None,
                             policy=lenient) == "+14155550100"


@given(st.text(alphabet="+0123456789- ", max_size=16))
def test_never_allows_international_or_premium_by_default(raw: str) -> None:
    try:
        dest = check_destination(raw, number_050=N050, own_phone=OWN, policy=POLICY)
    except CallbackRefused as exc:
        assert exc.reason_code in MESSAGES
        return
    assert dest.startswith("0") and not dest.startswith(("0990", "0570", "0180", "010"))
    assert dest not in (N050, OWN, "05033005000", "05033005141")


@pytest.mark.parametrize(("raw", "ok"), [
    ("090-1111-2222", "09011112222"), ("03-1234-5678", "0312345678"),
])
def test_own_phone_accepts_fixed_and_mobile(raw: str, ok: str) -> None:
    assert check_own_phone(raw) == ok


@pytest.mark.parametrize("raw", ["+14155550100", "050-1234-5678", "0120-123-456",
                                 "0990-123-456", "117", "x"])
def test_own_phone_refuses_others(raw: str) -> None:
    with pytest.raises(CallbackRefused) as exc:
        check_own_phone(raw)
    assert exc.value.reason_code == "invalid_own_number"


def usage(hour: int = 0, day: int = 0, seconds: int = 0, active: tuple[int, ...] = ()
          ) -> Usage:
    return Usage(attempts_last_hour=hour, attempts_last_day=day,
                 billable_seconds_last_day=seconds, active_on_050=active)


@pytest.mark.parametrize(("u", "code"), [
    (usage(active=(7,)), "busy_050_number"),
    (usage(hour=10, day=10), "hourly_limit"),
    (usage(hour=1, day=30), "daily_limit"),
    (usage(seconds=180 * 60), "spend_limit"),
])
def test_usage_caps(u: Usage, code: str) -> None:
    with pytest.raises(CallbackRefused) as exc:
        check_usage(u, POLICY)
    assert exc.value.reason_code == code
    if code.endswith("_limit"):
        assert any(ch.isdigit() for ch in exc.value.message_ja)  # the limit is stated


@given(st.integers(0, 9), st.integers(0, 29), st.integers(0, 180 * 60 - 1))
def test_usage_under_caps_passes(hour: int, day: int, seconds: int) -> None:
    check_usage(usage(hour, max(hour, day), seconds), POLICY)
