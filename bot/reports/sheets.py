"""The /export workbook's attendance, study and requests ledgers (台账), registered in `bot.services.export`.

Each ledger lists the branch's whole history up to now, one row per fact, so the district can filter it:

- 组织生活 (attendance): one row per activity day that has started (cancelled ones left out) and member
  expected at it (on the roster at any time during its day, as the monthly report counts), with the RSVP,
  the leave reason, present or absent, how attendance was recorded, and the secretary's excuse.
- 学习打卡 (study): one row per study item that has started and member expected on it (on the roster during
  its period), checked in, late or not. 截止 is the last day to check in, as members were told (a date),
  not the exclusive midnight after it. Reflections (心得) stay with the member: not in the ledger.
- 办事 (requests): one row per request of the branch's members, with its steps' dates and whether the
  promised deadline was kept; never its materials, result or reason (those stay between the member and
  the township, as in /branchrequests).

The totals row counts what the rows show; a rate sits in the same cell as the count it is a rate of.
Times are local to the branch, without a zone (Excel has none).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import and_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.i18n import t
from bot.reports.figures import on_roster_during, percent
from bot.services.export import Sheet
from storage.models import Branch, Member, Township, utcnow
from storage.models.activity import (
    ActivityAttendance,
    ActivityEvent,
    ActivityRsvp,
    AttendanceSource,
    EventStatus,
    OrgLifeExcuse,
    RsvpAnswer,
)
from storage.models.relay import RUNNING_STATES, RequestState, ServiceItem, ServiceRequest
from storage.models.study import StudyCheckin, StudyItem

ATTENDANCE_COLUMNS = ("month", "day", "name", "rsvp", "reason", "present", "source", "excuse")
STUDY_COLUMNS = ("item", "starts", "ends", "name", "checkin", "at")
REQUEST_COLUMNS = (
    "no",
    "receipt",
    "item",
    "kind",
    "township",
    "name",
    "state",
    "submitted",
    "accepted",
    "due",
    "closed",
    "deadline",
)
TITLE_LEN = 40


def _headers(language: str, sheet: str, columns: tuple[str, ...]) -> list[str]:
    return [t(language, f"sheet.{sheet}.col.{column}") for column in columns]


def _rate(language: str, rate: Decimal | None) -> str:
    return t(language, "report.rate.none") if rate is None else f"{rate}%"


def _name(name: str | None, member_id: int) -> str:
    return name or f"#{member_id}"


async def _zone(session: AsyncSession, branch_id: int) -> ZoneInfo:
    branch = await session.get(Branch, branch_id)
    return ZoneInfo(branch.timezone if branch else "Asia/Shanghai")


def _local(value: datetime | None, tz: ZoneInfo) -> datetime | None:
    return value.astimezone(tz).replace(tzinfo=None, second=0, microsecond=0) if value else None


async def attendance_sheet(session: AsyncSession, branch_id: int, language: str) -> Sheet:
    """Every activity day so far with every member expected at it."""
    tz = await _zone(session, branch_id)
    event = ActivityEvent
    rows = await session.execute(
        select(
            event.id,
            event.starts_at,
            Member.id,
            Member.name,
            ActivityRsvp.answer,
            ActivityRsvp.reason,
            ActivityAttendance.source,
            OrgLifeExcuse.reason,
        )
        .select_from(event)
        .join(
            Member,
            and_(Member.branch_id == event.branch_id, on_roster_during(event.starts_at, event.ends_at)),
        )
        .outerjoin(ActivityRsvp, and_(ActivityRsvp.event_id == event.id, ActivityRsvp.member_id == Member.id))
        .outerjoin(
            ActivityAttendance,
            and_(ActivityAttendance.event_id == event.id, ActivityAttendance.member_id == Member.id),
        )
        .outerjoin(
            OrgLifeExcuse, and_(OrgLifeExcuse.event_id == event.id, OrgLifeExcuse.member_id == Member.id)
        )
        .where(
            event.branch_id == branch_id,
            event.status == EventStatus.SCHEDULED.value,
            event.starts_at <= utcnow(),
        )
        .order_by(event.starts_at, Member.id)
    )
    lines, events, attend, leave, present = [], set(), 0, 0, 0
    for event_id, starts_at, member_id, name, answer, reason, source, excuse in rows:
        events.add(event_id)
        local = _local(starts_at, tz)
        attend += answer == RsvpAnswer.ATTEND
        leave += answer == RsvpAnswer.LEAVE
        present += source is not None
        lines.append(
            [
                f"{local:%Y-%m}" if local else "",
                local,
                _name(name, member_id),
                t(language, f"sheet.attendance.rsvp.{answer or 'none'}"),
                reason if answer == RsvpAnswer.LEAVE else None,
                t(language, "sheet.attendance.present" if source else "sheet.attendance.absent"),
                t(language, f"sheet.attendance.source.{source}")
                if source in (AttendanceSource.SELF, AttendanceSource.SECRETARY)
                else None,
                excuse,
            ]
        )
    totals = [
        t(language, "sheet.total"),
        t(language, "sheet.attendance.events", count=len(events)),
        t(language, "sheet.attendance.expected", count=len(lines)),
        t(language, "sheet.attendance.rsvps", attend=attend, leave=leave),
        None,
        # The rate goes with the count it is a rate of, under 出勤 (not under the next column).
        t(
            language,
            "sheet.attendance.present_total",
            present=present,
            expected=len(lines),
            rate=_rate(language, percent(present, len(lines))),
        ),
        None,
        None,
    ]
    return Sheet(
        title=t(language, "sheet.attendance.title"),
        headers=_headers(language, "attendance", ATTENDANCE_COLUMNS),
        rows=lines,
        totals=totals,
    )


async def study_sheet(session: AsyncSession, branch_id: int, language: str) -> Sheet:
    """Every study item so far with every member expected on it."""
    from bot.services.study import last_day, title_of

    tz = await _zone(session, branch_id)
    rows = await session.execute(
        select(StudyItem, Member.id, Member.name, StudyCheckin.at, StudyCheckin.late)
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
        .where(StudyItem.branch_id == branch_id, StudyItem.starts_at <= utcnow())
        .order_by(StudyItem.starts_at, StudyItem.id, Member.id)
    )
    lines, items, checked = [], set(), 0
    for item, member_id, name, at, late in rows:
        items.add(item.id)
        checked += at is not None
        status = "none" if at is None else ("late" if late else "done")
        lines.append(
            [
                title_of(item)[:TITLE_LEN],
                _local(item.starts_at, tz),
                last_day(item, tz).date(),  # the day members were told, not the exclusive bound
                _name(name, member_id),
                t(language, f"sheet.study.checkin.{status}"),
                _local(at, tz),
            ]
        )
    totals = [
        t(language, "sheet.total"),
        t(language, "sheet.study.items", count=len(items)),
        None,
        t(language, "sheet.study.expected", count=len(lines)),
        t(
            language,
            "sheet.study.checked",
            checked=checked,
            expected=len(lines),
            rate=_rate(language, percent(checked, len(lines))),
        ),
        None,
    ]
    return Sheet(
        title=t(language, "sheet.study.title"),
        headers=_headers(language, "study", STUDY_COLUMNS),
        rows=lines,
        totals=totals,
    )


async def requests_sheet(session: AsyncSession, branch_id: int, language: str) -> Sheet:
    """Every request of the branch's members, with its dates and whether the deadline was kept."""
    tz = await _zone(session, branch_id)
    now = utcnow()
    rows = await session.execute(
        select(ServiceRequest, ServiceItem.name, Township.name, Member.name)
        .join(ServiceItem, ServiceItem.id == ServiceRequest.item_id)
        .join(Township, Township.id == ServiceRequest.township_id)
        .outerjoin(Member, Member.id == ServiceRequest.member_id)
        .where(ServiceRequest.branch_id == branch_id)
        .order_by(ServiceRequest.submitted_at, ServiceRequest.id)
    )
    lines = []
    counts = {"accepted": 0, "completed": 0, "on_time": 0, "overdue": 0}
    for request, item, township, name in rows:
        deadline = _deadline(request, now)
        if request.accepted_at is not None and request.state != RequestState.WITHDRAWN:
            counts["accepted"] += 1
            counts["completed"] += request.state == RequestState.COMPLETED
        counts["on_time"] += deadline == "on_time"
        counts["overdue"] += deadline in ("late", "overdue")
        lines.append(
            [
                request.id,
                request.receipt_no,
                item,
                t(language, f"relay.kind.{request.kind}"),
                township,
                name or (f"#{request.member_id}" if request.member_id else None),
                t(language, f"relay.state.{request.state}"),
                _local(request.submitted_at, tz),
                _local(request.accepted_at, tz),
                request.due_on,
                _local(request.closed_at, tz),
                t(language, f"sheet.requests.deadline.{deadline}") if deadline else None,
            ]
        )
    totals = [
        t(language, "sheet.total"),
        None,
        t(language, "sheet.requests.count", count=len(lines)),
        None,
        None,
        None,
        t(language, "sheet.requests.completed", completed=counts["completed"], accepted=counts["accepted"]),
        None,
        None,
        None,
        t(
            language,
            "sheet.requests.rate",
            rate=_rate(language, percent(counts["completed"], counts["accepted"])),
        ),
        t(language, "sheet.requests.deadlines", on_time=counts["on_time"], overdue=counts["overdue"]),
    ]
    return Sheet(
        title=t(language, "sheet.requests.title"),
        headers=_headers(language, "requests", REQUEST_COLUMNS),
        rows=lines,
        totals=totals,
        print_landscape=True,  # twelve columns: landscape, one page wide, the header on every page
    )


def _deadline(request: ServiceRequest, now: datetime) -> str | None:
    """on_time / late (completed after the deadline) / overdue (still open past it) / running, or None."""
    if request.due_at is None:
        return None
    if request.state == RequestState.COMPLETED and request.closed_at is not None:
        return "on_time" if request.closed_at < request.due_at else "late"
    if request.state in RUNNING_STATES:
        return "overdue" if request.due_at <= now else "running"
    return None
