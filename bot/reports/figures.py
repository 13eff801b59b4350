"""The figures of the monthly branch report and of the township report, each an SQL aggregate.

Nothing here loads a branch's members into Python: every count is a ``SUM(CASE ...)`` or ``COUNT`` over
joins, so a report costs a few small queries whatever the branch's size.

Definitions (the report's own words, where the features left room):

- A month is the calendar month in the branch's time zone, as a half-open UTC interval [start, end).
- **On the roster**: a member counts from the moment of approval (``decided_at``, else ``created_at``)
  while approved or leaving; one who left counts until ``left_at``. Pending, returned and rejected
  reports never count. An erased record counts only if it had left before (its ``left_at`` is kept);
  erasure otherwise removes the person from past figures too, as it asks.
- **Members**: total = on the roster at the month's end; new = approved in the month; left = left in it.
  Unreachable (the bot cannot reach them) and lost-contact candidates (silent longer than the branch's
  threshold, as `bot.services.lifecycle` counts them) are the *current* state of the month's members who
  are still on the roster: the past of these flags is not recorded.
- **Activity day**: the month's event (``month_key``). It was held if not cancelled and over. Expected =
  members on the roster at any time during the event's day; attendance rate = present / expected, where
  present are the expected members signed in or marked present. RSVPs count every answer.
- **Dues** (headcount, like 党费收缴率): a member owes an opened month if on the roster during it, admitted
  by then (``joined_party_on``) and not waived (免交); paid = reported or confirmed, here or at home. The
  money line is what this branch received: confirmed (and waiting confirmation) host payments, extras
  included. Arrears at the month's end: each member's unpaid months among the opened months of the
  make-up window (that month and the six before), the same flags `bot.scheduling.kinds_dues` uses.
- **Study**: items whose period starts in the month. Expected = item × member on the roster at any time
  during the item's period; check-in rate = check-ins of expected members / expected.
- **Requests** of the branch's members: received = submitted in the month (withdrawn left out); the rest
  is `bot.services.relay.month_stats` (cohort accepted in the month: completed, on time, 办结率) summed over
  townships; overdue = completed late + still open past the promised deadline.
- **Six-month warnings** open at the month's end: members with two or more months in a row without
  organisational life (as `bot.services.lifecycle` counts: held events since the last attended or excused
  one) and members with two or more unpaid months in a row ending that month.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, case, func, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlalchemy.sql.elements import ColumnElement

from bot.rules.dates import month_add
from bot.services.activity import DEFAULT_LOST_CONTACT_DAYS
from storage.models import Branch, Member, MemberState, Person, UTCDateTime
from storage.models.activity import (
    ActivityAttendance,
    ActivityEvent,
    ActivityPlan,
    ActivityRsvp,
    EventStatus,
    OrgLifeExcuse,
    RsvpAnswer,
)
from storage.models.dues import (
    AdjustmentKind,
    DuesAdjustment,
    DuesMonth,
    DuesPayment,
    PaymentPlace,
    PaymentStatus,
)
from storage.models.relay import ApplicationStage, JoinApplication, RequestState, ServiceRequest
from storage.models.study import StudyCheckin, StudyItem

ON_ROSTER = (MemberState.APPROVED.value, MemberState.LEAVING.value)
GONE = (MemberState.LEFT.value, MemberState.ERASED.value)
SETTLED = (PaymentStatus.REPORTED.value, PaymentStatus.CONFIRMED.value)
ARREARS_WINDOW = 7  # the month and the six before it: the make-up window of the dues rule
WARNING_MONTHS = 2  # the first warning of the six-month rule
CHART_MONTHS = 12
ZERO = Decimal("0.00")


# -- months --------------------------------------------------------------------------------------------


def first_of_month(day: date | datetime) -> date:
    return date(day.year, day.month, 1)


def add_months(month: date, delta: int) -> date:
    year, number = month_add(month.year, month.month, delta)
    return date(year, number, 1)


def month_bounds(month: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The calendar month in ``tz`` as a half-open interval of aware UTC instants."""
    start = datetime.combine(month, time(0), tzinfo=tz)
    end = datetime.combine(add_months(month, 1), time(0), tzinfo=tz)
    return start.astimezone(UTC), end.astimezone(UTC)


def month_key(month: date) -> int:
    """The activity event's month key (year * 12 + month - 1)."""
    return month.year * 12 + month.month - 1


def month_code(month: date) -> str:
    """The compact form in callback data: 202602."""
    return f"{month.year:04d}{month.month:02d}"


def last_full_month(now: datetime, tz: ZoneInfo) -> date:
    return add_months(first_of_month(now.astimezone(tz)), -1)


def percent(part: int, whole: int) -> Decimal | None:
    """A share in percent with one decimal, rounded half up; None when there is nothing to divide."""
    if whole <= 0:
        return None
    return (Decimal(part) * 100 / Decimal(whole)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


# -- the roster over time ------------------------------------------------------------------------------


def _at(moment: datetime) -> ColumnElement[Any]:
    return literal(moment, UTCDateTime())


def member_start() -> ColumnElement[Any]:
    return func.coalesce(Member.decided_at, Member.created_at)


def _ever_counted() -> ColumnElement[bool]:
    return or_(
        Member.state.in_(ON_ROSTER),
        and_(Member.state.in_(GONE), Member.left_at.is_not(None), Member.decided_at.is_not(None)),
    )


def on_roster_at(moment: datetime) -> ColumnElement[bool]:
    """On the roster at ``moment``: approved before it and not yet left."""
    return and_(
        _ever_counted(),
        member_start() < _at(moment),
        or_(Member.state.in_(ON_ROSTER), Member.left_at >= _at(moment)),
    )


def on_roster_during(start: Any, end: Any) -> ColumnElement[bool]:
    """On the roster at some time in [start, end) (instants or columns)."""
    start_value = _at(start) if isinstance(start, datetime) else start
    end_value = _at(end) if isinstance(end, datetime) else end
    return and_(
        _ever_counted(),
        member_start() < end_value,
        or_(Member.state.in_(ON_ROSTER), Member.left_at > start_value),
    )


def _count_if(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


# -- the figures ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MemberFigures:
    total: int
    new: int
    left: int
    unreachable: int
    lost_contact: int


@dataclass(frozen=True)
class ActivityFigures:
    status: str  # none | cancelled | upcoming | held
    starts_at: datetime | None
    rsvp_attend: int
    rsvp_leave: int
    expected: int
    present: int

    @property
    def rate(self) -> Decimal | None:
        return percent(self.present, self.expected) if self.status == "held" else None


@dataclass(frozen=True)
class DuesFigures:
    opened: bool
    due: int  # members owing the month
    paid: int
    collected: Decimal  # confirmed here, extras included
    pending: Decimal  # reported here, waiting for the secretary
    arrears: dict[int, int] = field(default_factory=dict)  # unpaid months -> members

    @property
    def rate(self) -> Decimal | None:
        return percent(self.paid, self.due) if self.opened else None


@dataclass(frozen=True)
class StudyFigures:
    items: int
    expected: int
    checkins: int

    @property
    def rate(self) -> Decimal | None:
        return percent(self.checkins, self.expected)


@dataclass(frozen=True)
class RequestFigures:
    received: int
    accepted: int
    completed: int
    on_time: int
    overdue: int  # completed late, or still open past the promised deadline
    answered: int = 0  # consultations answered

    @property
    def completion_rate(self) -> Decimal | None:
        return percent(self.completed, self.accepted)

    @property
    def on_time_rate(self) -> Decimal | None:
        return percent(self.on_time, self.accepted)


@dataclass(frozen=True)
class WarningFigures:
    org_life: int
    dues: int


@dataclass(frozen=True)
class BranchMonth:
    branch_id: int
    branch_name: str
    month: date
    members: MemberFigures
    activity: ActivityFigures
    dues: DuesFigures
    study: StudyFigures
    requests: RequestFigures
    warnings: WarningFigures


@dataclass(frozen=True)
class RatePoint:
    month: date
    attendance: Decimal | None
    dues: Decimal | None
    study: Decimal | None


async def member_figures(
    session: AsyncSession, branch_id: int, start: datetime, end: datetime, now: datetime
) -> MemberFigures:
    days = await session.scalar(
        select(ActivityPlan.lost_contact_days).where(ActivityPlan.branch_id == branch_id)
    )
    silent_since = now - timedelta(days=days or DEFAULT_LOST_CONTACT_DAYS)
    last_heard = func.coalesce(
        Person.last_seen_at, Member.last_active_at, Member.decided_at, Member.created_at
    )
    still_here = and_(on_roster_at(end), Member.state.in_(ON_ROSTER))
    row = (
        await session.execute(
            select(
                _count_if(on_roster_at(end)),
                _count_if(and_(_ever_counted(), member_start() >= _at(start), member_start() < _at(end))),
                _count_if(
                    and_(
                        _ever_counted(),
                        Member.state.in_(GONE),
                        Member.left_at >= _at(start),
                        Member.left_at < _at(end),
                    )
                ),
                _count_if(and_(still_here, Person.unreachable.is_(True))),
                _count_if(and_(still_here, last_heard <= _at(silent_since))),
            )
            .select_from(Member)
            .join(Person, Person.id == Member.person_id)
            .where(Member.branch_id == branch_id)
        )
    ).one()
    return MemberFigures(*(int(value) for value in row))


async def activity_figures(
    session: AsyncSession, branch_id: int, month: date, now: datetime
) -> ActivityFigures:
    event = await session.scalar(
        select(ActivityEvent).where(
            ActivityEvent.branch_id == branch_id, ActivityEvent.month_key == month_key(month)
        )
    )
    if event is None:
        return ActivityFigures("none", None, 0, 0, 0, 0)
    if event.status == EventStatus.CANCELLED:
        return ActivityFigures("cancelled", event.starts_at, 0, 0, 0, 0)
    rsvp = (
        await session.execute(
            select(
                _count_if(ActivityRsvp.answer == RsvpAnswer.ATTEND.value),
                _count_if(ActivityRsvp.answer == RsvpAnswer.LEAVE.value),
            ).where(ActivityRsvp.event_id == event.id)
        )
    ).one()
    expected, present = (await _attendance(session, branch_id, month, month)).get(month_key(month), (0, 0))
    status = "held" if event.ends_at <= now else "upcoming"
    return ActivityFigures(status, event.starts_at, int(rsvp[0]), int(rsvp[1]), expected, present)


async def _attendance(
    session: AsyncSession, branch_id: int, first: date, last: date
) -> dict[int, tuple[int, int]]:
    """(expected, present) per month key for the branch's scheduled events of the months first..last."""
    event = ActivityEvent
    rows = await session.execute(
        select(event.month_key, func.count(Member.id), func.count(ActivityAttendance.id))
        .select_from(event)
        .join(
            Member,
            and_(Member.branch_id == event.branch_id, on_roster_during(event.starts_at, event.ends_at)),
        )
        .outerjoin(
            ActivityAttendance,
            and_(ActivityAttendance.event_id == event.id, ActivityAttendance.member_id == Member.id),
        )
        .where(
            event.branch_id == branch_id,
            event.status == EventStatus.SCHEDULED.value,
            event.month_key >= month_key(first),
            event.month_key <= month_key(last),
        )
        .group_by(event.month_key)
    )
    return {int(key): (int(expected), int(present)) for key, expected, present in rows}


async def _held_keys(
    session: AsyncSession, branch_id: int, first: date, last: date, now: datetime
) -> set[int]:
    return set(
        await session.scalars(
            select(ActivityEvent.month_key).where(
                ActivityEvent.branch_id == branch_id,
                ActivityEvent.status == EventStatus.SCHEDULED.value,
                ActivityEvent.ends_at <= _at(now),
                ActivityEvent.month_key >= month_key(first),
                ActivityEvent.month_key <= month_key(last),
            )
        )
    )


def _settled(month: date) -> ColumnElement[bool]:
    return (
        select(DuesPayment.id)
        .where(
            DuesPayment.member_id == Member.id, DuesPayment.month == month, DuesPayment.status.in_(SETTLED)
        )
        .exists()
    )


def _waived(month: date) -> ColumnElement[bool]:
    return (
        select(DuesAdjustment.id)
        .where(
            DuesAdjustment.member_id == Member.id,
            DuesAdjustment.month == month,
            DuesAdjustment.kind == AdjustmentKind.EXEMPT.value,
        )
        .exists()
    )


def _admitted_by(month: date) -> ColumnElement[bool]:
    """A probationary member pays from the month of admission (``joined_party_on``)."""
    return or_(Member.joined_party_on.is_(None), Member.joined_party_on < add_months(month, 1))


async def _opened(session: AsyncSession, branch_id: int, first: date, last: date) -> set[date]:
    return set(
        await session.scalars(
            select(DuesMonth.month).where(
                DuesMonth.branch_id == branch_id, DuesMonth.month >= first, DuesMonth.month <= last
            )
        )
    )


async def _dues_counts(session: AsyncSession, branch_id: int, month: date, tz: ZoneInfo) -> tuple[int, int]:
    start, end = month_bounds(month, tz)
    owing = and_(on_roster_during(start, end), _admitted_by(month), ~_waived(month))
    row = (
        await session.execute(
            select(_count_if(owing), _count_if(and_(owing, _settled(month)))).where(
                Member.branch_id == branch_id
            )
        )
    ).one()
    return int(row[0]), int(row[1])


async def _unpaid_runs(session: AsyncSession, branch_id: int, month: date, tz: ZoneInfo) -> Any:
    """Per member on the roster at the month's end: unpaid months in the make-up window, and the run of
    unpaid months ending with the month (a subquery with columns ``unpaid`` and ``run``)."""
    window = [add_months(month, -i) for i in range(ARREARS_WINDOW)]
    opened = await _opened(session, branch_id, window[-1], window[0])
    _, end = month_bounds(month, tz)

    def flag(m: date) -> ColumnElement[int]:
        if m not in opened:
            return literal(0)
        _, m_end = month_bounds(m, tz)
        owes = and_(member_start() < _at(m_end), _admitted_by(m), ~_settled(m), ~_waived(m))
        return case((owes, 1), else_=0)

    flags = [flag(m) for m in window]
    unpaid = sum(flags[1:], flags[0])
    run = case(
        *[(and_(*[f == 1 for f in flags[:length]]), length) for length in range(ARREARS_WINDOW, 0, -1)],
        else_=0,
    )
    return (
        select(Member.id.label("member_id"), unpaid.label("unpaid"), run.label("run"))
        .where(Member.branch_id == branch_id, on_roster_at(end))
        .subquery()
    )


async def dues_figures(session: AsyncSession, branch_id: int, month: date, tz: ZoneInfo) -> DuesFigures:
    opened = bool(await _opened(session, branch_id, month, month))
    due, paid = await _dues_counts(session, branch_id, month, tz) if opened else (0, 0)
    money = (
        await session.execute(
            select(
                func.coalesce(
                    func.sum(
                        case(
                            (
                                DuesPayment.status == PaymentStatus.CONFIRMED.value,
                                DuesPayment.amount_due + DuesPayment.voluntary_extra,
                            ),
                            else_=0,
                        )
                    ),
                    0,
                ),
                func.coalesce(
                    func.sum(
                        case(
                            (
                                DuesPayment.status == PaymentStatus.REPORTED.value,
                                DuesPayment.amount_due + DuesPayment.voluntary_extra,
                            ),
                            else_=0,
                        )
                    ),
                    0,
                ),
            ).where(
                DuesPayment.branch_id == branch_id,
                DuesPayment.month == month,
                DuesPayment.place == PaymentPlace.HOST.value,
            )
        )
    ).one()
    runs = await _unpaid_runs(session, branch_id, month, tz)
    arrears = {
        int(months): int(count)
        for months, count in await session.execute(
            select(runs.c.unpaid, func.count()).where(runs.c.unpaid > 0).group_by(runs.c.unpaid)
        )
    }
    return DuesFigures(opened, due, paid, _money(money[0]), _money(money[1]), arrears)


def _money(value: Any) -> Decimal:
    return Decimal(str(value or 0)).quantize(Decimal("0.01"))


async def study_counts(session: AsyncSession, branch_id: int, start: datetime, end: datetime) -> StudyFigures:
    items = await session.scalar(
        select(func.count(StudyItem.id)).where(
            StudyItem.branch_id == branch_id,
            StudyItem.starts_at >= _at(start),
            StudyItem.starts_at < _at(end),
        )
    )
    row = (
        await session.execute(
            select(func.count(Member.id), func.count(StudyCheckin.id))
            .select_from(StudyItem)
            .join(
                Member,
                and_(
                    Member.branch_id == StudyItem.branch_id,
                    on_roster_during(StudyItem.starts_at, StudyItem.ends_at),
                ),
            )
            .outerjoin(
                StudyCheckin, and_(StudyCheckin.item_id == StudyItem.id, StudyCheckin.member_id == Member.id)
            )
            .where(
                StudyItem.branch_id == branch_id,
                StudyItem.starts_at >= _at(start),
                StudyItem.starts_at < _at(end),
            )
        )
    ).one()
    return StudyFigures(int(items or 0), int(row[0]), int(row[1]))


async def request_figures(
    session: AsyncSession,
    month: date,
    tz: ZoneInfo,
    now: datetime,
    *,
    branch_ids: Sequence[int] | None = None,
    township_ids: Sequence[int] | None = None,
) -> RequestFigures:
    """The requests of a branch's members (or of a township) in one month."""
    from bot.services.relay import month_stats

    start, end = month_bounds(month, tz)
    scope = []
    if branch_ids is not None:
        scope.append(ServiceRequest.branch_id.in_(list(branch_ids)))
    if township_ids is not None:
        scope.append(ServiceRequest.township_id.in_(list(township_ids)))
    received = await session.scalar(
        select(func.count(ServiceRequest.id)).where(
            *scope,
            ServiceRequest.submitted_at >= _at(start),
            ServiceRequest.submitted_at < _at(end),
            ServiceRequest.state != RequestState.WITHDRAWN.value,
        )
    )
    stats = await month_stats(
        session, month.year, month.month, tz, now, township_ids=township_ids, branch_ids=branch_ids
    )
    accepted = sum(s.accepted for s in stats)
    completed = sum(s.completed for s in stats)
    on_time = sum(s.on_time for s in stats)
    overdue = sum(s.overdue_open for s in stats) + completed - on_time
    answered = sum(s.answered for s in stats)
    return RequestFigures(int(received or 0), accepted, completed, on_time, overdue, answered)


def _org_life_streaks(branch_id: int, cutoff: datetime) -> Any:
    """Per member on the roster at ``cutoff``: held events since their last attended or excused one."""
    good = aliased(ActivityEvent)
    counted = aliased(ActivityEvent)
    attended = (
        select(ActivityAttendance.event_id).where(ActivityAttendance.member_id == Member.id).correlate(Member)
    )
    excused = select(OrgLifeExcuse.event_id).where(OrgLifeExcuse.member_id == Member.id).correlate(Member)
    last_good = (
        select(func.max(good.starts_at))
        .where(
            or_(good.id.in_(attended), good.id.in_(excused)),
            good.status == EventStatus.SCHEDULED.value,
            good.starts_at < _at(cutoff),
        )
        .scalar_subquery()
    )
    streak = (
        select(func.count(counted.id))
        .where(
            counted.branch_id == Member.branch_id,
            counted.status == EventStatus.SCHEDULED.value,
            counted.ends_at <= _at(cutoff),
            counted.starts_at > member_start(),
            or_(last_good.is_(None), counted.starts_at > last_good),
        )
        .scalar_subquery()
    )
    return (
        select(Member.id.label("member_id"), streak.label("streak"))
        .where(Member.branch_id == branch_id, on_roster_at(cutoff))
        .subquery()
    )


async def warning_figures(session: AsyncSession, branch_id: int, month: date, tz: ZoneInfo) -> WarningFigures:
    _, end = month_bounds(month, tz)
    streaks = _org_life_streaks(branch_id, end)
    org_life = await session.scalar(
        select(func.count()).select_from(streaks).where(streaks.c.streak >= WARNING_MONTHS)
    )
    runs = await _unpaid_runs(session, branch_id, month, tz)
    dues = await session.scalar(select(func.count()).select_from(runs).where(runs.c.run >= WARNING_MONTHS))
    return WarningFigures(int(org_life or 0), int(dues or 0))


async def branch_month(session: AsyncSession, branch_id: int, month: date, now: datetime) -> BranchMonth:
    """Every figure of the monthly report of one branch."""
    branch = await session.get(Branch, branch_id)
    if branch is None:
        raise LookupError(f"no branch {branch_id}")
    tz = ZoneInfo(branch.timezone)
    start, end = month_bounds(month, tz)
    return BranchMonth(
        branch_id=branch_id,
        branch_name=branch.name,
        month=month,
        members=await member_figures(session, branch_id, start, end, now),
        activity=await activity_figures(session, branch_id, month, now),
        dues=await dues_figures(session, branch_id, month, tz),
        study=await study_counts(session, branch_id, start, end),
        requests=await request_figures(session, month, tz, now, branch_ids=[branch_id]),
        warnings=await warning_figures(session, branch_id, month, tz),
    )


async def rate_series(
    session: AsyncSession, branch_id: int, last: date, now: datetime, months: int = CHART_MONTHS
) -> list[RatePoint]:
    """Attendance, dues and check-in rates of the ``months`` months ending with ``last`` (oldest first)."""
    branch = await session.get(Branch, branch_id)
    if branch is None:
        raise LookupError(f"no branch {branch_id}")
    tz = ZoneInfo(branch.timezone)
    first = add_months(last, -(months - 1))
    attendance = await _attendance(session, branch_id, first, last)
    held = await _held_keys(session, branch_id, first, last, now)
    opened = await _opened(session, branch_id, first, last)
    points = []
    for i in range(months):
        month = add_months(first, i)
        key = month_key(month)
        expected, present = attendance.get(key, (0, 0))
        attendance_rate = percent(present, expected) if key in held else None
        dues_rate = None
        if month in opened:
            due, paid = await _dues_counts(session, branch_id, month, tz)
            dues_rate = percent(paid, due)
        start, end = month_bounds(month, tz)
        study = await study_counts(session, branch_id, start, end)
        points.append(RatePoint(month, attendance_rate, dues_rate, study.rate))
    return points


# -- the township report -------------------------------------------------------------------------------


@dataclass(frozen=True)
class BranchCount:
    branch_name: str
    city: str
    members: int


@dataclass(frozen=True)
class TownshipYear:
    township_id: int
    township_name: str
    year: int
    members: list[BranchCount]
    requests: RequestFigures
    stages: dict[str, int]  # application stage -> applications now at it
    talks_overdue: int  # applications nobody has talked with past the one-month deadline


async def township_year(
    session: AsyncSession, township_id: int, township_name: str, year: int, tz: ZoneInfo, now: datetime
) -> TownshipYear:
    """Where the township's members are, how its requests went this year, its applications to join."""
    members = [
        BranchCount(name, city, int(count))
        for name, city, count in await session.execute(
            select(Branch.name, Branch.city, func.count(Member.id))
            .join(Member, Member.branch_id == Branch.id)
            .where(Member.township_id == township_id, Member.state.in_(ON_ROSTER))
            .group_by(Branch.id, Branch.name, Branch.city)
            .order_by(func.count(Member.id).desc(), Branch.name)
        )
    ]
    local_now = now.astimezone(tz)
    last = 12 if year < local_now.year else (local_now.month if year == local_now.year else 0)
    totals = [0, 0, 0, 0, 0, 0]
    for number in range(1, last + 1):
        month = await request_figures(session, date(year, number, 1), tz, now, township_ids=[township_id])
        for i, value in enumerate(
            (month.received, month.accepted, month.completed, month.on_time, month.overdue, month.answered)
        ):
            totals[i] += value
    stages = {stage.value: 0 for stage in ApplicationStage}
    for stage, count in await session.execute(
        select(JoinApplication.stage, func.count(JoinApplication.id))
        .where(JoinApplication.township_id == township_id)
        .group_by(JoinApplication.stage)
    ):
        stages[str(stage)] = int(count)
    talks_overdue = await session.scalar(
        select(func.count(JoinApplication.id)).where(
            JoinApplication.township_id == township_id,
            JoinApplication.talk_done_at.is_(None),
            JoinApplication.talk_due_at <= _at(now),
        )
    )
    return TownshipYear(
        township_id, township_name, year, members, RequestFigures(*totals), stages, int(talks_overdue or 0)
    )
