"""The automatic monthly report: on the 1st of each month, last month's report to each branch's officers.

- ``report.monthly``: subject the branch, period the reported month (``2026-02``), recipients the branch's
  secretaries and committee members. It falls due at 09:00 on the 1st in the branch's time zone and stays
  due for the rest of that month, so a bot that was down on the 1st sends it when it comes back; the
  occurrence key makes it arrive once per officer and month whatever the restarts. Only the month just
  ended is ever selected, so catching up never sends a series of old reports. A branch created during
  the current month gets its first report on the next 1st.
- The message is the report text with a 看图表 button (``rpt:c:<branch>:<YYYYMM>``): the outbox sends files
  by channel file id, and a freshly drawn chart has none, so the chart is drawn when the officer taps
  (the tap re-checks that they lead the branch).
- The figures are computed once per (branch, language) group at the tick that found them due, "as of"
  that tick (the occurrences' ``created_at``: render has no clock of its own).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, literal, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from bot.i18n import t
from bot.reports.figures import add_months, branch_month, first_of_month, month_code
from bot.reports.service import CHART
from bot.reports.text import branch_report_text
from bot.scheduling.engine import Occasion, ReminderKind, occurrence_columns, zone
from bot.services.outbox import Button, Outgoing
from storage.models import Branch, Role, RoleGrant, UTCDateTime, utcnow
from storage.models.scheduling import ReminderOccurrence

KIND = "report.monthly"
SEND_AT = time(9, 0)
OFFICERS = (Role.SECRETARY.value, Role.COMMITTEE.value)


def _period(month: date) -> str:
    return f"{month.year:04d}-{month.month:02d}"


async def due_monthly(session: AsyncSession, now: datetime) -> Any:
    selects = []
    for name in sorted(await session.scalars(select(Branch.timezone).distinct())):
        tz = zone(name)
        this_month = first_of_month(now.astimezone(tz))
        due_at = datetime.combine(this_month, SEND_AT, tzinfo=tz).astimezone(UTC)
        if now < due_at:
            continue
        month_start = datetime.combine(this_month, time(0), tzinfo=tz).astimezone(UTC)
        period = _period(add_months(this_month, -1))
        # The tick selects this all month long: leave out officers who have it, so it stays a cheap no-op.
        sent = (
            select(ReminderOccurrence.id)
            .where(
                ReminderOccurrence.kind == KIND,
                ReminderOccurrence.subject_type == "branch",
                ReminderOccurrence.subject_id == Branch.id,
                ReminderOccurrence.period == period,
                ReminderOccurrence.person_id == RoleGrant.person_id,
            )
            .exists()
        )
        selects.append(
            select(
                *occurrence_columns(
                    subject_type="branch",
                    subject_id=Branch.id,
                    period=period,
                    person_id=RoleGrant.person_id,
                    tz=name,
                    due_at=due_at,
                )
            )
            .select_from(Branch)
            .join(RoleGrant, and_(RoleGrant.branch_id == Branch.id, RoleGrant.role.in_(OFFICERS)))
            .where(
                Branch.timezone == name,
                Branch.created_at < literal(month_start, UTCDateTime()),
                ~sent,
            )
            .distinct()
        )
    if not selects:
        return None
    return selects[0] if len(selects) == 1 else union_all(*selects)


async def _tick_time(session: AsyncSession, occasion: Occasion) -> datetime:
    """The moment of the tick that created this group's occurrences (they are not copied out yet)."""
    moment = await session.scalar(
        select(func.max(ReminderOccurrence.created_at)).where(
            ReminderOccurrence.kind == occasion.kind,
            ReminderOccurrence.subject_type == occasion.subject_type,
            ReminderOccurrence.subject_id == occasion.subject_id,
            ReminderOccurrence.period == occasion.period,
        )
    )
    return moment or utcnow()


async def render_monthly(session: AsyncSession, occasion: Occasion) -> Outgoing | None:
    branch = await session.get(Branch, occasion.subject_id)
    if branch is None:
        return None
    year, number = occasion.period.split("-")
    month = date(int(year), int(number), 1)
    now = await _tick_time(session, occasion)
    figures = await branch_month(session, branch.id, month, now)
    language = occasion.language
    text = "\n".join(
        [t(language, "report.auto.head"), branch_report_text(language, figures, ZoneInfo(branch.timezone))]
    )
    button = Button(t(language, "btn.report.chart"), data=CHART.data(branch.id, int(month_code(month))))
    return Outgoing(text=text, buttons=((button,),))


async def next_first_of_month(session: AsyncSession, now: datetime) -> datetime | None:
    """The next 1st of a month, 09:00 in any branch's zone (the query also runs once a UTC day)."""
    moments = []
    for name in await session.scalars(select(Branch.timezone).distinct()):
        tz = zone(name)
        this_month = first_of_month(now.astimezone(tz))
        for month in (this_month, add_months(this_month, 1)):
            moment = datetime.combine(month, SEND_AT, tzinfo=tz).astimezone(UTC)
            if moment > now:
                moments.append(moment)
    return min(moments, default=None)


# Selected only during the month after the reported one: the key cannot come back after that. The query
# reads every branch's officers, so it runs on the 1st and once a UTC day (a new officer gets it then).
REMINDER_KINDS: list[ReminderKind] = [
    ReminderKind(
        KIND, due_monthly, render_monthly, keep=timedelta(days=40), daily=True, next_due=next_first_of_month
    )
]
