"""Reporting in: the form's buttons and typed answers, and the officers' decisions on them."""

from __future__ import annotations

from telegram import Update

from bot.services import registration
from handlers.context import BotContext, with_session
from handlers.render import send_reply
from storage.models import Draft


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
