"""Portable `INSERT ... ON CONFLICT DO NOTHING` for SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase


def _table(model: type[DeclarativeBase] | Table) -> Table:
    return model if isinstance(model, Table) else model.__table__  # type: ignore[return-value]


def insert_ignore_stmt(
    session: AsyncSession, model: type[DeclarativeBase] | Table, index_elements: Sequence[str]
):
    """An INSERT that silently skips rows whose unique key already exists."""
    table = _table(model)
    dialect = session.get_bind().dialect.name
    module = postgresql if dialect == "postgresql" else sqlite
    return module.insert(table).on_conflict_do_nothing(index_elements=list(index_elements))


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
