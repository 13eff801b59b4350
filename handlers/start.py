"""/start and /help: greet, follow an invite link, resume an open report-in, list what this person may do."""

from __future__ import annotations

from telegram import Update

from bot.commands import commands_for
from bot.services import registration
from handlers.context import BotContext, with_session
from handlers.render import send_reply

INVITE_PREFIX = "j_"


def help_text(context: BotContext) -> str:
    catalogue, language = context.deps.catalogue, context.actor.language
    lines = [catalogue.text(language, "help.intro")]
    for command in commands_for(context.actor.audiences):
        lines.append(f"/{command.name} — {catalogue.text(language, command.description_key)}")
    return "\n".join(lines)


@with_session
async def start(update: Update, context: BotContext) -> None:
    """Follow an invite link (j_<code>), else resume an open report-in, else greet with the commands."""
    actor, now = context.actor, context.deps.clock.now()
    args = context.args or []
    if args and args[0].startswith(INVITE_PREFIX):
        reply = await registration.open_invite(
            context.session,
            person_id=actor.person_id,
            code=args[0][len(INVITE_PREFIX) :],
            language=actor.language,
            now=now,
        )
        await send_reply(update, context, reply)
        return
    reply = await registration.resume(
        context.session, person_id=actor.person_id, language=actor.language, now=now
    )
    if reply is not None:
        await send_reply(update, context, reply)
        return
    await update.effective_message.reply_text(context.text("start.welcome") + "\n\n" + help_text(context))


@with_session
async def show_help(update: Update, context: BotContext) -> None:
    """List the commands this user's roles allow."""
    await update.effective_message.reply_text(help_text(context))
