"""Cross-cutting handlers: drop redelivered updates, report errors."""

from __future__ import annotations

import logging
import traceback

from telegram import Update
from telegram.error import TelegramError
from telegram.ext import ApplicationHandlerStop

from handlers.context import BotContext
from storage.dialect import insert_ignore
from storage.models import HandledUpdate

logger = logging.getLogger(__name__)


async def skip_handled_update(update: Update, context: BotContext) -> None:
    """Record the update id; stop at once if this update was handled before (a redelivery)."""
    deps = context.deps
    async with deps.db.session() as session:
        inserted = await insert_ignore(
            session,
            HandledUpdate,
            {"update_id": update.update_id, "handled_at": deps.clock.now()},
            ["update_id"],
        )
        await session.commit()
    if not inserted:
        logger.info("update %s already handled, skipped", update.update_id)
        raise ApplicationHandlerStop


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
