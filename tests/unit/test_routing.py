"""Routing by dialed number: a pure decision."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from callflow.routing import RouteKind, classify

IVR = {"retrieval_number": "05033005000", "pin_change_number": "05033005141"}


def test_ivr_numbers_in_every_written_form() -> None:
    for form in ("05033005000", "+815033005000", "050-3300-5000", "０５０－３３００－５０００",
                 "+81 50 3300 5000", "(050) 3300-5000"):
        assert classify(form, **IVR).kind is RouteKind.RETRIEVAL_IVR, form
    assert classify("050-3300-5141", **IVR).kind is RouteKind.PIN_CHANGE_IVR


def test_050_numbers_are_subscriber_candidates() -> None:
    route = classify("+81-50-1234-5678", **IVR)
    assert route.kind is RouteKind.SUBSCRIBER and route.number == "05012345678"


def test_everything_else_is_not_in_service() -> None:
    for dialed in ("0312345678", "09012345678", "0501234567", "050123456789", "12#45*", "",
                   "+", "abc", "+14155550100", "186", None):
        assert classify(dialed, **IVR).kind is RouteKind.NOT_IN_SERVICE, dialed


@given(st.text(max_size=60))
def test_classify_never_raises_and_subscriber_numbers_are_canonical(dialed: str) -> None:
    route = classify(dialed, **IVR)
    if route.kind is RouteKind.SUBSCRIBER:
        assert route.number is not None and route.number.isdigit() and len(route.number) == 11
        assert route.number.startswith("050")
