"""/study: the secretary publishes study items and sees counts; members check in and may add a short
reflection (心得). Flows over `bot.services.study`; buttons are ``stu:<action>[:<id>]``, declared in the
service. Publishing (content, period, a preview to publish from) and a reflection are forms on the step
engine (`bot.steps`): 返回, 取消, 修改 from the preview, stale presses and expired drafts are the engine's.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.conversation import Feature, Turn
from bot.dialog import Button, Inbound, Reply, Screen, denied, stale
from bot.reports.sheets import study_sheet
from bot.rules.errors import RuleInputError
from bot.scheduling.engine import QuietHours
from bot.services import activity, audiences, study
from bot.services.activity import EDIT
from bot.services.study import (
    CHECK_IN,
    COUNTS,
    DAYS,
    MISSING,
    MY_ITEMS,
    PUBLISH,
    REFLECT,
    SEND,
    STU,
    StudyOutcome,
)
from bot.steps import EXIT, Ask, Confirm, Form, Invalid, Option, Step, question
from storage.models import Member
from storage.models.study import StudyCheckin, StudyItem

FLOW_PUBLISH = "study_publish"
FLOW_REFLECTION = "study_reflection"
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
    """Every ``stu:`` button: the forms' own go to the step engine; the others are decoded (a forged or
    out-of-range one is stale) and re-checked in the service."""
    for form in (PUBLISH_FORM, REFLECTION_FORM):
        answered = await form.on_button(turn)
        if answered is not None:
            return answered
    press = STU.decode(turn.inbound.data)
    if press is None or press.action not in _ACTIONS:
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
    # A new message: the check-in's 写心得 button stays, to start again after 取消.
    return await REFLECTION_FORM.start(turn, {"item_id": item_id}, edit=False)


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
    return await PUBLISH_FORM.start(turn, {"branch_id": branch_id}, edit=False)


async def _my_items(turn: Turn) -> Reply:
    return await _mine(turn)


async def _back_to_counts(turn: Turn, branch_id: int) -> Reply:
    return await _counts(turn, branch_id)


_ACTIONS = {
    CHECK_IN.name: _check_in,
    REFLECT.name: _ask_reflection,
    MISSING.name: _show_missing,
    PUBLISH.name: _start_publish,
    COUNTS.name: _back_to_counts,
    MY_ITEMS.name: _my_items,
}


# -- publishing: content, period, preview (a form on the step engine) -------------------------------------


def _refused(error: RuleInputError) -> Invalid:
    return Invalid(error.key)


def _receive_content(ask: Ask, inbound: Inbound) -> dict[str, str | None]:
    """The item's content: text (with a link), or a document with its caption."""
    try:
        media = inbound.media
        if media is not None and media.kind == "document":
            return study.parse_content(media.caption, media.ref, media.filename).as_dict()
        return study.parse_content(inbound.text).as_dict()
    except RuleInputError as error:
        raise _refused(error) from None


def _period_options(ask: Ask) -> list[Option]:
    return [Option(d, ask.text("btn.study.days", days=d)) for d in study.PERIOD_CHOICES]


def _parse_period(ask: Ask, text: str) -> int:
    try:
        return study.parse_period(text)
    except RuleInputError as error:
        raise _refused(error) from None


def _preview(ask: Ask) -> str:
    content = study.Content(**ask.data["content"])
    lines = [ask.text("study.publish.preview", days=ask.data["days"])]
    lines += [part for part in (content.text, content.link, content.file_name) if part]
    return "\n".join(lines)


async def _publish(ask: Ask) -> Reply:
    """发布: the item goes to every member (the engine drops the draft: a second tap changes nothing)."""
    turn, branch_id = ask.turn, int(ask.data["branch_id"])
    quiet = QuietHours.from_settings(turn.settings)
    content = study.Content(**ask.data["content"])
    item = await study.publish(
        turn.session, turn.actor, branch_id, content, int(ask.data["days"]), turn.now, quiet
    )
    if item is None:
        return denied(turn.language)
    # At night the copies wait for the quiet hours to end: say when they will go, not "sent".
    release = await activity.release_time(turn.session, branch_id, turn.now, quiet)
    if release is not None:
        return _screen(turn.text("study.publish.done_later", at=activity.format_when(turn.language, release)))
    return _screen(turn.text("study.publish.done"))


PUBLISH_FORM = Form(
    FLOW_PUBLISH,
    STU,
    [
        Step(
            "content",
            "study.publish.ask_content",
            receive=_receive_content,
            next="period",
            back=EXIT,  # to the counts the form was opened from
            field="study.field.content",
        ),
        Step(
            "period",
            "study.publish.ask_days",
            options=_period_options,
            action=DAYS.name,
            value=DAYS.fields[0],
            per_row=len(study.PERIOD_CHOICES),
            parse=_parse_period,
            store=lambda ask, days: ask.data.update(days=days),
            back="content",
            field="study.field.days",
        ),
    ],
    # What goes to every member is checked once more: the preview, 发布 (not 提交), 修改 per answer.
    Confirm(_preview, _publish, back="period", submit_action=SEND.name, submit_label="btn.study.send"),
    again="/study",
    exit=show_study,
    back_action="pb",
    cancel_action="pq",
    edit_action="pe",
)


# -- a reflection: one typed answer, saved at once ---------------------------------------------------------


async def _save_reflection(ask: Ask) -> Reply:
    """The member's short reflection for an item they checked in to."""
    turn, item_id = ask.turn, int(ask.data["item_id"])
    try:
        outcome = await study.add_reflection(turn.session, turn.actor, item_id, ask.data["text"])
    except RuleInputError as error:
        raise _refused(error) from None
    if outcome != StudyOutcome.OK:
        return denied(turn.language)
    return _new(turn.text("study.reflect.saved"))


# No check screen: the reflection is the whole answer, and a new one replaces it anyway.
REFLECTION_FORM = question(
    FLOW_REFLECTION,
    STU,
    "text",
    "study.reflect.ask",
    _save_reflection,
    again=lambda turn, _answers: turn.text("study.reflect.again"),
    actions="r",
)


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
    forms={FLOW_PUBLISH: PUBLISH_FORM.on_input, FLOW_REFLECTION: REFLECTION_FORM.on_input},
    reminder_kinds=tuple(study.REMINDER_KINDS),
    export_sheets=(study_sheet,),
    audiences=(audiences.get("not_checked_in"),),
    data_section=data_section,
    eraser=erase_person,
    personal_columns=(StudyCheckin.reflection,),
)
