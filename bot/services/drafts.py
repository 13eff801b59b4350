"""Half-filled forms kept in SQL: one draft per (person, flow), the latest one receives typed input."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import flag_modified

from storage.models import Draft, utcnow


async def get_draft(session: AsyncSession, person_id: int, flow: str) -> Draft | None:
    return await session.scalar(select(Draft).where(Draft.person_id == person_id, Draft.flow == flow))


async def save_draft(
    session: AsyncSession,
    person_id: int,
    flow: str,
    step: str,
    data: dict[str, Any],
    *,
    now: datetime | None = None,
) -> Draft:
    """Create or update the person's draft of ``flow``; it becomes the one that receives typed input.
    ``now`` is the event's time (the conversation's clock), so a form's expiry is measured on it."""
    touched = now or utcnow()
    draft = await get_draft(session, person_id, flow)
    if draft is None:
        draft = Draft(person_id=person_id, flow=flow, step=step, data=dict(data), updated_at=touched)
        session.add(draft)
    else:
        draft.step = step
        draft.data = dict(data)  # a new dict, so SQLAlchemy sees the change
        draft.updated_at = touched
        flag_modified(draft, "updated_at")  # written even when unchanged, or the column's onupdate wins
    await session.flush()
    return draft


async def clear_draft(session: AsyncSession, person_id: int, flow: str) -> None:
    await session.execute(delete(Draft).where(Draft.person_id == person_id, Draft.flow == flow))


async def active_draft(session: AsyncSession, person_id: int, flows: set[str] | None = None) -> Draft | None:
    """The draft the person touched last: typed text, photos and contacts go to it."""
    query = select(Draft).where(Draft.person_id == person_id)
    if flows is not None:
        query = query.where(Draft.flow.in_(flows))
    return await session.scalar(query.order_by(Draft.updated_at.desc(), Draft.id.desc()).limit(1))
