"""Counting the SQL statements an event runs, for the tests that keep an update cheap (issue #15)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event

_CONTROL = ("BEGIN", "COMMIT", "SAVEPOINT", "RELEASE")


@asynccontextmanager
async def counted(harness: Any) -> AsyncIterator[list[str]]:
    """The data statements run on the harness's database inside the block (transaction control left
    out), each on one line."""
    statements: list[str] = []
    engine = harness.db.engine.sync_engine

    def count(conn, cursor, statement, parameters, context, executemany) -> None:
        if not statement.lstrip().upper().startswith(_CONTROL):
            statements.append(" ".join(statement.split()))

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", count)


async def statements_of(harness: Any, act: Callable[[], Awaitable[object]]) -> list[str]:
    """The data statements ``act()`` runs."""
    async with counted(harness) as statements:
        await act()
    return statements
