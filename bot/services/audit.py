"""The append-only audit log: who did what to whom, by id, never by content."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import AuditEntry, utcnow


def record(
    session: AsyncSession,
    *,
    actor_person_id: int | None,
    action: str,
    target_type: str | None = None,
    target_id: int | None = None,
    result: str = "ok",
    branch_id: int | None = None,
) -> None:
    """Add an audit entry to the session; it commits with the change it describes."""
    session.add(
        AuditEntry(
            at=utcnow(),
            actor_person_id=actor_person_id,
            action=action,
            target_type=target_type,
            target_id=target_id,
            result=result,
            branch_id=branch_id,
        )
    )
