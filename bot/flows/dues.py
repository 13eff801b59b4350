"""Party dues (党费) on the conversation core: /dues for members, /duesadmin for secretaries.

A member declares a category and base, then reports months paid: months → date → place → payer →
check → submit, each step in the same message with 返回 and 取消. Half-filled answers live in a
draft (flow ``dues``), so they survive restarts. The secretary's menu is in `bot.flows.dues_admin`.
Button data is declared once in `bot.services.dues` (``dues:...`` and ``dsa:...``); a forged or
too-large id decodes as a stale button.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from bot.conversation import Feature, Turn
from bot.dialog import Button, Reply, already_done, stale
from bot.flows import dues_admin
from bot.flows.dues_text import (
    CATEGORIES,
    CATEGORY_VALUES,
    Rows,
    codes,
    error_text,
    explain,
    from_codes,
    money,
    month,
    month_buttons,
    months,
    rows_of,
    screen,
    total_of,
)
from bot.rules.errors import RuleInputError
from bot.rules.validate import clean_name
from bot.services import dues, dues_ledger
from bot.services.drafts import clear_draft, get_draft, save_draft
from bot.services.dues import (
    M_BACK,
    M_CANCEL,
    M_CATEGORY,
    M_DATE,
    M_EFFECTIVE,
    M_EXTRA,
    M_HOME,
    M_MONTH,
    M_NEW,
    M_NEXT,
    M_PAY,
    M_PAYER,
    M_PLACE,
    M_QUARTER,
    M_SUBMIT,
    MEMBER_BUTTONS,
    MonthStatus,
)
from storage.models import Draft
from storage.models.dues import DeclarationReview, PaymentPlace

FLOW = "dues"
PLACES = frozenset(p.value for p in PaymentPlace)
# Where 返回 leads from each step of the payment report.
BACK_TO = {
    "date": "months",
    "place": "date",
    "payer": "place",
    "payer_name": "payer",
    "confirm": "payer",
    "extra": "confirm",
}


# --- the overview and the declaration ---------------------------------------------------------------


def _home_rows(turn: Turn) -> Rows:
    return (
        (
            Button(turn.text("dues.btn.pay"), data=M_PAY.data()),
            Button(turn.text("dues.btn.declare"), data=M_NEW.data()),
        ),
    )


def _cancel_row(turn: Turn) -> tuple[Button, ...]:
    return (Button(turn.text("common.cancel"), data=M_CANCEL.data()),)


def _overview_text(turn: Turn, overview: dues.Overview) -> str:
    lines = [turn.text("dues.overview_title", month=month(turn, overview.month))]
    if overview.declaration is not None:
        review = overview.declaration.review
        if review != DeclarationReview.CONFIRMED:
            lines.append(turn.text(f"dues.review.{review}"))
    lines.append(explain(turn, overview.current))
    if overview.lines:
        lines.append(turn.text("dues.months_title"))
        for line in overview.lines:
            amount = line.paid if line.paid is not None else (line.due.amount if line.due else None)
            lines.append(
                turn.text(
                    "dues.line",
                    month=month(turn, line.month),
                    amount=money(amount),
                    status=turn.text(f"dues.st.{line.status.value}"),
                )
            )
    return "\n".join(lines)


def _ask_category(turn: Turn, intro: str | None = None) -> Reply:
    buttons = [
        Button(turn.text(f"dues.btn.cat.{c.value}"), data=M_CATEGORY.data(c.value)) for c in CATEGORIES
    ]
    text = turn.text("dues.ask_category")
    return screen(f"{intro}\n{text}" if intro else text, (*rows_of(buttons, 4), _cancel_row(turn)))


def _ask_base(turn: Turn, category: str) -> Reply:
    return screen(turn.text(f"dues.ask_base.{category}"), (_cancel_row(turn),))


def _ask_effective(turn: Turn, overview: dues.Overview) -> Reply:
    labels = ("dues.btn.last_month", "dues.btn.this_month", "dues.btn.next_month")
    row = tuple(
        Button(turn.text(label), data=M_EFFECTIVE.data(int(dues.month_code(m))))
        for label, m in zip(labels, dues.effective_choices(overview.today), strict=True)
    )
    return screen(turn.text("dues.ask_effective"), (row, _cancel_row(turn)))


async def _overview(turn: Turn) -> dues.Overview:
    return await dues.member_overview(turn.session, turn.actor.member_id, turn.now)


async def show_dues(turn: Turn) -> Reply:
    """/dues: what the member owes and why, the recent months, and the buttons to declare or report."""
    try:
        overview = await _overview(turn)
    except dues.DuesRefused as refused:
        return screen(error_text(turn, refused))
    if overview.declaration is None:
        return _ask_category(turn, turn.text("dues.declare_first"))
    return screen(_overview_text(turn, overview), _home_rows(turn))


async def _start_declaring(turn: Turn, args: tuple[Any, ...]) -> Reply:
    return _ask_category(turn)


async def _choose_category(turn: Turn, args: tuple[Any, ...]) -> Reply:
    category = args[0]
    if category not in CATEGORY_VALUES:
        return stale(turn.language)
    if dues.needs_base(category):
        await save_draft(turn.session, turn.actor.person_id, FLOW, "base", {"category": category})
        return _ask_base(turn, category)
    return await _after_base(turn, category, None)


async def _after_base(turn: Turn, category: str, base: Decimal | None) -> Reply:
    """A first declaration is saved at once; a change asks from which month the new pay counts."""
    if await dues.has_declaration(turn.session, turn.actor.member_id or 0):
        data = {"category": category, "base": None if base is None else str(base)}
        await save_draft(turn.session, turn.actor.person_id, FLOW, "effective", data)
        return _ask_effective(turn, await _overview(turn))
    return await _declare(turn, category, base, None)


async def _declare(turn: Turn, category: str, base: Decimal | None, effective: Any) -> Reply:
    try:
        outcome = await dues.declare(
            turn.session,
            member_id=turn.actor.member_id,
            actor_person_id=turn.actor.person_id,
            category=category,
            base=base,
            effective=effective,
            now=turn.now,
        )
    except (dues.DuesRefused, RuleInputError) as error:
        return screen(error_text(turn, error))
    await clear_draft(turn.session, turn.actor.person_id, FLOW)
    text = "\n".join(
        [
            turn.text("dues.declared", month=month(turn, outcome.declaration.effective_month)),
            explain(turn, outcome.result),
        ]
    )
    return screen(text, _home_rows(turn))


async def _choose_effective(turn: Turn, args: tuple[Any, ...]) -> Reply:
    draft = await get_draft(turn.session, turn.actor.person_id, FLOW)
    chosen = dues.month_of_code(args[0])
    if draft is None or draft.step != "effective":
        return already_done(turn.language)
    if chosen is None:
        return stale(turn.language)
    base = draft.data.get("base")
    return await _declare(turn, draft.data["category"], Decimal(base) if base else None, chosen)


async def _home(turn: Turn, args: tuple[Any, ...]) -> Reply:
    return await show_dues(turn)


# --- reporting a payment: months, date, place, payer, check, submit --------------------------------


def _nav_row(turn: Turn, step: str) -> tuple[Button, ...]:
    return (
        Button(turn.text("common.back"), data=M_BACK.data(step)),
        Button(turn.text("common.cancel"), data=M_CANCEL.data()),
    )


def _months_screen(turn: Turn, overview: dues.Overview, chosen: set[Any]) -> Reply:
    choices = sorted(set(overview.reportable) | set(overview.quarter))
    rows = list(rows_of(month_buttons(turn, choices, chosen, M_MONTH), 4))
    extra = []
    if overview.quarter:
        extra.append(Button(turn.text("dues.btn.quarter"), data=M_QUARTER.data()))
    extra.append(Button(turn.text("dues.btn.next"), data=M_NEXT.data()))
    rows.append(tuple(extra))
    rows.append(
        (
            Button(turn.text("common.back"), data=M_HOME.data()),
            Button(turn.text("common.cancel"), data=M_CANCEL.data()),
        )
    )
    text = turn.text("dues.ask_months")
    if chosen:
        text += "\n" + turn.text(
            "dues.chosen",
            months=months(turn, sorted(chosen)),
            total=money(total_of(overview.amounts, chosen)),
        )
    return screen(text, tuple(rows))


def _summary(turn: Turn, data: dict[str, Any], overview: dues.Overview) -> str:
    chosen = from_codes(data["months"])
    total = total_of(overview.amounts, chosen)
    extra = Decimal(data.get("extra") or "0")
    lines = [
        turn.text("dues.summary", months=months(turn, chosen), total=money(total)),
        turn.text("dues.summary_date", paid_on=data["paid_on"]),
        turn.text("dues.summary_place", place=turn.text(f"dues.place.{data['place']}")),
    ]
    if data.get("payer"):
        lines.append(turn.text("dues.payer_line", payer=data["payer"]))
    if extra:
        lines.append(turn.text("dues.summary_extra", extra=money(extra), total=money(total + extra)))
    return "\n".join(lines)


async def _step_screen(turn: Turn, step: str, data: dict[str, Any]) -> Reply:
    """The question of one step of the payment report, with its buttons and 返回 / 取消."""
    if step == "months":
        overview = await _overview(turn)
        return _months_screen(turn, overview, set(from_codes(data["months"])) & set(overview.amounts))
    if step == "date":
        row = (
            Button(turn.text("dues.btn.today"), data=M_DATE.data(0)),
            Button(turn.text("dues.btn.yesterday"), data=M_DATE.data(1)),
        )
        return screen(turn.text("dues.ask_date"), (row, _nav_row(turn, step)))
    if step == "place":
        row = tuple(
            Button(turn.text(f"dues.btn.place.{p.value}"), data=M_PLACE.data(p.value)) for p in PaymentPlace
        )
        return screen(turn.text("dues.ask_place"), (row, _nav_row(turn, step)))
    if step == "payer":
        row = (
            Button(turn.text("dues.btn.self"), data=M_PAYER.data("self")),
            Button(turn.text("dues.btn.other"), data=M_PAYER.data("other")),
        )
        return screen(turn.text("dues.ask_payer"), (row, _nav_row(turn, step)))
    if step == "payer_name":
        return screen(turn.text("dues.ask_payer_name"), (_nav_row(turn, step),))
    if step == "extra":
        return screen(turn.text("dues.ask_extra"), (_nav_row(turn, step),))
    # "confirm"
    row = (
        Button(turn.text("dues.btn.submit"), data=M_SUBMIT.data()),
        Button(turn.text("dues.btn.extra"), data=M_EXTRA.data()),
    )
    return screen(_summary(turn, data, await _overview(turn)), (row, _nav_row(turn, "confirm")))


async def _go(turn: Turn, draft: Draft, step: str, **data: Any) -> Reply:
    """Move the report to ``step`` (keeping what was answered) and ask its question."""
    merged = {**draft.data, **data}
    await save_draft(turn.session, turn.actor.person_id, FLOW, step, merged)
    return await _step_screen(turn, step, merged)


async def _report_draft(turn: Turn, step: str | None = None) -> Draft | None:
    draft = await get_draft(turn.session, turn.actor.person_id, FLOW)
    if draft is None or "months" not in draft.data or (step is not None and draft.step != step):
        return None
    return draft


def _nothing_to_pay(turn: Turn, overview: dues.Overview) -> Reply:
    """Say why there is nothing to report, and what happens next."""
    current = next((line for line in overview.lines if line.month == overview.month), None)
    back = ((Button(turn.text("common.back"), data=M_HOME.data()),),)
    if current is not None and current.status is MonthStatus.NOT_OPEN:
        day = overview.settings.reminder_day
        return screen(turn.text("dues.nothing_not_opened", month=month(turn, overview.month), day=day), back)
    return screen(turn.text("dues.nothing_settled"), back)


async def _start_report(turn: Turn, args: tuple[Any, ...]) -> Reply:
    try:
        overview = await _overview(turn)
    except dues.DuesRefused as refused:
        return screen(error_text(turn, refused))
    if overview.declaration is None:
        return _ask_category(turn, turn.text("dues.declare_first"))
    if not overview.reportable and not overview.quarter:
        return _nothing_to_pay(turn, overview)
    chosen = set(overview.reportable[-1:])  # the latest month due is the usual answer
    await save_draft(turn.session, turn.actor.person_id, FLOW, "months", {"months": codes(sorted(chosen))})
    return _months_screen(turn, overview, chosen)


async def _toggle_month(turn: Turn, args: tuple[Any, ...]) -> Reply:
    draft = await _report_draft(turn, "months")
    chosen_month = dues.month_of_code(args[0])
    if draft is None or chosen_month is None:
        return stale(turn.language)
    overview = await _overview(turn)
    if chosen_month not in overview.amounts:
        return stale(turn.language)
    chosen = (set(from_codes(draft.data["months"])) & set(overview.amounts)) ^ {chosen_month}
    await save_draft(turn.session, turn.actor.person_id, FLOW, "months", {"months": codes(sorted(chosen))})
    return _months_screen(turn, overview, chosen)


async def _choose_quarter(turn: Turn, args: tuple[Any, ...]) -> Reply:
    draft = await _report_draft(turn, "months")
    if draft is None:
        return stale(turn.language)
    overview = await _overview(turn)
    chosen = set(overview.quarter)
    await save_draft(turn.session, turn.actor.person_id, FLOW, "months", {"months": codes(sorted(chosen))})
    return _months_screen(turn, overview, chosen)


async def _months_done(turn: Turn, args: tuple[Any, ...]) -> Reply:
    draft = await _report_draft(turn, "months")
    if draft is None:
        return stale(turn.language)
    if not draft.data["months"]:
        return Reply(toast=turn.text("dues.pick_month"))
    return await _go(turn, draft, "date")


async def _choose_date(turn: Turn, args: tuple[Any, ...]) -> Reply:
    draft = await _report_draft(turn, "date")
    if draft is None:
        return stale(turn.language)
    overview = await _overview(turn)
    paid_on = overview.today - timedelta(days=args[0])
    return await _go(turn, draft, "place", paid_on=paid_on.isoformat())


async def _choose_place(turn: Turn, args: tuple[Any, ...]) -> Reply:
    draft = await _report_draft(turn, "place")
    if draft is None or args[0] not in PLACES:
        return stale(turn.language)
    return await _go(turn, draft, "payer", place=args[0])


async def _choose_payer(turn: Turn, args: tuple[Any, ...]) -> Reply:
    draft = await _report_draft(turn, "payer")
    if draft is None or args[0] not in ("self", "other"):
        return stale(turn.language)
    if args[0] == "other":
        return await _go(turn, draft, "payer_name")
    return await _go(turn, draft, "confirm", payer=None)


async def _ask_extra(turn: Turn, args: tuple[Any, ...]) -> Reply:
    draft = await _report_draft(turn, "confirm")
    if draft is None:
        return stale(turn.language)
    return await _go(turn, draft, "extra")


async def _back(turn: Turn, args: tuple[Any, ...]) -> Reply:
    """返回: the previous step of the report, with the answers given so far kept."""
    step = args[0]
    draft = await _report_draft(turn, step)
    if draft is None or step not in BACK_TO:
        return stale(turn.language)
    return await _go(turn, draft, BACK_TO[step])


async def _submit(turn: Turn, args: tuple[Any, ...]) -> Reply:
    """Send the report; a second tap finds no draft and changes nothing."""
    draft = await _report_draft(turn, "confirm")
    if draft is None:
        return already_done(turn.language)
    data = draft.data
    await clear_draft(turn.session, turn.actor.person_id, FLOW)
    try:
        outcome = await dues.report_payment(
            turn.session,
            member_id=turn.actor.member_id,
            actor_person_id=turn.actor.person_id,
            months=from_codes(data["months"]),
            paid_on=date.fromisoformat(data["paid_on"]),
            place=data["place"],
            paid_by=data.get("payer"),
            extra=Decimal(data.get("extra") or "0"),
            now=turn.now,
        )
    except (dues.DuesRefused, RuleInputError) as error:
        return screen(error_text(turn, error))
    return screen(turn.text("dues.reported", months=months(turn, outcome.months), total=money(outcome.total)))


async def _cancel(turn: Turn, args: tuple[Any, ...]) -> Reply:
    await clear_draft(turn.session, turn.actor.person_id, FLOW)
    return screen(turn.text("common.cancelled"))


_ACTIONS = {
    "home": _home,
    "new": _start_declaring,
    "cat": _choose_category,
    "eff": _choose_effective,
    "pay": _start_report,
    "m": _toggle_month,
    "q": _choose_quarter,
    "next": _months_done,
    "d": _choose_date,
    "pl": _choose_place,
    "by": _choose_payer,
    "x": _ask_extra,
    "ok": _submit,
    "back": _back,
    "no": _cancel,
}


async def on_button(turn: Turn) -> Reply:
    """Every ``dues:`` button of the member's flow."""
    press = MEMBER_BUTTONS.decode(turn.inbound.data)
    if press is None:
        return stale(turn.language)
    if turn.actor.member_id is None and press.action != "no":
        return screen(turn.text("dues.not_member"))
    return await _ACTIONS[press.action](turn, press.args)


async def on_input(turn: Turn) -> Reply:
    """Typed answers of the member's flow: the base, a payment date, the payer's name, an extra amount."""
    draft = turn.draft
    assert draft is not None
    text = turn.inbound.text
    step = draft.step
    if text is None or step not in ("base", "date", "payer_name", "extra"):
        return await _ask_again(turn, draft, turn.text("dues.use_buttons"))
    try:
        if step == "base":
            category = draft.data["category"]
            return await _after_base(turn, category, dues.parse_base(category, text))
        if step == "date":
            overview = await _overview(turn)
            paid_on = dues.parse_paid_on(text, overview.today)
            return await _go(turn, draft, "place", paid_on=paid_on.isoformat())
        if step == "payer_name":
            return await _go(turn, draft, "confirm", payer=clean_name(text))
        return await _go(turn, draft, "confirm", extra=str(dues.parse_money(text)))
    except (dues.DuesRefused, RuleInputError) as error:
        return await _ask_again(turn, draft, error_text(turn, error))


async def _ask_again(turn: Turn, draft: Draft, why: str) -> Reply:
    """A refused answer: say why, and ask the same step's question again (a new message)."""
    if draft.step == "base":
        question = _ask_base(turn, draft.data["category"])
    elif draft.step == "effective":
        question = _ask_effective(turn, await _overview(turn))
    elif "months" in draft.data and (draft.step == "months" or draft.step in BACK_TO):
        question = await _step_screen(turn, draft.step, draft.data)
    else:
        return screen(why, (_cancel_row(turn),), edit=False)
    [asked] = question.screens
    return screen(f"{why}\n{asked.text}", asked.buttons, edit=False)


FEATURE = Feature(
    name="dues",
    commands={"dues": show_dues, "duesadmin": dues_admin.admin_menu},
    buttons={MEMBER_BUTTONS.prefix: on_button, dues.ADMIN_BUTTONS.prefix: dues_admin.on_button},
    forms={FLOW: on_input, dues_admin.FLOW: dues_admin.on_input},
    export_sheets=(dues_ledger.dues_sheet,),
    data_section=dues.data_section,
    eraser=dues.erase_person,
    personal_columns=dues.PERSONAL_COLUMNS,
)
