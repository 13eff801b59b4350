"""The dues ledger (党费台账) of one branch and month: its rows, its totals and the .xlsx workbook.

Totals keep money paid at the home branch apart: it is listed so the secretary sees the month is
settled, but it never enters what this branch received, so nothing is counted twice.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from io import BytesIO
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.i18n import t
from bot.rules.dues import DuesCategory
from bot.services.dues import (
    MonthStatus,
    get_branch,
    load_branch_states,
    member_name,
    month_label,
    rate_label,
    require_officer,
)
from bot.services.export import FILE_UNSAFE, Sheet
from bot.services.identity import Actor
from storage.models import Member, MemberState, utcnow
from storage.models.dues import DuesMonth, DuesPayment

ZERO = Decimal("0.00")
# The ledger is an official record kept in Chinese, whatever language the secretary reads the bot in.
LEDGER_LANGUAGE = "zh"
MONEY_FORMAT = "0.00"
COLUMNS = (
    "index",
    "name",
    "party_status",
    "category",
    "base",
    "rate",
    "due",
    "extra",
    "paid",
    "place",
    "paid_on",
    "paid_by",
    "status",
    "note",
)
MONEY_COLUMNS = frozenset({"base", "due", "extra", "paid"})
DATE_FORMAT = "yyyy-mm-dd"
OWING = frozenset({MonthStatus.UNPAID, MonthStatus.REJECTED, MonthStatus.NOT_OPEN})


@dataclass(frozen=True)
class LedgerRow:
    index: int
    member_id: int
    name: str
    party_status: str | None
    category: DuesCategory | None
    base: Decimal | None
    rate: Decimal | None
    due: Decimal | None
    extra: Decimal
    paid: Decimal | None
    place: str | None
    paid_on: date | None
    paid_by: str | None
    status: MonthStatus
    note: str | None

    @property
    def undeclared(self) -> bool:
        """Owes the month, but never declared a base: what is owed is unknown (never counted as zero)."""
        return self.due is None and self.status in OWING


@dataclass(frozen=True)
class Ledger:
    branch_id: int
    branch_name: str
    month: date
    rows: list[LedgerRow]
    total_due: Decimal  # what every member owed for the month (after reductions and waivers)
    received: Decimal  # confirmed here, voluntary extra included
    received_extra: Decimal
    pending: Decimal  # reported here, not confirmed yet
    paid_home: Decimal  # paid at the home branch: listed, never part of `received`
    unpaid: Decimal  # owed and not reported, by the members whose amount is known
    undeclared: int = 0  # members who owe the month but never declared a base: amount unknown


async def build_ledger(
    session: AsyncSession, *, branch_id: int, month: date, actor: Actor, now: datetime
) -> Ledger:
    """The ledger of one month, for the secretary of the branch only."""
    await require_officer(session, actor, branch_id, "dues.ledger")
    return await _ledger(session, branch_id, month, now)


async def _ledger(session: AsyncSession, branch_id: int, month: date, now: datetime) -> Ledger:
    """Every member on the roster who owed the month, and anyone who paid it here (even if gone since)."""
    branch = await get_branch(session, branch_id)
    approved = set(
        await session.scalars(
            select(Member.id).where(Member.branch_id == branch_id, Member.state == MemberState.APPROVED)
        )
    )
    paid_here = set(
        await session.scalars(
            select(DuesPayment.member_id).where(
                DuesPayment.branch_id == branch_id, DuesPayment.month == month
            )
        )
    )
    states = await load_branch_states(session, branch, now, sorted(approved | paid_here), since=month)
    rows: list[LedgerRow] = []
    totals = {"due": ZERO, "received": ZERO, "extra": ZERO, "pending": ZERO, "home": ZERO, "unpaid": ZERO}
    undeclared = 0
    for state in states.values():
        payment = state.payments.get(month)
        if state.member.id not in paid_here and month < state.start:
            continue
        status = state.status(month)
        result = state.due(month)
        declaration = state.declaration_for(month)
        adjustment = state.adjustments.get(month)
        due = payment.amount_due if payment is not None else (result.amount if result else None)
        extra = payment.voluntary_extra if payment is not None else ZERO
        settled = status in (MonthStatus.CONFIRMED, MonthStatus.REPORTED, MonthStatus.HOME)
        paid = due + extra if settled and due is not None else None
        if status is MonthStatus.EXEMPT:
            due = ZERO
        totals["due"] += due or ZERO
        if status is MonthStatus.CONFIRMED:
            totals["received"] += paid or ZERO
            totals["extra"] += extra
        elif status is MonthStatus.REPORTED:
            totals["pending"] += paid or ZERO
        elif status is MonthStatus.HOME:
            totals["home"] += paid or ZERO
        elif status in OWING:
            if due is None:
                undeclared += 1
            else:
                totals["unpaid"] += due
        note = None
        if adjustment is not None:
            note = t(LEDGER_LANGUAGE, f"dues.ledger.note_{adjustment.kind}", reason=adjustment.reason or "")
        rows.append(
            LedgerRow(
                index=len(rows) + 1,
                member_id=state.member.id,
                name=member_name(state.member),
                party_status=state.member.party_status,
                category=DuesCategory(declaration.category) if declaration else None,
                base=declaration.base if declaration else None,
                rate=result.rate if result else None,
                due=due,
                extra=extra,
                paid=paid,
                place=payment.place if payment is not None and settled else None,
                paid_on=payment.paid_on if payment is not None and settled else None,
                paid_by=payment.paid_by if payment is not None and settled else None,
                status=status,
                note=note,
            )
        )
    return Ledger(
        branch_id=branch_id,
        branch_name=branch.name,
        month=month,
        rows=rows,
        total_due=totals["due"],
        received=totals["received"],
        received_extra=totals["extra"],
        pending=totals["pending"],
        paid_home=totals["home"],
        unpaid=totals["unpaid"],
        undeclared=undeclared,
    )


def _cell_value(row: LedgerRow, column: str, lang: str) -> object:
    if column == "party_status":
        return t(lang, f"dues.ledger.party_{row.party_status}") if row.party_status else ""
    if column == "category":
        return (
            t(lang, f"dues.cat.{row.category.value}") if row.category else t(lang, "dues.ledger.undeclared")
        )
    if column == "rate":
        return rate_label(row.rate)
    if column == "place":
        return t(lang, f"dues.place.{row.place}") if row.place else ""
    if column == "paid_on":
        return row.paid_on  # a date cell, so the sheet sorts and filters it as a date
    if column == "status":
        if row.undeclared:
            return t(lang, "dues.ledger.st_undeclared")
        return t(lang, f"dues.st.{row.status.value}")
    value = getattr(row, column)
    return "" if value is None else value


@dataclass(frozen=True)
class LedgerTable:
    """The ledger as rows of cells: what both the dues workbook and the /export sheet write."""

    headers: list[str]
    rows: list[list[object]]
    totals: list[object]
    summary: list[list[object]]  # received here, waiting, paid at home, unpaid (, undeclared)


def ledger_table(ledger: Ledger, lang: str = LEDGER_LANGUAGE) -> LedgerTable:
    headers = [t(lang, f"dues.ledger.col.{column}") for column in COLUMNS]
    rows = [[_cell_value(item, column, lang) for column in COLUMNS] for item in ledger.rows]
    width = len(COLUMNS)

    def line(label: str, **money: Decimal) -> list[object]:
        cells: list[object] = [""] * width
        cells[COLUMNS.index("name")] = label
        for column, amount in money.items():
            cells[COLUMNS.index(column)] = amount
        return cells

    totals = line(
        t(lang, "dues.ledger.total"), due=ledger.total_due, extra=ledger.received_extra, paid=ledger.received
    )
    summary = [
        line(t(lang, f"dues.ledger.sum_{key}"), paid=amount)
        for key, amount in (
            ("received", ledger.received),
            ("pending", ledger.pending),
            ("home", ledger.paid_home),
            ("unpaid", ledger.unpaid),
        )
    ]
    if ledger.undeclared:
        # Those who owe an unknown amount are counted, never added in as zero.
        undeclared = line(t(lang, "dues.ledger.sum_undeclared"))
        undeclared[COLUMNS.index("paid")] = t(lang, "dues.ledger.people", count=ledger.undeclared)
        undeclared[COLUMNS.index("note")] = t(lang, "dues.ledger.undeclared_note")
        summary.append(undeclared)
    return LedgerTable(headers, rows, totals, summary)


def print_setup(sheet: Any, header_row: int) -> None:
    """Landscape, fitted to the page width (as many pages down as needed), the header on every page."""
    sheet.page_setup.orientation = "landscape"
    sheet.page_setup.paperSize = sheet.PAPERSIZE_A4
    sheet.page_setup.fitToWidth = 1
    sheet.page_setup.fitToHeight = 0
    sheet.sheet_properties.pageSetUpPr.fitToPage = True
    sheet.print_title_rows = f"{header_row}:{header_row}"


def ledger_workbook(ledger: Ledger, lang: str = LEDGER_LANGUAGE) -> bytes:
    """The ledger as an .xlsx file: a title, the headers, one row per member, the totals row and the
    reconciliation lines (received here, waiting, paid at home, unpaid). openpyxl (and numpy with it) is
    imported here, at first use, not when the bot starts."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font
    from openpyxl.utils import get_column_letter

    table = ledger_table(ledger, lang)
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = ledger_sheet_title(ledger.month)
    sheet.append(
        [t(lang, "dues.ledger.title", branch=ledger.branch_name, month=month_label(lang, ledger.month))]
    )
    sheet.cell(row=1, column=1).font = Font(bold=True)
    sheet.append(table.headers)
    for cell in sheet[2]:
        cell.font = Font(bold=True)
        cell.alignment = Alignment(horizontal="center")
    for cells in [*table.rows, table.totals, *table.summary]:
        sheet.append(cells)
        for index, column in enumerate(COLUMNS, start=1):
            if column in MONEY_COLUMNS and isinstance(cells[index - 1], Decimal):
                sheet.cell(row=sheet.max_row, column=index).number_format = MONEY_FORMAT
            elif isinstance(cells[index - 1], date):
                sheet.cell(row=sheet.max_row, column=index).number_format = DATE_FORMAT
    # The filter covers the header and the members' rows, not the totals and reconciliation below.
    sheet.auto_filter.ref = f"A2:{get_column_letter(len(COLUMNS))}{2 + max(len(table.rows), 1)}"
    print_setup(sheet, header_row=2)
    for cell in sheet[3 + len(table.rows)]:
        cell.font = Font(bold=True)
    for index, column in enumerate(COLUMNS, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = (
            16 if column in ("name", "note", "category") else 11
        )
    sheet.freeze_panes = "A3"
    buffer = BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def ledger_sheet_title(month: date) -> str:
    return t(LEDGER_LANGUAGE, "dues.ledger.sheet", year=month.year, month=f"{month.month:02d}")


def ledger_filename(ledger: Ledger) -> str:
    """Named like the branch's whole ledger (``深圳流动党支部台账2026-12-03.xlsx``): branch, what, when."""
    name = t(
        LEDGER_LANGUAGE,
        "dues.ledger.filename",
        branch=ledger.branch_name,
        month=f"{ledger.month.year:04d}-{ledger.month.month:02d}",
    )
    return FILE_UNSAFE.sub("_", name)


async def dues_sheet(session: AsyncSession, branch_id: int, language: str) -> Sheet:
    """The /export workbook's dues sheet: the ledger of the branch's latest opened month."""
    month = await session.scalar(select(func.max(DuesMonth.month)).where(DuesMonth.branch_id == branch_id))
    if month is None:
        return Sheet(
            t(language, "dues.ledger.sheet_none"), [t(language, f"dues.ledger.col.{c}") for c in COLUMNS], []
        )
    table = ledger_table(await _ledger(session, branch_id, month, utcnow()), language)
    title = t(language, "dues.ledger.export_title", month=month_label(language, month))
    # The totals and the reconciliation lines follow the members' rows, outside the filter.
    return Sheet(title, table.headers, table.rows, table.totals, footer=table.summary[1:])


async def ledger_file(
    session: AsyncSession, *, branch_id: int, month: date, actor: Actor, now: datetime
) -> tuple[str, bytes, Ledger]:
    """(file name, .xlsx bytes, the ledger) for the secretary's export."""
    ledger = await build_ledger(session, branch_id=branch_id, month=month, actor=actor, now=now)
    return ledger_filename(ledger), await asyncio.to_thread(ledger_workbook, ledger), ledger
