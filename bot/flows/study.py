"""/study: the secretary publishes study items and sees counts; members check in and may add a short
reflection (心得). Flows over `bot.services.study`; buttons are ``stu:<action>[:<id>]``, declared below.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.conversation import Feature, Turn
from bot.dialog import Button, Reply, Screen, already_done, denied, stale
from bot.reports.sheets import study_sheet
from bot.rules.errors import RuleInputError
from bot.scheduling.engine import QuietHours
from bot.services import activity, audiences, study
from bot.services.activity import EDIT
from bot.services.drafts import clear_draft, get_draft, save_draft
from bot.services.study import (
    CHECK_IN,
    COUNTS,
    DAYS,
    MISSING,
    MY_ITEMS,
    PUBLISH,
    QUIT,
    REFLECT,
    SEND,
    STU,
    StudyOutcome,
)
from storage.models import Draft, Member
from storage.models.study import StudyCheckin, StudyItem

FLOW_PUBLISH = "study_publish"
FLOW_REFLECTION = "study_reflection"
FLOWS = (FLOW_PUBLISH, FLOW_REFLECTION)
BUTTON_TITLE = 12  # characters of an item's title on a button, the last one an ellipsis when cut


Rows = Sequence[Sequence[Button]]


def _screen(text: str, rows: Rows = (), *, edit: bool = True) -> Reply:
    return Reply(screens=(Screen(text, buttons=tuple(tuple(row) for row in rows if row)),), edit=edit)


def _new(text: str, rows: Rows = ()) -> Reply:
    return _screen(text, rows, edit=False)


def clip(title: str, limit: int = BUTTON_TITLE) -> str:
    """A title short enough for a button; a cut one ends in an ellipsis (never two)."""
    if len(title) <= limit:
        return title
    return title[: limit - 1].rstrip().removesuffix("…") + "…"


def _cancel_row(turn: Turn, flow: str) -> list[list[Button]]:
    return [[Button(turn.text("common.cancel"), data=QUIT.data(flow))]]


def _period_rows(turn: Turn) -> list[list[Button]]:
    return [
        [Button(turn.text("btn.study.days", days=d), data=DAYS.data(d)) for d in study.PERIOD_CHOICES],
        *_cancel_row(turn, FLOW_PUBLISH),
    ]


# -- /study -------------------------------------------------------------------------------------------


async def show_study(turn: Turn) -> Reply:
    """The secretary's counts per open item, else the member's own items."""
    branches = sorted(turn.actor.secretary_branches)
    if branches:
        return await _counts(turn, branches[0])
    return await _mine(turn)


async def _counts(turn: Turn, branch_id: int) -> Reply:
    counts = await study.secretary_counts(turn.session, turn.actor, branch_id, turn.now)
    if counts is None:
        return denied(turn.language)
    lines = [turn.text("study.admin.head")]
    rows: list[list[Button]] = []
    for item in counts:
        day = activity.format_day(turn.language, item.ends_at)
        lines.append(
            turn.text("study.admin.item", title=item.title, day=day, done=item.checked_in, total=item.members)
        )
        rows.append(
            [Button(turn.text("btn.study.missing", title=clip(item.title)), data=MISSING.data(item.item_id))]
        )
    if not counts:
        lines.append(turn.text("study.admin.none"))
    rows.append(
        [
            Button(turn.text("btn.study.publish"), data=PUBLISH.data(branch_id)),
            Button(turn.text("btn.activity.field.backfill"), data=EDIT.data(branch_id, "backfill")),
        ]
    )
    if turn.actor.is_member:
        rows.append([Button(turn.text("btn.activity.mine"), data=MY_ITEMS.data())])
    return _screen("\n".join(lines), rows)


async def _mine(turn: Turn) -> Reply:
    items = await study.member_items(turn.session, turn.actor, turn.now)
    if items is None:
        return _screen(turn.text("activity.not_member"))
    if not items:
        return _screen(turn.text("study.mine.none"))
    lines = [turn.text("study.mine.head")]
    rows = []
    for item in items:
        state = turn.text("study.mine.done" if item.checked_in else "study.mine.todo")
        day = activity.format_day(turn.language, item.ends_at)
        lines.append(turn.text("study.mine.item", title=item.title, day=day, state=state))
        if not item.checked_in and item.can_check_in:
            label = turn.text("btn.study.checkin_title", title=clip(item.title))
            rows.append([Button(label, data=CHECK_IN.data(item.item_id))])
    return _screen("\n".join(lines), rows)


# -- buttons ---------------------------------------------------------------------------------------------


async def on_button(turn: Turn) -> Reply:
    """Every ``stu:`` button: decode it (a forged or out-of-range one is stale), re-check in the service."""
    press = STU.decode(turn.inbound.data)
    if press is None:
        return stale(turn.language)
    return await _ACTIONS[press.action](turn, *press.args)


async def _check_in(turn: Turn, item_id: int) -> Reply:
    result = await study.check_in(turn.session, turn.actor, item_id, turn.now)
    if result.outcome in (StudyOutcome.OK, StudyOutcome.LATE):
        rows = [[Button(turn.text("btn.study.reflect"), data=REFLECT.data(item_id))]]
        return _new(turn.text(f"study.checkin.{result.outcome}"), rows)
    if result.outcome == StudyOutcome.ALREADY:
        return _new(turn.text("study.checkin.already"))
    if result.outcome == StudyOutcome.CLOSED:
        return _new(turn.text("study.checkin.closed"))
    return denied(turn.language)


async def _ask_reflection(turn: Turn, item_id: int) -> Reply:
    if await study.reflection_check(turn.session, turn.actor, item_id) != StudyOutcome.OK:
        return denied(turn.language)
    await save_draft(turn.session, turn.actor.person_id, FLOW_REFLECTION, "text", {"item_id": item_id})
    return _screen(turn.text("study.reflect.ask"), _cancel_row(turn, FLOW_REFLECTION))


async def _show_missing(turn: Turn, item_id: int) -> Reply:
    result = await study.not_checked_in(turn.session, turn.actor, item_id)
    if result is None:
        return denied(turn.language)
    title, names = result
    branch_id = await turn.session.scalar(select(StudyItem.branch_id).where(StudyItem.id == item_id))
    back = [[Button(turn.text("common.back"), data=COUNTS.data(branch_id))]]
    if not names:
        return _screen(turn.text("study.missing.none", title=title), back)
    text = turn.text(
        "study.missing.list", title=title, count=len(names), names=turn.text("activity.sep").join(names)
    )
    return _screen(text, back)


async def _start_publish(turn: Turn, branch_id: int) -> Reply:
    if not await activity.can_edit_plan(turn.session, turn.actor, branch_id):
        return denied(turn.language)
    await save_draft(turn.session, turn.actor.person_id, FLOW_PUBLISH, "content", {"branch_id": branch_id})
    return _new(turn.text("study.publish.ask_content"), _cancel_row(turn, FLOW_PUBLISH))


async def _choose_days(turn: Turn, days: int) -> Reply:
    draft = await get_draft(turn.session, turn.actor.person_id, FLOW_PUBLISH)
    if draft is None or draft.step not in ("period", "confirm"):
        return stale(turn.language)
    return await _preview(turn, draft, str(days))


async def _preview(turn: Turn, draft: Draft, typed: str) -> Reply:
    data = dict(draft.data)
    try:
        days = study.parse_period(typed)
    except RuleInputError as error:
        text = turn.text(error.key) + "\n" + turn.text("study.publish.ask_days")
        return _new(text, _period_rows(turn))
    data["days"] = days
    await save_draft(turn.session, turn.actor.person_id, FLOW_PUBLISH, "confirm", data)
    content = study.Content(**data["content"])
    lines = [turn.text("study.publish.preview", days=days)]
    lines += [part for part in (content.text, content.link, content.file_name) if part]
    rows = [
        [
            Button(turn.text("btn.study.send"), data=SEND.data()),
            Button(turn.text("common.cancel"), data=QUIT.data(FLOW_PUBLISH)),
        ]
    ]
    return _new("\n".join(lines), rows)


async def _publish(turn: Turn) -> Reply:
    draft = await get_draft(turn.session, turn.actor.person_id, FLOW_PUBLISH)
    if draft is None or draft.step != "confirm":
        return already_done(turn.language)
    values = dict(draft.data)
    branch_id = int(values["branch_id"])
    quiet = QuietHours.from_settings(turn.settings)
    item = await study.publish(
        turn.session,
        turn.actor,
        branch_id,
        study.Content(**values["content"]),
        int(values["days"]),
        turn.now,
        quiet,
    )
    if item is None:
        return denied(turn.language)
    await clear_draft(turn.session, turn.actor.person_id, FLOW_PUBLISH)
    # At night the copies wait for the quiet hours to end: say when they will go, not "sent".
    release = await activity.release_time(turn.session, branch_id, turn.now, quiet)
    if release is not None:
        return _screen(turn.text("study.publish.done_later", at=activity.format_when(turn.language, release)))
    return _screen(turn.text("study.publish.done"))


async def _my_items(turn: Turn) -> Reply:
    return await _mine(turn)


async def _back_to_counts(turn: Turn, branch_id: int) -> Reply:
    return await _counts(turn, branch_id)


async def _quit_flow(turn: Turn, flow: str) -> Reply:
    if flow in FLOWS:
        await clear_draft(turn.session, turn.actor.person_id, flow)
    return _screen(turn.text("common.cancelled"))


_ACTIONS = {
    CHECK_IN.name: _check_in,
    REFLECT.name: _ask_reflection,
    MISSING.name: _show_missing,
    PUBLISH.name: _start_publish,
    COUNTS.name: _back_to_counts,
    DAYS.name: _choose_days,
    SEND.name: _publish,
    MY_ITEMS.name: _my_items,
    QUIT.name: _quit_flow,
}


# -- typed answers ---------------------------------------------------------------------------------------


async def take_publish_input(turn: Turn) -> Reply:
    """The item's content (text, link or document), then its period in days."""
    draft = turn.draft
    assert draft is not None
    inbound = turn.inbound
    if draft.step in ("period", "confirm"):
        return await _preview(turn, draft, inbound.text or "")
    data = dict(draft.data)
    try:
        media = inbound.media
        if media is not None and media.kind == "document":
            content = study.parse_content(media.caption, media.ref, media.filename)
        else:
            content = study.parse_content(inbound.text)
    except RuleInputError as error:
        text = turn.text(error.key) + "\n" + turn.text("study.publish.ask_content")
        return _new(text, _cancel_row(turn, FLOW_PUBLISH))
    data["content"] = content.as_dict()
    await save_draft(turn.session, turn.actor.person_id, FLOW_PUBLISH, "period", data)
    return _new(turn.text("study.publish.ask_days"), _period_rows(turn))


async def take_reflection(turn: Turn) -> Reply:
    """The member's short reflection for an item they checked in to."""
    draft = turn.draft
    assert draft is not None
    item_id = int(draft.data["item_id"])
    try:
        outcome = await study.add_reflection(turn.session, turn.actor, item_id, turn.inbound.text or "")
    except RuleInputError as error:
        text = turn.text(error.key) + "\n" + turn.text("study.reflect.ask")
        return _new(text, _cancel_row(turn, FLOW_REFLECTION))
    await clear_draft(turn.session, turn.actor.person_id, FLOW_REFLECTION)
    if outcome != StudyOutcome.OK:
        return denied(turn.language)
    return _new(turn.text("study.reflect.saved"))


# -- /mydata and /deleteme ---------------------------------------------------------------------------


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


async def data_section(session: AsyncSession, person_id: int) -> tuple[str, object]:
    """The person's check-ins with their reflections (心得)."""
    members = select(Member.id).where(Member.person_id == person_id)
    rows = await session.execute(
        select(StudyCheckin, StudyItem)
        .join(StudyItem, StudyItem.id == StudyCheckin.item_id)
        .where(StudyCheckin.member_id.in_(members))
        .order_by(StudyCheckin.id)
    )
    return "study_checkins", [
        {
            "item": study.title_of(item),
            "checked_in_at": _iso(checkin.at),
            "late": checkin.late,
            "reflection": checkin.reflection,
        }
        for checkin, item in rows
    ]


async def erase_person(session: AsyncSession, person_id: int) -> None:
    """/deleteme: the reflections go; the check-ins stay as bare facts of the anonymised member."""
    members = select(Member.id).where(Member.person_id == person_id)
    await session.execute(
        update(StudyCheckin)
        .where(StudyCheckin.member_id.in_(members))
        .values(reflection=None)
        .execution_options(synchronize_session=False)
    )


FEATURE = Feature(
    name="study",
    commands={"study": show_study},
    buttons={STU.prefix: on_button},
    forms={FLOW_PUBLISH: take_publish_input, FLOW_REFLECTION: take_reflection},
    reminder_kinds=tuple(study.REMINDER_KINDS),
    export_sheets=(study_sheet,),
    audiences=(audiences.get("not_checked_in"),),
    data_section=data_section,
    eraser=erase_person,
    personal_columns=(StudyCheckin.reflection,),
)
