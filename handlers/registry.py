"""Every handler of the bot, registered in one place, in groups whose order is explained here."""

from __future__ import annotations

from typing import Any

from telegram import Update
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    MessageHandler,
    TypeHandler,
    filters,
)

from handlers import core, start
from handlers.forms import FormInput, FormRouter

# Group order matters: PTB runs one handler per group, lowest group first.
#   -3  drop updates we have already handled (a redelivery must do nothing twice)
#   -2  throttle floods from one user before any database work for them
#    0  commands and buttons of the features
#    1  free text routed to the sender's open form (after commands, so /cancel etc. win)
GROUP_DEDUPE = -3
GROUP_THROTTLE = -2
GROUP_FEATURES = 0
GROUP_FORMS = 1


# Typed input goes to the sender's most recent open form: flow name (the Draft.flow) -> callback.
FORM_FLOWS: dict[str, FormInput] = {}

FORM_INPUT = filters.ChatType.PRIVATE & (
    (filters.TEXT & ~filters.COMMAND) | filters.PHOTO | filters.Document.ALL | filters.CONTACT
)


def register_handlers(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
    application.add_handler(TypeHandler(Update, core.skip_handled_update), group=GROUP_DEDUPE)
    application.add_handler(TypeHandler(Update, core.Throttle()), group=GROUP_THROTTLE)

    application.add_handlers(
        [
            CommandHandler("start", start.start),
            CommandHandler("help", start.show_help),
            CommandHandler("language", core.choose_language),
            CallbackQueryHandler(core.set_language, pattern=r"^lang:"),
        ],
        group=GROUP_FEATURES,
    )

    application.add_handler(MessageHandler(FORM_INPUT, FormRouter(FORM_FLOWS)), group=GROUP_FORMS)

    application.add_error_handler(core.on_error)
