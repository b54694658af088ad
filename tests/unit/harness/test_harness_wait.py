"""labkit.harness.wait: the shared bounded poll every lab test waits with."""

from __future__ import annotations

import pytest

from labkit.harness.wait import wait_until


async def test_returns_once_the_state_is_reached() -> None:
    polls: list[int] = []

    def third_time() -> bool:
        polls.append(1)
        return len(polls) >= 3

    took = await wait_until(third_time, 5, "the third poll", interval=0.001)
    assert len(polls) == 3 and 0 <= took < 5


async def test_awaits_a_coroutine_predicate() -> None:
    answers = iter([None, [], ["row"]])

    async def row() -> list[str] | None:
        return next(answers)

    await wait_until(row, 5, "a row", interval=0.001)


async def test_fails_saying_what_it_waited_for() -> None:
    with pytest.raises(AssertionError, match=r"timed out after 0\.05s waiting for the mail"
                                             r" \(last value: \[\]\)"):
        await wait_until(lambda: [], 0.05, "the mail", interval=0.01)
