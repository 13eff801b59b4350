"""The dues sheet, in the secretary's ledger file and in /export (issue 19, point 13): the filter covers
the members' rows and not the totals and reconciliation below them, 交纳日期 is a date cell, and the
sheet prints landscape, fitted to the page width, with the header row on every page."""

from __future__ import annotations

import io
from datetime import date, datetime

from openpyxl import load_workbook
from sqlalchemy import select

from app.features import build_features
from bot.services import export
from storage.models import Branch
from tests.dues.factory import SECRETARY, declare, local, make_world, open_months, pay
from tests.factories import TgUser
from tests.harness import BotHarness

A, B, C = TgUser(5601, "张伟"), TgUser(5602, "王芳"), TgUser(5603, "李娜")


def _print_ready(sheet, header_row: int) -> None:
    assert sheet.page_setup.orientation == "landscape"
    assert int(sheet.page_setup.fitToWidth) == 1 and int(sheet.page_setup.fitToHeight) == 0
    assert sheet.sheet_properties.pageSetUpPr.fitToPage is True
    assert sheet.print_title_rows.replace("$", "") == f"{header_row}:{header_row}"


async def _world(harness: BotHarness) -> None:
    harness.clock.set(local(2026, 3, 20, 10))
    world = await make_world(harness, [A, B, C])
    await declare(harness, world, A, "employed", "8000")
    await declare(harness, world, B, "retired", "6000")
    await open_months(harness, world.branch_id, date(2026, 3, 1))
    await pay(harness, world, A, date(2026, 3, 1))


async def test_the_ledger_file_filters_members_only_with_real_dates_and_prints(harness: BotHarness) -> None:
    await _world(harness)
    await harness.transcript(SECRETARY, [("/duesadmin", "党费管理"), (("press", "导出"), "导出哪个月")])
    calls = await harness.press(SECRETARY, harness.fake.last(SECRETARY.id).button("2026年3月"))
    [document] = [c for c in calls if c.method == "sendDocument"]
    [(_, content)] = list(document.files.values())
    sheet = load_workbook(io.BytesIO(content)).active
    rows = [list(r) for r in sheet.iter_rows(values_only=True)]
    headers = rows[1]
    paid_on = headers.index("交纳日期") + 1
    # Header in row 2, three members in rows 3-5, then the totals row and the reconciliation lines.
    assert rows[5][headers.index("姓名")] == "合计（本支部实收）"
    assert sheet.auto_filter.ref == f"A2:{sheet.cell(row=2, column=len(headers)).column_letter}5"
    [cell] = [sheet.cell(row=r, column=paid_on) for r in (3, 4, 5) if sheet.cell(row=r, column=paid_on).value]
    assert isinstance(cell.value, datetime) and cell.value.date() == date(2026, 3, 20)
    assert cell.number_format == "yyyy-mm-dd"
    _print_ready(sheet, header_row=2)


async def test_the_export_dues_sheet_likewise(harness: BotHarness) -> None:
    await _world(harness)
    sheets = [sheet for feature in build_features() for sheet in feature.export_sheets]
    async with harness.session() as session:
        branch_id = await session.scalar(select(Branch.id))
        content = await export.build_workbook(session, branch_id, "zh", sheets)
    workbook = load_workbook(io.BytesIO(content))
    sheet = workbook["党费台账 2026年3月"]
    rows = [list(r) for r in sheet.iter_rows(values_only=True)]
    headers = rows[0]
    names = [r[headers.index("姓名")] for r in rows]
    assert names[1:4] == ["张伟", "王芳", "李娜"] and names[4] == "合计（本支部实收）"
    assert "未交" in names[5:]  # the reconciliation lines follow, outside the filter
    assert sheet.auto_filter.ref.endswith("4")  # header and the three members only
    cell = sheet.cell(row=2, column=headers.index("交纳日期") + 1)
    assert isinstance(cell.value, datetime) and cell.number_format == "yyyy-mm-dd"
    for every in workbook.worksheets:
        _print_ready(every, header_row=1)
