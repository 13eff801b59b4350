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

from handlers import activity as activity_day
from handlers import adapter, core
from handlers import broadcast as notices
from handlers import dues as party_dues
from handlers import reports as branch_reports
from handlers import study as study_checkin
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
FORM_FLOWS: dict[str, FormInput] = {
    "notice": notices.take_content,
    # Party dues: a member's base, payment date, payer, extra; the secretary's amounts and reasons.
    party_dues.FLOW: party_dues.member_input,
    party_dues.ADMIN_FLOW: party_dues.admin_input,
    # Activity day (plan fields, leave reason, move, excuse), yearly details check, study publish/心得.
    **activity_day.FORM_FLOWS,
    **study_checkin.FORM_FLOWS,
}

# Everything a person sends in private that is not a command: text, contacts, photos, files, and
# what no form takes (stickers, locations, voice), which the core answers with a pointer.
FORM_INPUT = filters.ChatType.PRIVATE & filters.UpdateType.MESSAGE & ~filters.COMMAND


def register_handlers(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
    application.add_handler(TypeHandler(Update, core.skip_handled_update), group=GROUP_DEDUPE)
    application.add_handler(TypeHandler(Update, core.Throttle()), group=GROUP_THROTTLE)

    application.add_handlers(
        [
            # Secretary notices and the 收到 button of members (ntc:...).
            CommandHandler("notice", notices.start_notice),
            CallbackQueryHandler(notices.on_button, pattern=r"^ntc:"),
            # Party dues: members (dues:...) and the secretary's dues menu (dsa:...).
            CommandHandler("dues", party_dues.show_dues),
            CallbackQueryHandler(party_dues.member_button, pattern=r"^dues:"),
            CommandHandler("duesadmin", party_dues.admin_menu),
            CallbackQueryHandler(party_dues.admin_button, pattern=r"^dsa:"),
            # Activity day and the yearly details check (act:..., life:...), study check-ins (stu:...).
            *activity_day.handlers(),
            *study_checkin.handlers(),
            # Reports: /report and /townreport, a branch or township picked, 看图表 (rpt:...).
            *branch_reports.handlers(),
            # Last in the group: every command and button the conversation core routes (start, help,
            # language, reporting in, self-service, roster, export, the relay to the home township and
            # applications to join ...), and the pointer to /help for
            # unknown ones.
            MessageHandler(filters.COMMAND, adapter.on_update),
            CallbackQueryHandler(adapter.on_update),
        ],
        group=GROUP_FEATURES,
    )

    application.add_handler(
        MessageHandler(FORM_INPUT, FormRouter(FORM_FLOWS, adapter.on_update)), group=GROUP_FORMS
    )

    application.add_error_handler(core.on_error)
