"""Consent to the report-in notice (报到须知): who agreed or refused, to which version, and when."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, UTCDateTime, utcnow


class ConsentRecord(Base):
    """A person's answer to one version of a privacy notice for one purpose.

    One row per (person, purpose, notice version): answering again updates it, and each answer is
    also in the audit log, so the history is kept without a second copy here.
    """

    __tablename__ = "consent"
    __table_args__ = (UniqueConstraint("person_id", "purpose", "notice_version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"))
    purpose: Mapped[str] = mapped_column(String(32))
    notice_version: Mapped[str] = mapped_column(String(16))
    granted: Mapped[bool] = mapped_column(Boolean)
    branch_id: Mapped[int | None] = mapped_column(ForeignKey("branch.id", ondelete="SET NULL"))
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
