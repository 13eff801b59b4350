"""The one list of features, in the order /help, the workbook's sheets and /mydata follow."""

from __future__ import annotations

from collections.abc import Sequence

from bot.conversation import Feature
from bot.flows import applications, members, registration, relay, start
from bot.reports import sheets as report_sheets
from bot.services import dues_ledger


def build_features(extra: Sequence[Feature] = ()) -> list[Feature]:
    """Every feature (and any ``extra`` ones, last), with the self-service feature wired to what the
    others hold about a person."""
    # Features whose flows still run as Telegram handlers plug in only their data here until they move.
    others = [
        start.FEATURE,
        registration.FEATURE,
        Feature(name="activity", export_sheets=(report_sheets.attendance_sheet,)),
        Feature(name="dues", export_sheets=(dues_ledger.dues_sheet,)),
        Feature(name="study", export_sheets=(report_sheets.study_sheet,)),
        relay.FEATURE,
        applications.FEATURE,
        *extra,
    ]
    self_service = members.make_feature(
        sections=[f.data_section for f in others if f.data_section is not None],
        erasers=[f.eraser for f in others if f.eraser is not None],
        sheets=[sheet for f in others for sheet in f.export_sheets],
    )
    return [*others[:2], self_service, *others[2:]]
