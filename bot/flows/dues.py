"""Party dues (党费) on the conversation core: /dues for members, /duesadmin for secretaries.

Both of the member's forms run on the step engine (`bot.steps`), each step in the same message with
返回 and 取消, drafts in SQL:
- the declaration (flow ``dues``): 类别 → the base (typed, unless the category is flat) → for a change of
  an earlier declaration, the month the new base counts from; the last answer declares (no check screen,
  the result shows the amount and the rule);
- the payment report (flow ``dues_pay``): months → 哪天交的 (今天 / 昨天, or typed) → 在哪里交的 →
  是本人交的 (or the payer's name) → the check with 修改 per answer and 多交 → submit.
The secretary's menu is in `bot.flows.dues_admin`.
Button data is declared once in `bot.services.dues` (``dues:...`` and ``dsa:...``); a forged or
too-large id decodes as a stale button.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from bot.conversation import Feature, Turn
from bot.dialog import Button, Reply, stale
from bot.flows import dues_admin
from bot.flows.dues_text import (
    Rows,
    base_of,
    base_prompt,
    category_options,
    chosen,
    chosen_text,
    codes,
    error_text,
    explain,
    from_codes,
    money,
    month,
    month_buttons,
    months,
    parse_base,
    refused,
    rows_of,
    screen,
    toggle,
    total_of,
    typed,
)
from bot.rules.errors import RuleInputError
from bot.rules.validate import clean_name
from bot.scheduling import kinds_dues
from bot.services import dues, dues_ledger
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
from bot.steps import CONFIRM, EXIT, SUBMIT, Ask, Confirm, Form, Invalid, Local, Option, Step
from storage.models.dues import DeclarationReview, PaymentPlace

FLOW = "dues"  # the declaration: category, base, the month a new base counts from (DECLARE below)
PAY_FLOW = "dues_pay"  # the payment report (PAY below)


# --- the overview ------------------------------------------------------------------------------------


def _home_rows(turn: Turn) -> Rows:
    return (
        (
            Button(turn.text("dues.btn.pay"), data=M_PAY.data()),
            Button(turn.text("dues.btn.declare"), data=M_NEW.data()),
        ),
    )


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


# The member's overview is read once per event (kept in the event's session): /dues and 报告交费 read it,
# then the form they open reads it again for its first question. Writing the member's dues drops it.
_OVERVIEWS = "dues overviews"  # (a key of session.info)


async def _overview(turn: Turn) -> dues.Overview:
    known = turn.session.info.setdefault(_OVERVIEWS, {})
    member_id = turn.actor.member_id
    if member_id not in known:
        known[member_id] = await dues.member_overview(turn.session, member_id, turn.now)
    return known[member_id]


def _overview_read(turn: Turn) -> dues.Overview | None:
    """The overview this event has read already, if it has."""
    return turn.session.info.get(_OVERVIEWS, {}).get(turn.actor.member_id)


def _forget_overview(turn: Turn) -> None:
    turn.session.info.pop(_OVERVIEWS, None)


async def show_dues(turn: Turn) -> Reply:
    """/dues: what the member owes and why, the recent months, and the buttons to declare or report;
    a member who never declared is asked to (the declaration form opens)."""
    try:
        overview = await _overview(turn)
    except dues.DuesRefused as refused:
        return screen(error_text(turn, refused))
    if overview.declaration is None:
        return await DECLARE.start(turn, {"intro": "dues.declare_first"})
    return screen(_overview_text(turn, overview), _home_rows(turn))


# --- the declaration: category, base, the month a new base counts from (a form on the step engine) ----


async def _ask_overview(ask: Ask) -> dues.Overview:
    return await ask.once("overview", lambda: _overview(ask.turn))


async def _declared_before(ask: Ask) -> bool:
    """Whether this changes an earlier declaration (then the new base needs the month it counts from)."""

    async def find() -> bool:
        overview = _overview_read(ask.turn)  # no declaration in force means none at all
        if overview is not None:
            return overview.declaration is not None
        return await dues.has_declaration(ask.turn.session, ask.turn.actor.member_id or 0)

    return await ask.once("declared", find)


def _category_text(ask: Ask) -> str:
    text = ask.text("dues.ask_category")
    intro = ask.data.get("intro")
    return f"{ask.text(intro)}\n{text}" if intro else text


async def _after_category(ask: Ask, category: str) -> str:
    if dues.needs_base(category):
        return "base"
    ask.data["base"] = None
    return await _after_base(ask, None)


async def _after_base(ask: Ask, base: object) -> str:
    return "effective" if await _declared_before(ask) else SUBMIT


async def _effective_options(ask: Ask) -> list[Option]:
    labels = ("dues.btn.last_month", "dues.btn.this_month", "dues.btn.next_month")
    choices = dues.effective_choices((await _ask_overview(ask)).today)
    return [
        Option(int(dues.month_code(m)), ask.text(label)) for label, m in zip(labels, choices, strict=True)
    ]


async def _declare(ask: Ask) -> Reply:
    """The last answer: the declaration is saved (the engine drops the draft with it)."""
    turn, data = ask.turn, ask.data
    effective = dues.month_of_code(data["effective"]) if data.get("effective") else None
    _forget_overview(turn)
    try:
        outcome = await dues.declare(
            turn.session,
            member_id=turn.actor.member_id,
            actor_person_id=turn.actor.person_id,
            category=data["category"],
            base=base_of(data),
            effective=effective,
            now=turn.now,
        )
    except (dues.DuesRefused, RuleInputError) as error:
        return screen(error_text(turn, error))
    text = "\n".join(
        [
            turn.text("dues.declared", month=month(turn, outcome.declaration.effective_month)),
            explain(turn, outcome.result),
        ]
    )
    return screen(text, _home_rows(turn))


async def _back_from_category(ask: Ask) -> str | None:
    """A change begun from the overview goes back to it; a first declaration has only 取消."""
    return EXIT if await _declared_before(ask) else None


DECLARE = Form(
    FLOW,
    MEMBER_BUTTONS,
    [
        Step(
            "category",
            _category_text,
            options=category_options,
            action=M_CATEGORY.name,
            per_row=4,
            next=_after_category,
            back=_back_from_category,
        ),
        Step("base", base_prompt, parse=parse_base, next=_after_base, back="category"),
        Step(
            "effective",
            "dues.ask_effective",
            options=_effective_options,
            action=M_EFFECTIVE.name,
            value=M_EFFECTIVE.fields[0],
            per_row=3,
            next=SUBMIT,
            back=lambda ask: "base" if dues.needs_base(ask.data["category"]) else "category",
        ),
    ],
    None,
    submit=_declare,
    again="/dues",
    exit=show_dues,
    back_action="db",
    cancel_action="dx",
    edit_action="de",
)


# --- reporting a payment: months, date, place, payer, check, submit (a form on the step engine) --------


async def _months_text(ask: Ask) -> str:
    return chosen_text(ask, ask.text("dues.ask_months"), (await _ask_overview(ask)).amounts)


async def _months_rows(ask: Ask) -> Rows:
    overview = await _ask_overview(ask)
    choices = sorted(set(overview.reportable) | set(overview.quarter))
    rows = list(rows_of(month_buttons(ask.turn, choices, chosen(ask.data, overview.amounts), M_MONTH), 4))
    extra = []
    if overview.quarter:
        extra.append(Button(ask.text("dues.btn.quarter"), data=M_QUARTER.data()))
    extra.append(Button(ask.text("dues.btn.next"), data=M_NEXT.data()))
    rows.append(tuple(extra))
    return tuple(rows)


async def _toggle_month(ask: Ask, code: int) -> None:
    toggle(ask.data, (await _ask_overview(ask)).amounts, code)


async def _choose_quarter(ask: Ask) -> None:
    overview = await _ask_overview(ask)
    if not overview.quarter:
        raise Invalid("error.stale_button")
    ask.data["months"] = codes(sorted(overview.quarter))


def _months_done(ask: Ask) -> str:
    if not ask.data.get("months"):
        raise Invalid("dues.pick_month")
    return "date"


async def _date_options(ask: Ask) -> list[Option]:
    return [Option(0, ask.text("dues.btn.today")), Option(1, ask.text("dues.btn.yesterday"))]


async def _store_date(ask: Ask, value: int | str) -> None:
    if isinstance(value, int):
        value = ((await _ask_overview(ask)).today - timedelta(days=value)).isoformat()
    ask.data["paid_on"] = value


async def _parse_date(ask: Ask, text: str) -> str:
    today = (await _ask_overview(ask)).today
    with refused():
        return dues.parse_paid_on(text, today).isoformat()


def _place_options(ask: Ask) -> list[Option]:
    return [Option(p.value, ask.text(f"dues.btn.place.{p.value}")) for p in PaymentPlace]


def _payer_options(ask: Ask) -> list[Option]:
    return [Option("self", ask.text("dues.btn.self")), Option("other", ask.text("dues.btn.other"))]


def _store_payer(ask: Ask, value: str) -> None:
    if value == "self":
        ask.data["payer"] = None


async def _summary(ask: Ask) -> str:
    data = ask.data
    overview = await _ask_overview(ask)
    picked = from_codes(data["months"])
    total = total_of(overview.amounts, picked)
    extra = Decimal(data.get("extra") or "0")
    lines = [
        ask.text("dues.summary", months=months(ask.turn, picked), total=money(total)),
        ask.text("dues.summary_date", paid_on=data["paid_on"]),
        ask.text("dues.summary_place", place=ask.text(f"dues.place.{data['place']}")),
    ]
    if data.get("payer"):
        lines.append(ask.text("dues.payer_line", payer=data["payer"]))
    if extra:
        lines.append(ask.text("dues.summary_extra", extra=money(extra), total=money(total + extra)))
    return "\n".join(lines)


async def _submit(ask: Ask) -> Reply:
    """Send the report (the engine has dropped the draft: a second tap changes nothing)."""
    turn, data = ask.turn, ask.data
    _forget_overview(turn)
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


PAY = Form(
    PAY_FLOW,
    MEMBER_BUTTONS,
    [
        Step(
            "months",
            _months_text,
            rows=_months_rows,
            locals=(
                Local(M_MONTH.name, _toggle_month, M_MONTH.fields),
                Local(M_QUARTER.name, _choose_quarter),
                Local(M_NEXT.name, _months_done),
            ),
            back=EXIT,  # to the dues overview the report was started from
            field="dues.field.months",
        ),
        Step(
            "date",
            "dues.ask_date",
            options=_date_options,
            action=M_DATE.name,
            value=M_DATE.fields[0],
            per_row=2,
            parse=_parse_date,
            store=_store_date,
            next="place",
            back="months",
            field="dues.field.date",
        ),
        Step(
            "place",
            "dues.ask_place",
            options=_place_options,
            action=M_PLACE.name,
            per_row=3,
            next="payer",
            back="date",
            field="dues.field.place",
        ),
        Step(
            "payer",
            "dues.ask_payer",
            options=_payer_options,
            action=M_PAYER.name,
            per_row=2,
            store=_store_payer,
            next=lambda ask, value: "payer_name" if value == "other" else CONFIRM,
            back="place",
            field="dues.field.payer",
        ),
        Step(
            "payer_name",
            "dues.ask_payer_name",
            parse=typed(clean_name),
            store=lambda ask, value: ask.data.update(payer=value),
            back="payer",
            part_of="payer",
        ),
        Step(
            "extra",
            "dues.ask_extra",
            parse=typed(dues.parse_money),
            back=CONFIRM,
            field="dues.field.extra",
            edit_label="dues.btn.extra",
            edit_action=M_EXTRA.name,
        ),
    ],
    Confirm(_summary, _submit, back="payer", submit_action=M_SUBMIT.name, edits_per_row=3),
    again="/dues",
    expires=timedelta(days=7),
    exit=show_dues,
    back_action=M_BACK.name,
    cancel_action=M_CANCEL.name,
)


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
        return await DECLARE.start(turn, {"intro": "dues.declare_first"})
    if not overview.reportable and not overview.quarter:
        return _nothing_to_pay(turn, overview)
    latest = overview.reportable[-1:]  # the latest month due is the usual answer
    return await PAY.start(turn, {"months": codes(sorted(latest))})


async def _start_declaring(turn: Turn, args: tuple[Any, ...]) -> Reply:
    return await DECLARE.start(turn)


async def _home(turn: Turn, args: tuple[Any, ...]) -> Reply:
    return await show_dues(turn)


_ACTIONS = {M_HOME.name: _home, M_NEW.name: _start_declaring, M_PAY.name: _start_report}


async def on_button(turn: Turn) -> Reply:
    """Every ``dues:`` button of the member's flow: the forms' go to the step engine."""
    press = MEMBER_BUTTONS.decode(turn.inbound.data)
    if press is None:
        return stale(turn.language)
    if turn.actor.member_id is None and press.action not in (PAY.cancel.name, DECLARE.cancel.name):
        return screen(turn.text("dues.not_member"))
    for form in (PAY, DECLARE):
        answered = await form.on_button(turn)
        if answered is not None:
            return answered
    if press.action not in _ACTIONS:
        return stale(turn.language)
    return await _ACTIONS[press.action](turn, press.args)


FEATURE = Feature(
    name="dues",
    commands={"dues": show_dues, "duesadmin": dues_admin.admin_menu},
    buttons={MEMBER_BUTTONS.prefix: on_button, dues.ADMIN_BUTTONS.prefix: dues_admin.on_button},
    forms={FLOW: DECLARE.on_input, PAY_FLOW: PAY.on_input, dues_admin.FLOW: dues_admin.on_input},
    reminder_kinds=tuple(kinds_dues.REMINDER_KINDS),  # the monthly reminder and the escalations
    export_sheets=(dues_ledger.dues_sheet,),
    data_section=dues.data_section,
    eraser=dues.erase_person,
    personal_columns=dues.PERSONAL_COLUMNS,
)
