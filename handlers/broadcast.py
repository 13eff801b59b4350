"""/notice: a secretary writes a notice, picks an audience, previews and confirms; members tap "received".

Callback data (all re-checked by the service against the sender and the database):
``ntc:b:<branch>`` branch, ``ntc:a:<audience>``, ``ntc:p:<value>`` audience parameter,
``ntc:back``, ``ntc:ok`` confirm, ``ntc:x`` cancel, ``ntc:ack:<notice>`` received,
``ntc:na:<notice>`` who has not acknowledged, ``ntc:fu:<notice>`` the one follow-up.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from telegram import Update

from bot.services import broadcast
from bot.services.broadcast import AlreadyDone, NotAllowed, Stale, Step
from bot.services.outbox import Button
from handlers.context import BotContext, with_session
from handlers.keyboards import inline_keyboard
from storage.models import Draft

CB = broadcast.CALLBACK


def _cancel_row(context: BotContext) -> list[Button]:
    return [Button(context.text("common.cancel"), data=f"{CB}:x")]


def _render(context: BotContext, step: Step) -> tuple[str, list[list[Button]]]:
    """The text and buttons of one step of the notice form."""
    lines: list[str] = []
    if step.error:
        lines.append(context.text(step.error, **step.error_params))
    rows: list[list[Button]] = []
    if step.step == "branch":
        lines.append(context.text("notice.choose_branch"))
        rows = [[Button(name, data=f"{CB}:b:{branch_id}")] for branch_id, name in step.branches]
    elif step.step == "text":
        lines.append(context.text("notice.ask_text"))
    elif step.step == "audience":
        lines.append(context.text("notice.ask_audience"))
        buttons = [Button(context.text(a.label_key), data=f"{CB}:a:{a.name}") for a in step.audiences]
        rows = [buttons[i : i + 2] for i in range(0, len(buttons), 2)]
    elif step.step == "param":
        lines.append(context.text("notice.ask_param" if step.choices else "notice.no_choices"))
        rows = [[Button(c.label, data=f"{CB}:p:{c.value}")] for c in step.choices]
        rows.append([Button(context.text("common.back"), data=f"{CB}:back")])
    elif step.step == "preview" and step.preview is not None:
        preview = step.preview
        label = context.text(preview.audience_key)
        if preview.param_label:
            label = f"{label} · {preview.param_label}"
        lines.append(context.text("notice.preview", audience=label, count=preview.count))
        if preview.blocked:
            lines.append(context.text("notice.preview_blocked", blocked=preview.blocked))
        if preview.count - preview.blocked <= 0:
            lines.append(context.text("notice.preview_empty"))
        if preview.media_kind:
            lines.append(context.text(f"notice.media_{preview.media_kind}"))
        lines.append("")
        lines.append(preview.text)
        confirm = (
            []
            if preview.count - preview.blocked <= 0
            else [Button(context.text("common.confirm"), data=f"{CB}:ok")]
        )
        rows = [[*confirm, Button(context.text("common.back"), data=f"{CB}:back")]]
    rows.append(_cancel_row(context))
    return "\n".join(lines), rows


async def _show(update: Update, context: BotContext, step: Step, *, edit: bool = False) -> None:
    text, rows = _render(context, step)
    if edit and update.callback_query is not None:
        await update.callback_query.edit_message_text(text, reply_markup=inline_keyboard(rows))
    else:
        await update.effective_message.reply_text(text, reply_markup=inline_keyboard(rows))


@with_session
async def start_notice(update: Update, context: BotContext) -> None:
    """/notice: start (or resume) writing a notice to the branch."""
    try:
        step = await broadcast.start_notice(context.session, context.actor)
    except NotAllowed:
        await update.effective_message.reply_text(context.text("error.not_allowed"))
        return
    await _show(update, context, step)


async def take_content(update: Update, context: BotContext, draft: Draft) -> None:
    """Typed text, a photo or a document for the open notice (a FORM_FLOWS callback)."""
    message = update.effective_message
    media_kind = media_ref = filename = None
    text = message.text
    if message.photo:
        media_kind, media_ref, text = "photo", message.photo[-1].file_id, message.caption
    elif message.document:
        media_kind, media_ref = "document", message.document.file_id
        filename, text = message.document.file_name, message.caption
    try:
        step = await broadcast.set_content(
            context.session,
            context.actor,
            text=text,
            media_kind=media_kind,
            media_ref=media_ref,
            filename=filename,
        )
    except NotAllowed:
        await message.reply_text(context.text("error.not_allowed"))
        return
    except Stale:
        await message.reply_text(context.text("error.stale_button"))
        return
    await _show(update, context, step)


# -- buttons ----------------------------------------------------------------------------------
Action = Callable[[Update, BotContext, str], Awaitable[None]]


async def _branch(update: Update, context: BotContext, arg: str) -> None:
    if not (arg.isdecimal() and len(arg) <= 12):
        raise Stale
    await _show(
        update, context, await broadcast.choose_branch(context.session, context.actor, int(arg)), edit=True
    )


async def _audience(update: Update, context: BotContext, arg: str) -> None:
    await _show(
        update, context, await broadcast.choose_audience(context.session, context.actor, arg), edit=True
    )


async def _param(update: Update, context: BotContext, arg: str) -> None:
    await _show(update, context, await broadcast.choose_param(context.session, context.actor, arg), edit=True)


async def _back(update: Update, context: BotContext, arg: str) -> None:
    await _show(update, context, await broadcast.back_to_audience(context.session, context.actor), edit=True)


async def _cancel(update: Update, context: BotContext, arg: str) -> None:
    if not await broadcast.cancel_notice(context.session, context.actor):
        raise AlreadyDone
    await update.callback_query.edit_message_text(context.text("common.cancelled"))


async def _confirm(update: Update, context: BotContext, arg: str) -> None:
    message = update.callback_query.message
    sent = await broadcast.send_notice(
        context.session,
        context.actor,
        progress_chat_id=message.chat.id if message else None,
        progress_message_id=message.message_id if message else None,
        now=context.deps.clock.now(),
    )
    await update.callback_query.edit_message_text(
        context.text("notice.progress", id=sent.notice_id, **sent.counts.params())
    )


async def _ack(update: Update, context: BotContext, arg: str) -> None:
    if not (arg.isdecimal() and len(arg) <= 12):
        raise Stale
    first = await broadcast.acknowledge(context.session, context.actor, int(arg), context.deps.clock.now())
    await update.callback_query.answer(context.text("notice.ack_thanks" if first else "common.already_done"))


async def _unacked(update: Update, context: BotContext, arg: str) -> None:
    if not (arg.isdecimal() and len(arg) <= 12):
        raise Stale
    result = await broadcast.unacknowledged(context.session, context.actor, int(arg))
    if result.total == 0:
        await update.effective_message.reply_text(context.text("notice.unacked_none", id=result.notice_id))
        return
    names = [name or context.text("notice.unnamed") for name in result.names]
    if result.total > len(names):
        names.append(context.text("notice.unacked_more", more=result.total - len(names)))
    rows = (
        []
        if result.followed_up
        else [[Button(context.text("notice.btn_followup"), data=f"{CB}:fu:{result.notice_id}")]]
    )
    listed = context.text("notice.name_separator").join(names)
    await update.effective_message.reply_text(
        context.text("notice.unacked", id=result.notice_id, total=result.total, names=listed),
        reply_markup=inline_keyboard(rows),
    )


async def _followup(update: Update, context: BotContext, arg: str) -> None:
    if not (arg.isdecimal() and len(arg) <= 12):
        raise Stale
    try:
        count = await broadcast.send_followup(
            context.session, context.actor, int(arg), context.deps.clock.now()
        )
    except AlreadyDone:
        await update.effective_message.reply_text(context.text("notice.followup_already"))
        return
    except Stale:
        await update.effective_message.reply_text(context.text("notice.still_sending"))
        return
    await update.effective_message.reply_text(context.text("notice.followup_sent", count=count))


ACTIONS: dict[str, Action] = {
    "b": _branch,
    "a": _audience,
    "p": _param,
    "back": _back,
    "x": _cancel,
    "ok": _confirm,
    "ack": _ack,
    "na": _unacked,
    "fu": _followup,
}


@with_session
async def on_button(update: Update, context: BotContext) -> None:
    """Every notice button: parse ``ntc:<action>[:<arg>]`` and run the action."""
    query = update.callback_query
    _, _, rest = (query.data or "").partition(":")
    action, _, arg = rest.partition(":")
    handler = ACTIONS.get(action)
    try:
        if handler is None:
            raise Stale
        await handler(update, context, arg)
    except NotAllowed:
        await query.answer()
        await update.effective_message.reply_text(context.text("error.not_allowed"))
        return
    except Stale:
        await query.answer()
        await update.effective_message.reply_text(context.text("error.stale_button"))
        return
    except AlreadyDone:
        await query.answer(context.text("common.already_done"))
        return
    if action != "ack":
        await query.answer()
