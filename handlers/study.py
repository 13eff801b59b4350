"""/study: the secretary publishes study items and sees counts; members check in and may add a
short reflection. Thin callbacks over `bot.services.study`; buttons are ``stu:<action>[:<id>]``."""

from __future__ import annotations

from collections.abc import Sequence

from telegram import Update
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler

from bot.rules.errors import RuleInputError
from bot.scheduling.engine import QuietHours
from bot.services import activity, study
from bot.services.drafts import clear_draft, get_draft, save_draft
from bot.services.outbox import Button
from bot.services.study import StudyOutcome
from handlers.context import BotContext, with_session
from handlers.keyboards import inline_keyboard
from storage.models import Draft

FLOW_PUBLISH = "study_publish"
FLOW_REFLECTION = "study_reflection"
FLOWS = (FLOW_PUBLISH, FLOW_REFLECTION)

Rows = Sequence[Sequence[Button]]


async def _say(update: Update, text: str, rows: Rows = ()) -> None:
    if update.callback_query is not None:
        await update.callback_query.answer()
    await update.effective_message.reply_text(text, reply_markup=inline_keyboard(rows))


def _id(data: str) -> int | None:
    parts = data.split(":")
    if len(parts) != 3 or not parts[2].isdecimal() or len(parts[2]) > 12:
        return None
    return int(parts[2])


def _cancel_row(context: BotContext, flow: str) -> list[list[Button]]:
    return [[Button(context.text("common.cancel"), data=f"stu:q:{flow}")]]


def _period_rows(context: BotContext) -> list[list[Button]]:
    return [
        [Button(context.text("btn.study.days", days=d), data=f"stu:d:{d}") for d in study.PERIOD_CHOICES],
        *_cancel_row(context, FLOW_PUBLISH),
    ]


# -- /study -------------------------------------------------------------------------------------------


@with_session
async def show_study(update: Update, context: BotContext) -> None:
    """The secretary's counts per open item, else the member's own items."""
    branches = sorted(context.actor.secretary_branches)
    if branches:
        await _send_counts(update, context, branches[0])
        return
    await _send_mine(update, context)


async def _send_counts(update: Update, context: BotContext, branch_id: int) -> None:
    counts = await study.secretary_counts(context.session, context.actor, branch_id, context.deps.clock.now())
    await context.session.commit()
    if counts is None:
        await _say(update, context.text("error.not_allowed"))
        return
    lang = context.actor.language
    lines = [context.text("study.admin.head")]
    rows: list[list[Button]] = []
    for item in counts:
        lines.append(
            context.text(
                "study.admin.item",
                title=item.title,
                day=activity.format_day(lang, item.ends_at),
                done=item.checked_in,
                total=item.members,
            )
        )
        rows.append(
            [Button(context.text("btn.study.missing", title=item.title[:8]), data=f"stu:v:{item.item_id}")]
        )
    if not counts:
        lines.append(context.text("study.admin.none"))
    rows.append(
        [
            Button(context.text("btn.study.publish"), data=f"stu:p:{branch_id}"),
            Button(context.text("btn.activity.field.backfill"), data=f"act:e:{branch_id}:backfill"),
        ]
    )
    if context.actor.is_member:
        rows.append([Button(context.text("btn.activity.mine"), data="stu:me")])
    await _say(update, "\n".join(lines), rows)


async def _send_mine(update: Update, context: BotContext) -> None:
    items = await study.member_items(context.session, context.actor, context.deps.clock.now())
    if items is None:
        await _say(update, context.text("activity.not_member"))
        return
    if not items:
        await _say(update, context.text("study.mine.none"))
        return
    lang = context.actor.language
    lines = [context.text("study.mine.head")]
    rows = []
    for item in items:
        state = context.text("study.mine.done" if item.checked_in else "study.mine.todo")
        lines.append(
            context.text(
                "study.mine.item", title=item.title, day=activity.format_day(lang, item.ends_at), state=state
            )
        )
        if not item.checked_in and item.can_check_in:
            rows.append(
                [
                    Button(
                        context.text("btn.study.checkin_title", title=item.title[:8]),
                        data=f"stu:k:{item.item_id}",
                    )
                ]
            )
    await _say(update, "\n".join(lines), rows)


# -- buttons ---------------------------------------------------------------------------------------------


@with_session
async def on_button(update: Update, context: BotContext) -> None:
    """Every ``stu:`` button, re-checked by the service."""
    data = update.callback_query.data or ""
    action = data.split(":")[1] if ":" in data else ""
    handler = _ACTIONS.get(action)
    if handler is None:
        await _say(update, context.text("error.stale_button"))
        return
    await handler(update, context, data)


async def _check_in(update: Update, context: BotContext, data: str) -> None:
    item_id = _id(data)
    if item_id is None:
        await _say(update, context.text("error.stale_button"))
        return
    result = await study.check_in(context.session, context.actor, item_id, context.deps.clock.now())
    await context.session.commit()
    if result.outcome in (StudyOutcome.OK, StudyOutcome.LATE):
        rows = [[Button(context.text("btn.study.reflect"), data=f"stu:r:{item_id}")]]
        await _say(update, context.text(f"study.checkin.{result.outcome}"), rows)
        return
    key = {
        StudyOutcome.ALREADY: "study.checkin.already",
        StudyOutcome.CLOSED: "study.checkin.closed",
    }.get(result.outcome, "error.not_allowed")
    await _say(update, context.text(key))


async def _ask_reflection(update: Update, context: BotContext, data: str) -> None:
    item_id = _id(data)
    if item_id is None:
        await _say(update, context.text("error.stale_button"))
        return
    if await study.reflection_check(context.session, context.actor, item_id) != StudyOutcome.OK:
        await context.session.commit()
        await _say(update, context.text("error.not_allowed"))
        return
    await save_draft(context.session, context.actor.person_id, FLOW_REFLECTION, "text", {"item_id": item_id})
    await context.session.commit()
    await _say(update, context.text("study.reflect.ask"), _cancel_row(context, FLOW_REFLECTION))


async def _show_missing(update: Update, context: BotContext, data: str) -> None:
    item_id = _id(data)
    if item_id is None:
        await _say(update, context.text("error.stale_button"))
        return
    result = await study.not_checked_in(context.session, context.actor, item_id)
    await context.session.commit()
    if result is None:
        await _say(update, context.text("error.not_allowed"))
        return
    title, names = result
    if not names:
        await _say(update, context.text("study.missing.none", title=title))
        return
    await _say(
        update,
        context.text(
            "study.missing.list",
            title=title,
            count=len(names),
            names=context.text("activity.sep").join(names),
        ),
    )


async def _start_publish(update: Update, context: BotContext, data: str) -> None:
    branch_id = _id(data)
    if branch_id is None:
        await _say(update, context.text("error.stale_button"))
        return
    if not await activity.can_edit_plan(context.session, context.actor, branch_id):
        await context.session.commit()
        await _say(update, context.text("error.not_allowed"))
        return
    await save_draft(
        context.session, context.actor.person_id, FLOW_PUBLISH, "content", {"branch_id": branch_id}
    )
    await context.session.commit()
    await _say(update, context.text("study.publish.ask_content"), _cancel_row(context, FLOW_PUBLISH))


async def _choose_days(update: Update, context: BotContext, data: str) -> None:
    days = _id(data)
    draft = await get_draft(context.session, context.actor.person_id, FLOW_PUBLISH)
    if days is None or draft is None or draft.step not in ("period", "confirm"):
        await _say(update, context.text("error.stale_button"))
        return
    await _preview(update, context, draft, str(days))


async def _preview(update: Update, context: BotContext, draft: Draft, typed: str) -> None:
    data = dict(draft.data)
    try:
        days = study.parse_period(typed)
    except RuleInputError as error:
        await _say(
            update,
            context.text(error.key) + "\n" + context.text("study.publish.ask_days"),
            _period_rows(context),
        )
        return
    data["days"] = days
    await save_draft(context.session, context.actor.person_id, FLOW_PUBLISH, "confirm", data)
    await context.session.commit()
    content = study.Content(**data["content"])
    lines = [context.text("study.publish.preview", days=days)]
    lines += [part for part in (content.text, content.link, content.file_name) if part]
    rows = [
        [
            Button(context.text("btn.study.send"), data="stu:go"),
            Button(context.text("common.cancel"), data=f"stu:q:{FLOW_PUBLISH}"),
        ]
    ]
    await _say(update, "\n".join(lines), rows)


async def _publish(update: Update, context: BotContext, data: str) -> None:
    draft = await get_draft(context.session, context.actor.person_id, FLOW_PUBLISH)
    if draft is None or draft.step != "confirm":
        await _say(update, context.text("common.already_done"))
        return
    values = dict(draft.data)
    item = await study.publish(
        context.session,
        context.actor,
        int(values["branch_id"]),
        study.Content(**values["content"]),
        int(values["days"]),
        context.deps.clock.now(),
        QuietHours.from_settings(context.deps.settings),
    )
    if item is None:
        await context.session.commit()
        await _say(update, context.text("error.not_allowed"))
        return
    await clear_draft(context.session, context.actor.person_id, FLOW_PUBLISH)
    await context.session.commit()
    await _say(update, context.text("study.publish.done"))


async def _mine(update: Update, context: BotContext, data: str) -> None:
    await _send_mine(update, context)


async def _quit_flow(update: Update, context: BotContext, data: str) -> None:
    flow = data.split(":", 2)[2] if data.count(":") == 2 else ""
    if flow in FLOWS:
        await clear_draft(context.session, context.actor.person_id, flow)
        await context.session.commit()
    await _say(update, context.text("common.cancelled"))


_ACTIONS = {
    "k": _check_in,
    "r": _ask_reflection,
    "v": _show_missing,
    "p": _start_publish,
    "d": _choose_days,
    "go": _publish,
    "me": _mine,
    "q": _quit_flow,
}


# -- typed answers ---------------------------------------------------------------------------------------


async def take_publish_input(update: Update, context: BotContext, draft: Draft) -> None:
    """The item's content (text, link or document), then its period in days."""
    message = update.effective_message
    if draft.step in ("period", "confirm"):
        await _preview(update, context, draft, message.text or "")
        return
    data = dict(draft.data)
    try:
        if message.document is not None:
            content = study.parse_content(
                message.caption, message.document.file_id, message.document.file_name
            )
        else:
            content = study.parse_content(message.text)
    except RuleInputError as error:
        await _say(
            update,
            context.text(error.key) + "\n" + context.text("study.publish.ask_content"),
            _cancel_row(context, FLOW_PUBLISH),
        )
        return
    data["content"] = content.as_dict()
    await save_draft(context.session, context.actor.person_id, FLOW_PUBLISH, "period", data)
    await context.session.commit()
    await _say(update, context.text("study.publish.ask_days"), _period_rows(context))


async def take_reflection(update: Update, context: BotContext, draft: Draft) -> None:
    """The member's short reflection for an item they checked in to."""
    item_id = int(draft.data["item_id"])
    text = update.effective_message.text
    try:
        outcome = await study.add_reflection(context.session, context.actor, item_id, text or "")
    except RuleInputError as error:
        await context.session.rollback()
        await _say(
            update,
            context.text(error.key) + "\n" + context.text("study.reflect.ask"),
            _cancel_row(context, FLOW_REFLECTION),
        )
        return
    await clear_draft(context.session, context.actor.person_id, FLOW_REFLECTION)
    await context.session.commit()
    await _say(
        update, context.text("study.reflect.saved" if outcome == StudyOutcome.OK else "error.not_allowed")
    )


FORM_FLOWS = {FLOW_PUBLISH: take_publish_input, FLOW_REFLECTION: take_reflection}


def handlers() -> list[BaseHandler]:
    return [
        CommandHandler("study", show_study),
        CallbackQueryHandler(on_button, pattern=r"^stu:"),
    ]
