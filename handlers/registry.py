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
from handlers import applications as join_applications
from handlers import broadcast as notices
from handlers import core, start
from handlers import dues as party_dues
from handlers import members as member_self
from handlers import registration as report_in
from handlers import relay as service_relay
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
    **service_relay.FORM_FLOWS,
    **join_applications.FORM_FLOWS,
    "notice": notices.take_content,
    # Reporting in: the form, an officer's reason for reject/return, a member changing a field.
    "register": report_in.on_form_input,
    "reg_reason": report_in.on_reason_input,
    "me_edit": member_self.on_edit_input,
    # Party dues: a member's base, payment date, payer, extra; the secretary's amounts and reasons.
    party_dues.FLOW: party_dues.member_input,
    party_dues.ADMIN_FLOW: party_dues.admin_input,
    # Activity day (plan fields, leave reason, move, excuse), yearly details check, study publish/心得.
    **activity_day.FORM_FLOWS,
    **study_checkin.FORM_FLOWS,
}

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
            # Relay to the home township (rl:...) and applications to join (jn:..., apply:start).
            *service_relay.handlers(),
            *join_applications.handlers(),
            # Secretary notices and the 收到 button of members (ntc:...).
            CommandHandler("notice", notices.start_notice),
            CallbackQueryHandler(notices.on_button, pattern=r"^ntc:"),
            # Reporting in (reg:...), member self-service (self:...), roster and export (ros:..., exp:...).
            CallbackQueryHandler(report_in.on_button, pattern=r"^reg:"),
            CommandHandler("me", member_self.show_me),
            CommandHandler("leave", member_self.ask_leave),
            CommandHandler("mydata", member_self.send_my_data),
            CommandHandler("deleteme", member_self.ask_erase),
            CallbackQueryHandler(member_self.on_self_button, pattern=r"^self:"),
            CommandHandler("members", member_self.list_members),
            CallbackQueryHandler(member_self.on_roster_button, pattern=r"^ros:"),
            CommandHandler("export", member_self.send_export),
            CallbackQueryHandler(member_self.send_export, pattern=r"^exp:"),
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
            # Last in the group: only what no feature above took. Unknown commands get a pointer
            # to /help, unknown buttons an answer so the phone stops spinning.
            MessageHandler(filters.COMMAND, core.unknown_command),
            CallbackQueryHandler(core.unknown_button),
        ],
        group=GROUP_FEATURES,
    )

    application.add_handler(MessageHandler(FORM_INPUT, FormRouter(FORM_FLOWS)), group=GROUP_FORMS)

    application.add_error_handler(core.on_error)
