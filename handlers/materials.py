"""Photos and files sent on Telegram, kept by the project: the bytes are fetched from Telegram and stored
(encrypted) as a material, and the core is handed ``material:<id>``, with this bot's file id kept beside
it only as a cache (``bot.services.materials``, ``bot.delivery.telegram.TelegramFiles``)."""

from __future__ import annotations

import logging
from dataclasses import replace

from telegram import Update
from telegram.error import BadRequest

from bot.conversation import Sender
from bot.delivery.telegram import cache_key
from bot.dialog import Inbound
from bot.services.materials import UPLOAD_MAX_BYTES, UPLOAD_MAX_MB
from handlers.context import BotContext

logger = logging.getLogger(__name__)


class TooLarge(Exception):
    """More than the project keeps (and than a bot may download from Telegram)."""


async def keep_upload(
    update: Update, context: BotContext, sender: Sender, inbound: Inbound
) -> Inbound | None:
    """The inbound event with its photo or file kept as a material; None when it was refused (too
    large, and the person was told). Media nobody has a form open for is passed on as it is: the core
    answers it with a pointer, and nothing is downloaded."""
    media = inbound.media
    if media is None or media.kind not in ("photo", "document"):
        return inbound
    deps = context.deps
    assert deps.conversation is not None
    uploader = await deps.conversation.uploader(sender, event_id=update.update_id)
    if uploader is None:
        return inbound
    try:
        content = await _download(context, media.ref, media.size)
    except TooLarge:
        message = update.effective_message
        if message is not None:
            await message.reply_text(
                deps.catalogue.text(uploader.language, "upload.too_large", mb=UPLOAD_MAX_MB)
            )
        return None
    kept = await deps.conversation.keep_upload(
        uploader, media, content, cache={cache_key(context.bot): media.ref}
    )
    return replace(inbound, media=kept)


async def _download(context: BotContext, file_id: str, size: int | None) -> bytes:
    if size is not None and size > UPLOAD_MAX_BYTES:
        raise TooLarge
    try:
        file = await context.bot.get_file(file_id)
    except BadRequest as error:
        if "too big" in error.message.lower():
            raise TooLarge from None
        raise
    if file.file_size is not None and file.file_size > UPLOAD_MAX_BYTES:
        raise TooLarge
    content = bytes(await file.download_as_bytearray())
    if len(content) > UPLOAD_MAX_BYTES:
        raise TooLarge
    return content
