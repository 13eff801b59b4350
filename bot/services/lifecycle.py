"""A member's year in the branch: the yearly details check, the lost-contact flag and the six-month rule
of organisational life (组织生活), each as reminder kinds of the engine.

Organisational life, as counted here: each month whose activity day took place (not cancelled) and is
over counts against a member who neither signed in nor was marked present, unless the secretary recorded
a good reason (an ``OrgLifeExcuse``). Months without an activity day neither count nor break a streak;
months before the member was approved do not count. The streak is the number of such months since the
member's last good month (attended or excused). Dues (unpaid months) are counted separately by the dues
feature with its own kinds; this counter is organisational life only.

Warnings: the member at 2 months, the secretary at 3, both at 5 (the party constitution's limit is 6).
Each warning goes once per streak: its period key names the level and the streak's start.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, case, func, literal, or_, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from bot.callbacks import Callbacks, Int
from bot.i18n import t
from bot.scheduling.engine import Occasion, ReminderKind, occurrence_columns
from bot.scheduling.sql import as_text, concat, utc_day
from bot.services import audit
from bot.services.activity import DEFAULT_LOST_CONTACT_DAYS, REASON_MAX, PlanView, clean_text, plan_view
from bot.services.identity import Actor
from bot.services.outbox import Button, Outgoing, notify_person
from storage.models import Branch, Member, MemberState, Person, Role, RoleGrant
from storage.models.activity import (
    ActivityAttendance,
    ActivityEvent,
    ActivityPlan,
    EventStatus,
    MemberReview,
    OrgLifeExcuse,
)

YEAR = timedelta(days=365)
MEMBER_LEVELS = (2, 5)
SECRETARY_LEVELS = (3, 5)
ORG_LIFE_LIMIT = 6


LIFE = Callbacks("life")  # the yearly check's buttons: built here, parsed in bot.flows.activity
LIFE_SAME = LIFE.action("ok", Int(0, 10**6))
LIFE_CHANGED = LIFE.action("chg", Int(0, 10**6))


class LifeOutcome(enum.StrEnum):
    OK = "ok"
    ALREADY = "already"
    STALE = "stale"
    NOT_ALLOWED = "not_allowed"


def _secretaries():
    """Recipients for a member's branch: the persons holding the secretary role there."""
    return and_(RoleGrant.branch_id == Member.branch_id, RoleGrant.role == Role.SECRETARY)


def _member_name(member: Member | None) -> str:
    if member is None:
        return "?"
    return member.name or f"#{member.id}"


# -- yearly details check ---------------------------------------------------------------------------


async def _due_details(session: AsyncSession, now: datetime):
    anchor = func.coalesce(MemberReview.confirmed_at, Member.decided_at, Member.created_at)
    return (
        select(
            *occurrence_columns(
                subject_type="member",
                subject_id=Member.id,
                period=concat("y", as_text(func.coalesce(MemberReview.cycle, 0))),
                person_id=Member.person_id,
                tz=Branch.timezone,
                due_at=now,
            )
        )
        .select_from(Member)
        .join(Branch, Branch.id == Member.branch_id)
        .outerjoin(MemberReview, MemberReview.member_id == Member.id)
        .where(Member.state == MemberState.APPROVED, anchor <= now - YEAR)
    )


async def _render_details(session: AsyncSession, occasion: Occasion) -> Outgoing | None:
    cycle = int(occasion.period.removeprefix("y"))
    lang = occasion.language
    return Outgoing(
        text=t(lang, "life.details.prompt"),
        buttons=(
            (
                Button(t(lang, "btn.life.same"), data=LIFE_SAME.data(cycle)),
                Button(t(lang, "btn.life.changed"), data=LIFE_CHANGED.data(cycle)),
            ),
        ),
    )


async def _review_for(
    session: AsyncSession, actor: Actor, cycle: int
) -> tuple[MemberReview | None, LifeOutcome]:
    if not actor.is_member or actor.member_id is None:
        audit.record(
            session,
            actor_person_id=actor.person_id,
            action="member.details.confirm",
            target_type="member",
            target_id=actor.member_id,
            result="denied",
        )
        return None, LifeOutcome.NOT_ALLOWED
    review = await session.get(MemberReview, actor.member_id)
    current = review.cycle if review is not None else 0
    if cycle < current:
        return review, LifeOutcome.ALREADY
    if cycle > current:
        return review, LifeOutcome.STALE
    if review is None:
        review = MemberReview(member_id=actor.member_id, cycle=0)
        session.add(review)
    return review, LifeOutcome.OK


async def confirm_details(session: AsyncSession, actor: Actor, cycle: int, now: datetime) -> LifeOutcome:
    """The member says nothing changed: the next check is a year from now."""
    review, outcome = await _review_for(session, actor, cycle)
    if outcome != LifeOutcome.OK or review is None:
        return outcome
    review.cycle = cycle + 1
    review.confirmed_at = now
    audit.record(
        session,
        actor_person_id=actor.person_id,
        action="member.details.confirm",
        target_type="member",
        target_id=actor.member_id,
        branch_id=actor.member_branch_id,
    )
    return LifeOutcome.OK


async def details_change_check(session: AsyncSession, actor: Actor, cycle: int) -> LifeOutcome:
    """Whether the member may report changes for this check (before asking what changed)."""
    _review, outcome = await _review_for(session, actor, cycle)
    return outcome


async def report_changes(
    session: AsyncSession, actor: Actor, cycle: int, text: str, now: datetime
) -> LifeOutcome:
    """The member says what changed (job, address, phone); their secretaries are told to update the roster."""
    changes = clean_text(text, REASON_MAX)
    review, outcome = await _review_for(session, actor, cycle)
    if outcome != LifeOutcome.OK or review is None:
        return outcome
    review.cycle = cycle + 1
    review.confirmed_at = now
    review.changes = changes
    review.changes_at = now
    await session.flush()
    member = await session.get(Member, actor.member_id)
    secretaries = await session.scalars(
        select(Person)
        .join(RoleGrant, RoleGrant.person_id == Person.id)
        .where(RoleGrant.branch_id == actor.member_branch_id, RoleGrant.role == Role.SECRETARY)
    )
    for person in secretaries:
        await notify_person(
            session,
            person,
            source=f"member:{actor.member_id}:details:{cycle}",
            key="life.details.changed_notice",
            not_before=now,
            name=_member_name(member),
            changes=changes,
        )
    audit.record(
        session,
        actor_person_id=actor.person_id,
        action="member.details.changed",
        target_type="member",
        target_id=actor.member_id,
        branch_id=actor.member_branch_id,
    )
    return LifeOutcome.OK


# -- lost contact -------------------------------------------------------------------------------------


def _last_heard():
    return func.coalesce(Person.last_seen_at, Member.last_active_at, Member.decided_at, Member.created_at)


def _silence_days():
    return func.coalesce(ActivityPlan.lost_contact_days, DEFAULT_LOST_CONTACT_DAYS)


async def _due_lost_contact(session: AsyncSession, now: datetime):
    # Thresholds differ per branch; the distinct values are few, so one SELECT per value, UNION ALL.
    thresholds = list(
        await session.scalars(
            select(_silence_days())
            .select_from(Branch)
            .outerjoin(ActivityPlan, ActivityPlan.branch_id == Branch.id)
            .distinct()
        )
    )
    if not thresholds:
        return None
    selects = [
        select(
            *occurrence_columns(
                subject_type="member",
                subject_id=Member.id,
                period=concat("lost:", utc_day(session, _last_heard())),
                person_id=RoleGrant.person_id,
                tz=Branch.timezone,
                due_at=now,
            )
        )
        .select_from(Member)
        .join(Person, Person.id == Member.person_id)
        .join(Branch, Branch.id == Member.branch_id)
        .outerjoin(ActivityPlan, ActivityPlan.branch_id == Member.branch_id)
        .join(RoleGrant, _secretaries())
        .where(
            Member.state == MemberState.APPROVED,
            _silence_days() == days,
            _last_heard() <= now - timedelta(days=days),
        )
        for days in thresholds
    ]
    return selects[0] if len(selects) == 1 else union_all(*selects)


async def _render_lost_contact(session: AsyncSession, occasion: Occasion) -> Outgoing | None:
    member = await session.get(Member, occasion.subject_id)
    if member is None:
        return None
    days = await session.scalar(
        select(ActivityPlan.lost_contact_days).where(ActivityPlan.branch_id == member.branch_id)
    )
    return Outgoing(
        text=t(
            occasion.language,
            "life.lost.notice",
            name=_member_name(member),
            days=days or DEFAULT_LOST_CONTACT_DAYS,
        )
    )


@dataclass(frozen=True)
class Silent:
    member_id: int
    name: str
    last_heard: datetime


async def lost_contact_members(session: AsyncSession, branch_id: int, now: datetime) -> list[Silent]:
    """Members of the branch silent for longer than the branch's threshold (the lost-contact flag)."""
    rows = await session.execute(
        select(Member.id, Member.name, _last_heard())
        .join(Person, Person.id == Member.person_id)
        .outerjoin(ActivityPlan, ActivityPlan.branch_id == Member.branch_id)
        .where(Member.branch_id == branch_id, Member.state == MemberState.APPROVED)
        .order_by(Member.id)
    )
    days = await session.scalar(
        select(ActivityPlan.lost_contact_days).where(ActivityPlan.branch_id == branch_id)
    )
    limit = now - timedelta(days=days or DEFAULT_LOST_CONTACT_DAYS)
    return [Silent(mid, name or f"#{mid}", heard) for mid, name, heard in rows if heard <= limit]


# -- the six-month rule --------------------------------------------------------------------------------


def absence_streaks(session: AsyncSession, now: datetime):
    """One row per approved member: the months without organisational life since the last good month.

    Set-based: correlated subqueries over the member's own sign-ins/excuses and the branch's events.
    Columns: member_id, person_id, branch_id, streak, since (the UTC day of the last good month, or '-').
    """
    good_event = aliased(ActivityEvent)
    counted = aliased(ActivityEvent)
    # Nested two levels deep, so correlation to the outer member row must be explicit.
    attended = (
        select(ActivityAttendance.event_id).where(ActivityAttendance.member_id == Member.id).correlate(Member)
    )
    excused = select(OrgLifeExcuse.event_id).where(OrgLifeExcuse.member_id == Member.id).correlate(Member)
    last_good = (
        select(func.max(good_event.starts_at))
        .where(
            or_(good_event.id.in_(attended), good_event.id.in_(excused)),
            good_event.status == EventStatus.SCHEDULED,
        )
        .scalar_subquery()
    )
    joined = func.coalesce(Member.decided_at, Member.created_at)
    streak = (
        select(func.count(counted.id))
        .where(
            counted.branch_id == Member.branch_id,
            counted.status == EventStatus.SCHEDULED,
            counted.ends_at <= now,
            counted.starts_at > joined,
            or_(last_good.is_(None), counted.starts_at > last_good),
        )
        .scalar_subquery()
    )
    since = func.coalesce(utc_day(session, last_good), literal("-"))
    return (
        select(
            Member.id.label("member_id"),
            Member.person_id.label("person_id"),
            Member.branch_id.label("branch_id"),
            streak.label("streak"),
            since.label("since"),
        )
        .where(Member.state == MemberState.APPROVED)
        .subquery()
    )


def _level(streak, levels: tuple[int, int]):
    low, high = levels
    return case((streak >= high, high), else_=low)


async def _due_orglife_member(session: AsyncSession, now: datetime):
    s = absence_streaks(session, now)
    return (
        select(
            *occurrence_columns(
                subject_type="member",
                subject_id=s.c.member_id,
                period=concat(as_text(_level(s.c.streak, MEMBER_LEVELS)), ":", s.c.since),
                person_id=s.c.person_id,
                tz=Branch.timezone,
                due_at=now,
            )
        )
        .select_from(s)
        .join(Branch, Branch.id == s.c.branch_id)
        .where(s.c.streak >= MEMBER_LEVELS[0])
    )


async def _due_orglife_secretary(session: AsyncSession, now: datetime):
    s = absence_streaks(session, now)
    return (
        select(
            *occurrence_columns(
                subject_type="member",
                subject_id=s.c.member_id,
                period=concat(as_text(_level(s.c.streak, SECRETARY_LEVELS)), ":", s.c.since),
                person_id=RoleGrant.person_id,
                tz=Branch.timezone,
                due_at=now,
            )
        )
        .select_from(s)
        .join(Branch, Branch.id == s.c.branch_id)
        .join(RoleGrant, and_(RoleGrant.branch_id == s.c.branch_id, RoleGrant.role == Role.SECRETARY))
        .where(s.c.streak >= SECRETARY_LEVELS[0])
    )


def _months(period: str) -> int:
    return int(period.split(":", 1)[0])


async def _render_orglife_member(session: AsyncSession, occasion: Occasion) -> Outgoing | None:
    return Outgoing(
        text=t(
            occasion.language, "life.orglife.member", months=_months(occasion.period), limit=ORG_LIFE_LIMIT
        )
    )


async def _render_orglife_secretary(session: AsyncSession, occasion: Occasion) -> Outgoing | None:
    member = await session.get(Member, occasion.subject_id)
    if member is None:
        return None
    return Outgoing(
        text=t(
            occasion.language,
            "life.orglife.secretary",
            name=_member_name(member),
            months=_months(occasion.period),
            limit=ORG_LIFE_LIMIT,
        )
    )


@dataclass(frozen=True)
class Absent:
    member_id: int
    name: str
    months: int


async def absence_list(
    session: AsyncSession, branch_id: int, now: datetime, minimum: int = 2
) -> list[Absent]:
    """Members of the branch with at least ``minimum`` months without organisational life."""
    s = absence_streaks(session, now)
    rows = await session.execute(
        select(Member.id, Member.name, s.c.streak)
        .join(s, s.c.member_id == Member.id)
        .where(s.c.branch_id == branch_id, s.c.streak >= minimum)
        .order_by(s.c.streak.desc(), Member.id)
    )
    return [Absent(mid, name or f"#{mid}", streak) for mid, name, streak in rows]


async def streak_of(session: AsyncSession, member_id: int, now: datetime) -> int:
    s = absence_streaks(session, now)
    return (await session.scalar(select(s.c.streak).where(s.c.member_id == member_id))) or 0


# What these look at changes by the day (a year since the last check, 90 days of silence, a month's
# activity day over): their queries scan every member, so they run once a UTC day, not every minute.
# Between two daily runs the query runs again only when the next member crosses a threshold.


def _plus(moment: datetime | None, delta: timedelta) -> datetime | None:
    return None if moment is None else moment + delta


async def _next_details(session: AsyncSession, now: datetime) -> datetime | None:
    """The next moment a member's year since the last check (or approval) is over."""
    anchor = func.coalesce(MemberReview.confirmed_at, Member.decided_at, Member.created_at)
    earliest = await session.scalar(
        select(func.min(anchor))
        .select_from(Member)
        .outerjoin(MemberReview, MemberReview.member_id == Member.id)
        .where(Member.state == MemberState.APPROVED, anchor > now - YEAR)
    )
    return _plus(earliest, YEAR)


async def _next_lost_contact(session: AsyncSession, now: datetime) -> datetime | None:
    """The next moment a member has been silent for their branch's number of days."""
    thresholds = list(
        await session.scalars(
            select(_silence_days())
            .select_from(Branch)
            .outerjoin(ActivityPlan, ActivityPlan.branch_id == Branch.id)
            .distinct()
        )
    )
    moments = []
    for days in thresholds:
        earliest = await session.scalar(
            select(func.min(_last_heard()))
            .select_from(Member)
            .join(Person, Person.id == Member.person_id)
            .outerjoin(ActivityPlan, ActivityPlan.branch_id == Member.branch_id)
            .where(
                Member.state == MemberState.APPROVED,
                _silence_days() == days,
                _last_heard() > now - timedelta(days=days),
            )
        )
        if earliest is not None:
            moments.append(earliest + timedelta(days=days))
    return min(moments, default=None)


async def _next_event_end(session: AsyncSession, now: datetime) -> datetime | None:
    """A streak grows only when an activity day ends."""
    return await session.scalar(
        select(func.min(ActivityEvent.ends_at)).where(
            ActivityEvent.status == EventStatus.SCHEDULED, ActivityEvent.ends_at > now
        )
    )


DETAILS_CHECK = ReminderKind(
    "member.details", _due_details, _render_details, daily=True, next_due=_next_details
)
LOST_CONTACT = ReminderKind(
    "member.lost_contact", _due_lost_contact, _render_lost_contact, daily=True, next_due=_next_lost_contact
)
ORGLIFE_MEMBER = ReminderKind(
    "orglife.member", _due_orglife_member, _render_orglife_member, daily=True, next_due=_next_event_end
)
ORGLIFE_SECRETARY = ReminderKind(
    "orglife.secretary",
    _due_orglife_secretary,
    _render_orglife_secretary,
    daily=True,
    next_due=_next_event_end,
)
REMINDER_KINDS = [DETAILS_CHECK, LOST_CONTACT, ORGLIFE_MEMBER, ORGLIFE_SECRETARY]


@dataclass(frozen=True)
class Overview:
    """What a secretary sees first in /activity: the plan, the next event, who is drifting away."""

    plan: PlanView
    absent: list[Absent]
    silent: list[Silent]


async def branch_overview(
    session: AsyncSession, actor: Actor, branch_id: int, now: datetime
) -> Overview | None:
    """The branch's activity plan with its absence streaks and lost-contact flags (None: not allowed)."""
    if not actor.leads_branch(branch_id):
        audit.record(
            session,
            actor_person_id=actor.person_id,
            action="activity.view",
            target_type="branch",
            target_id=branch_id,
            result="denied",
            branch_id=branch_id,
        )
        return None
    return Overview(
        await plan_view(session, branch_id, now),
        await absence_list(session, branch_id, now),
        await lost_contact_members(session, branch_id, now),
    )
