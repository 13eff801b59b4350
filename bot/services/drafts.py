"""Half-filled forms kept in SQL: one draft per (person, flow), the latest one receives typed input.

A draft travels as an `OpenDraft` (plain values), read and written by prebuilt statements on the
session's connection: the form engine runs on every typed answer and button press, and an ORM object
per draft (its identity map entry, its flush) cost more than the statements themselves.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.dialect import built_once, dialect_insert
from storage.models import Draft, utcnow


@dataclass(frozen=True, slots=True)
class OpenDraft:
    """A person's draft of one flow, as read from its row."""

    id: int
    person_id: int
    flow: str
    step: str
    data: dict[str, Any]
    updated_at: datetime


COLUMNS = (Draft.id, Draft.person_id, Draft.flow, Draft.step, Draft.data, Draft.updated_at)  # OpenDraft's
# Built once (building a statement costs more than running it on SQLite): one draft by its unique key,
# and its deletion.
_GET = select(*COLUMNS).where(Draft.person_id == bindparam("person"), Draft.flow == bindparam("flow"))
_CLEAR = delete(Draft).where(Draft.person_id == bindparam("person"), Draft.flow == bindparam("flow"))


def _build_save(dialect: str) -> Any:
    upsert = dialect_insert(dialect, Draft)
    return upsert.on_conflict_do_update(
        index_elements=["person_id", "flow"],
        set_={
            "step": upsert.excluded.step,
            "data": upsert.excluded.data,
            "updated_at": upsert.excluded.updated_at,
        },
    )


# Create or move on a draft in one statement (the row keeps its id).
_save_statement = built_once(_build_save)


def latest_statement(flows: Sequence[str]) -> Any:
    """The person's (``person``) most recently touched draft of these flows, the one typed text, photos
    and contacts go to (a caller running it often builds it once)."""
    return (
        select(*COLUMNS)
        .where(Draft.person_id == bindparam("person"), Draft.flow.in_(list(flows)))
        .order_by(Draft.updated_at.desc(), Draft.id.desc())
        .limit(1)
    )


async def fetch(session: AsyncSession, statement: Any, params: dict[str, Any]) -> OpenDraft | None:
    """The draft a statement of this module (`_GET`, `latest_statement`) finds, if any."""
    connection = await session.connection()
    row = (await connection.execute(statement, params)).first()
    return None if row is None else OpenDraft(*row)


async def get_draft(session: AsyncSession, person_id: int, flow: str) -> OpenDraft | None:
    return await fetch(session, _GET, {"person": person_id, "flow": flow})


async def save_draft(
    session: AsyncSession,
    person_id: int,
    flow: str,
    step: str,
    data: dict[str, Any],
    *,
    now: datetime | None = None,
) -> None:
    """Create or update the person's draft of ``flow``; it becomes the one that receives typed input.
    ``now`` is the event's time (the conversation's clock), so a form's expiry is measured on it."""
    connection = await session.connection()
    values = {
        "person_id": person_id,
        "flow": flow,
        "step": step,
        "data": dict(data),
        "updated_at": now or utcnow(),
    }
    await connection.execute(_save_statement(session), values)


async def clear_draft(session: AsyncSession, person_id: int, flow: str) -> None:
    connection = await session.connection()
    await connection.execute(_CLEAR, {"person": person_id, "flow": flow})
