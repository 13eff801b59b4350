"""/dues for members and /duesadmin for the branch secretary: thin callbacks over `bot.services.dues`.

Member buttons are ``dues:<action>[:arg]``, secretary buttons ``dsa:<action>:<id>[...]``; every id in
callback data is re-checked by the service against the sender and the database. Half-filled answers
(the base being typed, the months ticked, the payment date) live in drafts, so they survive restarts.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from telegram import InputFile, Update

from bot.rules.dates import parse_date
from bot.rules.dues import DuesCategory, DuesResult
from bot.rules.errors import DuesInputError, RuleInputError
from bot.rules.validate import clean_name
from bot.services import dues, dues_ledger
from bot.services.drafts import clear_draft, get_draft, save_draft
from bot.services.outbox import Button
from handlers.context import BotContext, with_session
from handlers.keyboards import inline_keyboard
from storage.models import Draft
from storage.models.dues import AdjustmentKind, DeclarationReview, PaymentPlace, Rounding

FLOW = "dues"
ADMIN_FLOW = "dues_admin"
CATEGORIES = list(DuesCategory)

Rows = list[list[Button]]


# --- small helpers ----------------------------------------------------------------------------------


async def _say(update: Update, text: str, rows: Sequence[Sequence[Button]] | None = None) -> None:
    """Answer a button press (if any) and send `text` as a new message."""
    query = update.callback_query
    if query is not None:
        await query.answer()
    await update.effective_message.reply_text(text, reply_markup=inline_keyboard(rows or []))


async def _edit(update: Update, text: str, rows: Sequence[Sequence[Button]] | None = None) -> None:
    """Replace the pressed message (a ticked month, a decision taken)."""
    query = update.callback_query
    await query.answer()
    await query.edit_message_text(text, reply_markup=inline_keyboard(rows or []))


async def _toast(update: Update, context: BotContext, key: str) -> None:
    query = update.callback_query
    if query is not None:
        await query.answer(context.text(key), show_alert=False)
    else:
        await update.effective_message.reply_text(context.text(key))


def _error_text(context: BotContext, error: Exception) -> str:
    if isinstance(error, dues.DuesRefused):
        return context.text(error.key, **error.params)
    if isinstance(error, DuesInputError):
        return context.text(error.key)
    if isinstance(error, RuleInputError):
        return context.text(f"dues.{error.key}")
    raise error


async def _not_allowed(update: Update, context: BotContext) -> None:
    await _say(update, context.text("error.not_allowed"))


async def _stale(update: Update, context: BotContext) -> None:
    await _say(update, context.text("error.stale_button"))


def _month(context: BotContext, month: date) -> str:
    return dues.month_label(context.actor.language, month)


def _months(context: BotContext, months: Sequence[date]) -> str:
    return dues.months_label(context.actor.language, months)


def _mon(context: BotContext, month: date) -> str:
    return context.text(f"dues.mon.{month.month}")


def _codes(months: Sequence[date]) -> list[str]:
    return [dues.month_code(m) for m in months]


def _from_codes(codes: Sequence[str]) -> list[date]:
    return [m for m in (dues.parse_month_code(c) for c in codes) if m is not None]


def _money(value: Decimal | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def _explain(context: BotContext, result: DuesResult | None) -> str:
    """The amount and the line of the rule that produced it."""
    if result is None:
        return context.text("dues.no_declaration")
    category = context.text(f"dues.cat.{result.category.value}")
    if result.rate is not None:
        basis = context.text(
            "dues.basis.rate",
            base=_money(result.base),
            rate=dues.rate_label(result.rate),
            bracket=context.text(f"dues.bracket.{result.bracket.value}"),
        )
    else:
        basis = context.text(f"dues.basis.{result.bracket.value}")
    text = context.text("dues.explain", category=category, basis=basis, amount=_money(result.amount))
    if result.exempt:
        text += "\n" + context.text("dues.explain_exempt")
    elif result.reduced:
        text += "\n" + context.text("dues.explain_reduced", standard=_money(result.standard_amount))
    return text


# --- member: /dues ----------------------------------------------------------------------------------


def _home_rows(context: BotContext) -> Rows:
    return [
        [
            Button(context.text("dues.btn.pay"), data="dues:pay"),
            Button(context.text("dues.btn.declare"), data="dues:new"),
        ]
    ]


def _overview_text(context: BotContext, overview: dues.Overview) -> str:
    lines = [context.text("dues.overview_title", month=_month(context, overview.month))]
    if overview.declaration is not None:
        review = overview.declaration.review
        if review != DeclarationReview.CONFIRMED:
            lines.append(context.text(f"dues.review.{review}"))
    lines.append(_explain(context, overview.current))
    if overview.lines:
        lines.append(context.text("dues.months_title"))
        for line in overview.lines:
            amount = line.paid if line.paid is not None else (line.due.amount if line.due else None)
            lines.append(
                context.text(
                    "dues.line",
                    month=_month(context, line.month),
                    amount=_money(amount),
                    status=context.text(f"dues.st.{line.status.value}"),
                )
            )
    return "\n".join(lines)


def _ask_category(context: BotContext) -> tuple[str, Rows]:
    buttons = [
        Button(context.text(f"dues.btn.cat.{c.value}"), data=f"dues:cat:{c.value}") for c in CATEGORIES
    ]
    return context.text("dues.ask_category"), [buttons[i : i + 4] for i in range(0, len(buttons), 4)]


def _ask_base(context: BotContext, category: str) -> tuple[str, Rows]:
    return context.text(f"dues.ask_base.{category}"), [
        [Button(context.text("common.cancel"), data="dues:no")]
    ]


def _ask_effective(context: BotContext, today: date) -> tuple[str, Rows]:
    labels = ("dues.btn.last_month", "dues.btn.this_month", "dues.btn.next_month")
    row = [
        Button(context.text(label), data=f"dues:eff:{dues.month_code(m)}")
        for label, m in zip(labels, dues.effective_choices(today), strict=True)
    ]
    return context.text("dues.ask_effective"), [row]


@with_session
async def show_dues(update: Update, context: BotContext) -> None:
    """/dues: what the member owes and why, the recent months, and the buttons to declare or report."""
    await _show_overview(update, context)


async def _show_overview(update: Update, context: BotContext) -> None:
    try:
        overview = await dues.member_overview(
            context.session, context.actor.member_id, context.deps.clock.now()
        )
    except dues.DuesRefused as refused:
        await _say(update, _error_text(context, refused))
        return
    if overview.declaration is None:
        text, rows = _ask_category(context)
        await _say(update, context.text("dues.declare_first") + "\n" + text, rows)
        return
    await _say(update, _overview_text(context, overview), _home_rows(context))


async def _member_button(update: Update, context: BotContext, action: str, args: list[str]) -> None:
    handler = _MEMBER_ACTIONS.get(action)
    if handler is None:
        await _stale(update, context)
        return
    await handler(update, context, args)


async def _start_declaring(update: Update, context: BotContext, args: list[str]) -> None:
    text, rows = _ask_category(context)
    await _say(update, text, rows)


async def _choose_category(update: Update, context: BotContext, args: list[str]) -> None:
    if not args or args[0] not in {c.value for c in CATEGORIES}:
        await _stale(update, context)
        return
    category = args[0]
    if dues.needs_base(category):
        await save_draft(context.session, context.actor.person_id, FLOW, "base", {"category": category})
        await context.session.commit()
        text, rows = _ask_base(context, category)
        await _say(update, text, rows)
        return
    await _after_base(update, context, category, None)


async def _after_base(update: Update, context: BotContext, category: str, base: Decimal | None) -> None:
    """A first declaration is saved at once; a change asks from which month the new pay counts."""
    session, now = context.session, context.deps.clock.now()
    if await dues.has_declaration(session, context.actor.member_id or 0):
        data = {"category": category, "base": None if base is None else str(base)}
        await save_draft(session, context.actor.person_id, FLOW, "effective", data)
        await session.commit()
        overview = await dues.member_overview(session, context.actor.member_id, now)
        text, rows = _ask_effective(context, overview.today)
        await _say(update, text, rows)
        return
    await _declare(update, context, category, base, None)


async def _declare(
    update: Update, context: BotContext, category: str, base: Decimal | None, effective: date | None
) -> None:
    session, now = context.session, context.deps.clock.now()
    try:
        outcome = await dues.declare(
            session,
            member_id=context.actor.member_id,
            actor_person_id=context.actor.person_id,
            category=category,
            base=base,
            effective=effective,
            now=now,
        )
    except (dues.DuesRefused, RuleInputError) as error:
        await _say(update, _error_text(context, error))
        return
    await clear_draft(session, context.actor.person_id, FLOW)
    await session.commit()
    text = "\n".join(
        [
            context.text("dues.declared", month=_month(context, outcome.declaration.effective_month)),
            _explain(context, outcome.result),
        ]
    )
    await _say(update, text, _home_rows(context))


async def _choose_effective(update: Update, context: BotContext, args: list[str]) -> None:
    draft = await get_draft(context.session, context.actor.person_id, FLOW)
    month = dues.parse_month_code(args[0]) if args else None
    if draft is None or draft.step != "effective" or month is None:
        await _toast(update, context, "common.already_done")
        return
    base = draft.data.get("base")
    await _declare(update, context, draft.data["category"], Decimal(base) if base else None, month)


def _months_rows(context: BotContext, overview: dues.Overview, chosen: set[date]) -> Rows:
    choices = sorted(set(overview.reportable) | set(overview.quarter))
    buttons = [
        Button(
            context.text("dues.btn.month_on" if m in chosen else "dues.btn.month_off", mon=_mon(context, m)),
            data=f"dues:m:{dues.month_code(m)}",
        )
        for m in choices
    ]
    rows = [buttons[i : i + 4] for i in range(0, len(buttons), 4)]
    extra = []
    if overview.quarter:
        extra.append(Button(context.text("dues.btn.quarter"), data="dues:q"))
    extra.append(Button(context.text("dues.btn.next"), data="dues:next"))
    extra.append(Button(context.text("common.cancel"), data="dues:no"))
    rows.append(extra)
    return rows


def _months_text(context: BotContext, overview: dues.Overview, chosen: set[date]) -> str:
    text = context.text("dues.ask_months")
    if chosen:
        total = sum((overview.amounts.get(m) or Decimal("0") for m in chosen), Decimal("0.00"))
        text += "\n" + context.text(
            "dues.chosen", months=_months(context, sorted(chosen)), total=_money(total)
        )
    return text


async def _start_report(update: Update, context: BotContext, args: list[str]) -> None:
    session, now = context.session, context.deps.clock.now()
    try:
        overview = await dues.member_overview(session, context.actor.member_id, now)
    except dues.DuesRefused as refused:
        await _say(update, _error_text(context, refused))
        return
    if overview.declaration is None:
        text, rows = _ask_category(context)
        await _say(update, context.text("dues.declare_first") + "\n" + text, rows)
        return
    if not overview.reportable and not overview.quarter:
        await _say(update, context.text("dues.nothing_to_pay"))
        return
    chosen = set(overview.reportable[-1:])  # the latest month due is the usual answer
    await save_draft(session, context.actor.person_id, FLOW, "months", {"months": _codes(sorted(chosen))})
    await session.commit()
    await _say(update, _months_text(context, overview, chosen), _months_rows(context, overview, chosen))


async def _report_draft(context: BotContext, step: str | None = None) -> Draft | None:
    draft = await get_draft(context.session, context.actor.person_id, FLOW)
    if draft is None or "months" not in draft.data or (step is not None and draft.step != step):
        return None
    return draft


async def _toggle_month(update: Update, context: BotContext, args: list[str]) -> None:
    draft = await _report_draft(context, "months")
    month = dues.parse_month_code(args[0]) if args else None
    if draft is None or month is None:
        await _toast(update, context, "error.stale_button")
        return
    overview = await dues.member_overview(context.session, context.actor.member_id, context.deps.clock.now())
    if month not in overview.amounts:
        await _toast(update, context, "error.stale_button")
        return
    chosen = set(_from_codes(draft.data["months"])) & set(overview.amounts)
    chosen ^= {month}
    await save_draft(
        context.session, context.actor.person_id, FLOW, "months", {"months": _codes(sorted(chosen))}
    )
    await context.session.commit()
    await _edit(update, _months_text(context, overview, chosen), _months_rows(context, overview, chosen))


async def _choose_quarter(update: Update, context: BotContext, args: list[str]) -> None:
    draft = await _report_draft(context, "months")
    if draft is None:
        await _toast(update, context, "error.stale_button")
        return
    overview = await dues.member_overview(context.session, context.actor.member_id, context.deps.clock.now())
    chosen = set(overview.quarter)
    await save_draft(
        context.session, context.actor.person_id, FLOW, "months", {"months": _codes(sorted(chosen))}
    )
    await context.session.commit()
    await _edit(update, _months_text(context, overview, chosen), _months_rows(context, overview, chosen))


def _ask_date(context: BotContext) -> tuple[str, Rows]:
    row = [
        Button(context.text("dues.btn.today"), data="dues:d:0"),
        Button(context.text("dues.btn.yesterday"), data="dues:d:1"),
    ]
    return context.text("dues.ask_date"), [row]


def _ask_place(context: BotContext) -> tuple[str, Rows]:
    row = [Button(context.text(f"dues.btn.place.{p.value}"), data=f"dues:pl:{p.value}") for p in PaymentPlace]
    return context.text("dues.ask_place"), [row]


def _ask_payer(context: BotContext) -> tuple[str, Rows]:
    row = [
        Button(context.text("dues.btn.self"), data="dues:by:self"),
        Button(context.text("dues.btn.other"), data="dues:by:other"),
    ]
    return context.text("dues.ask_payer"), [row]


async def _step(
    update: Update, context: BotContext, draft: Draft, step: str, ask: tuple[str, Rows], **data: Any
) -> None:
    await save_draft(context.session, context.actor.person_id, FLOW, step, {**draft.data, **data})
    await context.session.commit()
    await _say(update, *ask)


async def _months_done(update: Update, context: BotContext, args: list[str]) -> None:
    draft = await _report_draft(context, "months")
    if draft is None:
        await _toast(update, context, "error.stale_button")
        return
    if not draft.data["months"]:
        await _toast(update, context, "dues.pick_month")
        return
    await _step(update, context, draft, "date", _ask_date(context))


async def _choose_date(update: Update, context: BotContext, args: list[str]) -> None:
    draft = await _report_draft(context, "date")
    if draft is None or not args or args[0] not in ("0", "1"):
        await _toast(update, context, "error.stale_button")
        return
    overview = await dues.member_overview(context.session, context.actor.member_id, context.deps.clock.now())
    paid_on = overview.today - timedelta(days=int(args[0]))
    await _step(update, context, draft, "place", _ask_place(context), paid_on=paid_on.isoformat())


async def _choose_place(update: Update, context: BotContext, args: list[str]) -> None:
    draft = await _report_draft(context, "place")
    if draft is None or not args or args[0] not in {p.value for p in PaymentPlace}:
        await _toast(update, context, "error.stale_button")
        return
    await _step(update, context, draft, "payer", _ask_payer(context), place=args[0])


async def _choose_payer(update: Update, context: BotContext, args: list[str]) -> None:
    draft = await _report_draft(context, "payer")
    if draft is None or not args or args[0] not in ("self", "other"):
        await _toast(update, context, "error.stale_button")
        return
    if args[0] == "other":
        await _step(update, context, draft, "payer_name", (context.text("dues.ask_payer_name"), []))
        return
    await _confirm_report(update, context, draft, payer=None)


def _report_summary(context: BotContext, data: dict[str, Any], overview: dues.Overview) -> str:
    months = _from_codes(data["months"])
    total = sum((overview.amounts.get(m) or Decimal("0") for m in months), Decimal("0.00"))
    extra = Decimal(data.get("extra") or "0")
    lines = [
        context.text("dues.summary", months=_months(context, months), total=_money(total)),
        context.text("dues.summary_date", paid_on=data["paid_on"]),
        context.text("dues.summary_place", place=context.text(f"dues.place.{data['place']}")),
    ]
    if data.get("payer"):
        lines.append(context.text("dues.payer_line", payer=data["payer"]))
    if extra:
        lines.append(context.text("dues.summary_extra", extra=_money(extra), total=_money(total + extra)))
    return "\n".join(lines)


def _confirm_rows(context: BotContext) -> Rows:
    return [
        [
            Button(context.text("dues.btn.submit"), data="dues:ok"),
            Button(context.text("dues.btn.extra"), data="dues:x"),
            Button(context.text("common.cancel"), data="dues:no"),
        ]
    ]


async def _confirm_report(update: Update, context: BotContext, draft: Draft, **data: Any) -> None:
    merged = {**draft.data, **data}
    await save_draft(context.session, context.actor.person_id, FLOW, "confirm", merged)
    await context.session.commit()
    overview = await dues.member_overview(context.session, context.actor.member_id, context.deps.clock.now())
    await _say(update, _report_summary(context, merged, overview), _confirm_rows(context))


async def _ask_extra(update: Update, context: BotContext, args: list[str]) -> None:
    draft = await _report_draft(context, "confirm")
    if draft is None:
        await _toast(update, context, "error.stale_button")
        return
    await _step(update, context, draft, "extra", (context.text("dues.ask_extra"), []))


async def _submit(update: Update, context: BotContext, args: list[str]) -> None:
    """Send the report; a second tap finds no draft and changes nothing."""
    draft = await _report_draft(context, "confirm")
    if draft is None:
        await _toast(update, context, "common.already_done")
        return
    data = draft.data
    try:
        outcome = await dues.report_payment(
            context.session,
            member_id=context.actor.member_id,
            actor_person_id=context.actor.person_id,
            months=_from_codes(data["months"]),
            paid_on=date.fromisoformat(data["paid_on"]),
            place=data["place"],
            paid_by=data.get("payer"),
            extra=Decimal(data.get("extra") or "0"),
            now=context.deps.clock.now(),
        )
    except (dues.DuesRefused, RuleInputError) as error:
        await clear_draft(context.session, context.actor.person_id, FLOW)
        await context.session.commit()
        await _say(update, _error_text(context, error))
        return
    await clear_draft(context.session, context.actor.person_id, FLOW)
    await context.session.commit()
    await _edit(
        update,
        context.text("dues.reported", months=_months(context, outcome.months), total=_money(outcome.total)),
    )


async def _cancel(update: Update, context: BotContext, args: list[str]) -> None:
    await clear_draft(context.session, context.actor.person_id, FLOW)
    await context.session.commit()
    await _say(update, context.text("common.cancelled"))


_MEMBER_ACTIONS = {
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
    "no": _cancel,
}


@with_session
async def member_button(update: Update, context: BotContext) -> None:
    """Every `dues:` button of the member's flow."""
    _, action, *args = (update.callback_query.data or "").split(":")
    if context.actor.member_id is None and action not in ("no",):
        await _say(update, context.text("dues.not_member"))
        return
    await _member_button(update, context, action, args)


async def member_input(update: Update, context: BotContext, draft: Draft) -> None:
    """Typed answers of the member's flow: the base, a payment date, the payer's name, an extra amount."""
    text = update.effective_message.text or ""
    session, now = context.session, context.deps.clock.now()
    step = draft.step
    try:
        if step == "base":
            category = draft.data["category"]
            await _after_base(update, context, category, dues.parse_base(category, text))
        elif step == "date":
            overview = await dues.member_overview(session, context.actor.member_id, now)
            paid_on = parse_date(text, overview.today, earliest=dues.earliest_paid_on(overview.today))
            await _step(update, context, draft, "place", _ask_place(context), paid_on=paid_on.isoformat())
        elif step == "payer_name":
            await _confirm_report(update, context, draft, payer=clean_name(text))
        elif step == "extra":
            await _confirm_report(update, context, draft, extra=str(dues.parse_money(text)))
        else:
            await _say(update, context.text("dues.use_buttons"))
    except (dues.DuesRefused, RuleInputError) as error:
        question, rows = _question_again(context, draft)
        await _say(update, _error_text(context, error) + "\n" + question, rows)


def _question_again(context: BotContext, draft: Draft) -> tuple[str, Rows]:
    step = draft.step
    if step == "base":
        return _ask_base(context, draft.data["category"])
    if step == "date":
        return _ask_date(context)
    if step == "payer_name":
        return context.text("dues.ask_payer_name"), []
    if step == "extra":
        return context.text("dues.ask_extra"), []
    return "", []


# --- secretary: /duesadmin --------------------------------------------------------------------------


def _menu_rows(context: BotContext, summary: dues.AdminSummary) -> Rows:
    b = summary.branch_id
    rows: Rows = []
    first = []
    if not summary.opened:
        first.append(
            Button(context.text("dues.btn.open"), data=f"dsa:open:{b}:{dues.month_code(summary.month)}")
        )
    first.append(Button(context.text("dues.btn.pending"), data=f"dsa:pend:{b}"))
    rows.append(first)
    rows.append(
        [
            Button(context.text("dues.btn.arrears"), data=f"dsa:arr:{b}"),
            Button(context.text("dues.btn.export"), data=f"dsa:exp:{b}"),
        ]
    )
    rows.append(
        [
            Button(context.text("dues.btn.record"), data=f"dsa:mem:{b}:rec"),
            Button(context.text("dues.btn.adjust"), data=f"dsa:mem:{b}:adj"),
            Button(context.text("dues.btn.category"), data=f"dsa:mem:{b}:cat"),
        ]
    )
    rows.append([Button(context.text("dues.btn.settings"), data=f"dsa:set:{b}")])
    return rows


async def _menu(update: Update, context: BotContext, branch_id: int) -> None:
    summary = await dues.admin_summary(
        context.session, branch_id=branch_id, actor=context.actor, now=context.deps.clock.now()
    )
    text = context.text(
        "dues.admin.menu",
        branch=summary.branch_name,
        month=_month(context, summary.month),
        opened=context.text("dues.admin.opened" if summary.opened else "dues.admin.not_opened"),
        pending=summary.pending,
        arrears=summary.in_arrears,
    )
    await _say(update, text, _menu_rows(context, summary))


@with_session
async def admin_menu(update: Update, context: BotContext) -> None:
    """/duesadmin: the dues menu of the branch the secretary leads (or a choice of branches)."""
    branches = await dues.officer_branches(context.session, context.actor)
    if not branches:
        await dues.deny(context.session, context.actor, "dues.admin")
        await _not_allowed(update, context)
        return
    if len(branches) == 1:
        await _menu(update, context, branches[0][0])
        return
    rows = [[Button(name, data=f"dsa:b:{branch_id}")] for branch_id, name in branches]
    await _say(update, context.text("dues.admin.pick_branch"), rows)


def _int(args: list[str], index: int) -> int | None:
    if index >= len(args) or not args[index].isdecimal() or len(args[index]) > 12:
        return None
    return int(args[index])


async def _a_branch(update: Update, context: BotContext, args: list[str]) -> None:
    branch_id = _int(args, 0)
    if branch_id is None:
        raise dues.DuesStale()
    await _menu(update, context, branch_id)


async def _a_open(update: Update, context: BotContext, args: list[str]) -> None:
    branch_id, month = _int(args, 0), dues.parse_month_code(args[1]) if len(args) > 1 else None
    if branch_id is None or month is None:
        raise dues.DuesStale()
    opened = await dues.open_month(
        context.session, branch_id=branch_id, month=month, actor=context.actor, now=context.deps.clock.now()
    )
    if not opened:
        await _toast(update, context, "common.already_done")
        return
    await _say(update, context.text("dues.admin.month_opened", month=_month(context, month)))


def _decision_rows(context: BotContext, report_id: int) -> Rows:
    return [
        [
            Button(context.text("dues.btn.confirm"), data=f"dsa:cf:{report_id}"),
            Button(context.text("dues.btn.reject"), data=f"dsa:rj:{report_id}"),
        ]
    ]


async def _a_pending(update: Update, context: BotContext, args: list[str]) -> None:
    branch_id = _int(args, 0)
    if branch_id is None:
        raise dues.DuesStale()
    reports = await dues.pending_reports(context.session, branch_id=branch_id, actor=context.actor)
    if not reports:
        await _say(update, context.text("dues.admin.none_pending"))
        return
    await update.callback_query.answer()
    for report in reports[:10]:
        text = context.text(
            "dues.admin.pending_item",
            name=report.member_name,
            months=_months(context, report.months),
            total=_money(report.total),
            place=context.text(f"dues.place.{report.place}"),
            paid_on=report.paid_on.isoformat(),
        )
        if report.paid_by:
            text += "\n" + context.text("dues.payer_line", payer=report.paid_by)
        await update.effective_message.reply_text(
            text, reply_markup=inline_keyboard(_decision_rows(context, report.report_id))
        )
    if len(reports) > 10:
        await update.effective_message.reply_text(
            context.text("dues.admin.more_pending", count=len(reports) - 10)
        )


async def _a_decide(update: Update, context: BotContext, args: list[str], confirm: bool) -> None:
    report_id = _int(args, 0)
    if report_id is None:
        raise dues.DuesStale()
    outcome = await dues.decide_report(
        context.session,
        report_id=report_id,
        actor=context.actor,
        confirm=confirm,
        now=context.deps.clock.now(),
    )
    if not outcome.changed:
        await _toast(update, context, "common.already_done")
        return
    key = "dues.admin.confirmed" if confirm else "dues.admin.rejected"
    await _edit(
        update,
        context.text(
            key,
            name=outcome.member_name,
            months=_months(context, outcome.months),
            total=_money(outcome.total),
        ),
    )


async def _a_confirm(update: Update, context: BotContext, args: list[str]) -> None:
    await _a_decide(update, context, args, True)


async def _a_reject(update: Update, context: BotContext, args: list[str]) -> None:
    await _a_decide(update, context, args, False)


async def _a_arrears(update: Update, context: BotContext, args: list[str]) -> None:
    branch_id = _int(args, 0)
    if branch_id is None:
        raise dues.DuesStale()
    rows = await dues.arrears(
        context.session, branch_id=branch_id, actor=context.actor, now=context.deps.clock.now()
    )
    if not rows:
        await _say(update, context.text("dues.admin.no_arrears"))
        return
    lines = [context.text("dues.admin.arrears_title", count=len(rows))]
    for row in rows:
        lines.append(
            context.text(
                "dues.admin.arrears_line",
                name=row.name,
                count=len(row.months),
                run=row.run,
                months=_months(context, row.months),
                amount=_money(row.amount),
            )
        )
    await _say(update, "\n".join(lines))


async def _a_export_pick(update: Update, context: BotContext, args: list[str]) -> None:
    branch_id = _int(args, 0)
    if branch_id is None:
        raise dues.DuesStale()
    months = await dues.opened_months(context.session, branch_id=branch_id, actor=context.actor)
    if not months:
        await _say(update, context.text("dues.admin.no_months"))
        return
    buttons = [Button(_month(context, m), data=f"dsa:xl:{branch_id}:{dues.month_code(m)}") for m in months]
    await _say(
        update,
        context.text("dues.admin.pick_export"),
        [buttons[i : i + 3] for i in range(0, len(buttons), 3)],
    )


async def _a_export(update: Update, context: BotContext, args: list[str]) -> None:
    branch_id, month = _int(args, 0), dues.parse_month_code(args[1]) if len(args) > 1 else None
    if branch_id is None or month is None:
        raise dues.DuesStale()
    name, data, ledger = await dues_ledger.ledger_file(
        context.session, branch_id=branch_id, month=month, actor=context.actor, now=context.deps.clock.now()
    )
    await update.callback_query.answer()
    caption = context.text(
        "dues.admin.export_caption",
        month=_month(context, month),
        received=_money(ledger.received),
        home=_money(ledger.paid_home),
        unpaid=_money(ledger.unpaid),
    )
    await update.effective_message.reply_document(InputFile(data, filename=name), caption=caption)


_MEMBER_PICK_ACTIONS = ("rec", "adj", "cat")


async def _a_members(update: Update, context: BotContext, args: list[str]) -> None:
    branch_id = _int(args, 0)
    op = args[1] if len(args) > 1 else ""
    if branch_id is None or op not in _MEMBER_PICK_ACTIONS:
        raise dues.DuesStale()
    members = await dues.branch_members(context.session, branch_id=branch_id, actor=context.actor)
    if not members:
        await _say(update, context.text("dues.admin.no_members"))
        return
    buttons = [Button(name, data=f"dsa:{op}:{member_id}") for member_id, name in members]
    await _say(
        update,
        context.text(f"dues.admin.pick_member_{op}"),
        [buttons[i : i + 3] for i in range(0, len(buttons), 3)],
    )


async def _officer_view(context: BotContext, args: list[str], action: str) -> dues.MemberDuesView:
    member_id = _int(args, 0)
    if member_id is None:
        raise dues.DuesStale()
    return await dues.member_for_officer(
        context.session, member_id=member_id, actor=context.actor, now=context.deps.clock.now(), action=action
    )


def _record_rows(context: BotContext, view: dues.MemberDuesView, chosen: set[date]) -> Rows:
    choices = sorted(set(view.overview.reportable) | set(view.overview.quarter))
    buttons = [
        Button(
            context.text("dues.btn.month_on" if m in chosen else "dues.btn.month_off", mon=_mon(context, m)),
            data=f"dsa:rm:{view.member_id}:{dues.month_code(m)}",
        )
        for m in choices
    ]
    rows = [buttons[i : i + 4] for i in range(0, len(buttons), 4)]
    rows.append(
        [
            Button(context.text("dues.btn.save"), data=f"dsa:rok:{view.member_id}"),
            Button(context.text("common.cancel"), data="dsa:no"),
        ]
    )
    return rows


def _record_text(context: BotContext, view: dues.MemberDuesView, chosen: set[date]) -> str:
    text = context.text("dues.admin.record_ask", name=view.name)
    if chosen:
        total = sum((view.overview.amounts.get(m) or Decimal("0") for m in chosen), Decimal("0.00"))
        text += "\n" + context.text(
            "dues.chosen", months=_months(context, sorted(chosen)), total=_money(total)
        )
    return text


async def _a_record(update: Update, context: BotContext, args: list[str]) -> None:
    view = await _officer_view(context, args, "dues.record")
    if view.overview.declaration is None:
        await _say(update, context.text("dues.admin.no_declaration"))
        return
    if not view.overview.reportable and not view.overview.quarter:
        await _say(update, context.text("dues.admin.nothing_due", name=view.name))
        return
    await save_draft(
        context.session,
        context.actor.person_id,
        ADMIN_FLOW,
        "record",
        {"member": view.member_id, "months": []},
    )
    await context.session.commit()
    await _say(update, _record_text(context, view, set()), _record_rows(context, view, set()))


async def _admin_draft(context: BotContext, step: str, member_id: int | None) -> Draft | None:
    draft = await get_draft(context.session, context.actor.person_id, ADMIN_FLOW)
    if draft is None or draft.step != step or draft.data.get("member") != member_id:
        return None
    return draft


async def _a_record_toggle(update: Update, context: BotContext, args: list[str]) -> None:
    view = await _officer_view(context, args, "dues.record")
    draft = await _admin_draft(context, "record", view.member_id)
    month = dues.parse_month_code(args[1]) if len(args) > 1 else None
    if draft is None or month is None or month not in view.overview.amounts:
        await _toast(update, context, "error.stale_button")
        return
    chosen = (set(_from_codes(draft.data["months"])) & set(view.overview.amounts)) ^ {month}
    await save_draft(
        context.session,
        context.actor.person_id,
        ADMIN_FLOW,
        "record",
        {**draft.data, "months": _codes(sorted(chosen))},
    )
    await context.session.commit()
    await _edit(update, _record_text(context, view, chosen), _record_rows(context, view, chosen))


async def _a_record_save(update: Update, context: BotContext, args: list[str]) -> None:
    member_id = _int(args, 0)
    draft = await _admin_draft(context, "record", member_id)
    if draft is None or member_id is None:
        await _toast(update, context, "common.already_done")
        return
    months = _from_codes(draft.data["months"])
    if not months:
        await _toast(update, context, "dues.pick_month")
        return
    try:
        outcome = await dues.record_in_person(
            context.session,
            member_id=member_id,
            months=months,
            actor=context.actor,
            now=context.deps.clock.now(),
        )
    except dues.DuesRefused as refused:
        await _say(update, _error_text(context, refused))
        return
    finally:
        await clear_draft(context.session, context.actor.person_id, ADMIN_FLOW)
        await context.session.commit()
    await _edit(
        update,
        context.text(
            "dues.admin.recorded", months=_months(context, outcome.months), total=_money(outcome.total)
        ),
    )


async def _a_adjust(update: Update, context: BotContext, args: list[str]) -> None:
    view = await _officer_view(context, args, "dues.adjust")
    if not view.adjustable:
        await _say(update, context.text("dues.admin.nothing_due", name=view.name))
        return
    buttons = [
        Button(_mon(context, m), data=f"dsa:am:{view.member_id}:{dues.month_code(m)}")
        for m in view.adjustable
    ]
    await _say(
        update,
        context.text("dues.admin.adjust_month", name=view.name),
        [buttons[i : i + 4] for i in range(0, len(buttons), 4)],
    )


async def _a_adjust_month(update: Update, context: BotContext, args: list[str]) -> None:
    view = await _officer_view(context, args, "dues.adjust")
    month = dues.parse_month_code(args[1]) if len(args) > 1 else None
    if month is None or month not in view.adjustable:
        raise dues.DuesStale()
    code = dues.month_code(month)
    row = [
        Button(context.text("dues.btn.reduce"), data=f"dsa:ak:{view.member_id}:{code}:r"),
        Button(context.text("dues.btn.exempt"), data=f"dsa:ak:{view.member_id}:{code}:e"),
    ]
    await _say(
        update, context.text("dues.admin.adjust_kind", name=view.name, month=_month(context, month)), [row]
    )


async def _a_adjust_kind(update: Update, context: BotContext, args: list[str]) -> None:
    view = await _officer_view(context, args, "dues.adjust")
    month = dues.parse_month_code(args[1]) if len(args) > 1 else None
    kind = {"r": AdjustmentKind.REDUCED, "e": AdjustmentKind.EXEMPT}.get(args[2] if len(args) > 2 else "")
    if month is None or kind is None or month not in view.adjustable:
        raise dues.DuesStale()
    step = "adj_amount" if kind is AdjustmentKind.REDUCED else "adj_reason"
    data = {"member": view.member_id, "month": dues.month_code(month), "kind": kind.value}
    await save_draft(context.session, context.actor.person_id, ADMIN_FLOW, step, data)
    await context.session.commit()
    await _say(update, *_admin_question(context, step))


async def _a_category(update: Update, context: BotContext, args: list[str]) -> None:
    view = await _officer_view(context, args, "dues.review")
    declaration = view.overview.declaration
    rows: Rows = [[]]
    if declaration is None:
        text = context.text("dues.admin.decl_none", name=view.name)
    else:
        text = context.text(
            "dues.admin.decl", name=view.name, review=context.text(f"dues.review_short.{declaration.review}")
        )
        text += "\n" + _explain(context, view.overview.current)
        if declaration.review == DeclarationReview.PENDING:
            rows[0].append(Button(context.text("dues.btn.confirm"), data=f"dsa:cc:{view.member_id}"))
    rows[0].append(Button(context.text("dues.btn.override"), data=f"dsa:co:{view.member_id}"))
    await _say(update, text, rows)


async def _a_review_confirm(update: Update, context: BotContext, args: list[str]) -> None:
    member_id = _int(args, 0)
    if member_id is None:
        raise dues.DuesStale()
    try:
        changed, _, result = await dues.review_declaration(
            context.session, member_id=member_id, actor=context.actor, now=context.deps.clock.now()
        )
    except dues.DuesRefused as refused:
        await _say(update, _error_text(context, refused))
        return
    if not changed:
        await _toast(update, context, "common.already_done")
        return
    await _say(update, context.text("dues.admin.decl_confirmed") + "\n" + _explain(context, result))


async def _a_override(update: Update, context: BotContext, args: list[str]) -> None:
    view = await _officer_view(context, args, "dues.review")
    buttons = [
        Button(context.text(f"dues.btn.cat.{c.value}"), data=f"dsa:oc:{view.member_id}:{c.value}")
        for c in CATEGORIES
    ]
    await _say(
        update,
        context.text("dues.admin.override_ask", name=view.name),
        [buttons[i : i + 4] for i in range(0, len(buttons), 4)],
    )


async def _a_override_category(update: Update, context: BotContext, args: list[str]) -> None:
    view = await _officer_view(context, args, "dues.review")
    category = args[1] if len(args) > 1 else ""
    if category not in {c.value for c in CATEGORIES}:
        raise dues.DuesStale()
    if dues.needs_base(category):
        data = {"member": view.member_id, "category": category}
        await save_draft(context.session, context.actor.person_id, ADMIN_FLOW, "ovr_base", data)
        await context.session.commit()
        await _say(update, *_admin_question(context, "ovr_base", category))
        return
    await _override(update, context, view.member_id, category, None)


async def _override(
    update: Update, context: BotContext, member_id: int, category: str, base: Decimal | None
) -> None:
    _, _, result = await dues.review_declaration(
        context.session,
        member_id=member_id,
        actor=context.actor,
        now=context.deps.clock.now(),
        category=category,
        base=base,
    )
    await clear_draft(context.session, context.actor.person_id, ADMIN_FLOW)
    await context.session.commit()
    await _say(update, context.text("dues.admin.decl_overridden") + "\n" + _explain(context, result))


def _settings_view(context: BotContext, settings: dues.BranchDuesSettings) -> tuple[str, Rows]:
    b = settings.branch_id
    other_rounding = Rounding.FEN.value if settings.rounding == Rounding.JIAO else Rounding.JIAO.value
    text = context.text(
        "dues.admin.settings",
        rounding=context.text(f"dues.rounding.{settings.rounding}"),
        quarterly=context.text("common.yes" if settings.quarterly_allowed else "common.no"),
        day=settings.reminder_day,
        farmer=_money(settings.farmer_amount),
    )
    rows = [
        [
            Button(context.text("dues.btn.rounding"), data=f"dsa:rnd:{b}:{other_rounding}"),
            Button(
                context.text("dues.btn.quarterly"), data=f"dsa:qtr:{b}:{int(not settings.quarterly_allowed)}"
            ),
        ],
        [
            Button(context.text("dues.btn.day"), data=f"dsa:day:{b}"),
            Button(context.text("dues.btn.farmer"), data=f"dsa:frm:{b}"),
        ],
    ]
    return text, rows


async def _a_settings(update: Update, context: BotContext, args: list[str]) -> None:
    branch_id = _int(args, 0)
    if branch_id is None:
        raise dues.DuesStale()
    settings = await dues.branch_settings(context.session, branch_id=branch_id, actor=context.actor)
    await _say(update, *_settings_view(context, settings))


async def _a_set_value(update: Update, context: BotContext, args: list[str], which: str) -> None:
    """Set a choice to the value named in the button, so a repeated tap leaves it as it is."""
    branch_id = _int(args, 0)
    value = args[1] if len(args) > 1 else ""
    if branch_id is None:
        raise dues.DuesStale()
    now = context.deps.clock.now()
    if which == "rounding" and value in {r.value for r in Rounding}:
        settings = await dues.update_settings(
            context.session, branch_id=branch_id, actor=context.actor, now=now, rounding=value
        )
    elif which == "quarterly" and value in ("0", "1"):
        settings = await dues.update_settings(
            context.session, branch_id=branch_id, actor=context.actor, now=now, quarterly_allowed=value == "1"
        )
    else:
        raise dues.DuesStale()
    await _edit(update, *_settings_view(context, settings))


async def _a_rounding(update: Update, context: BotContext, args: list[str]) -> None:
    await _a_set_value(update, context, args, "rounding")


async def _a_quarterly(update: Update, context: BotContext, args: list[str]) -> None:
    await _a_set_value(update, context, args, "quarterly")


async def _a_setting_input(update: Update, context: BotContext, args: list[str], step: str) -> None:
    branch_id = _int(args, 0)
    if branch_id is None:
        raise dues.DuesStale()
    # Checked now, and again when the value arrives.
    await dues.branch_settings(context.session, branch_id=branch_id, actor=context.actor)
    await save_draft(context.session, context.actor.person_id, ADMIN_FLOW, step, {"branch": branch_id})
    await context.session.commit()
    await _say(update, *_admin_question(context, step))


async def _a_day(update: Update, context: BotContext, args: list[str]) -> None:
    await _a_setting_input(update, context, args, "set_day")


async def _a_farmer(update: Update, context: BotContext, args: list[str]) -> None:
    await _a_setting_input(update, context, args, "set_farmer")


async def _a_cancel(update: Update, context: BotContext, args: list[str]) -> None:
    await clear_draft(context.session, context.actor.person_id, ADMIN_FLOW)
    await context.session.commit()
    await _say(update, context.text("common.cancelled"))


_ADMIN_ACTIONS = {
    "b": _a_branch,
    "open": _a_open,
    "pend": _a_pending,
    "cf": _a_confirm,
    "rj": _a_reject,
    "arr": _a_arrears,
    "exp": _a_export_pick,
    "xl": _a_export,
    "mem": _a_members,
    "rec": _a_record,
    "rm": _a_record_toggle,
    "rok": _a_record_save,
    "adj": _a_adjust,
    "am": _a_adjust_month,
    "ak": _a_adjust_kind,
    "cat": _a_category,
    "cc": _a_review_confirm,
    "co": _a_override,
    "oc": _a_override_category,
    "set": _a_settings,
    "rnd": _a_rounding,
    "qtr": _a_quarterly,
    "day": _a_day,
    "frm": _a_farmer,
    "no": _a_cancel,
}


@with_session
async def admin_button(update: Update, context: BotContext) -> None:
    """Every `dsa:` button of the secretary's dues menu; the service re-checks the sender's branch."""
    _, action, *args = (update.callback_query.data or "").split(":")
    handler = _ADMIN_ACTIONS.get(action)
    try:
        if handler is None:
            raise dues.DuesStale()
        await handler(update, context, args)
    except dues.DuesNotAllowed:
        await _not_allowed(update, context)
    except dues.DuesStale:
        await _stale(update, context)
    except (dues.DuesRefused, RuleInputError) as error:
        await _say(update, _error_text(context, error))


def _admin_question(context: BotContext, step: str, category: str | None = None) -> tuple[str, Rows]:
    cancel = [[Button(context.text("common.cancel"), data="dsa:no")]]
    if step == "ovr_base" and category:
        return context.text(f"dues.ask_base.{category}"), cancel
    return context.text(f"dues.admin.ask_{step}"), cancel


async def admin_input(update: Update, context: BotContext, draft: Draft) -> None:
    """Typed answers of the secretary: a reduced amount, a reason, an overriding base, a setting."""
    text = update.effective_message.text or ""
    session, now, data = context.session, context.deps.clock.now(), draft.data
    try:
        if draft.step == "adj_amount":
            amount = dues.parse_money(text)
            month = dues.parse_month_code(data["month"])
            assert month is not None
            await dues.check_reduction(
                session, member_id=data["member"], month=month, amount=amount, actor=context.actor, now=now
            )
            await save_draft(
                session, context.actor.person_id, ADMIN_FLOW, "adj_reason", {**data, "amount": str(amount)}
            )
            await session.commit()
            await _say(update, *_admin_question(context, "adj_reason"))
        elif draft.step == "adj_reason":
            month = dues.parse_month_code(data["month"])
            assert month is not None
            amount = Decimal(data["amount"]) if data.get("amount") else None
            result = await dues.adjust_month(
                session,
                member_id=data["member"],
                month=month,
                kind=data["kind"],
                reduced_amount=amount,
                reason=text,
                actor=context.actor,
                now=now,
            )
            await clear_draft(session, context.actor.person_id, ADMIN_FLOW)
            await session.commit()
            amount_text = _money(result.amount) if result else "—"
            await _say(
                update,
                context.text(
                    f"dues.admin.adjusted_{data['kind']}", month=_month(context, month), amount=amount_text
                ),
            )
        elif draft.step == "ovr_base":
            base = dues.parse_base(data["category"], text)
            await _override(update, context, data["member"], data["category"], base)
        elif draft.step == "set_day":
            day = dues.parse_reminder_day(text)
            settings = await dues.update_settings(
                session, branch_id=data["branch"], actor=context.actor, now=now, reminder_day=day
            )
            await clear_draft(session, context.actor.person_id, ADMIN_FLOW)
            await session.commit()
            await _say(update, *_settings_view(context, settings))
        elif draft.step == "set_farmer":
            amount = dues.parse_farmer_amount(text)
            settings = await dues.update_settings(
                session, branch_id=data["branch"], actor=context.actor, now=now, farmer_amount=amount
            )
            await clear_draft(session, context.actor.person_id, ADMIN_FLOW)
            await session.commit()
            await _say(update, *_settings_view(context, settings))
        else:
            await _say(update, context.text("dues.use_buttons"))
    except dues.DuesNotAllowed:
        await clear_draft(session, context.actor.person_id, ADMIN_FLOW)
        await session.commit()
        await _not_allowed(update, context)
    except dues.DuesStale:
        await clear_draft(session, context.actor.person_id, ADMIN_FLOW)
        await session.commit()
        await _stale(update, context)
    except (dues.DuesRefused, RuleInputError) as error:
        question, rows = _admin_question(context, draft.step, data.get("category"))
        await _say(update, _error_text(context, error) + "\n" + question, rows)
