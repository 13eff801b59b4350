"""Study check-ins (学习打卡): publish an item for a period, check in with one tap, an optional reflection.

Self-reported and optional, as the 2024 rules against "formalism at the fingertips" ask: no ranking, no
times shown to anyone, members see only their own check-ins, the secretary sees counts and who has not
checked in. Decisions taken here:
- The period ends at the end of its last local day; back-fill is allowed for the branch's
  ``study_backfill_days`` (default 7) after that, and marked as late.
- One gentle reminder at the branch's reminder time (default 08:00) on the period's last day, to those
  not checked in, unless that is less than 12 hours after publishing (a short period gets none).
- A member approved while an item is open receives it at the next tick (the publish kind is also a
  tick kind; its key keeps it to once per member).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.callbacks import Callbacks, Int
from bot.i18n import t
from bot.scheduling.engine import Occasion, QuietHours, ReminderKind, fire, occurrence_columns, zone
from bot.scheduling.sql import approved_since, ids_of, new_or_joined
from bot.services import audiences, audit
from bot.services.activity import (
    DEFAULT_BACKFILL_DAYS,
    DEFAULT_REMIND_AT,
    ActivityInputError,
    RowId,
    branch_zone,
    clean_text,
    end_of_local_day,
    format_day,
    get_plan,
    local_at,
    parse_days,
)
from bot.services.identity import Actor
from bot.services.outbox import Button, Outgoing
from storage.dialect import insert_ignore
from storage.models import Branch, Member, MemberState
from storage.models.study import StudyCheckin, StudyItem

STUDY_TEXT_MAX = 1000
REFLECTION_MAX = 300
MAX_PERIOD_DAYS = 62
PERIOD_CHOICES = (3, 7, 30)
MIN_REMINDER_GAP = timedelta(hours=12)
TITLE_LEN = 20


# The feature's buttons, declared once: the reminders' builder here, the flows' parser in bot.flows.study.
STU = Callbacks("stu")
CHECK_IN = STU.action("k", RowId)
REFLECT = STU.action("r", RowId)
MISSING = STU.action("v", RowId)
PUBLISH = STU.action("p", RowId)  # the branch
COUNTS = STU.action("a", RowId)  # back to the branch's counts
DAYS = STU.action("d", Int(1, MAX_PERIOD_DAYS))
SEND = STU.action("go")
MY_ITEMS = STU.action("me")


class StudyOutcome(enum.StrEnum):
    OK = "ok"
    LATE = "late"  # checked in during the back-fill window
    ALREADY = "already"
    CLOSED = "closed"
    NOT_ALLOWED = "not_allowed"


@dataclass(frozen=True)
class Content:
    """What the secretary sent: text and/or link, or a document with an optional caption."""

    text: str | None = None
    link: str | None = None
    file_id: str | None = None
    file_name: str | None = None

    def as_dict(self) -> dict[str, str | None]:
        return {"text": self.text, "link": self.link, "file_id": self.file_id, "file_name": self.file_name}


def parse_content(text: str | None, file_id: str | None = None, file_name: str | None = None) -> Content:
    """A study item's content from a message; raises ActivityInputError(empty/too_long)."""
    body = " ".join(text.split()) if text else ""
    if len(body) > STUDY_TEXT_MAX:
        raise ActivityInputError("too_long")
    if file_id:
        return Content(text=body or None, file_id=file_id[:200], file_name=(file_name or "")[:200] or None)
    if not body:
        raise ActivityInputError("empty")
    body = clean_text(body, STUDY_TEXT_MAX)
    if body.lower().startswith(("http://", "https://")) and " " not in body and len(body) <= 500:
        return Content(link=body)
    return Content(text=body)


def title_of(item: StudyItem | Content) -> str:
    source = item.text or item.file_name or item.link or ""
    return source if len(source) <= TITLE_LEN else source[: TITLE_LEN - 1] + "…"


def last_day(item: StudyItem, tz: ZoneInfo) -> datetime:
    """A moment on the period's last local day (``ends_at`` is the midnight after it)."""
    return (item.ends_at - timedelta(minutes=1)).astimezone(tz)


def parse_period(text: str) -> int:
    return parse_days(text, 1, MAX_PERIOD_DAYS)


async def _branch_of_secretary(session: AsyncSession, actor: Actor, branch_id: int, action: str) -> bool:
    if actor.leads_branch(branch_id):
        return True
    audit.record(
        session,
        actor_person_id=actor.person_id,
        action=action,
        target_type="branch",
        target_id=branch_id,
        result="denied",
        branch_id=branch_id,
    )
    return False


async def publish(
    session: AsyncSession,
    actor: Actor,
    branch_id: int,
    content: Content,
    days: int,
    now: datetime,
    quiet: QuietHours,
) -> StudyItem | None:
    """Create the item for ``days`` local days from today and send it to every member (None: denied)."""
    if not await _branch_of_secretary(session, actor, branch_id, "study.publish"):
        return None
    if not 1 <= days <= MAX_PERIOD_DAYS:
        raise ActivityInputError("bad_days")
    tz = await branch_zone(session, branch_id)
    plan = await get_plan(session, branch_id)
    final_day = now.astimezone(tz).date() + timedelta(days=days - 1)
    ends = end_of_local_day(local_at(final_day, DEFAULT_REMIND_AT, tz), tz)
    remind = local_at(final_day, plan.remind_at if plan else DEFAULT_REMIND_AT, tz)
    item = StudyItem(
        branch_id=branch_id,
        text=content.text,
        link=content.link,
        file_id=content.file_id,
        file_name=content.file_name,
        starts_at=now,
        ends_at=ends,
        remind_at=remind if remind - now >= MIN_REMINDER_GAP and remind < ends else None,
        published_at=now,
        published_by_person_id=actor.person_id,
    )
    session.add(item)
    await session.flush()
    await fire(session, STUDY_PUBLISH, now, quiet)
    audit.record(
        session,
        actor_person_id=actor.person_id,
        action="study.publish",
        target_type="study_item",
        target_id=item.id,
        branch_id=branch_id,
    )
    return item


async def _backfill_days(session: AsyncSession, branch_id: int) -> int:
    plan = await get_plan(session, branch_id)
    return plan.study_backfill_days if plan is not None else DEFAULT_BACKFILL_DAYS


@dataclass(frozen=True)
class CheckinResult:
    outcome: StudyOutcome
    item_id: int | None = None


async def check_in(session: AsyncSession, actor: Actor, item_id: int, now: datetime) -> CheckinResult:
    """打卡: once per (item, member); late within the back-fill window; closed after it."""
    item = await session.get(StudyItem, item_id)
    if item is None or not actor.is_member or actor.member_branch_id != item.branch_id:
        audit.record(
            session,
            actor_person_id=actor.person_id,
            action="study.checkin",
            target_type="study_item",
            target_id=item_id,
            result="denied",
            branch_id=item.branch_id if item else None,
        )
        return CheckinResult(StudyOutcome.NOT_ALLOWED, item_id)
    late = now >= item.ends_at
    if late and now >= item.ends_at + timedelta(days=await _backfill_days(session, item.branch_id)):
        exists = await session.scalar(
            select(StudyCheckin.id).where(
                StudyCheckin.item_id == item.id, StudyCheckin.member_id == actor.member_id
            )
        )
        return CheckinResult(StudyOutcome.ALREADY if exists else StudyOutcome.CLOSED, item.id)
    inserted = await insert_ignore(
        session,
        StudyCheckin,
        {"item_id": item.id, "member_id": actor.member_id, "at": now, "late": late},
        ["item_id", "member_id"],
    )
    if not inserted:
        return CheckinResult(StudyOutcome.ALREADY, item.id)
    audit.record(
        session,
        actor_person_id=actor.person_id,
        action="study.checkin",
        target_type="study_item",
        target_id=item.id,
        branch_id=item.branch_id,
    )
    return CheckinResult(StudyOutcome.LATE if late else StudyOutcome.OK, item.id)


async def reflection_check(session: AsyncSession, actor: Actor, item_id: int) -> StudyOutcome:
    """A reflection needs the member's own check-in to that item."""
    checkin = await session.scalar(
        select(StudyCheckin.id).where(
            StudyCheckin.item_id == item_id, StudyCheckin.member_id == actor.member_id
        )
    )
    if checkin is None or not actor.is_member:
        audit.record(
            session,
            actor_person_id=actor.person_id,
            action="study.reflection",
            target_type="study_item",
            target_id=item_id,
            result="denied",
        )
        return StudyOutcome.NOT_ALLOWED
    return StudyOutcome.OK


async def add_reflection(session: AsyncSession, actor: Actor, item_id: int, text: str) -> StudyOutcome:
    """Keep the member's short reflection (心得) with their check-in; a new one replaces the old."""
    value = clean_text(text, REFLECTION_MAX)
    if await reflection_check(session, actor, item_id) != StudyOutcome.OK:
        return StudyOutcome.NOT_ALLOWED
    checkin = await session.scalar(
        select(StudyCheckin).where(StudyCheckin.item_id == item_id, StudyCheckin.member_id == actor.member_id)
    )
    assert checkin is not None
    checkin.reflection = value
    audit.record(
        session,
        actor_person_id=actor.person_id,
        action="study.reflection",
        target_type="study_item",
        target_id=item_id,
        branch_id=actor.member_branch_id,
    )
    return StudyOutcome.OK


# -- what people see ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ItemCount:
    item_id: int
    title: str
    ends_at: datetime  # a moment on the last local day
    checked_in: int
    members: int


async def _open_items(session: AsyncSession, branch_id: int, now: datetime) -> list[StudyItem]:
    """Items still open or in their back-fill window, newest first (at most ten)."""
    backfill = timedelta(days=await _backfill_days(session, branch_id))
    return list(
        await session.scalars(
            select(StudyItem)
            .where(StudyItem.branch_id == branch_id, StudyItem.ends_at > now - backfill)
            .order_by(StudyItem.published_at.desc(), StudyItem.id.desc())
            .limit(10)
        )
    )


async def secretary_counts(
    session: AsyncSession, actor: Actor, branch_id: int, now: datetime
) -> list[ItemCount] | None:
    """Counts per open item for the branch's secretary: how many checked in, of how many members."""
    if not await _branch_of_secretary(session, actor, branch_id, "study.view"):
        return None
    tz = await branch_zone(session, branch_id)
    members = await session.scalar(
        select(func.count(Member.id)).where(
            Member.branch_id == branch_id, Member.state == MemberState.APPROVED
        )
    )
    result = []
    for item in await _open_items(session, branch_id, now):
        count = await session.scalar(
            select(func.count(StudyCheckin.id))
            .join(Member, Member.id == StudyCheckin.member_id)
            .where(StudyCheckin.item_id == item.id, Member.state == MemberState.APPROVED)
        )
        result.append(ItemCount(item.id, title_of(item), last_day(item, tz), count or 0, members or 0))
    return result


async def not_checked_in(session: AsyncSession, actor: Actor, item_id: int) -> tuple[str, list[str]] | None:
    """The item's title and the names of members who have not checked in, by roster order (no ranking)."""
    item = await session.get(StudyItem, item_id)
    if item is None or not await _branch_of_secretary(session, actor, item.branch_id, "study.view"):
        return None
    names = await session.scalars(
        select(Member.name)
        .outerjoin(StudyCheckin, and_(StudyCheckin.item_id == item.id, StudyCheckin.member_id == Member.id))
        .where(
            Member.branch_id == item.branch_id,
            Member.state == MemberState.APPROVED,
            StudyCheckin.id.is_(None),
        )
        .order_by(Member.id)
    )
    return title_of(item), [name or "?" for name in names]


@dataclass(frozen=True)
class StudyProgress:
    """One member's study of this local year, for the secretary's card (counts only, never a ranking)."""

    year: int
    published: int  # items of this year the member could take part in (still open after they joined)
    checked_in: int  # of those, the ones they checked in to
    open: int  # items they may still check in to (any year) and have not


async def member_progress(session: AsyncSession, member: Member, now: datetime) -> StudyProgress:
    """The member's check-ins to the branch's items of this local year, and what is open to them now."""
    tz = await branch_zone(session, member.branch_id)
    year = now.astimezone(tz).year
    first = datetime(year, 1, 1, tzinfo=tz)
    next_first = datetime(year + 1, 1, 1, tzinfo=tz)
    joined = member.decided_at or member.created_at
    backfill = timedelta(days=await _backfill_days(session, member.branch_id))
    mine = (
        select(StudyCheckin.id)
        .where(StudyCheckin.item_id == StudyItem.id, StudyCheckin.member_id == member.id)
        .exists()
    )
    of_branch = StudyItem.branch_id == member.branch_id
    row = (
        await session.execute(
            select(func.count(StudyItem.id), func.coalesce(func.sum(case((mine, 1), else_=0)), 0)).where(
                of_branch,
                StudyItem.starts_at >= first,
                StudyItem.starts_at < next_first,
                StudyItem.starts_at <= now,
                StudyItem.ends_at > joined,
            )
        )
    ).one()
    still_open = await session.scalar(
        select(func.count(StudyItem.id)).where(
            of_branch, StudyItem.starts_at <= now, StudyItem.ends_at > now - backfill, ~mine
        )
    )
    return StudyProgress(year, int(row[0] or 0), int(row[1] or 0), int(still_open or 0))


@dataclass(frozen=True)
class MyItem:
    item_id: int
    title: str
    ends_at: datetime  # a moment on the last local day
    checked_in: bool
    can_check_in: bool


async def member_items(session: AsyncSession, actor: Actor, now: datetime) -> list[MyItem] | None:
    """The member's own view: open items and whether they checked in (None: not a member)."""
    if not actor.is_member or actor.member_branch_id is None:
        return None
    branch_id = actor.member_branch_id
    tz = await branch_zone(session, branch_id)
    backfill = timedelta(days=await _backfill_days(session, branch_id))
    result = []
    for item in await _open_items(session, branch_id, now):
        mine = await session.scalar(
            select(StudyCheckin.id).where(
                StudyCheckin.item_id == item.id, StudyCheckin.member_id == actor.member_id
            )
        )
        result.append(
            MyItem(
                item.id,
                title_of(item),
                last_day(item, tz),
                mine is not None,
                now < item.ends_at + backfill,
            )
        )
    return result


# -- reminder kinds -----------------------------------------------------------------------------------


def _due_unchecked(moment: Any, period: str):
    """The due query of a study kind: members of the item's branch who have not checked in, once the
    item's ``moment`` (published_at, remind_at) has passed and while it is open. Incremental (see the
    engine): with ``since``, only items whose moment passed after it, and members approved after it."""

    async def due(session: AsyncSession, now: datetime, since: datetime | None = None):
        def query(*narrow):
            return (
                select(
                    *occurrence_columns(
                        subject_type="study_item",
                        subject_id=StudyItem.id,
                        period=period,
                        person_id=Member.person_id,
                        tz=Branch.timezone,
                        due_at=moment,
                    )
                )
                .select_from(StudyItem)
                .join(Branch, Branch.id == StudyItem.branch_id)
                .join(
                    Member,
                    and_(Member.branch_id == StudyItem.branch_id, Member.state == MemberState.APPROVED),
                )
                .outerjoin(
                    StudyCheckin,
                    and_(StudyCheckin.item_id == StudyItem.id, StudyCheckin.member_id == Member.id),
                )
                .where(moment <= now, StudyItem.ends_at > now, StudyCheckin.id.is_(None), *narrow)
            )

        if since is None:
            return query()
        items = await ids_of(session, select(StudyItem.id).where(moment > since, moment <= now))
        return new_or_joined(query, StudyItem.id, items, await approved_since(session, since))

    return due


_due_publish = _due_unchecked(StudyItem.published_at, "pub")
_due_remind = _due_unchecked(StudyItem.remind_at, "remind")


def checkin_buttons(language: str, item_id: int) -> tuple[tuple[Button, ...], ...]:
    return ((Button(t(language, "btn.study.checkin"), data=CHECK_IN.data(item_id)),),)


async def _render_item(session: AsyncSession, occasion: Occasion, head_key: str) -> Outgoing | None:
    row = (
        await session.execute(
            select(StudyItem, Branch.timezone)
            .join(Branch, Branch.id == StudyItem.branch_id)
            .where(StudyItem.id == occasion.subject_id)
        )
    ).first()
    if row is None:
        return None
    item, tz_name = row
    lang = occasion.language
    last_moment = last_day(item, zone(tz_name))
    lines = [t(lang, head_key)]
    if item.text:
        lines.append(item.text)
    if item.link:
        lines.append(item.link)
    lines.append(t(lang, "study.until", day=format_day(lang, last_moment)))
    return Outgoing(
        text="\n".join(lines),
        buttons=checkin_buttons(lang, item.id),
        media_kind="document" if item.file_id else None,
        media_ref=item.file_id,
        filename=item.file_name,
    )


async def _render_publish(session: AsyncSession, occasion: Occasion) -> Outgoing | None:
    return await _render_item(session, occasion, "study.new")


async def _render_remind(session: AsyncSession, occasion: Occasion) -> Outgoing | None:
    return await _render_item(session, occasion, "study.remind")


STUDY_PUBLISH = ReminderKind("study.publish", _due_publish, _render_publish, incremental=True)
STUDY_REMIND = ReminderKind("study.remind", _due_remind, _render_remind, incremental=True)
REMINDER_KINDS = [STUDY_PUBLISH, STUDY_REMIND]


# -- broadcast audience: "not checked in to item X" --------------------------------------------------------


def _not_checked_in(branch_id: int, param: str | None):
    """Branch members with no check-in to the chosen study item; the param is its id."""
    item_id = int(param) if param and param.isdecimal() and len(param) <= 12 else -1
    done = select(StudyCheckin.member_id).where(StudyCheckin.item_id == item_id)
    return audiences.roster(branch_id).where(Member.id.not_in(done))


async def _item_choices(session: AsyncSession, branch_id: int) -> list[audiences.Choice]:
    """The branch's latest study items (newest first), labelled by their first words."""
    items = await session.scalars(
        select(StudyItem)
        .where(StudyItem.branch_id == branch_id)
        .order_by(StudyItem.published_at.desc(), StudyItem.id.desc())
        .limit(5)
    )
    return [audiences.Choice(str(item.id), title_of(item)) for item in items]


audiences.register(
    audiences.Audience("not_checked_in", "audience.not_checked_in", _not_checked_in, _item_choices)
)
