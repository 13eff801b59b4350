"""Every handler of the bot, registered in one place, in groups whose order is explained here."""

from __future__ import annotations

from typing import Any

from telegram import Update
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    MessageHandler,
    TypeHandler,
    filters,
)

from handlers import adapter, core
from handlers import applications as join_applications
from handlers import relay as service_relay
from handlers.forms import FormInput, FormRouter

# Group order matters: PTB runs one handler per group, lowest group first.
#   -3  drop updates we have already handled (a redelivery must do nothing twice)
#    0  commands and buttons of the features
#    1  free text routed to the sender's open form (after commands, so /cancel etc. win)
GROUP_DEDUPE = -3
GROUP_FEATURES = 0
GROUP_FORMS = 1


# Typed input goes to the sender's most recent open form: flow name (the Draft.flow) -> callback.
FORM_FLOWS: dict[str, FormInput] = {
    **service_relay.FORM_FLOWS,
    **join_applications.FORM_FLOWS,
}

# Everything a person sends in private that is not a command: text, contacts, photos, files, and
# what no form takes (stickers, locations, voice), which the core answers with a pointer.
FORM_INPUT = filters.ChatType.PRIVATE & filters.UpdateType.MESSAGE & ~filters.COMMAND


def register_handlers(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
    application.add_handler(TypeHandler(Update, core.skip_handled_update), group=GROUP_DEDUPE)

    application.add_handlers(
        [
            # Relay to the home township (rl:...) and applications to join (jn:..., apply:start).
            *service_relay.handlers(),
            *join_applications.handlers(),
            # Last in the group: every command and button the conversation core routes (start, help,
            # language, reporting in, self-service, roster, export, activity day, study ...), and the
            # pointer to /help for unknown ones.
            MessageHandler(filters.COMMAND, adapter.on_update),
            CallbackQueryHandler(adapter.on_update),
        ],
        group=GROUP_FEATURES,
    )

    application.add_handler(
        MessageHandler(FORM_INPUT, FormRouter(FORM_FLOWS, adapter.on_update)), group=GROUP_FORMS
    )

    application.add_error_handler(core.on_error)
