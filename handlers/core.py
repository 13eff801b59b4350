"""The error handler: log without personal data, tell the admin chat, ask the person to try again."""

from __future__ import annotations

import logging
import traceback

from telegram import Update
from telegram.error import TelegramError

from handlers.context import BotContext

logger = logging.getLogger(__name__)


async def on_error(update: object, context: BotContext) -> None:
    """Log the failure without personal data, tell the admin chat briefly, ask the user to try again."""
    error = context.error
    update_id = update.update_id if isinstance(update, Update) else None
    # Exception messages can quote SQL parameters or message texts: log the type and the frames only.
    frames = (
        "\n".join(
            f"  {frame.filename}:{frame.lineno} in {frame.name}"
            for frame in traceback.extract_tb(error.__traceback__)
        )
        if error
        else ""
    )
    logger.error("update %s failed with %s\n%s", update_id, type(error).__name__, frames)
    deps = context.deps
    if deps.settings.admin_chat_id:
        try:
            await context.bot.send_message(
                deps.settings.admin_chat_id,
                deps.catalogue.text(
                    None, "error.admin_report", error=type(error).__name__, update_id=update_id
                ),
            )
        except TelegramError:
            logger.warning("could not tell the admin chat about update %s", update_id)
    if isinstance(update, Update) and update.effective_chat is not None:
        user = update.effective_user
        language = "en" if user and (user.language_code or "").startswith("en") else None
        try:
            if update.callback_query:
                await update.callback_query.answer()
            await context.bot.send_message(
                update.effective_chat.id, deps.catalogue.text(language, "error.try_again")
            )
        except TelegramError:
            logger.warning("could not tell the user about the failure of update %s", update_id)
