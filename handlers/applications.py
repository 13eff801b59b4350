"""Applying to join the party: the applicant's form (/apply, or the invite's "not a member" button) and
the secretary's /applicants with the talk and the stages.

Callback data is ``jn:<action>:<id>``; every press is re-checked by the service against the sender (the
applicant's own form, or a secretary of the application's branch).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from telegram import Message, Update
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler

from bot.services import applications
from bot.services.applications import ApplicationView, ApplyError
from bot.services.outbox import Button
from bot.services.relay import RelayError
from handlers.context import BotContext, with_session
from handlers.keyboards import inline_keyboard
from handlers.relay import part_of
from storage.models import Draft


def _int(data: str | None, index: int = 2) -> int | None:
    parts = (data or "").split(":")
    if len(parts) <= index or not parts[index].isdecimal() or len(parts[index]) > 12:
        return None
    return int(parts[index])


async def _say(
    update: Update, context: BotContext, key: str, buttons: Sequence[Sequence[Button]] = (), **params: object
) -> None:
    if update.callback_query is not None:
        await update.callback_query.answer()
    await update.effective_message.reply_text(
        context.text(key, **params), reply_markup=inline_keyboard(buttons)
    )


def _cancel_row(context: BotContext) -> list[Button]:
    return [Button(context.text("common.cancel"), data="jn:x")]


def _day(moment: datetime, tz: Any) -> str:
    return moment.astimezone(tz).date().isoformat()


async def _ask(update: Update, context: BotContext, step: str, error: ApplyError | None = None) -> None:
    """Ask the question of ``step`` (after the error that kept the form there, if any)."""
    prefix = context.text(error.key, **error.params) + "\n" if error is not None else ""
    buttons: list[list[Button]] = []
    params: dict[str, object] = {}
    if step in ("township", "branch"):
        options = await applications.choices(context.session, step)
        code = "tw" if step == "township" else "br"
        buttons = [[Button(name[:40], data=f"jn:{code}:{option_id}")] for option_id, name in options]
        if not options:
            await _say(update, context, f"apply.none.{step}")
            return
    if step == "confirm":
        summary = await applications.summary(context.session, context.actor)
        if summary is None:
            await _say(update, context, "error.stale_button")
            return
        params = {
            "name": summary.name,
            "phone": summary.phone,
            "birth": summary.birth_date,
            "township": summary.township_name,
            "branch": summary.branch_name,
            "letter": context.text(f"apply.letter_kind.{summary.letter_kind}"),
        }
        buttons = [[Button(context.text("btn.apply.submit"), data="jn:sub"), *_cancel_row(context)]]
    else:
        buttons.append(_cancel_row(context))
    if update.callback_query is not None:
        await update.callback_query.answer()
    await update.effective_message.reply_text(
        prefix + context.text(f"apply.ask.{step}", **params), reply_markup=inline_keyboard(buttons)
    )


def _status_text(context: BotContext, view: ApplicationView) -> str:
    tz = context.deps.settings.tz
    talk = (
        context.text("apply.talk.done")
        if view.talk_done
        else context.text("apply.talk.pending", due=view.talk_due_on.isoformat())
    )
    return context.text(
        "apply.status",
        id=view.id,
        stage=context.text(f"apply.stage.{view.stage}"),
        branch=view.branch_name,
        submitted=_day(view.submitted_at, tz),
        talk=talk,
    )


# -- the applicant -----------------------------------------------------------------------------------------


@with_session
async def start_application(update: Update, context: BotContext) -> None:
    """/apply, or "I am not a member" under an invite: start, resume or show the application."""
    try:
        step, view = await applications.begin(context.session, context.actor, context.deps.clock.now())
    except ApplyError as error:
        await _say(update, context, error.key)
        return
    if view is not None:
        await _say(update, context, "apply.exists", status=_status_text(context, view))
        return
    await _ask(update, context, step)


async def on_input(update: Update, context: BotContext, draft: Draft) -> None:
    """An answer typed or sent while the application form is open."""
    message: Message = update.effective_message
    values: dict[str, Any] = {}
    if message.contact is not None:
        values = {"contact_phone": message.contact.phone_number, "contact_user_id": message.contact.user_id}
    elif message.photo or message.document is not None:
        try:
            part = part_of(message)
        except RelayError:
            part = None
        if part is not None:
            values = {
                "file_kind": part.kind,
                "file_id": part.file_id,
                "filename": part.filename,
                "mime": part.mime,
            }
    elif message.text is not None:
        values = {"text": message.text}
    try:
        step = await applications.answer(
            context.session,
            context.actor,
            draft,
            context.deps.clock.now(),
            context.deps.settings.tz,
            **values,
        )
    except ApplyError as error:
        if error.code in ("too_young", "not_allowed"):
            await _say(update, context, error.key)
            return
        await _ask(update, context, draft.step, error)
        return
    await _ask(update, context, step)


@with_session
async def choose(update: Update, context: BotContext) -> None:
    """A township or branch button of the form."""
    data = update.callback_query.data or ""
    step = "township" if data.startswith("jn:tw:") else "branch"
    try:
        next_step = await applications.answer_choice(
            context.session,
            context.actor,
            step,
            _int(data) or 0,
            context.deps.clock.now(),
            context.deps.settings.tz,
        )
    except ApplyError as error:
        await _say(update, context, error.key)
        return
    await _ask(update, context, next_step)


@with_session
async def submit(update: Update, context: BotContext) -> None:
    """Submit the confirmed application: it goes to the branch and the home township."""
    try:
        view = await applications.submit(context.session, context.actor, context.deps.clock.now())
    except ApplyError as error:
        await _say(update, context, error.key)
        return
    await _say(
        update,
        context,
        "apply.submitted",
        id=view.id,
        branch=view.branch_name,
        due=view.talk_due_on.isoformat(),
        stage=context.text(f"apply.stage.{view.stage}"),
    )


@with_session
async def cancel(update: Update, context: BotContext) -> None:
    """Drop the unfinished application form."""
    closed = await applications.cancel(context.session, context.actor)
    await _say(update, context, "common.cancelled" if closed else "common.already_done")


# -- the secretary -----------------------------------------------------------------------------------------


def _secretary_buttons(context: BotContext, view: ApplicationView) -> list[list[Button]]:
    row = []
    if not view.talk_done:
        row.append(Button(context.text("btn.apply.talked"), data=f"jn:talk:{view.id}"))
    following = applications.next_stage(view.stage)
    if following is not None and view.talk_done:
        row.append(Button(context.text(f"btn.apply.to_{following}"), data=f"jn:stg:{view.id}:{following}"))
    return [row] if row else []


@with_session
async def show_applicants(update: Update, context: BotContext) -> None:
    """/applicants: the applications to the secretary's branches, the ones waiting for a talk first."""
    now = context.deps.clock.now()
    try:
        views = await applications.applicants(context.session, context.actor, now)
    except ApplyError as error:
        await _say(update, context, error.key)
        return
    if not views:
        await _say(update, context, "apply.list.none")
        return
    lines = [context.text("apply.list.title", count=len(views))]
    for view in views:
        talk = (
            context.text("apply.talk.done")
            if view.talk_done
            else context.text(
                "apply.talk.late" if view.talk_late else "apply.talk.pending",
                due=view.talk_due_on.isoformat(),
            )
        )
        lines.append(
            context.text(
                "apply.list.line",
                id=view.id,
                name=view.name,
                stage=context.text(f"apply.stage.{view.stage}"),
                talk=talk,
            )
        )
    buttons = [[Button(f"#{v.id} {v.name}"[:40], data=f"jn:view:{v.id}")] for v in views[:10]]
    await update.effective_message.reply_text("\n".join(lines), reply_markup=inline_keyboard(buttons))


@with_session
async def view_applicant(update: Update, context: BotContext) -> None:
    """One application: the applicant's details, stages, the letter again, and the next step."""
    app_id = _int(update.callback_query.data) or 0
    now = context.deps.clock.now()
    try:
        view = await applications.applicant(context.session, context.actor, app_id, now)
        history = await applications.stages(context.session, context.actor, app_id)
    except ApplyError as error:
        await _say(update, context, error.key)
        return
    tz = context.deps.settings.tz
    lines = [
        context.text(
            "apply.detail",
            id=view.id,
            name=view.name,
            phone=view.phone,
            age=view.age,
            township=view.township_name,
            branch=view.branch_name,
        ),
        _status_text(context, view),
    ]
    lines += [f"{_day(at, tz)} {context.text(f'apply.stage.{stage}')}" for stage, at in history]
    await update.callback_query.answer()
    message = update.effective_message
    await message.reply_text(
        "\n".join(lines), reply_markup=inline_keyboard(_secretary_buttons(context, view))
    )
    caption = context.text("apply.letter_caption", id=view.id, name=view.name)
    if view.letter_kind == "photo":
        await message.reply_photo(view.letter_file_id, caption=caption)
    elif view.letter_kind == "document":
        await message.reply_document(view.letter_file_id, caption=caption)
    else:
        await message.reply_text(f"{caption}\n\n{view.letter_text}")


@with_session
async def record_talk(update: Update, context: BotContext) -> None:
    """The branch has talked with the applicant: stop the deadline chase."""
    try:
        view = await applications.record_talk(
            context.session, context.actor, _int(update.callback_query.data) or 0, context.deps.clock.now()
        )
    except ApplyError as error:
        await _say(update, context, error.key)
        return
    await _say(
        update, context, "apply.talk.recorded", _secretary_buttons(context, view), id=view.id, name=view.name
    )


@with_session
async def set_stage(update: Update, context: BotContext) -> None:
    """Move an application to its next stage; the applicant is told."""
    data = update.callback_query.data or ""
    try:
        view = await applications.advance(
            context.session, context.actor, _int(data) or 0, data.rpartition(":")[2], context.deps.clock.now()
        )
    except ApplyError as error:
        await _say(update, context, error.key)
        return
    await _say(
        update,
        context,
        "apply.stage_set",
        _secretary_buttons(context, view),
        id=view.id,
        name=view.name,
        stage=context.text(f"apply.stage.{view.stage}"),
    )


@with_session
async def stale(update: Update, context: BotContext) -> None:
    """Any other ``jn:`` data: an old keyboard or a forged press."""
    await _say(update, context, "error.stale_button")


FORM_FLOWS = {applications.FLOW_APPLY: on_input}


def handlers() -> list[BaseHandler[Any, Any, Any]]:
    """This feature's commands and buttons, for `handlers.registry` (the catch-all comes last)."""
    return [
        CommandHandler("apply", start_application),
        CommandHandler("applicants", show_applicants),
        CallbackQueryHandler(start_application, pattern=r"^apply:start$"),
        CallbackQueryHandler(choose, pattern=r"^jn:(tw|br):\d+$"),
        CallbackQueryHandler(submit, pattern=r"^jn:sub$"),
        CallbackQueryHandler(cancel, pattern=r"^jn:x$"),
        CallbackQueryHandler(view_applicant, pattern=r"^jn:view:\d+$"),
        CallbackQueryHandler(record_talk, pattern=r"^jn:talk:\d+$"),
        CallbackQueryHandler(set_stage, pattern=r"^jn:stg:\d+:[a-z]+$"),
        CallbackQueryHandler(stale, pattern=r"^jn:"),
    ]
