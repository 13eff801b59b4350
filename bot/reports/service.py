"""Report use cases: who may see which report, the month asked for, the text and the chart.

- ``/report [month]`` for a branch's secretary or committee member: the month defaults to the last full
  month in the branch's time zone; the month under way can be asked for too, and its report says "so
  far" (截至 today) in its title and the chart's caption (issue 19). A month not yet begun is refused.
  An officer of several branches picks one first.
- ``/townreport [year]`` for a township agent: the year defaults to the current one (in the deployment's
  time zone, where the townships lie).
- Buttons (``RPT``: one codec, ids bounded) carry ``rpt:r:<branch>:<YYYYMM|0>`` (a report),
  ``rpt:c:<branch>:<YYYYMM>`` (its chart: the automatic monthly message has this button, because the
  outbox sends files by channel file id and a generated chart has none until it is first sent) and
  ``rpt:t:<township>:<year>``. Nothing in them is trusted: the sender's right to the branch or
  township is checked again, a refusal is audited.
"""

from __future__ import annotations

import asyncio
import re
import unicodedata
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.callbacks import Callbacks, Id, Int
from bot.dialog import Button, Reply, Screen, denied, stale
from bot.i18n import t
from bot.reports.figures import (
    branch_month,
    first_of_month,
    last_full_month,
    month_code,
    rate_series,
    township_year,
)
from bot.reports.text import (
    branch_report_text,
    chart_caption,
    chart_labels,
    month_label,
    township_report_text,
)
from bot.services import audit
from bot.services.identity import Actor
from storage.models import Branch, Township

EARLIEST_YEAR = 2000
LATEST_YEAR = 2200

RPT = Callbacks("rpt")
REPORT = RPT.action("r", Id, Int(0, LATEST_YEAR * 100 + 12))  # 0: the default month
CHART = RPT.action("c", Id, Int(0, LATEST_YEAR * 100 + 12))
TOWNSHIP = RPT.action("t", Id, Int(EARLIEST_YEAR, LATEST_YEAR))
_MONTH = re.compile(r"(\d{4})\s*(?:[-/.年]\s*(\d{1,2})\s*月?|(\d{2}))")
_YEAR = re.compile(r"(\d{4})\s*年?")


def parse_month(text: str) -> date | None:
    """``2026-02``, ``2026-2``, ``2026/02``, ``2026.2``, ``202602``, ``2026年2月`` (full-width digits too)."""
    cleaned = unicodedata.normalize("NFKC", text).strip()
    match = _MONTH.fullmatch(cleaned)
    if match is None:
        return None
    year, number = int(match.group(1)), int(match.group(2) or match.group(3))
    if not (EARLIEST_YEAR <= year <= LATEST_YEAR and 1 <= number <= 12):
        return None
    return date(year, number, 1)


def parse_year(text: str) -> int | None:
    match = _YEAR.fullmatch(unicodedata.normalize("NFKC", text).strip())
    if match is None or not EARLIEST_YEAR <= int(match.group(1)) <= LATEST_YEAR:
        return None
    return int(match.group(1))


def _month_of(code: int) -> date | None:
    """The month of a button's ``YYYYMM``; None for a code that is no month."""
    return parse_month(str(code)) if code >= EARLIEST_YEAR * 100 else None


async def _deny(
    session: AsyncSession, actor: Actor, action: str, target_type: str, target_id: int | None
) -> Reply:
    audit.record(
        session,
        actor_person_id=actor.person_id,
        action=action,
        target_type=target_type,
        target_id=target_id,
        result="denied",
        branch_id=target_id if target_type == "branch" else None,
    )
    return denied(actor.language)


async def branch_report(session: AsyncSession, actor: Actor, args: list[str], now: datetime) -> Reply:
    """/report [month]: the report of the officer's branch (or the choice of branch)."""
    language = actor.language
    branches = sorted(actor.secretary_branches)
    if not branches:
        return await _deny(session, actor, "report.branch", "branch", None)
    month = None
    if args:
        month = parse_month(" ".join(args))
        if month is None:
            return Reply.say(t(language, "report.bad_month"))
    if len(branches) > 1:
        rows = await session.execute(
            select(Branch.id, Branch.name).where(Branch.id.in_(branches)).order_by(Branch.id)
        )
        code = int(month_code(month)) if month else 0
        buttons = tuple((Button(name[:30], data=REPORT.data(bid, code)),) for bid, name in rows)
        return Reply.say(t(language, "report.choose_branch"), buttons=buttons)
    return await _report(session, actor, branches[0], month, now)


async def _report(
    session: AsyncSession, actor: Actor, branch_id: int, month: date | None, now: datetime
) -> Reply:
    language = actor.language
    branch = await session.get(Branch, branch_id)
    if branch is None or not actor.leads_branch(branch_id):
        return await _deny(session, actor, "report.branch", "branch", branch_id)
    tz = ZoneInfo(branch.timezone)
    current = first_of_month(now.astimezone(tz))
    if month is None:
        month = last_full_month(now, tz)
    elif month > current:
        last = last_full_month(now, tz)
        return Reply.say(
            t(language, "report.not_begun", month=month_label(language, month), last=f"{last:%Y-%m}")
        )
    so_far = now.astimezone(tz).date() if month == current else None
    figures = await branch_month(session, branch_id, month, now)
    text = branch_report_text(language, figures, tz, so_far=so_far)
    chart, caption = await _chart(session, branch, month, now, language, so_far)
    return Reply(screens=(Screen(text), Screen(caption, photo=chart)), edit=False)


async def _chart(
    session: AsyncSession,
    branch: Branch,
    month: date,
    now: datetime,
    language: str,
    so_far: date | None = None,
) -> tuple[bytes, str]:
    # matplotlib takes most of a second to import: only when a chart is first drawn (in the worker
    # thread that draws it), never at start-up.
    from bot.reports.chart import line_chart

    points = await rate_series(session, branch.id, month, now)
    title, months, series = chart_labels(language, branch.name, points)
    no_data = t(language, "report.chart.no_data")
    # Drawing takes a few hundred milliseconds: off the event loop, so other users are not kept waiting.
    png = await asyncio.to_thread(line_chart, title, months, series, no_data=no_data)
    return png, chart_caption(language, branch.name, points, so_far=so_far)


async def chart_only(
    session: AsyncSession, actor: Actor, branch_id: int, month: date, now: datetime
) -> Reply:
    branch = await session.get(Branch, branch_id)
    if branch is None or not actor.leads_branch(branch_id):
        return await _deny(session, actor, "report.chart", "branch", branch_id)
    tz = ZoneInfo(branch.timezone)
    current = first_of_month(now.astimezone(tz))
    if month > current:
        return stale(actor.language)
    so_far = now.astimezone(tz).date() if month == current else None
    chart, caption = await _chart(session, branch, month, now, actor.language, so_far)
    return Reply(screens=(Screen(caption, photo=chart),), edit=False)


async def township_report(
    session: AsyncSession, actor: Actor, args: list[str], now: datetime, tz: ZoneInfo
) -> Reply:
    """/townreport [year]: the agent's township (or the choice of township)."""
    language = actor.language
    townships = sorted(actor.agent_townships)
    if not townships:
        return await _deny(session, actor, "report.township", "township", None)
    year = now.astimezone(tz).year
    if args:
        asked = parse_year(" ".join(args))
        if asked is None or asked > year:
            return Reply.say(t(language, "town.bad_year", year=year))
        year = asked
    if len(townships) > 1:
        rows = await session.execute(
            select(Township.id, Township.name).where(Township.id.in_(townships)).order_by(Township.id)
        )
        buttons = tuple((Button(name[:30], data=TOWNSHIP.data(tid, year)),) for tid, name in rows)
        return Reply.say(t(language, "town.choose"), buttons=buttons)
    return await _township(session, actor, townships[0], year, now, tz)


async def _township(
    session: AsyncSession, actor: Actor, township_id: int, year: int, now: datetime, tz: ZoneInfo
) -> Reply:
    township = await session.get(Township, township_id)
    if township is None or not actor.agent_of(township_id):
        return await _deny(session, actor, "report.township", "township", township_id)
    if year > now.astimezone(tz).year:
        return stale(actor.language)
    figures = await township_year(session, township_id, township.name, year, tz, now)
    return Reply(screens=(Screen(township_report_text(actor.language, figures)),), edit=False)


async def press(session: AsyncSession, actor: Actor, data: str, now: datetime, tz: ZoneInfo) -> Reply:
    """A report button: a branch's report or chart, or a township's year; anything else is stale."""
    pressed = RPT.decode(data)
    if pressed is None:
        return stale(actor.language)
    target, code = pressed.args
    if pressed.action == "t":
        return await _township(session, actor, target, code, now, tz)
    month = _month_of(code)
    if pressed.action == "r" and (code == 0 or month is not None):
        return await _report(session, actor, target, month, now)
    if pressed.action == "c" and month is not None:
        return await chart_only(session, actor, target, month, now)
    return stale(actor.language)
