"""Reports: /report (a branch's month with a chart) for officers, /townreport for township agents."""

from __future__ import annotations

from typing import Any

from telegram import InputFile, Update
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler

from bot.reports import service
from bot.reports.service import ReportAnswer
from handlers.context import BotContext, with_session
from handlers.keyboards import inline_keyboard

CHART_FILENAME = "report.png"


async def _send(update: Update, context: BotContext, answer: ReportAnswer) -> None:
    """Answer the tap (an alert for a refusal), then send the text and the chart as new messages."""
    query = update.callback_query
    if query is not None:
        await query.answer(answer.alert, show_alert=answer.alert is not None)
    chat = update.effective_chat
    if chat is None:
        return
    text = answer.text or (answer.alert if query is None else None)
    if text:
        await context.bot.send_message(chat.id, text, reply_markup=inline_keyboard(answer.buttons))
    if answer.chart is not None:
        await context.bot.send_photo(
            chat.id, InputFile(answer.chart, filename=CHART_FILENAME), caption=answer.chart_caption
        )


@with_session
async def show_report(update: Update, context: BotContext) -> None:
    """/report [YYYY-MM]: the branch's month in one message and one chart."""
    actor = context.actor
    answer = await service.branch_report(
        context.session, actor, list(context.args or []), context.deps.clock.now(), actor.language
    )
    await _send(update, context, answer)


@with_session
async def show_township_report(update: Update, context: BotContext) -> None:
    """/townreport [YYYY]: the agent's township: members by branch, requests, applications."""
    actor = context.actor
    answer = await service.township_report(
        context.session,
        actor,
        list(context.args or []),
        context.deps.clock.now(),
        context.deps.settings.tz,
        actor.language,
    )
    await _send(update, context, answer)


@with_session
async def on_button(update: Update, context: BotContext) -> None:
    """A branch or township picked, or the chart button under the automatic monthly report."""
    actor = context.actor
    answer = await service.press(
        context.session,
        actor,
        update.callback_query.data or "",
        context.deps.clock.now(),
        context.deps.settings.tz,
        actor.language,
    )
    await _send(update, context, answer)


def handlers() -> list[BaseHandler[Any, Any, Any]]:
    """This feature's commands and buttons, for `handlers.registry`."""
    return [
        CommandHandler("report", show_report),
        CommandHandler("townreport", show_township_report),
        CallbackQueryHandler(on_button, pattern=r"^rpt:"),
    ]
