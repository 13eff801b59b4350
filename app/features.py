"""The one list of features, in the order /help, the workbook's sheets, /mydata and the reminder tick
follow: a feature's reminder kinds are declared on its `Feature` and collected here, nowhere else."""

from __future__ import annotations

from collections.abc import Sequence

from bot.conversation import Feature
from bot.flows import (
    activity,
    applications,
    dues,
    members,
    notices,
    registration,
    relay,
    reports,
    start,
    study,
)
from bot.scheduling.engine import ReminderKind
from bot.scheduling.kinds import collect


def build_features(extra: Sequence[Feature] = ()) -> list[Feature]:
    """Every feature (and any ``extra`` ones, last), with the self-service feature wired to what the
    others hold about a person: their /mydata sections, their erasers and their ledger sheets."""
    others = [
        start.FEATURE,
        registration.FEATURE,
        activity.FEATURE,
        dues.FEATURE,
        study.FEATURE,
        relay.FEATURE,
        applications.FEATURE,
        notices.FEATURE,
        reports.FEATURE,
        *extra,
    ]
    self_service = members.make_feature(
        sections=[f.data_section for f in others if f.data_section is not None],
        erasers=[f.eraser for f in others if f.eraser is not None],
        sheets=[sheet for f in others for sheet in f.export_sheets],
    )
    return [*others[:2], self_service, *others[2:]]


def reminder_kinds(features: Sequence[Feature] | None = None) -> list[ReminderKind]:
    """The tick's kinds from the features (this list unless others are given): `bot.scheduling.kinds`."""
    return collect(build_features() if features is None else features)
