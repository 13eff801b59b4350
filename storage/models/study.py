"""Study check-ins (学习打卡): items published for a period, and members' self-reported check-ins."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from storage.crypto import EncryptedString
from storage.models.base import Base, UTCDateTime, utcnow


class StudyItem(Base):
    """A text, link or document to study between ``starts_at`` and ``ends_at`` (end of the last local day).

    ``remind_at`` is when the one gentle reminder goes to those not checked in (None: no reminder,
    e.g. a period too short for one).
    """

    __tablename__ = "study_item"
    __table_args__ = (
        Index("ix_study_item_branch_ends", "branch_id", "ends_at"),
        # The reminder tick looks for items published since its last run.
        Index("ix_study_item_published_at", "published_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    branch_id: Mapped[int] = mapped_column(ForeignKey("branch.id", ondelete="CASCADE"))
    text: Mapped[str | None] = mapped_column(Text)
    link: Mapped[str | None] = mapped_column(String(500))
    file_id: Mapped[str | None] = mapped_column(String(200))
    file_name: Mapped[str | None] = mapped_column(String(200))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime())
    remind_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    published_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    published_by_person_id: Mapped[int | None] = mapped_column(ForeignKey("person.id", ondelete="SET NULL"))


class StudyCheckin(Base):
    """A member's check-in to one item; ``late`` when back-filled after the period; one per (item, member)."""

    __tablename__ = "study_checkin"
    __table_args__ = (UniqueConstraint("item_id", "member_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("study_item.id", ondelete="CASCADE"))
    member_id: Mapped[int] = mapped_column(ForeignKey("member.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    late: Mapped[bool] = mapped_column(Boolean, default=False)
    reflection: Mapped[str | None] = mapped_column(EncryptedString())  # 心得, optional


__all__ = ["StudyCheckin", "StudyItem"]
