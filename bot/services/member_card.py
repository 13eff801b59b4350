"""What an officer sees at a glance on a member's card: dues, activity days and study, one line each."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from sqlalchemy import and_, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.i18n import t
from storage.models import Member
from storage.models.activity import ActivityAttendance, ActivityEvent, ActivityRsvp, EventStatus, RsvpAnswer
from storage.models.dues import DuesMonth, DuesPayment, PaymentStatus
from storage.models.study import StudyCheckin, StudyItem

CardLine = Callable[[AsyncSession, Member, datetime, str], Awaitable[str | None]]
RECENT_EVENTS = 6
STUDY_DAYS = 90


async def dues_line(session: AsyncSession, member: Member, now: datetime, language: str) -> str | None:
    """Months the branch opened since the member reported in: confirmed, waiting for confirmation, unpaid."""
    since = (member.decided_at or member.submitted_at or now).date().replace(day=1)
    months = select(DuesMonth.month).where(DuesMonth.branch_id == member.branch_id, DuesMonth.month >= since)
    opened = await session.scalar(select(func.count()).select_from(months.subquery())) or 0
    if not opened:
        return t(language, "card.dues_none")
    paid = dict(
        (
            await session.execute(
                select(DuesPayment.status, func.count())
                .where(DuesPayment.member_id == member.id, DuesPayment.month.in_(months))
                .group_by(DuesPayment.status)
            )
        ).all()
    )
    confirmed, reported = paid.get(PaymentStatus.CONFIRMED, 0), paid.get(PaymentStatus.REPORTED, 0)
    return t(
        language,
        "card.dues",
        opened=opened,
        confirmed=confirmed,
        reported=reported,
        unpaid=max(opened - confirmed - reported, 0),
    )


async def activity_line(session: AsyncSession, member: Member, now: datetime, language: str) -> str | None:
    """The branch's last few activity days: attended, on leave."""
    recent = (
        select(ActivityEvent.id)
        .where(
            ActivityEvent.branch_id == member.branch_id,
            ActivityEvent.status != EventStatus.CANCELLED,
            ActivityEvent.starts_at <= now,
        )
        .order_by(ActivityEvent.starts_at.desc())
        .limit(RECENT_EVENTS)
        .subquery()
    )
    events = await session.scalar(select(func.count()).select_from(recent)) or 0
    if not events:
        return t(language, "card.activity_none")
    attended = await session.scalar(
        select(func.count(func.distinct(ActivityAttendance.event_id))).where(
            ActivityAttendance.member_id == member.id, ActivityAttendance.event_id.in_(select(recent.c.id))
        )
    )
    leave = await session.scalar(
        select(func.count()).where(
            and_(
                ActivityRsvp.member_id == member.id,
                ActivityRsvp.answer == RsvpAnswer.LEAVE,
                ActivityRsvp.event_id.in_(select(recent.c.id)),
            )
        )
    )
    return t(language, "card.activity", events=events, attended=attended or 0, leave=leave or 0)


async def study_line(session: AsyncSession, member: Member, now: datetime, language: str) -> str | None:
    """Study items of the last three months the member checked in to."""
    items = select(StudyItem.id).where(
        StudyItem.branch_id == member.branch_id, StudyItem.starts_at >= now - timedelta(days=STUDY_DAYS)
    )
    total = await session.scalar(select(func.count()).select_from(items.subquery())) or 0
    if not total:
        return t(language, "card.study_none")
    done = await session.scalar(
        select(func.count()).where(StudyCheckin.member_id == member.id, StudyCheckin.item_id.in_(items))
    )
    return t(language, "card.study", done=done or 0, total=total)


CARD_LINES: tuple[CardLine, ...] = (dues_line, activity_line, study_line)
