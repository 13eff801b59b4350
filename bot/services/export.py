"""/export: the branch's ledgers (台账) as one .xlsx workbook, one sheet per feature.

A sheet is a function ``async (session, branch_id, language) -> Sheet``. Each feature plugs its
sheets in through its `Feature.export_sheets`; the composition root passes them in feature order (the
roster first). The workbook is written in a worker thread, and openpyxl is imported there, at first use.
"""

from __future__ import annotations

import asyncio
import io
import re
import unicodedata
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from bot.dialog import Reply, Screen, denied
from bot.i18n import t
from bot.services import audit
from bot.services.identity import Actor
from storage.models import Branch


@dataclass(frozen=True)
class Sheet:
    """One worksheet: a title, the header row, data rows, an optional totals row and footer lines
    (a reconciliation, notes) below it; the filter covers the header and the data rows only."""

    title: str
    headers: Sequence[str]
    rows: Sequence[Sequence[Any]]
    totals: Sequence[Any] | None = None
    footer: Sequence[Sequence[Any]] = ()
    # Every sheet is set up for printing, one page wide with the header row repeated: landscape unless
    # this is False (portrait).
    print_landscape: bool | None = None


SheetBuilder = Callable[[AsyncSession, int, str], Awaitable[Sheet]]


MAX_COLUMN_WIDTH = 40
_BAD_TITLE = re.compile(r"[\[\]:*?/\\]")
FILE_UNSAFE = re.compile(r'[\\/:*?"<>|\x00-\x1f]')


def display_width(value: Any) -> int:
    """Columns a value takes on screen: Chinese characters are twice as wide as Latin ones."""
    if value is None:
        return 0
    if isinstance(value, datetime):
        return 16
    if isinstance(value, date):
        return 10
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in str(value))


def _title(text: str, taken: set[str]) -> str:
    base = _BAD_TITLE.sub(" ", text).strip()[:28] or "Sheet"
    title, n = base, 2
    while title in taken:
        title, n = f"{base}{n}", n + 1
    taken.add(title)
    return title


def write_workbook(sheets: Sequence[Sheet]) -> bytes:
    """The workbook: bold frozen header with filters, widths fitted to the content, bold totals, set up
    for printing (landscape, fit to width, the header repeated on every page).

    CPU-bound: call it in a worker thread (`build_workbook` does)."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font
    from openpyxl.utils import get_column_letter

    workbook = Workbook()
    workbook.remove(workbook.active)
    taken: set[str] = set()
    bold = Font(bold=True)
    for sheet in sheets:
        ws = workbook.create_sheet(_title(sheet.title, taken))
        ws.append(list(sheet.headers))
        for cell in ws[1]:
            cell.font = bold
            cell.alignment = Alignment(vertical="center")
        widths = [display_width(h) for h in sheet.headers]
        for row in sheet.rows:
            ws.append(list(row))
            for i, value in enumerate(row[: len(widths)]):
                widths[i] = max(widths[i], display_width(value))
        last_row = ws.max_row
        columns = max(len(sheet.headers), 1)
        ws.auto_filter.ref = f"A1:{get_column_letter(columns)}{max(last_row, 1)}"
        ws.freeze_panes = "A2"
        for cells in ws.iter_rows(min_row=2, max_row=last_row):
            for cell in cells:
                if isinstance(cell.value, datetime):
                    cell.number_format = "yyyy-mm-dd hh:mm"
                elif isinstance(cell.value, date):
                    cell.number_format = "yyyy-mm-dd"
        if sheet.totals:
            ws.append(list(sheet.totals))
            for cell in ws[ws.max_row]:
                cell.font = bold
        for line in sheet.footer:
            ws.append(list(line))
        for i, width in enumerate(widths, start=1):
            ws.column_dimensions[get_column_letter(i)].width = min(max(width + 2, 6), MAX_COLUMN_WIDTH)
        # Printable as it is: landscape (unless the sheet asks for portrait) on A4, every column on one
        # page's width, the header row on every page.
        ws.page_setup.orientation = "portrait" if sheet.print_landscape is False else "landscape"
        ws.page_setup.paperSize = ws.PAPERSIZE_A4
        ws.page_setup.fitToWidth = 1
        ws.page_setup.fitToHeight = 0
        ws.sheet_properties.pageSetUpPr.fitToPage = True
        ws.print_title_rows = "1:1"
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


async def build_workbook(
    session: AsyncSession, branch_id: int, language: str, sheets: Sequence[SheetBuilder]
) -> bytes:
    built = [await builder(session, branch_id, language) for builder in sheets]
    return await asyncio.to_thread(write_workbook, built)


async def export_branch(
    session: AsyncSession,
    *,
    actor: Actor,
    branch_id: int | None,
    language: str,
    now: datetime,
    sheets: Sequence[SheetBuilder],
) -> Reply:
    """/export for an officer: the workbook of their branch (or the choice of branch if they lead several)."""
    from bot.services.roster import choose_branch

    if branch_id is None:
        if not actor.secretary_branches:
            return await _deny(session, actor, None, language)
        chosen = await choose_branch(session, actor, "exp:", language)
        if isinstance(chosen, Reply):
            return chosen
        branch_id = chosen
    if not actor.leads_branch(branch_id):
        return await _deny(session, actor, branch_id, language)
    branch = await session.get(Branch, branch_id)
    content = await build_workbook(session, branch_id, language, sheets)
    audit.record(
        session,
        actor_person_id=actor.person_id,
        action="roster.export",
        target_type="branch",
        target_id=branch_id,
        branch_id=branch_id,
    )
    await session.flush()
    day = now.astimezone(ZoneInfo(branch.timezone)).date().isoformat()
    filename = FILE_UNSAFE.sub("_", t(language, "export.filename", branch=branch.name, date=day))
    caption = t(language, "export.caption", branch=branch.name, date=day)
    return Reply(screens=(Screen(caption, document=(filename, content)),), edit=False)


async def _deny(session: AsyncSession, actor: Actor, branch_id: int | None, language: str) -> Reply:
    audit.record(
        session,
        actor_person_id=actor.person_id,
        action="roster.export",
        target_type="branch",
        target_id=branch_id,
        result="denied",
        branch_id=branch_id,
    )
    await session.flush()
    return denied(language)
