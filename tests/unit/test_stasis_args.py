"""The dialplan → app contract: Stasis arguments as dialplan/anshin.conf passes them."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from callflow.stasis_args import Entry, StasisArgs


def test_inbound_entry() -> None:
    args = StasisArgs.parse(("inbound", "05012345678", "prohib_passed_screen", "id"))
    assert args == StasisArgs(Entry.INBOUND, "05012345678", "prohib_passed_screen", "id")
    assert args.carries_presentation
    assert args.dialed_or("s") == "05012345678"


def test_inbound_without_privacy_header_or_user_part() -> None:
    # An INVITE with no Privacy header leaves the last argument empty; a request URI
    # without a user part enters at "s" with an empty dialed number.
    args = StasisArgs.parse(("inbound", "", "allowed", ""))
    assert args.dialed is None and args.privacy is None and args.presentation == "allowed"
    assert args.dialed_or("s") == ""


def test_forward_result_carries_the_dial_status() -> None:
    args = StasisArgs.parse(("forward-result", "05012345678", "allowed", "", "NOANSWER"))
    assert args.entry is Entry.FORWARD_RESULT
    assert args.dial_status == "NOANSWER" and args.dialed == "05012345678"


def test_originated_legs_are_no_entry() -> None:
    for raw in ((), ("callback", "42", "1"), ("verify", "7"), ("twofa", "3")):
        args = StasisArgs.parse(raw)
        assert args.entry is None and not args.carries_presentation
        assert args.dialed_or("05012345678") == "05012345678"


def test_dial_status_only_on_forward_result() -> None:
    assert StasisArgs.parse(("inbound", "0501", "allowed", "", "BUSY")).dial_status is None


@given(st.lists(st.text(max_size=20), max_size=8))
def test_parse_never_raises(raw: list[str]) -> None:
    args = StasisArgs.parse(raw)
    assert args.entry is None or raw[0] == args.entry.value
