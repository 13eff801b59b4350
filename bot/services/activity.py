"""The activity day (党员活动日): the branch's rule, each month's event, reminders, RSVP, sign-in, attendance.

Decisions the domain left open, taken here:
- A day of month the month lacks is clamped to its last day (``bot.rules.dates.occurrence_date``).
- Events are materialised one month ahead by the tick (``plan_events``); an event whose start had
  already passed when the rule was set is not created, so setting a rule never invents a missed month.
- RSVP reminders go at ``remind_at`` local time ``lead_days`` before the event day (default 08:00, three
  days before and on the day); one that would fall at or after the start goes an hour before it.
  They stop for a member who answered, and are not sent once the event has started.
- Sign-in window: from one hour before the start until the end of the event's local day (``ends_at``).
  A "sign-in open" message with the 签到 button goes at the window's opening to members who did not ask
  for leave. The secretary can mark attendance by hand from the window's opening on, with no end.
- Asking for leave (请假) does not excuse the month by itself: the secretary records the good reason.
- A new rule or start time moves upcoming events that were not moved by hand; one whose new start would
  already be past is left for the secretary to move or cancel.
"""

from __future__ import annotations

import enum
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, case, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.callbacks import Callbacks, Int, Word
from bot.i18n import t
from bot.rules.dates import ActivityRule, occurrence_datetime, parse_date
from bot.rules.errors import DateInputError, RuleInputError
from bot.scheduling.engine import (
    Occasion,
    QuietHours,
    ReminderKind,
    fire,
    occurrence_columns,
    zone,
)
from bot.scheduling.sql import approved_since, as_text, concat, ids_of, new_or_joined
from bot.services import audiences, audit
from bot.services.identity import Actor
from bot.services.outbox import Button, Outgoing
from storage.dialect import insert_ignore
from storage.models import Branch, Member, MemberState
from storage.models.activity import (
    ActivityAttendance,
    ActivityEvent,
    ActivityPlan,
    ActivityReminderSlot,
    ActivityRsvp,
    AttendanceSource,
    EventStatus,
    OrgLifeExcuse,
    RsvpAnswer,
)

DEFAULT_START = time(9, 0)
DEFAULT_REMIND_AT = time(8, 0)
DEFAULT_LEADS = (3, 0)
DEFAULT_LOST_CONTACT_DAYS = 90
DEFAULT_BACKFILL_DAYS = 7
SIGNIN_OPENS_BEFORE = timedelta(hours=1)
MAX_LEADS = 4
MAX_LEAD_DAYS = 14
MAX_PROGRAMME = 12
PROGRAMME_ITEM_MAX = 40
PLACE_MAX = 200
TOPIC_MAX = 100
REASON_MAX = 200
MOVE_MAX_DAYS = 62


# -- the feature's buttons, declared once: the reminders' builders here, the flows' parser in bot.flows --
# The activity and study tables' ids are INTEGER on PostgreSQL: a larger number is a stale button.
RowId = Int(1, 2**31 - 1)

ACT = Callbacks("act")
BRANCH = ACT.action("b", RowId)  # the overview of one branch
MINE = ACT.action("me")  # the member's own view
ATTEND = ACT.action("y", RowId)
LEAVE = ACT.action("n", RowId)
SIGN_IN = ACT.action("s", RowId)
EDIT = ACT.action("e", RowId, Word)  # branch, plan field
ROSTER = ACT.action("l", RowId)
MARK = ACT.action("m", RowId, RowId)  # event, member
EXCUSE = ACT.action("x", RowId, RowId)  # event, member
MOVE = ACT.action("v", RowId)
ASK_CANCEL = ACT.action("k", RowId)
CANCEL = ACT.action("kk", RowId)
HISTORY = ACT.action("h", RowId)


class ActivityInputError(RuleInputError):
    """Typed input for the activity day refused; the key is ``activity.err.<code>``."""

    DOMAIN = "activity.err"
    CODES = frozenset(
        {
            "bad_rule",
            "bad_time",
            "bad_leads",
            "bad_days",
            "bad_date",
            "past_date",
            "too_far",
            "empty",
            "too_long",
            "too_many",
            "bad_link",
        }
    )


class Outcome(enum.StrEnum):
    """What a member's or secretary's tap did; the handler maps each to a catalogue text."""

    OK = "ok"
    CHANGED = "changed"
    ALREADY = "already"
    NOT_ALLOWED = "not_allowed"
    STALE = "stale"  # the event is cancelled, over, or the button is for an old state
    NOT_OPEN = "not_open"  # sign-in window not open yet
    CLOSED = "closed"  # sign-in window over


# -- month keys and times -----------------------------------------------------------------------


def month_key(year: int, month: int) -> int:
    return year * 12 + month - 1


def key_month(key: int) -> tuple[int, int]:
    year, m0 = divmod(key, 12)
    return year, m0 + 1


def end_of_local_day(moment: datetime, tz: ZoneInfo) -> datetime:
    """The next local midnight after ``moment`` (aware), in UTC terms the end of that local day."""
    local = moment.astimezone(tz)
    midnight = datetime.combine(local.date() + timedelta(days=1), time(0, 0), tzinfo=tz)
    return midnight.astimezone(ZoneInfo("UTC"))


def local_at(day: date, at: time, tz: ZoneInfo) -> datetime:
    """A local wall time as an aware instant (a time in a DST gap moves forward, as in the rules)."""
    return datetime.combine(day, at, tzinfo=tz).astimezone(ZoneInfo("UTC")).astimezone(tz)


def signin_opens(event: ActivityEvent) -> datetime:
    return event.starts_at - SIGNIN_OPENS_BEFORE


# -- parsing what the secretary types -----------------------------------------------------------

_CN_NUM = {"一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "日": 7, "天": 7, "七": 7}
_EN_NTH = {
    "first": 1,
    "1st": 1,
    "second": 2,
    "2nd": 2,
    "third": 3,
    "3rd": 3,
    "fourth": 4,
    "4th": 4,
    "last": -1,
}
_EN_DAY = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DAY_RULE = re.compile(r"(?:每月)?(\d{1,2})[日号]?", re.ASCII)
_CN_WEEKDAY_RULE = re.compile(
    r"(?:每月)?(?:第?([1-4一二三四])个?|(最后)一?个?)(?:星期|周|礼拜)([1-7一二三四五六日天])"
)
_EN_WEEKDAY_RULE = re.compile(r"(first|1st|second|2nd|third|3rd|fourth|4th|last)\s+([a-z]{3})[a-z]*")
_TIME = re.compile(r"(\d{1,2})(?:[:点时](\d{1,2})?分?)?", re.ASCII)
_COMPACT_TIME = re.compile(r"(\d{2})(\d{2})", re.ASCII)
_MONTH_DAY = re.compile(r"(\d{1,2})(?:月|[-/.])(\d{1,2})[日号]?", re.ASCII)


def _normal(text: str) -> str:
    """NFKC (full-width digits and colons from Chinese keyboards) and no spaces, lower case."""
    if not isinstance(text, str) or len(text) > 200:
        raise ActivityInputError("too_long")
    return "".join(unicodedata.normalize("NFKC", text).split()).lower()


def _digit(value: str) -> int:
    return int(value) if value.isdecimal() else _CN_NUM[value]


def parse_rule(text: str, at: time = DEFAULT_START) -> ActivityRule:
    """ "15" / "每月15日" (a day of month), "第一个星期五" / "最后一个周五" / "first friday"."""
    raw = _normal(text)
    if match := _DAY_RULE.fullmatch(raw):
        day = int(match.group(1))
        if 1 <= day <= 31:
            return ActivityRule.day_of_month(day, at)
        raise ActivityInputError("bad_rule")
    if match := _CN_WEEKDAY_RULE.fullmatch(raw):
        nth = -1 if match.group(2) else _digit(match.group(1))
        return ActivityRule.nth_weekday(nth, _digit(match.group(3)) - 1, at)
    spaced = " ".join(unicodedata.normalize("NFKC", text).lower().split())
    if match := _EN_WEEKDAY_RULE.fullmatch(spaced):
        if match.group(2) in _EN_DAY:
            return ActivityRule.nth_weekday(_EN_NTH[match.group(1)], _EN_DAY.index(match.group(2)), at)
    raise ActivityInputError("bad_rule")


def parse_time(text: str) -> time:
    """ "19:00", "19：00", "7点", "7点30", "1930"."""
    raw = _normal(text)
    match = _TIME.fullmatch(raw) or _COMPACT_TIME.fullmatch(raw)
    if match is None:
        raise ActivityInputError("bad_time")
    hour, minute = int(match.group(1)), int(match.group(2) or 0)
    if not (0 <= hour <= 23 and 0 <= minute <= 59):
        raise ActivityInputError("bad_time")
    return time(hour, minute)


def parse_leads(text: str) -> tuple[list[int], time | None]:
    """ "3,0" (days before the event; 0 = the day itself), optionally followed by the reminder time."""
    normal = unicodedata.normalize("NFKC", text if isinstance(text, str) else "")
    if len(normal) > 60:
        raise ActivityInputError("too_long")
    parts = [p for p in re.split(r"[\s,，、;；]+", normal.strip()) if p]
    at = None
    if parts and not parts[-1].isdecimal():
        at = parse_time(parts.pop())
    if not parts or not all(p.isdecimal() and len(p) <= 2 for p in parts):
        raise ActivityInputError("bad_leads")
    leads = sorted({int(p) for p in parts}, reverse=True)
    if len(leads) > MAX_LEADS or any(lead > MAX_LEAD_DAYS for lead in leads):
        raise ActivityInputError("bad_leads")
    return leads, at


def parse_days(text: str, low: int, high: int) -> int:
    raw = _normal(text).removesuffix("天").removesuffix("days").removesuffix("day")
    if not raw.isdecimal() or len(raw) > 4 or not low <= int(raw) <= high:
        raise ActivityInputError("bad_days")
    return int(raw)


def clean_text(text: str, limit: int) -> str:
    """A short free text: trimmed, inner whitespace collapsed, no control characters."""
    if not isinstance(text, str):
        raise ActivityInputError("empty")
    value = " ".join(text.split())
    value = "".join(ch for ch in value if not unicodedata.category(ch).startswith("C"))
    if not value:
        raise ActivityInputError("empty")
    if len(value) > limit:
        raise ActivityInputError("too_long")
    return value


def parse_programme(text: str) -> list[str]:
    """One item per line (or separated by 、 ；); "无" / "none" clears the list."""
    if not isinstance(text, str) or len(text) > MAX_PROGRAMME * (PROGRAMME_ITEM_MAX + 2):
        raise ActivityInputError("too_long")
    if _normal(text) in {"无", "none", "-"}:
        return []
    items = [" ".join(p.split()) for p in re.split(r"[\n、;；]+", text)]
    items = [clean_text(p, PROGRAMME_ITEM_MAX) for p in items if p.strip()]
    if not items:
        raise ActivityInputError("empty")
    if len(items) > MAX_PROGRAMME:
        raise ActivityInputError("too_many")
    return items


def parse_place(text: str) -> tuple[str | None, str | None]:
    """A place, or an online link (http/https); returns (place, link)."""
    value = clean_text(text, PLACE_MAX)
    if value.lower().startswith(("http://", "https://")):
        if " " in value or len(value) > 300 or len(value) < 12:
            raise ActivityInputError("bad_link")
        return None, value
    return value, None


def parse_move(text: str, now: datetime, tz: ZoneInfo, default_at: time) -> datetime:
    """ "2026-03-20 14:30", "3月20日 14:30", "3/20" (keeps the time): the new local start."""
    normal = unicodedata.normalize("NFKC", text if isinstance(text, str) else "").strip()
    if not normal or len(normal) > 40:
        raise ActivityInputError("bad_date")
    parts = normal.split()
    at = default_at
    if len(parts) == 2:
        at = parse_time(parts[1])
    elif len(parts) != 1:
        raise ActivityInputError("bad_date")
    today = now.astimezone(tz).date()
    try:
        day = parse_date(parts[0])
    except DateInputError:
        match = _MONTH_DAY.fullmatch(parts[0])
        if match is None:
            raise ActivityInputError("bad_date") from None
        month, dom = int(match.group(1)), int(match.group(2))
        try:
            day = date(today.year, month, dom)
            if day < today:
                day = date(today.year + 1, month, dom)
        except ValueError:
            raise ActivityInputError("bad_date") from None
    start = local_at(day, at, tz)
    if start <= now:
        raise ActivityInputError("past_date")
    if start - now > timedelta(days=MOVE_MAX_DAYS):
        raise ActivityInputError("too_far")
    return start


# -- the plan -------------------------------------------------------------------------------------


def plan_rule(plan: ActivityPlan) -> ActivityRule | None:
    if plan.rule_day is not None:
        return ActivityRule.day_of_month(plan.rule_day, plan.start_time)
    if plan.rule_nth is not None and plan.rule_weekday is not None:
        return ActivityRule.nth_weekday(plan.rule_nth, plan.rule_weekday, plan.start_time)
    return None


async def get_plan(session: AsyncSession, branch_id: int) -> ActivityPlan | None:
    return await session.scalar(select(ActivityPlan).where(ActivityPlan.branch_id == branch_id))


async def ensure_plan(session: AsyncSession, branch_id: int, now: datetime) -> ActivityPlan:
    plan = await get_plan(session, branch_id)
    if plan is None:
        plan = ActivityPlan(
            branch_id=branch_id,
            start_time=DEFAULT_START,
            programme=[],
            lead_days=list(DEFAULT_LEADS),
            remind_at=DEFAULT_REMIND_AT,
            lost_contact_days=DEFAULT_LOST_CONTACT_DAYS,
            study_backfill_days=DEFAULT_BACKFILL_DAYS,
            updated_at=now,
        )
        session.add(plan)
        await session.flush()
    return plan


async def branch_zone(session: AsyncSession, branch_id: int) -> ZoneInfo:
    return zone(await session.scalar(select(Branch.timezone).where(Branch.id == branch_id)) or "")


def _slot_times(event: ActivityEvent, plan: ActivityPlan, tz: ZoneInfo) -> dict[int, datetime]:
    start_local = event.starts_at.astimezone(tz)
    slots = {}
    for lead in plan.lead_days or []:
        due = local_at(start_local.date() - timedelta(days=int(lead)), plan.remind_at, tz)
        if due >= event.starts_at:
            due = event.starts_at - SIGNIN_OPENS_BEFORE
        slots[int(lead)] = due
    return slots


async def sync_slots(
    session: AsyncSession, event: ActivityEvent, plan: ActivityPlan, tz: ZoneInfo, now: datetime
) -> None:
    """Bring the event's reminder slots in line with the plan; a slot already due is never moved."""
    wanted = _slot_times(event, plan, tz)
    existing = {
        slot.lead_days: slot
        for slot in await session.scalars(
            select(ActivityReminderSlot).where(ActivityReminderSlot.event_id == event.id)
        )
    }
    for lead, slot in existing.items():
        if slot.revision != event.revision or lead not in wanted:
            await session.delete(slot)
        elif wanted[lead] > now and slot.due_at != wanted[lead]:
            slot.due_at = wanted[lead]
    await session.flush()
    for lead, due in wanted.items():
        slot = existing.get(lead)
        if (slot is None or slot.revision != event.revision) and due > now:
            session.add(
                ActivityReminderSlot(event_id=event.id, lead_days=lead, revision=event.revision, due_at=due)
            )
    await session.flush()


async def _plan_branch(
    session: AsyncSession, plan: ActivityPlan, tz: ZoneInfo, now: datetime, last_key: int | None
) -> None:
    rule = plan_rule(plan)
    if rule is None or plan.rule_set_at is None:
        return
    local_now = now.astimezone(tz)
    current = month_key(local_now.year, local_now.month)
    for key in (current, current + 1):
        if last_key is not None and key <= last_key:
            continue
        starts = occurrence_datetime(rule, *key_month(key), tz)
        if starts <= plan.rule_set_at:
            continue  # already past when the rule was set: not a month anyone could have attended
        await insert_ignore(
            session,
            ActivityEvent,
            {
                "branch_id": plan.branch_id,
                "month_key": key,
                "starts_at": starts,
                "ends_at": end_of_local_day(starts, tz),
                "status": EventStatus.SCHEDULED,
                "revision": 0,
                "moved": False,
                "created_at": now,
            },
            ["branch_id", "month_key"],
        )
        event = await session.scalar(
            select(ActivityEvent).where(
                ActivityEvent.branch_id == plan.branch_id, ActivityEvent.month_key == key
            )
        )
        if event is not None:
            await sync_slots(session, event, plan, tz, now)


async def plan_events(session: AsyncSession, now: datetime) -> None:
    """The tick's planner: each branch with a rule has this month's and next month's event.

    Only branches whose next month is not planned yet are read (one query per time zone, on the index of
    the events' branch and month), so a tick in the middle of the month reads nothing per branch.
    """
    zones = await session.scalars(
        select(Branch.timezone)
        .join(ActivityPlan, ActivityPlan.branch_id == Branch.id)
        .where(ActivityPlan.rule_set_at.is_not(None))
        .distinct()
    )
    for tz_name in sorted(zones):
        tz = zone(tz_name)
        local_now = now.astimezone(tz)
        wanted = month_key(local_now.year, local_now.month) + 1
        planned = (
            select(ActivityEvent.id)
            .where(ActivityEvent.branch_id == ActivityPlan.branch_id, ActivityEvent.month_key >= wanted)
            .exists()
        )
        plans = list(
            await session.scalars(
                select(ActivityPlan)
                .join(Branch, Branch.id == ActivityPlan.branch_id)
                .where(ActivityPlan.rule_set_at.is_not(None), Branch.timezone == tz_name, ~planned)
            )
        )
        for plan in plans:
            last_key = await session.scalar(
                select(func.max(ActivityEvent.month_key)).where(ActivityEvent.branch_id == plan.branch_id)
            )
            await _plan_branch(session, plan, tz, now, last_key)


async def _replan_upcoming(session: AsyncSession, plan: ActivityPlan, tz: ZoneInfo, now: datetime) -> None:
    """After a new rule, start time or reminder setting: move unmoved upcoming events, resync slots."""
    rule = plan_rule(plan)
    upcoming = list(
        await session.scalars(
            select(ActivityEvent).where(
                ActivityEvent.branch_id == plan.branch_id,
                ActivityEvent.status == EventStatus.SCHEDULED,
                ActivityEvent.starts_at > now,
            )
        )
    )
    for event in upcoming:
        if rule is not None and not event.moved:
            starts = occurrence_datetime(rule, *key_month(event.month_key), tz)
            if starts != event.starts_at and starts > now:
                event.starts_at = starts
                event.ends_at = end_of_local_day(starts, tz)
                event.revision += 1
        await sync_slots(session, event, plan, tz, now)
    last_key = await session.scalar(
        select(func.max(ActivityEvent.month_key)).where(ActivityEvent.branch_id == plan.branch_id)
    )
    await _plan_branch(session, plan, tz, now, last_key)


# -- secretary: the plan ----------------------------------------------------------------------------

PLAN_FIELDS = ("rule", "time", "place", "topic", "programme", "leads", "lost", "backfill")


@dataclass(frozen=True)
class EventInfo:
    id: int
    starts_at: datetime  # local, in the branch's zone
    status: str
    moved: bool


@dataclass(frozen=True)
class PlanView:
    branch_id: int
    branch_name: str
    rule: ActivityRule | None
    start_time: time
    place: str | None
    online_link: str | None
    topic: str | None
    programme: list[str]
    lead_days: list[int]
    remind_at: time
    lost_contact_days: int
    backfill_days: int
    next_event: EventInfo | None


def _event_info(event: ActivityEvent | None, tz: ZoneInfo) -> EventInfo | None:
    if event is None:
        return None
    return EventInfo(event.id, event.starts_at.astimezone(tz), event.status, event.moved)


async def next_event(session: AsyncSession, branch_id: int, now: datetime) -> ActivityEvent | None:
    """The event members care about now: the first one whose day is not over (cancelled ones too)."""
    return await session.scalar(
        select(ActivityEvent)
        .where(ActivityEvent.branch_id == branch_id, ActivityEvent.ends_at > now)
        .order_by(ActivityEvent.starts_at)
        .limit(1)
    )


async def plan_view(session: AsyncSession, branch_id: int, now: datetime) -> PlanView:
    branch = await session.get(Branch, branch_id)
    assert branch is not None
    tz = zone(branch.timezone)
    plan = await get_plan(session, branch_id)
    event = await next_event(session, branch_id, now)
    if plan is None:
        return PlanView(
            branch_id,
            branch.name,
            None,
            DEFAULT_START,
            None,
            None,
            None,
            [],
            list(DEFAULT_LEADS),
            DEFAULT_REMIND_AT,
            DEFAULT_LOST_CONTACT_DAYS,
            DEFAULT_BACKFILL_DAYS,
            _event_info(event, tz),
        )
    return PlanView(
        branch_id,
        branch.name,
        plan_rule(plan),
        plan.start_time,
        plan.place,
        plan.online_link,
        plan.topic,
        list(plan.programme or []),
        [int(x) for x in plan.lead_days or []],
        plan.remind_at,
        plan.lost_contact_days,
        plan.study_backfill_days,
        _event_info(event, tz),
    )


def parse_field(field_name: str, text: str, start_time: time) -> dict[str, Any]:
    """The column values a secretary's answer for one plan field sets (raises ActivityInputError)."""
    if field_name == "rule":
        rule = parse_rule(text, start_time)
        return {"rule_day": rule.day, "rule_nth": rule.nth, "rule_weekday": rule.weekday}
    if field_name == "time":
        return {"start_time": parse_time(text)}
    if field_name == "place":
        place, link = parse_place(text)
        return {"place": place, "online_link": link}
    if field_name == "topic":
        return {"topic": None if _normal(text) in {"无", "none", "-"} else clean_text(text, TOPIC_MAX)}
    if field_name == "programme":
        return {"programme": parse_programme(text)}
    if field_name == "leads":
        leads, at = parse_leads(text)
        return {"lead_days": leads} | ({"remind_at": at} if at is not None else {})
    if field_name == "lost":
        return {"lost_contact_days": parse_days(text, 14, 730)}
    if field_name == "backfill":
        return {"study_backfill_days": parse_days(text, 0, 60)}
    raise ActivityInputError("empty")


async def update_plan(
    session: AsyncSession, actor: Actor, branch_id: int, field_name: str, text: str, now: datetime
) -> Outcome:
    """Set one field of the branch's plan from typed text; the caller commits."""
    if not actor.leads_branch(branch_id) or field_name not in PLAN_FIELDS:
        audit.record(
            session,
            actor_person_id=actor.person_id,
            action="activity.plan.update",
            target_type="branch",
            target_id=branch_id,
            result="denied",
            branch_id=branch_id,
        )
        return Outcome.NOT_ALLOWED
    # Parse before writing anything: a refused answer leaves the event's transaction clean.
    existing = await get_plan(session, branch_id)
    values = parse_field(field_name, text, existing.start_time if existing else DEFAULT_START)
    plan = existing or await ensure_plan(session, branch_id, now)
    for name, value in values.items():
        setattr(plan, name, value)
    if field_name == "rule":
        plan.rule_set_at = now
    plan.updated_at = now
    plan.updated_by_person_id = actor.person_id
    await session.flush()
    if field_name in {"rule", "time", "leads"}:
        await _replan_upcoming(session, plan, await branch_zone(session, branch_id), now)
    audit.record(
        session,
        actor_person_id=actor.person_id,
        action=f"activity.plan.{field_name}",
        target_type="branch",
        target_id=branch_id,
        branch_id=branch_id,
    )
    return Outcome.OK


# -- texts of the reminders ---------------------------------------------------------------------


def format_when(language: str, moment: datetime) -> str:
    """ "3月5日（周四）19:00" / "Thu 5 Mar 19:00" in the moment's own zone."""
    return t(
        language,
        "activity.when",
        month=t(language, f"activity.month.{moment.month}"),
        day=moment.day,
        weekday=t(language, f"activity.weekday.{moment.weekday()}"),
        time=moment.strftime("%H:%M"),
    )


def format_day(language: str, moment: datetime | date) -> str:
    """ "3月5日（周四）" / "Thu 5 Mar"."""
    return t(
        language,
        "activity.day",
        month=t(language, f"activity.month.{moment.month}"),
        day=moment.day,
        weekday=t(language, f"activity.weekday.{moment.weekday()}"),
    )


def format_rule(language: str, rule: ActivityRule | None) -> str:
    if rule is None:
        return t(language, "activity.rule.none")
    if rule.day is not None:
        return t(language, "activity.rule.day", day=rule.day)
    assert rule.nth is not None and rule.weekday is not None
    nth = t(language, "activity.nth.last") if rule.nth == -1 else t(language, f"activity.nth.{rule.nth}")
    return t(
        language, "activity.rule.weekday", nth=nth, weekday=t(language, f"activity.weekday.{rule.weekday}")
    )


def event_lines(language: str, starts_local: datetime, plan: ActivityPlan | None) -> list[str]:
    lines = [t(language, "activity.line.when", when=format_when(language, starts_local))]
    if plan is not None:
        if plan.place:
            lines.append(t(language, "activity.line.place", place=plan.place))
        if plan.online_link:
            lines.append(t(language, "activity.line.online", link=plan.online_link))
        if plan.topic:
            lines.append(t(language, "activity.line.topic", topic=plan.topic))
        if plan.programme:
            lines.append(
                t(language, "activity.line.programme", items=t(language, "activity.sep").join(plan.programme))
            )
    return lines


def rsvp_buttons(language: str, event_id: int) -> tuple[tuple[Button, ...], ...]:
    return (
        (
            Button(t(language, "btn.activity.attend"), data=ATTEND.data(event_id)),
            Button(t(language, "btn.activity.leave"), data=LEAVE.data(event_id)),
        ),
    )


def signin_buttons(language: str, event_id: int) -> tuple[tuple[Button, ...], ...]:
    return ((Button(t(language, "btn.activity.signin"), data=SIGN_IN.data(event_id)),),)


async def _event_context(
    session: AsyncSession, event_id: int
) -> tuple[ActivityEvent, ActivityPlan | None, ZoneInfo] | None:
    row = (
        await session.execute(
            select(ActivityEvent, ActivityPlan, Branch.timezone)
            .join(Branch, Branch.id == ActivityEvent.branch_id)
            .outerjoin(ActivityPlan, ActivityPlan.branch_id == ActivityEvent.branch_id)
            .where(ActivityEvent.id == event_id)
        )
    ).first()
    if row is None:
        return None
    return row[0], row[1], zone(row[2])


# -- reminder kinds ---------------------------------------------------------------------------------


async def _due_rsvp(session: AsyncSession, now: datetime, since: datetime | None = None):
    """Members who have not answered, for each reminder slot that fell due; incremental (see the engine):
    with ``since``, only slots that fell due after it, and members approved after it (late joiners)."""
    slot, event = ActivityReminderSlot, ActivityEvent

    def query(*narrow):
        return (
            select(
                *occurrence_columns(
                    subject_type="event",
                    subject_id=event.id,
                    period=concat("d", as_text(slot.lead_days), ":", as_text(slot.revision)),
                    person_id=Member.person_id,
                    tz=Branch.timezone,
                    due_at=slot.due_at,
                )
            )
            .select_from(slot)
            .join(event, and_(event.id == slot.event_id, event.revision == slot.revision))
            .join(Branch, Branch.id == event.branch_id)
            .join(Member, and_(Member.branch_id == event.branch_id, Member.state == MemberState.APPROVED))
            .outerjoin(
                ActivityRsvp, and_(ActivityRsvp.event_id == event.id, ActivityRsvp.member_id == Member.id)
            )
            .where(
                slot.due_at <= now,
                event.starts_at > now,
                event.status == EventStatus.SCHEDULED,
                ActivityRsvp.id.is_(None),
                *narrow,
            )
        )

    if since is None:
        return query()
    # Slots are written only with a due time in the future (``sync_slots``), so none is missed.
    slots = await ids_of(session, select(slot.id).where(slot.due_at > since, slot.due_at <= now))
    return new_or_joined(query, slot.id, slots, await approved_since(session, since))


async def _render_rsvp(session: AsyncSession, occasion: Occasion) -> Outgoing | None:
    context = await _event_context(session, occasion.subject_id)
    if context is None:
        return None
    event, plan, tz = context
    lang = occasion.language
    lines = [t(lang, "activity.remind.title"), *event_lines(lang, event.starts_at.astimezone(tz), plan)]
    lines.append(t(lang, "activity.remind.ask"))
    return Outgoing(text="\n".join(lines), buttons=rsvp_buttons(lang, event.id))


async def _due_signin(session: AsyncSession, now: datetime, since: datetime | None = None):
    """Sign-in opens an hour before the event; incremental: with ``since``, only events that opened after
    it, and members approved after it."""
    event = ActivityEvent
    leave = ActivityRsvp

    def query(*narrow):
        return (
            select(
                *occurrence_columns(
                    subject_type="event",
                    subject_id=event.id,
                    period=concat("open:", as_text(event.revision)),
                    person_id=Member.person_id,
                    tz=Branch.timezone,
                    due_at=now,  # timestamps minus intervals are not portable SQL; "found due at" will do
                )
            )
            .select_from(event)
            .join(Branch, Branch.id == event.branch_id)
            .join(Member, and_(Member.branch_id == event.branch_id, Member.state == MemberState.APPROVED))
            .outerjoin(
                leave,
                and_(
                    leave.event_id == event.id, leave.member_id == Member.id, leave.answer == RsvpAnswer.LEAVE
                ),
            )
            .outerjoin(
                ActivityAttendance,
                and_(ActivityAttendance.event_id == event.id, ActivityAttendance.member_id == Member.id),
            )
            .where(
                event.starts_at <= now + SIGNIN_OPENS_BEFORE,
                event.ends_at > now,
                event.status == EventStatus.SCHEDULED,
                leave.id.is_(None),
                ActivityAttendance.id.is_(None),
                *narrow,
            )
        )

    if since is None:
        return query()
    opened = await ids_of(
        session,
        select(event.id).where(
            event.starts_at > since + SIGNIN_OPENS_BEFORE, event.starts_at <= now + SIGNIN_OPENS_BEFORE
        ),
    )
    return new_or_joined(query, event.id, opened, await approved_since(session, since))


async def _render_signin(session: AsyncSession, occasion: Occasion) -> Outgoing | None:
    context = await _event_context(session, occasion.subject_id)
    if context is None:
        return None
    event, plan, tz = context
    lang = occasion.language
    lines = [t(lang, "activity.signin.open"), *event_lines(lang, event.starts_at.astimezone(tz), plan)]
    return Outgoing(text="\n".join(lines), buttons=signin_buttons(lang, event.id))


def _changed_kind(event_id: int) -> ReminderKind:
    """Tell the branch's members that one event moved or was cancelled (fired by the change itself)."""

    async def due(session: AsyncSession, now: datetime):
        event = ActivityEvent
        period = concat("moved:", as_text(event.revision))
        cancelled = await session.scalar(select(event.status).where(event.id == event_id))
        if cancelled == EventStatus.CANCELLED:
            period = concat("cancelled")
        return (
            select(
                *occurrence_columns(
                    subject_type="event",
                    subject_id=event.id,
                    period=period,
                    person_id=Member.person_id,
                    tz=Branch.timezone,
                    due_at=now,
                )
            )
            .select_from(event)
            .join(Branch, Branch.id == event.branch_id)
            .join(Member, and_(Member.branch_id == event.branch_id, Member.state == MemberState.APPROVED))
            .where(event.id == event_id)
        )

    return ReminderKind("activity.changed", due, _render_changed)


async def _render_changed(session: AsyncSession, occasion: Occasion) -> Outgoing | None:
    context = await _event_context(session, occasion.subject_id)
    if context is None:
        return None
    event, plan, tz = context
    lang = occasion.language
    when = format_when(lang, event.starts_at.astimezone(tz))
    if occasion.period == "cancelled":
        return Outgoing(text=t(lang, "activity.cancelled.notice", when=when))
    lines = [t(lang, "activity.moved.notice"), *event_lines(lang, event.starts_at.astimezone(tz), plan)]
    return Outgoing(text="\n".join(lines), buttons=rsvp_buttons(lang, event.id))


# An event is at most about a month ahead: its keys cannot be selected again two months on.
ACTIVITY_RSVP = ReminderKind(
    "activity.rsvp", _due_rsvp, _render_rsvp, prepare=plan_events, incremental=True, keep=timedelta(days=60)
)
ACTIVITY_SIGNIN = ReminderKind(
    "activity.signin", _due_signin, _render_signin, incremental=True, keep=timedelta(days=60)
)
REMINDER_KINDS = [ACTIVITY_RSVP, ACTIVITY_SIGNIN]


# -- member: RSVP and sign-in -----------------------------------------------------------------------


@dataclass(frozen=True)
class TapResult:
    outcome: Outcome
    event_id: int | None = None
    when: datetime | None = None  # local start, for the reply
    opens_at: datetime | None = None  # local opening of the sign-in window


async def _member_event(
    session: AsyncSession, actor: Actor, event_id: int, action: str
) -> tuple[ActivityEvent | None, ZoneInfo | None, Outcome | None]:
    """The event if the sender is an approved member of its branch; otherwise a denial, audited."""
    event = await session.get(ActivityEvent, event_id)
    if event is None or not actor.is_member or actor.member_branch_id != event.branch_id:
        audit.record(
            session,
            actor_person_id=actor.person_id,
            action=action,
            target_type="event",
            target_id=event_id,
            result="denied",
            branch_id=event.branch_id if event else None,
        )
        return None, None, Outcome.NOT_ALLOWED
    return event, await branch_zone(session, event.branch_id), None


async def answer_rsvp(
    session: AsyncSession,
    actor: Actor,
    event_id: int,
    answer: RsvpAnswer,
    now: datetime,
    reason: str | None = None,
) -> TapResult:
    """Record 参加 or 请假 (with its reason) for the sender; the same answer twice is ALREADY."""
    event, tz, denied = await _member_event(session, actor, event_id, "activity.rsvp")
    if denied or event is None or tz is None:
        return TapResult(Outcome.NOT_ALLOWED, event_id)
    when = event.starts_at.astimezone(tz)
    if event.status != EventStatus.SCHEDULED or now >= event.starts_at:
        return TapResult(Outcome.STALE, event.id, when)
    assert actor.member_id is not None
    if answer == RsvpAnswer.LEAVE:
        reason = clean_text(reason or "", REASON_MAX)
    existing = await session.scalar(
        select(ActivityRsvp).where(
            ActivityRsvp.event_id == event.id, ActivityRsvp.member_id == actor.member_id
        )
    )
    if existing is not None and existing.answer == answer:
        return TapResult(Outcome.ALREADY, event.id, when)
    outcome = Outcome.OK
    if existing is None:
        inserted = await insert_ignore(
            session,
            ActivityRsvp,
            {
                "event_id": event.id,
                "member_id": actor.member_id,
                "answer": answer,
                "reason": reason if answer == RsvpAnswer.LEAVE else None,
                "answered_at": now,
            },
            ["event_id", "member_id"],
        )
        if not inserted:  # a double tap raced us to it
            return TapResult(Outcome.ALREADY, event.id, when)
    else:
        existing.answer = answer
        existing.reason = reason if answer == RsvpAnswer.LEAVE else None
        existing.answered_at = now
        outcome = Outcome.CHANGED
    audit.record(
        session,
        actor_person_id=actor.person_id,
        action=f"activity.rsvp.{answer}",
        target_type="event",
        target_id=event.id,
        branch_id=event.branch_id,
    )
    return TapResult(outcome, event.id, when)


async def can_ask_leave(session: AsyncSession, actor: Actor, event_id: int, now: datetime) -> TapResult:
    """Whether the sender may start a leave request for this event (before asking the reason)."""
    event, tz, denied = await _member_event(session, actor, event_id, "activity.rsvp")
    if denied or event is None or tz is None:
        return TapResult(Outcome.NOT_ALLOWED, event_id)
    when = event.starts_at.astimezone(tz)
    if event.status != EventStatus.SCHEDULED or now >= event.starts_at:
        return TapResult(Outcome.STALE, event.id, when)
    existing = await session.scalar(
        select(ActivityRsvp.answer).where(
            ActivityRsvp.event_id == event.id, ActivityRsvp.member_id == actor.member_id
        )
    )
    if existing == RsvpAnswer.LEAVE:
        return TapResult(Outcome.ALREADY, event.id, when)
    return TapResult(Outcome.OK, event.id, when)


async def sign_in(session: AsyncSession, actor: Actor, event_id: int, now: datetime) -> TapResult:
    """签到 within the window; a second tap is ALREADY (UNIQUE(event, member))."""
    event, tz, denied = await _member_event(session, actor, event_id, "activity.signin")
    if denied or event is None or tz is None:
        return TapResult(Outcome.NOT_ALLOWED, event_id)
    when = event.starts_at.astimezone(tz)
    if event.status != EventStatus.SCHEDULED:
        return TapResult(Outcome.STALE, event.id, when)
    if now < signin_opens(event):
        return TapResult(Outcome.NOT_OPEN, event.id, when, signin_opens(event).astimezone(tz))
    if now >= event.ends_at:
        return TapResult(Outcome.CLOSED, event.id, when)
    inserted = await insert_ignore(
        session,
        ActivityAttendance,
        {"event_id": event.id, "member_id": actor.member_id, "source": AttendanceSource.SELF, "at": now},
        ["event_id", "member_id"],
    )
    if not inserted:
        return TapResult(Outcome.ALREADY, event.id, when)
    audit.record(
        session,
        actor_person_id=actor.person_id,
        action="activity.signin",
        target_type="event",
        target_id=event.id,
        branch_id=event.branch_id,
    )
    return TapResult(Outcome.OK, event.id, when)


@dataclass(frozen=True)
class MemberEventView:
    event: EventInfo | None
    answer: str | None
    signed_in: bool
    signin_open: bool
    plan: ActivityPlan | None


async def member_view(session: AsyncSession, actor: Actor, now: datetime) -> MemberEventView | None:
    """The member's next activity day and their own answer and sign-in (None: not a member)."""
    if not actor.is_member or actor.member_branch_id is None:
        return None
    branch_id = actor.member_branch_id
    tz = await branch_zone(session, branch_id)
    event = await next_event(session, branch_id, now)
    plan = await get_plan(session, branch_id)
    if event is None:
        return MemberEventView(None, None, False, False, plan)
    answer = await session.scalar(
        select(ActivityRsvp.answer).where(
            ActivityRsvp.event_id == event.id, ActivityRsvp.member_id == actor.member_id
        )
    )
    signed = await session.scalar(
        select(ActivityAttendance.id).where(
            ActivityAttendance.event_id == event.id, ActivityAttendance.member_id == actor.member_id
        )
    )
    window = event.status == EventStatus.SCHEDULED and signin_opens(event) <= now < event.ends_at
    return MemberEventView(_event_info(event, tz), answer, signed is not None, window, plan)


# -- secretary: the event ---------------------------------------------------------------------------


async def _led_event(
    session: AsyncSession, actor: Actor, event_id: int, action: str
) -> tuple[ActivityEvent | None, ZoneInfo | None]:
    event = await session.get(ActivityEvent, event_id)
    if event is None or not actor.leads_branch(event.branch_id):
        audit.record(
            session,
            actor_person_id=actor.person_id,
            action=action,
            target_type="event",
            target_id=event_id,
            result="denied",
            branch_id=event.branch_id if event else None,
        )
        return None, None
    return event, await branch_zone(session, event.branch_id)


@dataclass(frozen=True)
class RosterLine:
    member_id: int
    name: str
    answer: str | None
    reason: str | None
    present: bool
    source: str | None
    excused: bool


@dataclass(frozen=True)
class AttendanceView:
    event: EventInfo
    lines: list[RosterLine] = field(default_factory=list)

    @property
    def attending(self) -> int:
        return sum(1 for line in self.lines if line.answer == RsvpAnswer.ATTEND)

    @property
    def on_leave(self) -> int:
        return sum(1 for line in self.lines if line.answer == RsvpAnswer.LEAVE)

    @property
    def unanswered(self) -> int:
        return sum(1 for line in self.lines if line.answer is None)

    @property
    def present(self) -> int:
        return sum(1 for line in self.lines if line.present)


async def attendance_view(session: AsyncSession, actor: Actor, event_id: int) -> AttendanceView | None:
    """RSVPs and attendance of one event for its branch's secretary (None: not allowed)."""
    event, tz = await _led_event(session, actor, event_id, "activity.attendance.view")
    if event is None or tz is None:
        return None
    rows = await session.execute(
        select(
            Member.id,
            Member.name,
            ActivityRsvp.answer,
            ActivityRsvp.reason,
            ActivityAttendance.source,
            OrgLifeExcuse.id,
        )
        .outerjoin(ActivityRsvp, and_(ActivityRsvp.event_id == event.id, ActivityRsvp.member_id == Member.id))
        .outerjoin(
            ActivityAttendance,
            and_(ActivityAttendance.event_id == event.id, ActivityAttendance.member_id == Member.id),
        )
        .outerjoin(
            OrgLifeExcuse, and_(OrgLifeExcuse.event_id == event.id, OrgLifeExcuse.member_id == Member.id)
        )
        .where(Member.branch_id == event.branch_id, Member.state == MemberState.APPROVED)
        .order_by(Member.id)
    )
    lines = [
        RosterLine(mid, name or f"#{mid}", answer, reason, source is not None, source, excuse is not None)
        for mid, name, answer, reason, source, excuse in rows
    ]
    info = _event_info(event, tz)
    assert info is not None
    return AttendanceView(info, lines)


async def toggle_attendance(
    session: AsyncSession, actor: Actor, event_id: int, member_id: int, now: datetime
) -> tuple[Outcome, bool]:
    """The secretary marks a member present, or takes the mark away; returns (outcome, present now)."""
    event, _tz = await _led_event(session, actor, event_id, "activity.attendance.mark")
    if event is None:
        return Outcome.NOT_ALLOWED, False
    member = await session.get(Member, member_id)
    if member is None or member.branch_id != event.branch_id:
        audit.record(
            session,
            actor_person_id=actor.person_id,
            action="activity.attendance.mark",
            target_type="member",
            target_id=member_id,
            result="denied",
            branch_id=event.branch_id,
        )
        return Outcome.NOT_ALLOWED, False
    if event.status != EventStatus.SCHEDULED:
        return Outcome.STALE, False
    if now < signin_opens(event):
        return Outcome.NOT_OPEN, False
    existing = await session.scalar(
        select(ActivityAttendance).where(
            ActivityAttendance.event_id == event.id, ActivityAttendance.member_id == member_id
        )
    )
    if existing is not None:
        await session.delete(existing)
        await session.flush()  # the roster shown next reads it back in this transaction
        present = False
    else:
        await insert_ignore(
            session,
            ActivityAttendance,
            {
                "event_id": event.id,
                "member_id": member_id,
                "source": AttendanceSource.SECRETARY,
                "at": now,
                "by_person_id": actor.person_id,
            },
            ["event_id", "member_id"],
        )
        present = True
    audit.record(
        session,
        actor_person_id=actor.person_id,
        action="activity.attendance.mark" if present else "activity.attendance.unmark",
        target_type="member",
        target_id=member_id,
        branch_id=event.branch_id,
    )
    return Outcome.OK, present


async def excuse_check(session: AsyncSession, actor: Actor, event_id: int, member_id: int) -> Outcome:
    """Whether the secretary may record an excuse for this member and event (before asking the reason)."""
    event, _tz = await _led_event(session, actor, event_id, "orglife.excuse")
    if event is None:
        return Outcome.NOT_ALLOWED
    member = await session.get(Member, member_id)
    if member is None or member.branch_id != event.branch_id:
        audit.record(
            session,
            actor_person_id=actor.person_id,
            action="orglife.excuse",
            target_type="member",
            target_id=member_id,
            result="denied",
            branch_id=event.branch_id,
        )
        return Outcome.NOT_ALLOWED
    exists = await session.scalar(
        select(OrgLifeExcuse.id).where(
            OrgLifeExcuse.event_id == event_id, OrgLifeExcuse.member_id == member_id
        )
    )
    return Outcome.ALREADY if exists is not None else Outcome.OK


async def record_excuse(
    session: AsyncSession, actor: Actor, event_id: int, member_id: int, reason: str, now: datetime
) -> Outcome:
    """The secretary's good reason for a member's absence that month (it ends an absence streak)."""
    allowed = await excuse_check(session, actor, event_id, member_id)
    if allowed != Outcome.OK:
        return allowed
    text = clean_text(reason, REASON_MAX)
    inserted = await insert_ignore(
        session,
        OrgLifeExcuse,
        {
            "event_id": event_id,
            "member_id": member_id,
            "reason": text,
            "by_person_id": actor.person_id,
            "at": now,
        },
        ["event_id", "member_id"],
    )
    if not inserted:
        return Outcome.ALREADY
    event = await session.get(ActivityEvent, event_id)
    audit.record(
        session,
        actor_person_id=actor.person_id,
        action="orglife.excuse",
        target_type="member",
        target_id=member_id,
        branch_id=event.branch_id if event else None,
    )
    return Outcome.OK


async def move_check(session: AsyncSession, actor: Actor, event_id: int, now: datetime) -> Outcome:
    event, _tz = await _led_event(session, actor, event_id, "activity.event.move")
    if event is None:
        return Outcome.NOT_ALLOWED
    if event.status != EventStatus.SCHEDULED or event.ends_at <= now:
        return Outcome.STALE
    return Outcome.OK


async def move_event(
    session: AsyncSession, actor: Actor, event_id: int, text: str, now: datetime, quiet: QuietHours
) -> tuple[Outcome, datetime | None]:
    """Move one occurrence to the typed date (and time); the members are told through the outbox."""
    allowed = await move_check(session, actor, event_id, now)
    if allowed != Outcome.OK:
        return allowed, None
    event = await session.get(ActivityEvent, event_id)
    assert event is not None
    tz = await branch_zone(session, event.branch_id)
    starts = parse_move(text, now, tz, event.starts_at.astimezone(tz).time())
    if starts == event.starts_at:
        return Outcome.ALREADY, starts
    event.starts_at = starts
    event.ends_at = end_of_local_day(starts, tz)
    event.revision += 1
    event.moved = True
    event.changed_at = now
    await session.flush()
    plan = await ensure_plan(session, event.branch_id, now)
    await sync_slots(session, event, plan, tz, now)
    await fire(session, _changed_kind(event.id), now, quiet)
    audit.record(
        session,
        actor_person_id=actor.person_id,
        action="activity.event.move",
        target_type="event",
        target_id=event.id,
        branch_id=event.branch_id,
    )
    return Outcome.OK, starts


async def cancel_event(
    session: AsyncSession, actor: Actor, event_id: int, now: datetime, quiet: QuietHours
) -> Outcome:
    """Cancel one occurrence; members are told; the month does not count for the six-month rule."""
    event, _tz = await _led_event(session, actor, event_id, "activity.event.cancel")
    if event is None:
        return Outcome.NOT_ALLOWED
    if event.status == EventStatus.CANCELLED:
        return Outcome.ALREADY
    if event.ends_at <= now:
        return Outcome.STALE
    event.status = EventStatus.CANCELLED
    event.changed_at = now
    await session.execute(delete(ActivityReminderSlot).where(ActivityReminderSlot.event_id == event.id))
    await session.flush()
    await fire(session, _changed_kind(event.id), now, quiet)
    audit.record(
        session,
        actor_person_id=actor.person_id,
        action="activity.event.cancel",
        target_type="event",
        target_id=event.id,
        branch_id=event.branch_id,
    )
    return Outcome.OK


async def release_time(
    session: AsyncSession, branch_id: int | None, now: datetime, quiet: QuietHours
) -> datetime | None:
    """When messages fanned out now to a branch's members will leave (local time), or None for "now":
    inside the night's quiet hours they wait for the morning."""
    if branch_id is None:
        return None
    tz = await branch_zone(session, branch_id)
    release = quiet.release_time(now, tz.key)
    return release.astimezone(tz) if release > now else None


async def can_edit_plan(session: AsyncSession, actor: Actor, branch_id: int) -> bool:
    """Only the branch's secretary (or committee) edits its plan; a refusal is audited."""
    if actor.leads_branch(branch_id):
        return True
    audit.record(
        session,
        actor_person_id=actor.person_id,
        action="activity.plan.update",
        target_type="branch",
        target_id=branch_id,
        result="denied",
        branch_id=branch_id,
    )
    return False


async def recent_events_for(
    session: AsyncSession, actor: Actor, branch_id: int, limit: int = 4
) -> list[EventInfo] | None:
    """The branch's latest events, for the secretary's attendance view of past months (None: denied)."""
    if not await can_edit_plan(session, actor, branch_id):
        return None
    tz = await branch_zone(session, branch_id)
    events = await session.scalars(
        select(ActivityEvent)
        .where(ActivityEvent.branch_id == branch_id)
        .order_by(ActivityEvent.month_key.desc())
        .limit(limit)
    )
    return [info for info in (_event_info(event, tz) for event in events) if info is not None]


@dataclass(frozen=True)
class YearAttendance:
    """One member's activity days of this local year, for their card: held, attended, excused, absent."""

    year: int
    held: int
    attended: int
    excused: int  # not signed in, but asked for leave (请假) or the secretary recorded a good reason

    @property
    def absent(self) -> int:
        return self.held - self.attended - self.excused


async def member_year(session: AsyncSession, member: Member, now: datetime) -> YearAttendance:
    """The member's branch's activity days of this local year that were over by ``now`` and started after
    the member joined (as the six-month rule counts them), in one query."""
    tz = await branch_zone(session, member.branch_id)
    year = now.astimezone(tz).year
    joined = member.decided_at or member.created_at
    attended = (
        select(ActivityAttendance.id)
        .where(ActivityAttendance.event_id == ActivityEvent.id, ActivityAttendance.member_id == member.id)
        .exists()
    )
    on_leave = (
        select(ActivityRsvp.id)
        .where(
            ActivityRsvp.event_id == ActivityEvent.id,
            ActivityRsvp.member_id == member.id,
            ActivityRsvp.answer == RsvpAnswer.LEAVE,
        )
        .exists()
    )
    excused = (
        select(OrgLifeExcuse.id)
        .where(OrgLifeExcuse.event_id == ActivityEvent.id, OrgLifeExcuse.member_id == member.id)
        .exists()
    )
    row = (
        await session.execute(
            select(
                func.count(ActivityEvent.id),
                func.coalesce(func.sum(case((attended, 1), else_=0)), 0),
                func.coalesce(func.sum(case((and_(~attended, on_leave | excused), 1), else_=0)), 0),
            ).where(
                ActivityEvent.branch_id == member.branch_id,
                ActivityEvent.status == EventStatus.SCHEDULED,
                ActivityEvent.month_key.between(month_key(year, 1), month_key(year, 12)),
                ActivityEvent.ends_at <= now,
                ActivityEvent.starts_at > joined,
            )
        )
    ).one()
    held, present, away = (int(v or 0) for v in row)
    return YearAttendance(year, held, present, away)


# -- broadcast audience: "not signed in" for one month's activity day --------------------------------------


def _not_signed_in(branch_id: int, param: str | None):
    """Branch members with no sign-in (or hand mark) at the chosen event; the param is its id."""
    event_id = int(param) if param and param.isdecimal() and len(param) <= 12 else -1
    present = select(ActivityAttendance.member_id).where(ActivityAttendance.event_id == event_id)
    return audiences.roster(branch_id).where(Member.id.not_in(present))


async def _recent_event_choices(session: AsyncSession, branch_id: int) -> list[audiences.Choice]:
    """This month's and earlier activity days of the branch (newest first), labelled YYYY-MM."""
    events = await session.scalars(
        select(ActivityEvent)
        .where(ActivityEvent.branch_id == branch_id, ActivityEvent.status == EventStatus.SCHEDULED)
        .order_by(ActivityEvent.month_key.desc())
        .limit(4)
    )
    return [audiences.Choice(str(e.id), "{:04d}-{:02d}".format(*key_month(e.month_key))) for e in events]


audiences.register(
    audiences.Audience("not_signed_in", "audience.not_signed_in", _not_signed_in, _recent_event_choices)
)
