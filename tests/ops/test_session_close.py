"""A session gives its connection back however it ends: committed (`Database.session` then closes it
without SQLAlchemy's task and shield, there being nothing left to give back), failed, or cancelled while
it waits on something else."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, insert, select

from storage.db import Database
from storage.models import HandledUpdate

NOW = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)


def _checked_out(database: Database) -> int:
    return database.engine.sync_engine.pool.checkedout()


async def _records(database: Database) -> int:
    async with database.session() as session:
        return int(await session.scalar(select(func.count()).select_from(HandledUpdate)) or 0)


async def test_a_committed_session_gives_its_connection_back(database_url: str) -> None:
    database = Database(database_url)
    try:
        async with database.session() as session:
            await session.execute(insert(HandledUpdate).values(update_id=1, handled_at=NOW))
            await session.commit()
            assert not session.in_transaction()
        assert _checked_out(database) == 0
        assert await _records(database) == 1
    finally:
        await database.dispose()


async def test_a_failed_session_rolls_back_and_gives_its_connection_back(database_url: str) -> None:
    database = Database(database_url)
    try:
        with pytest.raises(RuntimeError):
            async with database.session() as session:
                await session.execute(insert(HandledUpdate).values(update_id=2, handled_at=NOW))
                raise RuntimeError("the handler failed")
        assert _checked_out(database) == 0
        assert await _records(database) == 0
    finally:
        await database.dispose()


async def test_a_cancelled_session_rolls_back_and_gives_its_connection_back(database_url: str) -> None:
    database = Database(database_url)
    inside = asyncio.Event()

    async def event_in_flight() -> None:
        async with database.session() as session:
            await session.execute(insert(HandledUpdate).values(update_id=3, handled_at=NOW))
            inside.set()
            await asyncio.sleep(60)  # waits on something else (a reply's round trip) when cancelled
            await session.commit()

    try:
        task = asyncio.create_task(event_in_flight())
        await asyncio.wait_for(inside.wait(), 5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert _checked_out(database) == 0
        assert await _records(database) == 0
    finally:
        await database.dispose()
