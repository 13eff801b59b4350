"""Party dues (党费) on the conversation core: /dues for members, /duesadmin for secretaries.

A member declares a category and base (a draft of flow ``dues``), then reports months paid: a form on
the step engine (`bot.steps`, flow ``dues_pay``): months → 哪天交的 (今天 / 昨天, or typed) → 在哪里交的
→ 是本人交的 (or the payer's name) → the check with 修改 per answer and 多交 → submit, each step in the
same message with 返回 and 取消. Drafts survive restarts. The secretary's menu is in
`bot.flows.dues_admin`.
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
from bot.rules.errors import DuesInputError, RuleInputError
from bot.rules.validate import clean_name
from bot.scheduling import kinds_dues
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
from bot.steps import CONFIRM, EXIT, Ask, Confirm, Form, Invalid, Local, Option, Step
from storage.models import Draft
from storage.models.dues import DeclarationReview, PaymentPlace

FLOW = "dues"  # the declaration: category, base, the month a new base counts from
PAY_FLOW = "dues_pay"  # the payment report, a form on the step engine (PAY below)
D_CANCEL = MEMBER_BUTTONS.action("dx")  # 取消 under the declaration's questions


# --- the overview and the declaration ---------------------------------------------------------------


def _home_rows(turn: Turn) -> Rows:
    return (
        (
            Button(turn.text("dues.btn.pay"), data=M_PAY.data()),
            Button(turn.text("dues.btn.declare"), data=M_NEW.data()),
        ),
    )


def _cancel_row(turn: Turn) -> tuple[Button, ...]:
    return (Button(turn.text("common.cancel"), data=D_CANCEL.data()),)


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


# --- reporting a payment: months, date, place, payer, check, submit (a form on the step engine) --------


async def _ask_overview(ask: Ask) -> dues.Overview:
    return await ask.once("overview", lambda: _overview(ask.turn))


def _chosen(ask: Ask, overview: dues.Overview) -> set[Any]:
    return set(from_codes(ask.data.get("months") or [])) & set(overview.amounts)


async def _months_text(ask: Ask) -> str:
    overview = await _ask_overview(ask)
    chosen = _chosen(ask, overview)
    text = ask.text("dues.ask_months")
    if chosen:
        text += "\n" + ask.text(
            "dues.chosen",
            months=months(ask.turn, sorted(chosen)),
            total=money(total_of(overview.amounts, chosen)),
        )
    return text


async def _months_rows(ask: Ask) -> Rows:
    overview = await _ask_overview(ask)
    choices = sorted(set(overview.reportable) | set(overview.quarter))
    rows = list(rows_of(month_buttons(ask.turn, choices, _chosen(ask, overview), M_MONTH), 4))
    extra = []
    if overview.quarter:
        extra.append(Button(ask.text("dues.btn.quarter"), data=M_QUARTER.data()))
    extra.append(Button(ask.text("dues.btn.next"), data=M_NEXT.data()))
    rows.append(tuple(extra))
    return tuple(rows)


async def _toggle_month(ask: Ask, code: int) -> None:
    overview = await _ask_overview(ask)
    chosen_month = dues.month_of_code(code)
    if chosen_month is None or chosen_month not in overview.amounts:
        raise Invalid("error.stale_button")
    ask.data["months"] = codes(sorted(_chosen(ask, overview) ^ {chosen_month}))


async def _choose_quarter(ask: Ask) -> None:
    overview = await _ask_overview(ask)
    if not overview.quarter:
        raise Invalid("error.stale_button")
    ask.data["months"] = codes(sorted(overview.quarter))


def _months_done(ask: Ask) -> str:
    if not ask.data.get("months"):
        raise Invalid("dues.pick_month")
    return "date"


def _refused(error: Exception) -> Invalid:
    """A dues refusal or a typed value a rule turned down, as the engine's invalid answer."""
    if isinstance(error, dues.DuesRefused):
        return Invalid(error.key, **error.params)
    if isinstance(error, DuesInputError):
        return Invalid(error.key)
    if isinstance(error, RuleInputError):
        return Invalid(f"dues.{error.key}")
    raise error


async def _date_options(ask: Ask) -> list[Option]:
    return [Option(0, ask.text("dues.btn.today")), Option(1, ask.text("dues.btn.yesterday"))]


async def _store_date(ask: Ask, value: int | str) -> None:
    if isinstance(value, int):
        value = ((await _ask_overview(ask)).today - timedelta(days=value)).isoformat()
    ask.data["paid_on"] = value


async def _parse_date(ask: Ask, text: str) -> str:
    try:
        return dues.parse_paid_on(text, (await _ask_overview(ask)).today).isoformat()
    except (dues.DuesRefused, RuleInputError) as error:
        raise _refused(error) from None


def _place_options(ask: Ask) -> list[Option]:
    return [Option(p.value, ask.text(f"dues.btn.place.{p.value}")) for p in PaymentPlace]


def _payer_options(ask: Ask) -> list[Option]:
    return [Option("self", ask.text("dues.btn.self")), Option("other", ask.text("dues.btn.other"))]


def _store_payer(ask: Ask, value: str) -> None:
    if value == "self":
        ask.data["payer"] = None


def _parse_name(ask: Ask, text: str) -> str:
    try:
        return clean_name(text)
    except RuleInputError as error:
        raise _refused(error) from None


def _parse_extra(ask: Ask, text: str) -> str:
    try:
        return str(dues.parse_money(text))
    except (dues.DuesRefused, RuleInputError) as error:
        raise _refused(error) from None


async def _summary(ask: Ask) -> str:
    data = ask.data
    overview = await _ask_overview(ask)
    chosen = from_codes(data["months"])
    total = total_of(overview.amounts, chosen)
    extra = Decimal(data.get("extra") or "0")
    lines = [
        ask.text("dues.summary", months=months(ask.turn, chosen), total=money(total)),
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
            parse=_parse_name,
            store=lambda ask, value: ask.data.update(payer=value),
            back="payer",
            part_of="payer",
        ),
        Step(
            "extra",
            "dues.ask_extra",
            parse=_parse_extra,
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
        return _ask_category(turn, turn.text("dues.declare_first"))
    if not overview.reportable and not overview.quarter:
        return _nothing_to_pay(turn, overview)
    chosen = overview.reportable[-1:]  # the latest month due is the usual answer
    return await PAY.start(turn, {"months": codes(sorted(chosen))})


async def _cancel(turn: Turn, args: tuple[Any, ...]) -> Reply:
    """取消 under the declaration's questions (the payment report's is the engine's)."""
    await clear_draft(turn.session, turn.actor.person_id, FLOW)
    return screen(turn.text("steps.cancelled", again="/dues"))


_ACTIONS = {
    "home": _home,
    "new": _start_declaring,
    "cat": _choose_category,
    "eff": _choose_effective,
    "pay": _start_report,
    D_CANCEL.name: _cancel,
}


async def on_button(turn: Turn) -> Reply:
    """Every ``dues:`` button of the member's flow: the payment report's go to the step engine."""
    press = MEMBER_BUTTONS.decode(turn.inbound.data)
    if press is None:
        return stale(turn.language)
    if turn.actor.member_id is None and press.action not in (M_CANCEL.name, D_CANCEL.name):
        return screen(turn.text("dues.not_member"))
    answered = await PAY.on_button(turn)
    if answered is not None:
        return answered
    if press.action not in _ACTIONS:
        return stale(turn.language)
    return await _ACTIONS[press.action](turn, press.args)


async def on_input(turn: Turn) -> Reply:
    """Typed answers of the declaration: the base (the payment report's are the engine's)."""
    draft = turn.draft
    assert draft is not None
    if draft.step not in ("base", "effective"):
        # A payment report begun before the report became a form of its own: dropped, and said so.
        await clear_draft(turn.session, turn.actor.person_id, FLOW)
        return turn.say("steps.expired", days=PAY.expires.days if PAY.expires else 0, again="/dues")
    text = turn.inbound.text
    if text is None or draft.step != "base":
        return await _ask_again(turn, draft, turn.text("dues.use_buttons"))
    try:
        category = draft.data["category"]
        return await _after_base(turn, category, dues.parse_base(category, text))
    except (dues.DuesRefused, RuleInputError) as error:
        return await _ask_again(turn, draft, error_text(turn, error))


async def _ask_again(turn: Turn, draft: Draft, why: str) -> Reply:
    """A refused answer: say why, and ask the same step's question again (a new message)."""
    if draft.step == "base":
        question = _ask_base(turn, draft.data["category"])
    else:
        question = _ask_effective(turn, await _overview(turn))
    [asked] = question.screens
    return screen(f"{why}\n{asked.text}", asked.buttons, edit=False)


FEATURE = Feature(
    name="dues",
    commands={"dues": show_dues, "duesadmin": dues_admin.admin_menu},
    buttons={MEMBER_BUTTONS.prefix: on_button, dues.ADMIN_BUTTONS.prefix: dues_admin.on_button},
    forms={FLOW: on_input, PAY_FLOW: PAY.on_input, dues_admin.FLOW: dues_admin.on_input},
    reminder_kinds=tuple(kinds_dues.REMINDER_KINDS),  # the monthly reminder and the escalations
    export_sheets=(dues_ledger.dues_sheet,),
    data_section=dues.data_section,
    eraser=dues.erase_person,
    personal_columns=dues.PERSONAL_COLUMNS,
)
