"""Which handler takes a call: a pure decision over the dialed number."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from callflow.numbers import is_050, normalize


class RouteKind(Enum):
    RETRIEVAL_IVR = "retrieval_ivr"  # 050-3300-5000
    PIN_CHANGE_IVR = "pin_change_ivr"  # 050-3300-5141
    SUBSCRIBER = "subscriber"  # a 050 number, if provisioned
    NOT_IN_SERVICE = "not_in_service"


@dataclass(frozen=True)
class Route:
    kind: RouteKind
    number: str | None  # canonical dialed number, None if it is not a number


def classify(dialed: str | None, *, retrieval_number: str, pin_change_number: str) -> Route:
    number = normalize(dialed)
    if number is None:
        return Route(RouteKind.NOT_IN_SERVICE, None)
    if number == retrieval_number:
        return Route(RouteKind.RETRIEVAL_IVR, number)
    if number == pin_change_number:
        return Route(RouteKind.PIN_CHANGE_IVR, number)
    if is_050(number):
        return Route(RouteKind.SUBSCRIBER, number)
    return Route(RouteKind.NOT_IN_SERVICE, number)
