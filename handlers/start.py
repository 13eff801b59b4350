"""/start and /help: greet, follow an invite link, and list what this person may do."""

from __future__ import annotations

from telegram import Update

from bot.commands import commands_for
from handlers.context import BotContext, with_session


def help_text(context: BotContext) -> str:
    catalogue, language = context.deps.catalogue, context.actor.language
    lines = [catalogue.text(language, "help.intro")]
    for command in commands_for(context.actor.audiences):
        lines.append(f"/{command.name} — {catalogue.text(language, command.description_key)}")
    return "\n".join(lines)


@with_session
async def start(update: Update, context: BotContext) -> None:
    """Greet the user with what they can do here."""
    await update.effective_message.reply_text(context.text("start.welcome") + "\n\n" + help_text(context))


@with_session
async def show_help(update: Update, context: BotContext) -> None:
    """List the commands this user's roles allow."""
    await update.effective_message.reply_text(help_text(context))
