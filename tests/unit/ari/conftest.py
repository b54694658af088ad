from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from .fakes import FakeAri


@pytest.fixture
async def fake() -> AsyncIterator[FakeAri]:
    server = FakeAri()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()
