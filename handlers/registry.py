"""Every handler of the bot, registered in one place, in the order explained here.

The Telegram adapter has one entry: every update goes to the conversation core (`handlers.adapter`),
which routes commands, buttons and typed input to the features (``app/features.py``). Floods are
throttled and each chat's updates put in order before this (`handlers.updates`).
"""

from __future__ import annotations

from typing import Any

from telegram.ext import Application, CallbackQueryHandler, MessageHandler, filters

from handlers import adapter, core

# Commands from any chat (a group member may type /help); buttons; and everything a person sends in
# private that is not a command: text, contacts, photos, files, and what no form takes (stickers,
# locations, voice), which the core answers with a pointer.
INPUT = filters.COMMAND | (filters.ChatType.PRIVATE & filters.UpdateType.MESSAGE)


def register_handlers(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
    application.add_handlers(
        [MessageHandler(INPUT, adapter.on_update), CallbackQueryHandler(adapter.on_update)]
    )
    application.add_error_handler(core.on_error)
