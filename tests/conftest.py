"""Suite-wide test settings."""

from __future__ import annotations

import pytest

# A test that listens to a call transcribes all of it after the call ended: a call of about
# 100 s (the retrieval walk-through) plus its transcription does not fit the suite's default
# 120 s on a slower host, and Whisper's CPU per audio second differs between hosts.
LISTENING_TEST_TIMEOUT_S = 300


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        listens = "ears" in getattr(item, "fixturenames", ())
        if listens and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(LISTENING_TEST_TIMEOUT_S))
