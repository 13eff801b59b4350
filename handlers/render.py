"""Render the core's channel-neutral `Reply` as Telegram messages: inline keyboards, edits or sends."""

from __future__ import annotations

from telegram import (
    InlineKeyboardMarkup,
    InputFile,
    KeyboardButton,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    Update,
)
from telegram.error import BadRequest

from bot.delivery.telegram import TelegramFiles
from bot.dialog import Reply, Screen
from handlers.context import BotContext
from handlers.keyboards import inline_keyboard


def _markup(screen: Screen) -> ReplyKeyboardMarkup | ReplyKeyboardRemove | InlineKeyboardMarkup | None:
    if screen.contact is not None:
        share, back, cancel = screen.contact
        return ReplyKeyboardMarkup(
            [[KeyboardButton(share, request_contact=True)], [KeyboardButton(back), KeyboardButton(cancel)]],
            resize_keyboard=True,
            one_time_keyboard=True,
        )
    if screen.remove_keyboard:
        return ReplyKeyboardRemove()
    return inline_keyboard(screen.buttons)


def telegram_files(context: BotContext) -> TelegramFiles:
    """The one sender of kept materials for this Application's replies (its memory of file ids)."""
    files = context.deps.components.get("telegram_files")
    if files is None:
        files = context.deps.components["telegram_files"] = TelegramFiles(context.bot, context.deps.db)
    return files


def _editable(screen: Screen) -> bool:
    return (
        screen.contact is None
        and not screen.remove_keyboard
        and screen.document is None
        and screen.photo is None
        and screen.media is None
    )


async def send_reply(update: Update, context: BotContext, reply: Reply) -> None:
    """Answer the tap (a toast if any), then edit the tapped message into the one screen, or send them."""
    query = update.callback_query
    screens = reply.screens
    if query is not None:
        await query.answer(reply.toast, show_alert=reply.alert)
    elif reply.toast and not screens:
        screens = (Screen(reply.toast),)  # a typed command has no tap to answer: say it instead
    if query is not None and query.message is not None and reply.edit and len(screens) == 1:
        screen = screens[0]
        if _editable(screen):
            try:
                await query.edit_message_text(screen.text, reply_markup=inline_keyboard(screen.buttons))
                return
            except BadRequest as exc:
                if "not modified" in str(exc).lower():
                    return  # a second tap showing the same screen
                # Too old to edit, or not a text message: send it as a new one below.
    chat = update.effective_chat
    if chat is None:
        return
    for screen in screens:
        if screen.document is not None:
            filename, content = screen.document
            await context.bot.send_document(
                chat.id, InputFile(content, filename=filename), caption=screen.text
            )
        elif screen.media is not None and screen.media.kind in ("photo", "document"):
            # A file the project keeps (or an older Telegram file id), the text as its caption; the text
            # alone when the file was erased since.
            media = screen.media
            sent = await telegram_files(context).send(
                chat.id, media.kind, media.ref, filename=media.filename, caption=screen.text[:1024]
            )
            if sent is None:
                await context.bot.send_message(chat.id, screen.text, reply_markup=_markup(screen))
        elif screen.photo is not None:
            await context.bot.send_photo(
                chat.id, InputFile(screen.photo, filename="chart.png"), caption=screen.text
            )
        else:
            await context.bot.send_message(chat.id, screen.text, reply_markup=_markup(screen))
