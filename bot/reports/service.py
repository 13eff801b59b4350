"""Report use cases: who may see which report, the month asked for, the text and the chart.

- ``/report [month]`` for a branch's secretary or committee member: the month defaults to the last full
  month in the branch's time zone; only months that have ended can be asked for (figures of a running
  month would change under the reader). An officer of several branches picks one first.
- ``/townreport [year]`` for a township agent: the year defaults to the current one (in the deployment's
  time zone, where the townships lie).
- Buttons carry ``rpt:r:<branch>:<YYYYMM|0>`` (a report), ``rpt:c:<branch>:<YYYYMM>`` (its chart: the
  automatic monthly message has this button, because the outbox sends files by channel file id and a
  generated chart has none until it is first sent) and ``rpt:t:<township>:<year>``. Nothing in them is
  trusted: the sender's right to the branch or township is checked again, a refusal is audited.
"""

from __future__ import annotations

import asyncio
import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.i18n import t
from bot.reports.figures import branch_month, last_full_month, month_code, rate_series, township_year
from bot.reports.text import (
    branch_report_text,
    chart_caption,
    chart_labels,
    month_label,
    township_report_text,
)
from bot.services import audit
from bot.services.identity import Actor
from bot.services.outbox import Button
from storage.models import Branch, Township

EARLIEST_YEAR = 2000
_MONTH = re.compile(r"(\d{4})\s*(?:[-/.年]\s*(\d{1,2})\s*月?|(\d{2}))")
_YEAR = re.compile(r"(\d{4})\s*年?")


@dataclass(frozen=True)
class ReportAnswer:
    """What to show: a text with buttons, and optionally a chart; or a refusal shown as an alert on a tap."""

    text: str | None = None
    buttons: tuple[tuple[Button, ...], ...] = ()
    chart: bytes | None = None
    chart_caption: str | None = None
    alert: str | None = None  # a refusal: an alert on a tap, a plain reply to a command


def parse_month(text: str) -> date | None:
    """``2026-02``, ``2026-2``, ``2026/02``, ``2026.2``, ``202602``, ``2026年2月`` (full-width digits too)."""
    cleaned = unicodedata.normalize("NFKC", text).strip()
    match = _MONTH.fullmatch(cleaned)
    if match is None:
        return None
    year, number = int(match.group(1)), int(match.group(2) or match.group(3))
    if not (EARLIEST_YEAR <= year <= 2200 and 1 <= number <= 12):
        return None
    return date(year, number, 1)


def parse_year(text: str) -> int | None:
    match = _YEAR.fullmatch(unicodedata.normalize("NFKC", text).strip())
    if match is None or not EARLIEST_YEAR <= int(match.group(1)) <= 2200:
        return None
    return int(match.group(1))


def _parse_code(code: str) -> date | None:
    if code == "0":
        return None
    if len(code) != 6 or not code.isdecimal():
        raise ValueError(code)
    month = parse_month(code)
    if month is None:
        raise ValueError(code)
    return month


async def _deny(
    session: AsyncSession, actor: Actor, action: str, target_type: str, target_id: int | None, language: str
) -> ReportAnswer:
    audit.record(
        session,
        actor_person_id=actor.person_id,
        action=action,
        target_type=target_type,
        target_id=target_id,
        result="denied",
        branch_id=target_id if target_type == "branch" else None,
    )
    await session.commit()
    return ReportAnswer(alert=t(language, "error.not_allowed"))


async def branch_report(
    session: AsyncSession, actor: Actor, args: list[str], now: datetime, language: str
) -> ReportAnswer:
    """/report [month]: the report of the officer's branch (or the choice of branch)."""
    branches = sorted(actor.secretary_branches)
    if not branches:
        return await _deny(session, actor, "report.branch", "branch", None, language)
    month = None
    if args:
        month = parse_month(" ".join(args))
        if month is None:
            return ReportAnswer(text=t(language, "report.bad_month"))
    if len(branches) > 1:
        rows = await session.execute(
            select(Branch.id, Branch.name).where(Branch.id.in_(branches)).order_by(Branch.id)
        )
        code = month_code(month) if month else "0"
        buttons = tuple((Button(name[:30], data=f"rpt:r:{bid}:{code}"),) for bid, name in rows)
        return ReportAnswer(text=t(language, "report.choose_branch"), buttons=buttons)
    return await _report(session, actor, branches[0], month, now, language)


async def _report(
    session: AsyncSession, actor: Actor, branch_id: int, month: date | None, now: datetime, language: str
) -> ReportAnswer:
    branch = await session.get(Branch, branch_id)
    if branch is None or not actor.leads_branch(branch_id):
        return await _deny(session, actor, "report.branch", "branch", branch_id, language)
    tz = ZoneInfo(branch.timezone)
    last = last_full_month(now, tz)
    if month is None:
        month = last
    elif month > last:
        return ReportAnswer(
            text=t(language, "report.not_past", month=month_label(language, month), last=f"{last:%Y-%m}")
        )
    figures = await branch_month(session, branch_id, month, now)
    text = branch_report_text(language, figures, tz)
    chart, caption = await _chart(session, branch, month, now, language)
    return ReportAnswer(text=text, chart=chart, chart_caption=caption)


async def _chart(
    session: AsyncSession, branch: Branch, month: date, now: datetime, language: str
) -> tuple[bytes, str]:
    # matplotlib takes most of a second to import: only when a chart is first drawn, not at start-up.
    from bot.reports.chart import line_chart

    points = await rate_series(session, branch.id, month, now)
    title, months, series = chart_labels(language, branch.name, points)
    # Drawing takes a few hundred milliseconds: off the event loop, so other users are not kept waiting.
    png = await asyncio.to_thread(line_chart, title, months, series)
    return png, chart_caption(language, branch.name, points)


async def chart_only(
    session: AsyncSession, actor: Actor, branch_id: int, month: date, now: datetime, language: str
) -> ReportAnswer:
    branch = await session.get(Branch, branch_id)
    if branch is None or not actor.leads_branch(branch_id):
        return await _deny(session, actor, "report.chart", "branch", branch_id, language)
    if month > last_full_month(now, ZoneInfo(branch.timezone)):
        return ReportAnswer(alert=t(language, "error.stale_button"))
    chart, caption = await _chart(session, branch, month, now, language)
    return ReportAnswer(chart=chart, chart_caption=caption)


async def township_report(
    session: AsyncSession, actor: Actor, args: list[str], now: datetime, tz: ZoneInfo, language: str
) -> ReportAnswer:
    """/townreport [year]: the agent's township (or the choice of township)."""
    townships = sorted(actor.agent_townships)
    if not townships:
        return await _deny(session, actor, "report.township", "township", None, language)
    year = now.astimezone(tz).year
    if args:
        asked = parse_year(" ".join(args))
        if asked is None or asked > year:
            return ReportAnswer(text=t(language, "town.bad_year", year=year))
        year = asked
    if len(townships) > 1:
        rows = await session.execute(
            select(Township.id, Township.name).where(Township.id.in_(townships)).order_by(Township.id)
        )
        buttons = tuple((Button(name[:30], data=f"rpt:t:{tid}:{year}"),) for tid, name in rows)
        return ReportAnswer(text=t(language, "town.choose"), buttons=buttons)
    return await _township(session, actor, townships[0], year, now, tz, language)


async def _township(
    session: AsyncSession,
    actor: Actor,
    township_id: int,
    year: int,
    now: datetime,
    tz: ZoneInfo,
    language: str,
) -> ReportAnswer:
    township = await session.get(Township, township_id)
    if township is None or not actor.agent_of(township_id):
        return await _deny(session, actor, "report.township", "township", township_id, language)
    if year > now.astimezone(tz).year:
        return ReportAnswer(alert=t(language, "error.stale_button"))
    figures = await township_year(session, township_id, township.name, year, tz, now)
    return ReportAnswer(text=township_report_text(language, figures))


async def press(
    session: AsyncSession, actor: Actor, data: str, now: datetime, tz: ZoneInfo, language: str
) -> ReportAnswer:
    """A report button: ``rpt:r:<branch>:<month>``, ``rpt:c:<branch>:<month>``, ``rpt:t:<township>:<yr>``."""
    parts = data.split(":")
    if len(parts) != 4 or parts[0] != "rpt" or not parts[2].isdecimal() or len(parts[2]) > 9:
        return ReportAnswer(alert=t(language, "error.stale_button"))
    action, target = parts[1], int(parts[2])
    try:
        if action == "r":
            return await _report(session, actor, target, _parse_code(parts[3]), now, language)
        if action == "c":
            month = _parse_code(parts[3])
            if month is not None:
                return await chart_only(session, actor, target, month, now, language)
        if action == "t" and len(parts[3]) == 4 and parts[3].isdecimal():
            return await _township(session, actor, target, int(parts[3]), now, tz, language)
    except ValueError:
        pass
    return ReportAnswer(alert=t(language, "error.stale_button"))
