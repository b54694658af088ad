"""名乗り確認 (call screening): the plan carries the choice, the dial instructions for
`[anshin-forward-screened]` (steps joined by `|`, the name recording last), the recording's
name and the dial status the decline comes back with."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from callflow.features.inbound.forwarding import (
    ForwardResult,
    dial_instructions,
    result_from_dialstatus,
    screening_recording,
)
from callflow.features.inbound.screening import (
    Action,
    CallerInfo,
    ForwardPlan,
    RingMode,
    ScreeningSettings,
    decide,
)

SUB = "05012345678"
CALLER = CallerInfo("0312345678", "山田")
RING = (("09011110001", 10), ("09011110002", 20))


def plan(mode: RingMode, *, screen: bool = True) -> ForwardPlan:
    s = ScreeningSettings(forward_enabled=True, forward_mode=mode.value,
                          forward_ring_seconds=25, voicemail_enabled=True)
    d = decide(s, CALLER, subscriber_number=SUB, blocked=False,
               forward_destination="09011110001", ring_list=RING, screen=screen)
    assert d.action is Action.FORWARD and d.forward is not None
    return d.forward


def test_screening_only_marks_the_forward() -> None:
    assert plan(RingMode.SINGLE).screen and not plan(RingMode.SINGLE, screen=False).screen
    assert dataclasses.replace(plan(RingMode.SINGLE), screen=False) \
        == plan(RingMode.SINGLE, screen=False)
    # no forward: screening changes nothing (voicemail straight away, as before)
    d = decide(ScreeningSettings(voicemail_enabled=True), CALLER, subscriber_number=SUB,
               blocked=False, forward_destination=None, screen=True)
    assert d.action is Action.VOICEMAIL and d.forward is None
    # a blocked caller is refused before anything is asked
    d = decide(ScreeningSettings(forward_enabled=True), CALLER, subscriber_number=SUB,
               blocked=True, forward_destination="09011110001", screen=True)
    assert d.action is Action.BLOCK_ANNOUNCE


def test_dial_instructions_per_mode() -> None:
    name = "screening-1764-42"
    one = dial_instructions("PJSIP/09011110001@carrier", plan(RingMode.SINGLE), name)
    assert one.split("^") == ["PJSIP/09011110001@carrier", "25", "山田 <0312345678>",
                              "allowed", name]
    dials = [f"PJSIP/{n}@carrier" for n, _ in RING]
    together = dial_instructions(dials, plan(RingMode.SIMULTANEOUS), name).split("^")
    assert together[:2] == ["PJSIP/09011110001@carrier&PJSIP/09011110002@carrier", "25"]
    in_turn = dial_instructions(dials, plan(RingMode.SEQUENTIAL), name).split("^")
    assert in_turn[:2] == ["PJSIP/09011110001@carrier|PJSIP/09011110002@carrier", "10|20"]
    # off: the instructions [anshin-forward] always had (four fields)
    assert len(dial_instructions(dials[0], plan(RingMode.SINGLE, screen=False)).split("^")) == 4


@given(st.text(min_size=1, max_size=40))
def test_recording_name_is_one_flat_file_name(channel_id: str) -> None:
    name = screening_recording(channel_id)
    assert name.startswith("screening-")
    assert all(ch.isalnum() or ch == "-" for ch in name)


@pytest.mark.parametrize(("status", "result"), [("DECLINED", ForwardResult.DECLINED),
                                                ("NOANSWER", ForwardResult.NO_ANSWER)])
def test_declined_comes_back_as_its_own_result(status: str, result: ForwardResult) -> None:
    assert result_from_dialstatus(status) is result
