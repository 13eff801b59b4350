"""The Telegram adapter of the conversation core: an update becomes a `Sender` and an `Inbound`, the
core answers with a `Reply`, and `handlers.render` shows it (an edit of the pressed message, or sends)."""

from __future__ import annotations

from telegram import Update

from bot.conversation import Sender
from bot.dialog import Inbound, Media
from handlers.context import BotContext
from handlers.materials import keep_upload
from handlers.render import send_reply

CHANNEL = "telegram"


def sender_of(update: Update) -> Sender | None:
    """The person behind an update (bots and channel posts have none)."""
    user = update.effective_user
    if user is None or user.is_bot:
        return None
    chat = update.effective_chat
    address = str(chat.id) if chat is not None and chat.type == "private" else None
    return Sender(CHANNEL, str(user.id), address, user.language_code)


def inbound_of(update: Update, bot_username: str | None = None) -> Inbound | None:
    """What the person did, in the core's words; None for updates that are nobody's input."""
    query = update.callback_query
    if query is not None:
        message_id = query.message.message_id if query.message is not None else None
        return Inbound(data=query.data or "", message_id=message_id)
    message = update.message
    if message is None:
        return None  # edits, channel posts, member updates ...
    text = message.text
    if text is not None and text.startswith("/"):
        head, *args = text.split()
        command, _, addressee = head[1:].partition("@")
        if addressee and bot_username and addressee.lower() != bot_username.lower():
            return None  # a command for another bot in a group
        return Inbound(command=command.lower(), args=tuple(args))
    if text is not None:
        return Inbound(text=text)
    if message.contact is not None:
        own = message.contact.user_id is not None and message.contact.user_id == update.effective_user.id
        return Inbound(contact_phone=message.contact.phone_number, contact_is_own=own)
    if message.photo:
        photo = message.photo[-1]
        return Inbound(media=Media("photo", photo.file_id, size=photo.file_size, caption=message.caption))
    if message.document is not None:
        doc = message.document
        return Inbound(
            media=Media(
                "document", doc.file_id, doc.file_name, doc.mime_type, doc.file_size, caption=message.caption
            )
        )
    return Inbound()  # a sticker, location, voice ...: the core answers with a pointer


async def on_update(update: Update, context: BotContext) -> None:
    """Hand the update to the core and show its answer."""
    sender, inbound = sender_of(update), inbound_of(update, context.bot.username)
    if sender is None or inbound is None:
        return
    if inbound.media is not None:
        kept = await keep_upload(update, context, sender, inbound)
        if kept is None:
            return  # refused (too large): the person was told
        inbound = kept
    reply = await context.deps.conversation.handle(sender, inbound, event_id=update.update_id)
    if reply is None:  # handled before: answer a press so the phone stops spinning, say nothing else
        if update.callback_query is not None:
            await update.callback_query.answer()
        return
    await send_reply(update, context, reply)
