"""Reporting in: the form's buttons and typed answers, and the officers' decisions on them."""

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

from bot.services import registration
from bot.services.registration import Reply, Screen
from handlers.context import BotContext, with_session
from handlers.keyboards import inline_keyboard
from storage.models import Draft


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


def _editable(screen: Screen) -> bool:
    return screen.contact is None and not screen.remove_keyboard and screen.document is None


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
        else:
            await context.bot.send_message(chat.id, screen.text, reply_markup=_markup(screen))


@with_session
async def on_button(update: Update, context: BotContext) -> None:
    """A button of the report-in form, or an officer's approve / reject / return."""
    data = update.callback_query.data or ""
    session, actor, now = context.session, context.actor, context.deps.clock.now()
    if data.startswith(("reg:ok:", "reg:no:", "reg:rt:")):
        reply = await registration.decide(session, actor=actor, data=data, language=actor.language, now=now)
    elif data == "reg:rc":
        reply = await registration.cancel_reason(session, actor=actor, language=actor.language)
    else:
        reply = await registration.press(
            session, person_id=actor.person_id, language=actor.language, data=data, now=now
        )
    await send_reply(update, context, reply)


async def on_form_input(update: Update, context: BotContext, draft: Draft) -> None:
    """Typed text, a shared contact or anything else sent while the report-in form is open."""
    message = update.effective_message
    session, actor, now = context.session, context.actor, context.deps.clock.now()
    if message.contact is not None:
        reply = await registration.share_contact(
            session,
            person_id=actor.person_id,
            draft=draft,
            phone=message.contact.phone_number,
            contact_user_id=message.contact.user_id,
            sender_user_id=update.effective_user.id,
            language=actor.language,
            now=now,
        )
    elif message.text is not None:
        reply = await registration.type_text(
            session,
            person_id=actor.person_id,
            draft=draft,
            text=message.text,
            language=actor.language,
            now=now,
        )
    else:
        reply = await registration.other_input(session, draft=draft, language=actor.language, now=now)
    await send_reply(update, context, reply)


async def on_reason_input(update: Update, context: BotContext, draft: Draft) -> None:
    """The officer's typed reason for rejecting or returning a report-in."""
    message = update.effective_message
    actor = context.actor
    reply = await registration.reason_text(
        context.session,
        actor=actor,
        draft=draft,
        text=message.text or "",
        language=actor.language,
        now=context.deps.clock.now(),
    )
    await send_reply(update, context, reply)
