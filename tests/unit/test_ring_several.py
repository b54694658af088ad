"""Ringing several phones: the screening plan, the dial instructions the dialplan takes
apart, and the portal form's rules."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from callflow.features.inbound.forwarding import dial_instructions
from callflow.features.inbound.screening import (
    Action,
    CallerInfo,
    ForwardPlan,
    RingMode,
    RingTarget,
    ScreeningSettings,
    decide,
)
from portal.forms import parse_forwarding

SUB = "05012345678"
CALLER = CallerInfo("0312345678", "山田")
RING = (("09011110001", 10), ("09011110002", 20), ("0311110003", 15))


@pytest.mark.parametrize("mode", [RingMode.SIMULTANEOUS, RingMode.SEQUENTIAL])
def test_every_destination_is_planned_in_order(mode: RingMode) -> None:
    s = ScreeningSettings(forward_enabled=True, forward_mode=mode.value,
                          forward_ring_seconds=25, voicemail_enabled=True)
    d = decide(s, CALLER, subscriber_number=SUB, blocked=False, forward_destination=None,
               ring_list=RING)
    assert d.action is Action.FORWARD and d.forward is not None
    assert d.forward.mode is mode and d.forward.destination == "09011110001"
    assert d.forward.targets == tuple(RingTarget(n, r) for n, r in RING)
    assert d.forward.on_failure is Action.VOICEMAIL


def test_single_mode_ignores_the_list_and_empty_list_falls_back() -> None:
    single = ScreeningSettings(forward_enabled=True)
    d = decide(single, CALLER, subscriber_number=SUB, blocked=False,
               forward_destination="0311112222", ring_list=RING)
    assert d.forward is not None and d.forward.mode is RingMode.SINGLE
    assert (d.forward.destination, d.forward.targets) == ("0311112222", ())
    several = ScreeningSettings(forward_enabled=True, forward_mode="simultaneous")
    d = decide(several, CALLER, subscriber_number=SUB, blocked=False,
               forward_destination=None, ring_list=())
    assert d.action is Action.UNAVAILABLE  # nothing registered, no voicemail
    off = ScreeningSettings(forward_mode="simultaneous", voicemail_enabled=True)
    d = decide(off, CALLER, subscriber_number=SUB, blocked=False, forward_destination=None,
               ring_list=RING)
    assert d.action is Action.VOICEMAIL


def plan(mode: RingMode) -> ForwardPlan:
    s = ScreeningSettings(forward_enabled=True, forward_mode=mode.value,
                          forward_ring_seconds=25)
    d = decide(s, CALLER, subscriber_number=SUB, blocked=False, forward_destination=None,
               ring_list=RING)
    assert d.forward is not None
    return d.forward


def test_dial_instructions_for_several_phones() -> None:
    dials = [f"PJSIP/{n}@carrier" for n, _ in RING]
    together = dial_instructions(dials, plan(RingMode.SIMULTANEOUS))
    assert together.split("^") == [
        "PJSIP/09011110001@carrier&PJSIP/09011110002@carrier&PJSIP/0311110003@carrier",
        "25", "山田 <0312345678>", "allowed"]
    in_turn = dial_instructions(dials, plan(RingMode.SEQUENTIAL))
    assert in_turn.split("^")[:2] == [together.split("^")[0], "10&20&15"]


@given(st.lists(st.sampled_from(["", "5", "10", "60", "7", "x"]), min_size=5, max_size=5))
def test_sequential_ring_times_follow_the_numbers_typed(rings: list[str]) -> None:
    dests = ["09011110001", "", "0311110003", "", ""]
    fwd, errors = parse_forwarding(number=SUB, enabled="on", destinations=dests, active="",
                                   ring_seconds="20", show_caller="caller", mode="sequential",
                                   ring_each=rings)
    bad = {f"ring{i}" for i in (1, 3) if rings[i - 1] in ("7", "x")}
    if bad:
        assert fwd is None and set(errors) == bad
        return
    assert fwd is not None and fwd.destinations == ["09011110001", "0311110003"]
    assert fwd.ring_each == [int(rings[i]) if rings[i] else None for i in (0, 2)]


def test_several_phones_need_no_active_one_but_at_least_one_number() -> None:
    fwd, errors = parse_forwarding(number=SUB, enabled="on", destinations=["09011110001"],
                                   active="", ring_seconds="20", show_caller="caller",
                                   mode="simultaneous")
    assert fwd is not None and fwd.mode == "simultaneous" and errors == {}
    fwd, errors = parse_forwarding(number=SUB, enabled="on", destinations=[], active="",
                                   ring_seconds="20", show_caller="caller", mode="sequential")
    assert fwd is None and "destinations" in errors
    fwd, errors = parse_forwarding(number=SUB, enabled="on", destinations=["09011110001"],
                                   active="", ring_seconds="20", show_caller="caller",
                                   mode="single")
    assert fwd is None and "active" in errors  # as before
    _, errors = parse_forwarding(number=SUB, enabled="off", destinations=[], active="",
                                 ring_seconds="20", show_caller="caller", mode="loud")
    assert "mode" in errors
