"""The reminder tick runs the kinds the features declare, collected once by the composition root."""

from __future__ import annotations

import pytest

from app.features import build_features, reminder_kinds
from bot.conversation import Feature
from bot.scheduling import kinds_dues, kinds_relay, kinds_reports
from bot.services import activity, lifecycle, study


def test_every_kind_comes_from_one_feature_in_the_features_order() -> None:
    owners = {kind.name: f.name for f in build_features() for kind in f.reminder_kinds}
    declared = [
        *activity.REMINDER_KINDS,
        *lifecycle.REMINDER_KINDS,
        *study.REMINDER_KINDS,
        *kinds_relay.REMINDER_KINDS,
        *kinds_dues.REMINDER_KINDS,
        *kinds_reports.REMINDER_KINDS,
    ]
    assert {kind.name for kind in declared} == set(owners)
    names = [kind.name for kind in reminder_kinds()]
    assert names[0] == "activity.rsvp"  # it plans next month's events, which later kinds read
    assert names[-1] == "report.monthly"
    assert owners["dues.unpaid"] == "dues" and owners["apply.talk"] == "applications"
    # The application's background tick gets the very same list.
    assert [kind.name for kind in reminder_kinds()] == names


def test_a_kind_plugged_in_twice_is_refused() -> None:
    twice = [
        Feature(name="a", reminder_kinds=tuple(kinds_reports.REMINDER_KINDS)),
        Feature(name="b", reminder_kinds=tuple(kinds_reports.REMINDER_KINDS)),
    ]
    with pytest.raises(ValueError, match="twice"):
        reminder_kinds(twice)
