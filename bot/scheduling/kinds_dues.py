"""Dues reminder kinds: the monthly reminder to members with unpaid months, and the escalations before
the six-month lapse (自行脱党): the member at 2 unpaid months, the secretary at 3, both at 5.

Every query is set-based: per branch time zone, seven flags per member say whether each of the current
month and the six before it is opened by the branch, on or after the member's first month here, and
neither paid (here or at home, reported or confirmed) nor waived. The opened and settled months come
from two grouped passes over the window's rows (not a probe per member and month), which keeps a tick
linear and cheap: about 0.8 s on SQLite and 1.7 s on PostgreSQL for 20,000 members when nothing is new.
The run of unpaid months is the number of leading flags set, counting back from the current month.

- ``dues.unpaid``: on the branch's reminder day (09:00 local, clamped to the month's last day), once the
  current month is open, to every member with an unpaid month in the make-up window. Subject: the
  branch; period: the month; one text for the whole branch (the member taps it for the details).
- ``dues.warn2`` / ``dues.warn5``: to the member whose run reaches 2 / 5 months.
- ``dues.alert3`` / ``dues.alert5``: to the branch's secretary and committee when a member's run
  reaches 3 / 5 months; subject: the member.
Escalations are keyed by the first month of the run, so each fires once per gap even if the tick runs
late or the branch opens several months at once. A run of seven or more (already past the lapse) is
left to the secretary's arrears list rather than repeated every month.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, and_, case, exists, func, literal, or_, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from bot.i18n import t
from bot.scheduling.engine import Occasion, ReminderKind, occurrence_columns, zone
from bot.scheduling.sql import greatest
from bot.services.dues import (
    A_ARREARS,
    DEFAULT_REMINDER_DAY,
    M_PAY,
    OFFICER_ROLES,
    REMINDER_TIME,
    SETTLED_STATUSES,
    WINDOW,
    add_months,
    member_name,
    month_from_period,
    month_label,
    month_of,
    period_of,
    reminder_moment,
)
from bot.services.outbox import Button, Outgoing
from storage.models import Branch, Member, MemberState, RoleGrant, UTCDateTime
from storage.models.dues import AdjustmentKind, DuesAdjustment, DuesMonth, DuesPayment, DuesSettings

MEMBER_WARNINGS = (2, 5)
SECRETARY_ALERTS = (3, 5)


@dataclass(frozen=True)
class _Zone:
    """One branch time zone at the tick: its current month and what "reminder day passed" means."""

    name: str
    month: date
    months: list[date]  # the current month first, then the six before it
    day_passed: int  # reminder days up to this one have passed (0 = none yet)
    all_days_passed: bool  # the month's last reminder day has passed: a day beyond the month is clamped

    @classmethod
    def at(cls, name: str, now: datetime) -> _Zone:
        tz = zone(name)
        local = now.astimezone(tz)
        month = month_of(local.date())
        passed = local.day if local.time().replace(tzinfo=None) >= REMINDER_TIME else local.day - 1
        last = (add_months(month, 1) - timedelta(days=1)).day
        return cls(
            name=name,
            month=month,
            months=[add_months(month, -i) for i in range(WINDOW)],
            day_passed=passed,
            all_days_passed=passed >= last,
        )

    @property
    def tz(self) -> ZoneInfo:
        return zone(self.name)

    def month_end_utc(self, index: int) -> datetime:
        start_next = add_months(self.months[index], 1)
        return datetime.combine(start_next, datetime.min.time(), tzinfo=self.tz).astimezone(UTC)


async def _zones(session: AsyncSession, now: datetime) -> list[_Zone]:
    """The time zones of branches that have opened a month at all (others owe nothing yet)."""
    names = await session.scalars(
        select(Branch.timezone).where(exists().where(DuesMonth.branch_id == Branch.id)).distinct()
    )
    return [_Zone.at(name, now) for name in sorted(names)]


def _opened_by_branch(z: _Zone) -> Any:
    """Per branch, a 0/1 column ``o<i>`` for each month of the window: has the branch opened it?"""
    return (
        select(
            DuesMonth.branch_id.label("branch_id"),
            *[
                func.max(case((DuesMonth.month == month, 1), else_=0)).label(f"o{i}")
                for i, month in enumerate(z.months)
            ],
        )
        .where(DuesMonth.month >= z.months[-1], DuesMonth.month <= z.month)
        .group_by(DuesMonth.branch_id)
        .subquery()
    )


def _settled_by_member(z: _Zone) -> Any:
    """Per member, a 0/1 column ``s<i>`` for each month of the window: paid (here or at home, reported
    or confirmed) or waived. One grouped pass over the window's rows instead of a probe per month."""
    in_window = (z.months[-1], z.month)
    rows = union_all(
        select(DuesPayment.member_id.label("member_id"), DuesPayment.month.label("month")).where(
            DuesPayment.month.between(*in_window),
            DuesPayment.status.in_([s.value for s in SETTLED_STATUSES]),
        ),
        select(DuesAdjustment.member_id, DuesAdjustment.month).where(
            DuesAdjustment.month.between(*in_window), DuesAdjustment.kind == AdjustmentKind.EXEMPT.value
        ),
    ).subquery()
    return (
        select(
            rows.c.member_id,
            *[
                func.max(case((rows.c.month == month, 1), else_=0)).label(f"s{i}")
                for i, month in enumerate(z.months)
            ],
        )
        .group_by(rows.c.member_id)
        .subquery()
    )


def _unpaid_flag(z: _Zone, index: int, opened: Any, settled: Any) -> Any:
    """1 when the member owes month ``index`` (0 = current) and has not settled it, else 0."""
    month = z.months[index]
    started = and_(
        func.coalesce(Member.decided_at, Member.created_at) < literal(z.month_end_utc(index), UTCDateTime()),
        or_(Member.joined_party_on.is_(None), Member.joined_party_on < add_months(month, 1)),
    )
    owed = and_(opened.c[f"o{index}"] == 1, started, func.coalesce(settled.c[f"s{index}"], 0) == 0)
    return case((owed, 1), else_=0)


# The five kinds of one tick share the members subquery of each zone: building it is the costly part.
_MEMO: dict[tuple[str, str, datetime, frozenset[int]], Any] = {}


async def _members_due(session: AsyncSession, z: _Zone, now: datetime) -> Any | None:
    """Approved members of the zone's branches whose current month is open and whose reminder day has
    passed, with their seven unpaid flags and the moment the reminder fell due."""
    if z.day_passed < 1:
        return None
    days = frozenset(await session.scalars(select(DuesSettings.reminder_day).distinct())) | {
        DEFAULT_REMINDER_DAY
    }
    key = (session.get_bind().dialect.name, z.name, now, days)
    if key not in _MEMO:
        if any(old[2] != now for old in _MEMO):
            _MEMO.clear()  # a new tick: forget the last one's
        _MEMO[key] = _build_members_due(session, z, days)
    return _MEMO[key]


def _build_members_due(session: AsyncSession, z: _Zone, days: frozenset[int]) -> Any:
    current = aliased(DuesMonth)
    reminder_day = func.coalesce(DuesSettings.reminder_day, DEFAULT_REMINDER_DAY)

    def moment_of(day: int) -> Any:
        return literal(reminder_moment(z.month, day, z.tz).astimezone(UTC), UTCDateTime())

    # Only the reminder days some branch uses: a 31-way CASE would cost more to build than to run.
    moment = case(
        *[(reminder_day == day, moment_of(day)) for day in sorted(days)],
        else_=moment_of(DEFAULT_REMINDER_DAY),
    )
    day_ok = literal(True) if z.all_days_passed else reminder_day <= z.day_passed
    opened, settled = _opened_by_branch(z), _settled_by_member(z)
    return (
        select(
            Member.id.label("member_id"),
            Member.person_id.label("person_id"),
            Member.branch_id.label("branch_id"),
            greatest(session, current.opened_at, moment).label("due_at"),
            *[_unpaid_flag(z, i, opened, settled).label(f"u{i}") for i in range(WINDOW)],
        )
        .join(Branch, Branch.id == Member.branch_id)
        .join(current, and_(current.branch_id == Member.branch_id, current.month == z.month))
        .join(opened, opened.c.branch_id == Member.branch_id)
        .outerjoin(settled, settled.c.member_id == Member.id)
        .outerjoin(DuesSettings, DuesSettings.branch_id == Member.branch_id)
        .where(Member.state == MemberState.APPROVED, Branch.timezone == z.name, day_ok)
        .subquery()
    )


def _run_at_least(members: Any, length: int) -> Any:
    return and_(*[members.c[f"u{i}"] == 1 for i in range(length)])


def _run_start(members: Any, z: _Zone, level: int) -> Any:
    """The period key of an escalation: the first month of the run (between `level` and 6 long)."""
    return case(
        *[
            (_run_at_least(members, length), literal(period_of(z.months[length - 1])))
            for length in range(WINDOW - 1, level - 1, -1)
        ],
        else_=literal(period_of(z.months[level - 1])),
    )


def _union(selects: list[Select[Any]]) -> Any:
    if not selects:
        return None
    return selects[0] if len(selects) == 1 else union_all(*selects)


async def due_unpaid(session: AsyncSession, now: datetime) -> Any:
    selects = []
    for z in await _zones(session, now):
        members = await _members_due(session, z, now)
        if members is None:
            continue
        any_unpaid = or_(*[members.c[f"u{i}"] == 1 for i in range(WINDOW)])
        selects.append(
            select(
                *occurrence_columns(
                    subject_type="branch",
                    subject_id=members.c.branch_id,
                    period=period_of(z.month),
                    person_id=members.c.person_id,
                    tz=z.name,
                    due_at=members.c.due_at,
                )
            ).where(any_unpaid)
        )
    return _union(selects)


def _escalation_where(members: Any, level: int) -> Any:
    # Seven unpaid months in a row is past the lapse: the arrears list shows it, no monthly repeats.
    return and_(_run_at_least(members, level), ~_run_at_least(members, WINDOW))


def _member_warning(level: int) -> Any:
    async def due(session: AsyncSession, now: datetime) -> Any:
        selects = []
        for z in await _zones(session, now):
            members = await _members_due(session, z, now)
            if members is None:
                continue
            selects.append(
                select(
                    *occurrence_columns(
                        subject_type="branch",
                        subject_id=members.c.branch_id,
                        period=_run_start(members, z, level),
                        person_id=members.c.person_id,
                        tz=z.name,
                        due_at=members.c.due_at,
                    )
                ).where(_escalation_where(members, level))
            )
        return _union(selects)

    return due


def _secretary_alert(level: int) -> Any:
    async def due(session: AsyncSession, now: datetime) -> Any:
        selects = []
        for z in await _zones(session, now):
            members = await _members_due(session, z, now)
            if members is None:
                continue
            selects.append(
                select(
                    *occurrence_columns(
                        subject_type="member",
                        subject_id=members.c.member_id,
                        period=_run_start(members, z, level),
                        person_id=RoleGrant.person_id,
                        tz=z.name,
                        due_at=members.c.due_at,
                    )
                )
                .select_from(members)
                .join(
                    RoleGrant,
                    and_(
                        RoleGrant.branch_id == members.c.branch_id,
                        RoleGrant.role.in_([r.value for r in OFFICER_ROLES]),
                    ),
                )
                .where(_escalation_where(members, level))
                .distinct()
            )
        return _union(selects)

    return due


def _pay_button(language: str) -> tuple[tuple[Button, ...], ...]:
    return ((Button(t(language, "dues.btn.pay"), data=M_PAY.data()),),)


async def render_unpaid(session: AsyncSession, occasion: Occasion) -> Outgoing | None:
    month = month_from_period(occasion.period)
    if month is None:
        return None
    lang = occasion.language
    return Outgoing(
        text=t(lang, "dues.remind.unpaid", month=month_label(lang, month)), buttons=_pay_button(lang)
    )


def _render_warning(level: int) -> Any:
    async def render(session: AsyncSession, occasion: Occasion) -> Outgoing | None:
        since = month_from_period(occasion.period)
        if since is None:
            return None
        lang = occasion.language
        text = t(lang, f"dues.remind.warn{level}", count=level, since=month_label(lang, since))
        return Outgoing(text=text, buttons=_pay_button(lang))

    return render


def _render_alert(level: int) -> Any:
    async def render(session: AsyncSession, occasion: Occasion) -> Outgoing | None:
        since = month_from_period(occasion.period)
        member = await session.get(Member, occasion.subject_id)
        if since is None or member is None:
            return None
        lang = occasion.language
        text = t(
            lang,
            f"dues.remind.alert{level}",
            name=member_name(member),
            count=level,
            since=month_label(lang, since),
        )
        button = Button(t(lang, "dues.btn.arrears"), data=A_ARREARS.data(member.branch_id))
        return Outgoing(text=text, buttons=((button,),))

    return render


# The member-wide query runs once a UTC day, at each branch's reminder moment, and when something it reads
# changed (a month opened, a member approved, a payment decided, a reminder day set); see the engine.


async def next_reminder_moment(session: AsyncSession, now: datetime) -> datetime | None:
    """The next reminder moment (this month's or next month's reminder day, 09:00 local) of any branch."""
    days = set(await session.scalars(select(DuesSettings.reminder_day).distinct())) | {DEFAULT_REMINDER_DAY}
    moments = []
    for z in await _zones(session, now):
        for month in (z.month, add_months(z.month, 1)):
            for day in days:
                moment = reminder_moment(month, day, z.tz).astimezone(UTC)
                if moment > now:
                    moments.append(moment)
    return min(moments, default=None)


async def dues_changed(session: AsyncSession, since: datetime) -> bool:
    """Anything the dues query reads that can make a member owe more, changed since ``since``."""
    checks = [
        select(DuesMonth.id).where(DuesMonth.opened_at > since),
        select(Member.id).where(Member.decided_at > since),
        select(DuesPayment.id).where(DuesPayment.decided_at > since),
        select(DuesSettings.branch_id).where(DuesSettings.updated_at > since),
    ]
    for check in checks:
        if await session.scalar(check.limit(1)) is not None:
            return True
    return False


def _dues_kind(name: str, due: Any, render: Any, keep: timedelta | None = None) -> ReminderKind:
    return ReminderKind(
        name, due, render, keep=keep, daily=True, next_due=next_reminder_moment, changed=dues_changed
    )


REMINDER_KINDS: list[ReminderKind] = [
    # Selected only during its month: the key cannot come back after that.
    _dues_kind("dues.unpaid", due_unpaid, render_unpaid, keep=timedelta(days=40)),
    *[
        _dues_kind(f"dues.warn{level}", _member_warning(level), _render_warning(level))
        for level in MEMBER_WARNINGS
    ],
    *[
        _dues_kind(f"dues.alert{level}", _secretary_alert(level), _render_alert(level))
        for level in SECRETARY_ALERTS
    ],
]
