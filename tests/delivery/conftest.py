"""The shared harness, plus closing its database connections before the test's event loop closes
(the harness keeps its engine open, and aiosqlite then complains from its worker threads)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.harness import BotHarness


@pytest.fixture
async def harness(harness: BotHarness) -> AsyncIterator[BotHarness]:
    yield harness
    await harness.db.dispose()
