"""The mailbox-slot rule: stored messages and held slots together stay within 20."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from callflow.store.voicemail import MAILBOX_LIMIT, slot_free


@given(st.integers(0, 40), st.integers(0, 40))
def test_a_slot_is_free_only_below_the_limit_counting_held_slots(stored: int,
                                                                 reserved: int) -> None:
    assert slot_free(stored, reserved) == (stored + reserved < MAILBOX_LIMIT)


def test_the_twentieth_message_is_the_last() -> None:
    assert slot_free(19, 0) and not slot_free(19, 1) and not slot_free(20, 0)
