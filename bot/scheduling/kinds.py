"""Where the reminder kinds come from: each feature declares its own on its `Feature` object
(``reminder_kinds``); the composition root (`app.features`) hands its list of features to whoever runs
the tick, and `collect` turns them into the tick's list. `bot.scheduling.engine` imports no feature and
nothing here imports the root. To add a kind, declare it on its feature (see the module docstring of
`bot.scheduling.engine` for what a kind is).
"""

from __future__ import annotations

from collections.abc import Iterable

from bot.conversation import Feature
from bot.scheduling.engine import ReminderKind


def collect(features: Iterable[Feature]) -> list[ReminderKind]:
    """Every feature's reminder kinds, in the features' order: the activity day's come first, because
    its ``activity.rsvp`` plans next month's events that the later kinds read; the monthly report last.
    A kind plugged in twice is a wiring mistake, refused at start-up."""
    kinds: list[ReminderKind] = []
    seen: set[str] = set()
    for feature in features:
        for kind in feature.reminder_kinds:
            if kind.name in seen:
                raise ValueError(f"{feature.name}: reminder kind {kind.name!r} is plugged in twice")
            seen.add(kind.name)
            kinds.append(kind)
    return kinds
