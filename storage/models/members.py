"""Mobile members (流动党员) of a host branch: the roster record behind 报到 and the 台账."""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from storage.crypto import EncryptedString
from storage.models.base import Base, UTCDateTime, utcnow


class MemberState(enum.StrEnum):
    DRAFT = "draft"  # filling the report-in form
    PENDING = "pending"  # submitted, waiting for the secretary
    RETURNED = "returned"  # sent back for changes
    APPROVED = "approved"  # on the roster
    REJECTED = "rejected"
    LEAVING = "leaving"  # reported leaving the city, secretary to confirm
    LEFT = "left"
    ERASED = "erased"  # personal data removed at the member's request


class PartyStatus(enum.StrEnum):
    FULL = "full"  # 正式党员
    PROBATIONARY = "probationary"  # 预备党员


class Member(Base):
    """One person's membership of one host branch; personal fields are encrypted at rest."""

    __tablename__ = "member"
    __table_args__ = (
        Index("ix_member_branch_state", "branch_id", "state"),
        # Incremental reminder kinds look for members approved since their last run.
        Index("ix_member_decided_at", "decided_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"), unique=True)
    branch_id: Mapped[int] = mapped_column(ForeignKey("branch.id"))
    state: Mapped[str] = mapped_column(String(16), default=MemberState.DRAFT)
    party_status: Mapped[str | None] = mapped_column(String(16))
    name: Mapped[str | None] = mapped_column(EncryptedString())
    phone: Mapped[str | None] = mapped_column(EncryptedString())
    phone_index: Mapped[str | None] = mapped_column(String(64), index=True)
    township_id: Mapped[int | None] = mapped_column(ForeignKey("township.id"), index=True)
    village_branch_id: Mapped[int | None] = mapped_column(ForeignKey("village_branch.id"))
    joined_party_on: Mapped[date | None] = mapped_column(Date)
    activity_card_no: Mapped[str | None] = mapped_column(EncryptedString())
    city_district: Mapped[str | None] = mapped_column(EncryptedString())
    employer: Mapped[str | None] = mapped_column(EncryptedString())
    left_home_on: Mapped[date | None] = mapped_column(Date)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decided_by_person_id: Mapped[int | None] = mapped_column(ForeignKey("person.id", ondelete="SET NULL"))
    decision_reason: Mapped[str | None] = mapped_column(EncryptedString())
    last_active_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Bumped at each submission: decision buttons and outbox sources carry it, so an old button is stale.
    revision: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    leaving_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # reported leaving the city
    left_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # the secretary confirmed it
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
