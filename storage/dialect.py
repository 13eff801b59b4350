"""Portable `INSERT ... ON CONFLICT` for SQLite and PostgreSQL, and statements built once per dialect."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase


def _table(model: type[DeclarativeBase] | Table) -> Table:
    return model if isinstance(model, Table) else model.__table__  # type: ignore[return-value]


def dialect_insert(dialect: str, model: type[DeclarativeBase] | Table) -> Any:
    """The dialect's INSERT (it has ``on_conflict_do_nothing``/``on_conflict_do_update``)."""
    return (postgresql if dialect == "postgresql" else sqlite).insert(_table(model))


def built_once(build: Callable[[str], Any]) -> Callable[[AsyncSession], Any]:
    """A hot statement that depends on the dialect, built at its first use per dialect (building a
    statement costs more than running it on SQLite): ``statement(session)`` gives it."""
    built: dict[str, Any] = {}

    def statement(session: AsyncSession) -> Any:
        dialect = session.get_bind().dialect.name
        found = built.get(dialect)
        if found is None:
            found = built[dialect] = build(dialect)
        return found

    return statement


def insert_ignore_stmt(
    session: AsyncSession, model: type[DeclarativeBase] | Table, index_elements: Sequence[str]
):
    """An INSERT that silently skips rows whose unique key already exists."""
    insert = dialect_insert(session.get_bind().dialect.name, model)
    return insert.on_conflict_do_nothing(index_elements=list(index_elements))


async def insert_ignore(
    session: AsyncSession,
    model: type[DeclarativeBase] | Table,
    values: dict[str, Any] | list[dict[str, Any]],
    index_elements: Sequence[str],
) -> int:
    """Insert one row or many, skipping existing keys.

    For one row the result is exact (1 inserted, 0 skipped); for many it is the driver's count,
    which callers must not rely on.
    """
    stmt = insert_ignore_stmt(session, model, index_elements)
    if isinstance(values, dict):
        result = await session.execute(stmt.values(**values))
        return max(result.rowcount or 0, 0)
    if not values:
        return 0
    result = await session.execute(stmt, values)
    return max(result.rowcount or 0, 0)
