"""The reminder kinds the bot runs, in order: the composition root calls `default_kinds()` and passes the
list to the tick (`bot.scheduling.engine` imports no feature). To add a kind, append it here (see the
module docstring of `bot.scheduling.engine` for what a kind is and how to write one)."""

from __future__ import annotations

from bot.scheduling.engine import ReminderKind


def default_kinds() -> list[ReminderKind]:
    """Every feature's reminder kinds, in the order the tick runs them."""
    from bot.scheduling import kinds_dues, kinds_relay, kinds_reports
    from bot.services import activity, lifecycle, study

    return [
        *activity.REMINDER_KINDS,  # activity.rsvp (plans next month's events first), activity.signin
        *study.REMINDER_KINDS,  # study.publish (late joiners), study.remind
        *lifecycle.REMINDER_KINDS,  # member.details, member.lost_contact, orglife.member, orglife.secretary
        *kinds_relay.REMINDER_KINDS,  # relay.soon, relay.late, relay.late_branch, apply.talk
        *kinds_dues.REMINDER_KINDS,  # dues.unpaid, dues.warn2, dues.warn5, dues.alert3, dues.alert5
        *kinds_reports.REMINDER_KINDS,  # report.monthly (last month's report to the officers on the 1st)
    ]
