"""The activity day (党员活动日) and organisational life: the branch's plan, each month's event, RSVPs,
sign-ins, excused months and the yearly details check of each member."""

from __future__ import annotations

import enum
from datetime import datetime, time
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, Time, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from storage.crypto import EncryptedString
from storage.models.base import Base, UTCDateTime, utcnow


class ActivityPlan(Base):
    """A branch's monthly rhythm: the activity-day rule and the settings of its reminders.

    The rule is either ``rule_day`` (a day of month, clamped to the month's last day) or ``rule_nth`` +
    ``rule_weekday`` (1..4 or -1 for the last; 0 = Monday). ``start_time`` and ``remind_at`` are local
    wall-clock times in the branch's zone. A plan row may exist without a rule (only settings changed).
    """

    __tablename__ = "activity_plan"

    id: Mapped[int] = mapped_column(primary_key=True)
    branch_id: Mapped[int] = mapped_column(ForeignKey("branch.id", ondelete="CASCADE"), unique=True)
    rule_day: Mapped[int | None] = mapped_column(Integer)
    rule_nth: Mapped[int | None] = mapped_column(Integer)
    rule_weekday: Mapped[int | None] = mapped_column(Integer)
    start_time: Mapped[time] = mapped_column(Time(), default=time(9, 0))
    place: Mapped[str | None] = mapped_column(String(200))
    online_link: Mapped[str | None] = mapped_column(String(300))
    topic: Mapped[str | None] = mapped_column(String(200))
    programme: Mapped[list[Any]] = mapped_column(JSON(), default=list)
    lead_days: Mapped[list[Any]] = mapped_column(JSON(), default=lambda: [3, 0])
    remind_at: Mapped[time] = mapped_column(Time(), default=time(8, 0))
    lost_contact_days: Mapped[int] = mapped_column(Integer, default=90)
    study_backfill_days: Mapped[int] = mapped_column(Integer, default=7)
    rule_set_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_by_person_id: Mapped[int | None] = mapped_column(ForeignKey("person.id", ondelete="SET NULL"))


class EventStatus(enum.StrEnum):
    SCHEDULED = "scheduled"
    CANCELLED = "cancelled"


class ActivityEvent(Base):
    """One month's activity day of a branch (``month_key`` = year * 12 + month - 1).

    ``ends_at`` is the end of the event's local day: sign-in closes then and the month is judged for
    the six-month rule. ``revision`` grows whenever the start moves, so reminders for the new date are
    new occurrences while those already sent for the old date stay sent.
    """

    __tablename__ = "activity_event"
    __table_args__ = (UniqueConstraint("branch_id", "month_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    branch_id: Mapped[int] = mapped_column(ForeignKey("branch.id", ondelete="CASCADE"))
    month_key: Mapped[int] = mapped_column(Integer)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(16), default=EventStatus.SCHEDULED)
    revision: Mapped[int] = mapped_column(Integer, default=0)
    moved: Mapped[bool] = mapped_column(Boolean, default=False)  # by hand: a new rule leaves it alone
    changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ActivityReminderSlot(Base):
    """When the RSVP reminder ``lead_days`` before an event falls due (computed in the branch's zone)."""

    __tablename__ = "activity_reminder_slot"
    __table_args__ = (UniqueConstraint("event_id", "lead_days"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("activity_event.id", ondelete="CASCADE"))
    lead_days: Mapped[int] = mapped_column(Integer)
    revision: Mapped[int] = mapped_column(Integer)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class RsvpAnswer(enum.StrEnum):
    ATTEND = "attend"  # 参加
    LEAVE = "leave"  # 请假


class ActivityRsvp(Base):
    """A member's answer for one event; one per (event, member)."""

    __tablename__ = "activity_rsvp"
    __table_args__ = (UniqueConstraint("event_id", "member_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("activity_event.id", ondelete="CASCADE"))
    member_id: Mapped[int] = mapped_column(ForeignKey("member.id", ondelete="CASCADE"), index=True)
    answer: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(EncryptedString())
    answered_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class AttendanceSource(enum.StrEnum):
    SELF = "self"  # the member pressed 签到
    SECRETARY = "secretary"  # marked by hand


class ActivityAttendance(Base):
    """A member present at one event (signed in, or marked by the secretary); one per (event, member)."""

    __tablename__ = "activity_attendance"
    __table_args__ = (UniqueConstraint("event_id", "member_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("activity_event.id", ondelete="CASCADE"))
    member_id: Mapped[int] = mapped_column(ForeignKey("member.id", ondelete="CASCADE"), index=True)
    source: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    by_person_id: Mapped[int | None] = mapped_column(ForeignKey("person.id", ondelete="SET NULL"))


class OrgLifeExcuse(Base):
    """The secretary's record of a good reason for a member's absence from one month's activity."""

    __tablename__ = "orglife_excuse"
    __table_args__ = (UniqueConstraint("event_id", "member_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("activity_event.id", ondelete="CASCADE"))
    member_id: Mapped[int] = mapped_column(ForeignKey("member.id", ondelete="CASCADE"), index=True)
    reason: Mapped[str] = mapped_column(EncryptedString())
    by_person_id: Mapped[int | None] = mapped_column(ForeignKey("person.id", ondelete="SET NULL"))
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class MemberReview(Base):
    """The yearly details check: ``cycle`` counts confirmations, each one starts a new year."""

    __tablename__ = "member_review"

    member_id: Mapped[int] = mapped_column(
        ForeignKey("member.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    cycle: Mapped[int] = mapped_column(Integer, default=0)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    changes: Mapped[str | None] = mapped_column(EncryptedString())  # what the member says has changed
    changes_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


__all__ = [
    "ActivityAttendance",
    "ActivityEvent",
    "ActivityPlan",
    "ActivityReminderSlot",
    "ActivityRsvp",
    "AttendanceSource",
    "EventStatus",
    "MemberReview",
    "OrgLifeExcuse",
    "RsvpAnswer",
]
