"""SQL building blocks for reminder kinds' due queries, portable between SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Select, String, case, cast, func, literal, select, union
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from bot.i18n import DEFAULT_LANGUAGE, LANGUAGES
from storage.models import Member, MemberState, Person


def language_of_person() -> ColumnElement[str]:
    """`bot.i18n.resolve_language(person.language, person.client_language)` as a SQL expression."""
    return case(
        (Person.language.in_(LANGUAGES), Person.language),
        (func.lower(func.coalesce(Person.client_language, "")).like("en%"), literal("en")),
        else_=literal(DEFAULT_LANGUAGE),
    )


def as_text(value: ColumnElement[Any]) -> ColumnElement[str]:
    """An integer column as text, to build a period key such as ``'d3:' || revision``."""
    return cast(value, String)


def concat(*parts: ColumnElement[Any] | str) -> ColumnElement[str]:
    """Concatenate strings and text columns (``||`` on both databases)."""
    result: ColumnElement[str] | None = None
    for part in parts:
        piece = literal(part, String) if isinstance(part, str) else part
        result = piece if result is None else result + piece
    assert result is not None
    return result


def utc_day(session: AsyncSession, value: ColumnElement[Any]) -> ColumnElement[str]:
    """The UTC calendar day of a timestamp column as ``YYYY-MM-DD`` (a stable period key)."""
    if session.get_bind().dialect.name == "postgresql":
        return func.to_char(func.timezone("UTC", value), "YYYY-MM-DD")
    return func.strftime("%Y-%m-%d", value)


def greatest(session: AsyncSession, *values: ColumnElement[Any]) -> ColumnElement[Any]:
    """The largest of several non-NULL values (wrap NULL-able ones in coalesce first)."""
    if session.get_bind().dialect.name == "postgresql":
        return func.greatest(*values)
    return func.max(*values)


async def ids_of(session: AsyncSession, query: Select[Any]) -> list[int]:
    """The ids a small indexed query finds, so an incremental kind's query can start from them
    (``x.id IN (...)``) instead of leaving the planner to start from the members."""
    return list(await session.scalars(query))


async def approved_since(session: AsyncSession, since: datetime) -> list[int]:
    """Members approved after ``since`` (the index on ``decided_at``): an incremental kind's late joiners."""
    return await ids_of(
        session, select(Member.id).where(Member.decided_at > since, Member.state == MemberState.APPROVED)
    )


def new_or_joined(query: Any, subject_id: Any, subjects: list[int], members: list[int]) -> Any:
    """An incremental kind's query after its first run: ``query(*narrowing)`` for the subjects that fell
    due since (for everyone) and for the members approved since (every subject still due); None when
    there are neither, so an idle tick runs no member-wide query at all."""
    parts = []
    if subjects:
        parts.append(query(subject_id.in_(subjects)))
    if members:
        parts.append(query(Member.id.in_(members)))
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else union(*parts)
