"""Migrations: every revision upgrades, downgrades and upgrades again; head matches the models."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from storage import migrate
from storage.db import create_engine
from storage.models import Base


async def test_stairway(fresh_database_factory) -> None:
    url = fresh_database_factory()
    revisions = migrate.revisions()
    assert revisions[0] == "0001_foundation"
    previous = "base"
    for revision in revisions:
        await migrate.upgrade(url, revision)
        await migrate.downgrade(url, previous)
        await migrate.upgrade(url, revision)
        assert await migrate.current_revision(url) == revision
        previous = revision


async def test_head_matches_the_models(fresh_database_factory) -> None:
    url = fresh_database_factory()
    await migrate.upgrade(url)
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            diff = await connection.run_sync(
                lambda sync: compare_metadata(MigrationContext.configure(sync), Base.metadata)
            )
            tables = await connection.run_sync(lambda sync: set(inspect(sync).get_table_names()))
    finally:
        await engine.dispose()
    assert set(Base.metadata.tables) <= tables
    # Types differ only by our TypeDecorators (stored as their plain implementation).
    meaningful = [d for d in diff if not (isinstance(d, list) and d and d[0][0] == "modify_type")]
    assert meaningful == []
