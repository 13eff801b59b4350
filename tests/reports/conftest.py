"""The shared harness with the fixture year of tests/reports/world.py in its database."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.harness import BotHarness
from tests.reports.world import World, build_world


@pytest.fixture
async def harness(harness: BotHarness) -> AsyncIterator[BotHarness]:
    yield harness
    await harness.db.dispose()


@pytest.fixture
async def world(harness: BotHarness) -> World:
    async with harness.session() as session:
        return await build_world(session)
