"""Which callbacks a restarted app takes over before their bridge (resume.unbridged_callbacks):
leg 1 alone in our Stasis application, with its leg 2 wherever Asterisk still has it."""

from __future__ import annotations

from callflow.features.callback.resume import UnbridgedCallback, unbridged_callbacks

L1 = "cr7-1-0123456789ab"
L2 = "cr7-2-ba9876543210"


def test_leg2_ringing_outside_stasis() -> None:
    assert unbridged_callbacks([L1, "anshin-x.1"], [L1, L2, "anshin-x.1"]) == [
        UnbridgedCallback(7, L1, L2, leg2_in_stasis=False)]


def test_leg2_answered_while_no_process_listened() -> None:
    assert unbridged_callbacks([L1, L2], [L1, L2]) == [UnbridgedCallback(7, L1, L2, True)]


def test_leg2_gone_or_never_dialled() -> None:
    assert unbridged_callbacks([L1], [L1]) == [UnbridgedCallback(7, L1, None, False)]


def test_not_callbacks_and_lone_second_legs_are_left_to_the_resync() -> None:
    assert unbridged_callbacks([L2, "cr7-1-nothex", "1712.4"], [L2]) == []
