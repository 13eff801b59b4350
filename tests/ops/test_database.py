"""The PostgreSQL pool: a connection that sat idle is pinged before use, and a dead one replaced."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from storage import db as db_module
from storage.db import Database
from tests.conftest import on_postgres

pytestmark = pytest.mark.skipif(not on_postgres(), reason="PostgreSQL's connection pool")


async def _drop_pooled_connection(database_url: str) -> Database:
    """A Database whose one pooled connection the server has since closed (as a restart would)."""
    database = Database(database_url, pool_size=1, max_overflow=0)
    async with database.session() as session:
        pid = await session.scalar(text("SELECT pg_backend_pid()"))
    killer = Database(database_url)
    try:
        async with killer.session() as session:
            await session.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    finally:
        await killer.dispose()
    return database


async def test_an_idle_connection_that_died_is_replaced_before_use(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(db_module, "PING_AFTER_IDLE_S", 0.0)  # every checkout counts as after a quiet spell
    database = await _drop_pooled_connection(database_url)
    try:
        async with database.session() as session:
            assert await session.scalar(text("SELECT 1")) == 1
    finally:
        await database.dispose()


async def test_a_connection_used_a_moment_ago_is_not_pinged(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The other side of the trade: no round trip for a connection in steady use. (Were it dead, the
    # statement fails once and the pool replaces it: the conversation core is one transaction.)
    monkeypatch.setattr(db_module, "PING_AFTER_IDLE_S", 3600.0)
    database = await _drop_pooled_connection(database_url)
    try:
        with pytest.raises(DBAPIError):
            async with database.session() as session:
                await session.scalar(text("SELECT 1"))
        async with database.session() as session:
            assert await session.scalar(text("SELECT 1")) == 1
    finally:
        await database.dispose()
