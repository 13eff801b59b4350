"""Reports: /report (a branch's month, with a chart) for officers, /townreport for township agents, and
the report buttons (a branch or township picked, 看图表 under the automatic monthly report)."""

from __future__ import annotations

from bot.conversation import Feature, Turn
from bot.dialog import Reply
from bot.reports import service
from bot.reports.service import RPT
from bot.scheduling import kinds_reports


async def show_report(turn: Turn) -> Reply:
    """/report [YYYY-MM]: the branch's month in one message and one chart."""
    return await service.branch_report(turn.session, turn.actor, list(turn.inbound.args), turn.now)


async def show_township_report(turn: Turn) -> Reply:
    """/townreport [YYYY]: the agent's township: members by branch, requests, applications."""
    return await service.township_report(
        turn.session, turn.actor, list(turn.inbound.args), turn.now, turn.settings.tz
    )


async def on_button(turn: Turn) -> Reply:
    """A branch or township picked, or the chart button under the automatic monthly report."""
    return await service.press(turn.session, turn.actor, turn.inbound.data or "", turn.now, turn.settings.tz)


FEATURE = Feature(
    name="reports",
    commands={"report": show_report, "townreport": show_township_report},
    buttons={RPT.prefix: on_button},
    reminder_kinds=tuple(kinds_reports.REMINDER_KINDS),  # report.monthly, on the 1st
)
