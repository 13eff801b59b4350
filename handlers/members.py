"""Member self-service (/me, /leave, /mydata, /deleteme) and the officers' roster (/members, /export)."""

from __future__ import annotations

from telegram import Update

from bot.services import export, members, roster
from handlers.context import BotContext, with_session
from handlers.render import send_reply
from storage.models import Draft


@with_session
async def show_me(update: Update, context: BotContext) -> None:
    """Show the member's own record with buttons to change phone, district and employer."""
    actor = context.actor
    reply = await members.profile(context.session, person_id=actor.person_id, language=actor.language)
    await send_reply(update, context, reply)


@with_session
async def ask_leave(update: Update, context: BotContext) -> None:
    """Ask the member to confirm that they are leaving the city."""
    actor = context.actor
    reply = await members.ask_leave(context.session, person_id=actor.person_id, language=actor.language)
    await send_reply(update, context, reply)


@with_session
async def send_my_data(update: Update, context: BotContext) -> None:
    """Send everything held about the sender as a file."""
    actor = context.actor
    reply = await members.my_data(context.session, person_id=actor.person_id, language=actor.language)
    await send_reply(update, context, reply)


@with_session
async def ask_erase(update: Update, context: BotContext) -> None:
    """Explain what /deleteme erases and ask for confirmation."""
    actor = context.actor
    reply = await members.ask_erase(context.session, person_id=actor.person_id, language=actor.language)
    await send_reply(update, context, reply)


@with_session
async def on_self_button(update: Update, context: BotContext) -> None:
    """The member's own buttons: change a field, confirm leaving, confirm erasure, cancel."""
    _, _, rest = (update.callback_query.data or "").partition(":")
    action, _, arg = rest.partition(":")
    session, actor, now = context.session, context.actor, context.deps.clock.now()
    kwargs = {"person_id": actor.person_id, "language": actor.language}
    if action == "ed":
        reply = await members.start_edit(session, field=arg, **kwargs)
    elif action in ("clr", "tr"):
        reply = await members.edit_button(session, action=action, arg=arg, now=now, **kwargs)
    elif action == "lv":
        reply = await members.report_leaving(session, now=now, **kwargs)
    elif action == "del":
        reply = await members.erase(session, now=now, **kwargs)
    else:  # "x" and anything unknown: cancel whatever was being asked
        reply = await members.cancel_edit(session, **kwargs)
    await send_reply(update, context, reply)


async def on_edit_input(update: Update, context: BotContext, draft: Draft) -> None:
    """Typed text or a shared contact for the field the member is changing."""
    message = update.effective_message
    session, actor, now = context.session, context.actor, context.deps.clock.now()
    kwargs = {"person_id": actor.person_id, "draft": draft, "language": actor.language, "now": now}
    if message.contact is not None:
        reply = await members.edit_contact(
            session,
            phone=message.contact.phone_number,
            contact_user_id=message.contact.user_id,
            sender_user_id=update.effective_user.id,
            **kwargs,
        )
    elif message.text is not None:
        reply = await members.edit_text(session, text=message.text, **kwargs)
    else:
        reply = await members.edit_other(session, draft=draft, language=actor.language)
    await send_reply(update, context, reply)


@with_session
async def list_members(update: Update, context: BotContext) -> None:
    """The branch's roster, first page, optionally filtered (/members pending, /members silent 30)."""
    actor = context.actor
    reply = await roster.open_roster(
        context.session,
        actor=actor,
        args=list(context.args or []),
        language=actor.language,
        now=context.deps.clock.now(),
    )
    await send_reply(update, context, reply)


@with_session
async def on_roster_button(update: Update, context: BotContext) -> None:
    """A roster page, filter or member card; or an officer confirming that a member left."""
    data = update.callback_query.data or ""
    session, actor, now = context.session, context.actor, context.deps.clock.now()
    if data.startswith("ros:lv:"):
        reply = await members.confirm_left(session, actor=actor, data=data, language=actor.language, now=now)
    else:
        reply = await roster.press(session, actor=actor, data=data, language=actor.language, now=now)
    await send_reply(update, context, reply)


@with_session
async def send_export(update: Update, context: BotContext) -> None:
    """Send the branch's ledger workbook (.xlsx)."""
    actor = context.actor
    branch_id = None
    query = update.callback_query
    if query is not None:
        _, _, arg = (query.data or "").partition(":")
        branch_id = int(arg) if arg.isdigit() and len(arg) < 10 else -1
    reply = await export.export_branch(
        context.session,
        actor=actor,
        branch_id=branch_id,
        language=actor.language,
        now=context.deps.clock.now(),
    )
    await send_reply(update, context, reply)
