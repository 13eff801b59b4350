"""Where the reminder kinds come from: each feature declares its own on its `Feature` object
(``reminder_kinds``) and the composition root collects them (`app.features.reminder_kinds`), in the
features' order, and passes the list to the tick; `bot.scheduling.engine` imports no feature. To add a
kind, declare it on its feature (see the module docstring of `bot.scheduling.engine` for what a kind is).
"""

from __future__ import annotations

from bot.scheduling.engine import ReminderKind


def default_kinds() -> list[ReminderKind]:
    """The composition root's list, for a caller that was not handed one (the Telegram application's
    background components): the same `app.features.reminder_kinds()`, never a second list."""
    from app.features import reminder_kinds  # the root stands above bot/: imported when called, not before

    return reminder_kinds()
