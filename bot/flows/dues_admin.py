"""/duesadmin: the secretary's dues menu (``dsa:...`` buttons).

The menu, the lists and the pickers (a member, a month, reduce or waive, a category) are plain screens;
what asks for answers is one form on the step engine (`bot.steps`, flow ``dues_admin``), started at the
step the menu chose: the months a member paid in person (ticked, then 保存), a reduced amount and the
reason (or the reason alone), an overriding base, the reminder day, the farmers' amount. Each ends with
its last answer (no check screen); 返回, 取消, refused answers asked again, stale buttons and expired
drafts are the engine's.

Every id in button data is re-checked by the service against the sender's branches; a denial is
audited and answered as not allowed, a button naming nothing (any more) as stale.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from bot.conversation import Turn
from bot.dialog import Button, Reply, Screen, already_done, denied, stale
from bot.flows.dues_text import (
    CATEGORIES,
    CATEGORY_VALUES,
    Rows,
    base_of,
    base_prompt,
    chosen,
    chosen_text,
    error_text,
    explain,
    from_codes,
    mon,
    money,
    month,
    month_buttons,
    months,
    parse_base,
    refused,
    rows_of,
    screen,
    toggle,
    typed,
)
from bot.rules.errors import RuleInputError
from bot.services import dues, dues_ledger
from bot.services.drafts import clear_draft
from bot.services.dues import (
    A_ADJUST_KIND,
    A_ADJUST_MONTH,
    A_ARREARS,
    A_BRANCH,
    A_CANCEL,
    A_CATEGORY,
    A_CONFIRM,
    A_DAY,
    A_EXPORT,
    A_EXPORT_PICK,
    A_FARMER,
    A_MEMBERS,
    A_NAG,
    A_OPEN,
    A_OVERRIDE,
    A_OVERRIDE_CATEGORY,
    A_PENDING,
    A_QUARTERLY,
    A_RECORD_MONTH,
    A_RECORD_SAVE,
    A_REJECT,
    A_REVIEW_CONFIRM,
    A_ROUNDING,
    A_SETTINGS,
    ADMIN_BUTTONS,
)
from bot.steps import SUBMIT, Ask, Form, Invalid, Local, Step
from storage.models.dues import AdjustmentKind, DeclarationReview, Rounding

FLOW = "dues_admin"
PICK_ACTIONS = ("rec", "adj", "cat")
PENDING_SHOWN = 10


def _to_menu(turn: Turn, branch_id: int) -> tuple[Button, ...]:
    return (Button(turn.text("common.back"), data=A_BRANCH.data(branch_id)),)


# --- the menu ---------------------------------------------------------------------------------------


def _menu_rows(turn: Turn, summary: dues.AdminSummary) -> Rows:
    b = summary.branch_id
    first = []
    if not summary.opened:
        first.append(
            Button(turn.text("dues.btn.open"), data=A_OPEN.data(b, int(dues.month_code(summary.month))))
        )
    first.append(Button(turn.text("dues.btn.pending"), data=A_PENDING.data(b)))
    rows = [
        tuple(first),
        (
            Button(turn.text("dues.btn.arrears"), data=A_ARREARS.data(b)),
            Button(turn.text("dues.btn.export"), data=A_EXPORT_PICK.data(b)),
        ),
        (
            Button(turn.text("dues.btn.record"), data=A_MEMBERS.data(b, "rec")),
            Button(turn.text("dues.btn.adjust"), data=A_MEMBERS.data(b, "adj")),
            Button(turn.text("dues.btn.category"), data=A_MEMBERS.data(b, "cat")),
        ),
    ]
    if summary.undeclared:
        rows.append((Button(turn.text("dues.btn.nag", count=summary.undeclared), data=A_NAG.data(b)),))
    rows.append((Button(turn.text("dues.btn.settings"), data=A_SETTINGS.data(b)),))
    return tuple(rows)


async def _menu(turn: Turn, branch_id: int) -> Reply:
    summary = await dues.admin_summary(turn.session, branch_id=branch_id, actor=turn.actor, now=turn.now)
    text = turn.text(
        "dues.admin.menu",
        branch=summary.branch_name,
        month=month(turn, summary.month),
        opened=turn.text("dues.admin.opened" if summary.opened else "dues.admin.not_opened"),
        pending=summary.pending,
        arrears=summary.in_arrears,
    )
    if summary.undeclared:
        # Who never declared owes an unknown amount: counted apart, never added in as zero.
        text += "\n" + turn.text("dues.admin.menu_undeclared", count=summary.undeclared)
    return screen(text, _menu_rows(turn, summary))


async def admin_menu(turn: Turn) -> Reply:
    """/duesadmin: the dues menu of the branch the secretary leads (or a choice of branches)."""
    branches = await dues.officer_branches(turn.session, turn.actor)
    if not branches:
        await dues.deny(turn.session, turn.actor, "dues.admin")
        return denied(turn.language)
    if len(branches) == 1:
        return await _menu(turn, branches[0][0])
    rows = tuple((Button(name, data=A_BRANCH.data(branch_id)),) for branch_id, name in branches)
    return screen(turn.text("dues.admin.pick_branch"), rows)


async def _a_branch(turn: Turn, args: tuple[Any, ...]) -> Reply:
    return await _menu(turn, args[0])


async def _a_open(turn: Turn, args: tuple[Any, ...]) -> Reply:
    branch_id, chosen = args[0], dues.month_of_code(args[1])
    if chosen is None:
        raise dues.DuesStale()
    opened = await dues.open_month(
        turn.session, branch_id=branch_id, month=chosen, actor=turn.actor, now=turn.now
    )
    if not opened:
        return already_done(turn.language)
    return screen(
        turn.text("dues.admin.month_opened", month=month(turn, chosen)), (_to_menu(turn, branch_id),)
    )


async def _a_nag(turn: Turn, args: tuple[Any, ...]) -> Reply:
    """One tap: ask every member who never declared a base to declare it."""
    asked = await dues.remind_undeclared(turn.session, branch_id=args[0], actor=turn.actor, now=turn.now)
    if not asked:
        return already_done(turn.language)
    return screen(turn.text("dues.admin.nagged", count=asked), (_to_menu(turn, args[0]),))


# --- reports to confirm, arrears, the ledger ---------------------------------------------------------


async def _a_pending(turn: Turn, args: tuple[Any, ...]) -> Reply:
    branch_id = args[0]
    reports = await dues.pending_reports(turn.session, branch_id=branch_id, actor=turn.actor)
    if not reports:
        return screen(turn.text("dues.admin.none_pending"), (_to_menu(turn, branch_id),))
    screens = []
    for report in reports[:PENDING_SHOWN]:
        text = turn.text(
            "dues.admin.pending_item",
            name=report.member_name,
            months=months(turn, report.months),
            total=money(report.total),
            place=turn.text(f"dues.place.{report.place}"),
            paid_on=report.paid_on.isoformat(),
        )
        if report.paid_by:
            text += "\n" + turn.text("dues.payer_line", payer=report.paid_by)
        row = (
            Button(turn.text("dues.btn.confirm"), data=A_CONFIRM.data(report.report_id)),
            Button(turn.text("dues.btn.reject"), data=A_REJECT.data(report.report_id)),
        )
        screens.append(Screen(text, buttons=(row,)))
    if len(reports) > PENDING_SHOWN:
        screens.append(Screen(turn.text("dues.admin.more_pending", count=len(reports) - PENDING_SHOWN)))
    return Reply(screens=tuple(screens), edit=False)


async def _a_decide(turn: Turn, args: tuple[Any, ...], confirm: bool) -> Reply:
    outcome = await dues.decide_report(
        turn.session, report_id=args[0], actor=turn.actor, confirm=confirm, now=turn.now
    )
    if not outcome.changed:
        return already_done(turn.language)
    key = "dues.admin.confirmed" if confirm else "dues.admin.rejected"
    return screen(
        turn.text(
            key, name=outcome.member_name, months=months(turn, outcome.months), total=money(outcome.total)
        )
    )


async def _a_confirm(turn: Turn, args: tuple[Any, ...]) -> Reply:
    return await _a_decide(turn, args, True)


async def _a_reject(turn: Turn, args: tuple[Any, ...]) -> Reply:
    return await _a_decide(turn, args, False)


async def _a_arrears(turn: Turn, args: tuple[Any, ...]) -> Reply:
    branch_id = args[0]
    rows = await dues.arrears(turn.session, branch_id=branch_id, actor=turn.actor, now=turn.now)
    if not rows:
        return screen(turn.text("dues.admin.no_arrears"), (_to_menu(turn, branch_id),))
    lines = [turn.text("dues.admin.arrears_title", count=len(rows))]
    for row in rows:
        # An amount unknown (no base declared) is said so, never shown as a sum.
        key = "dues.admin.arrears_line" if row.amount is not None else "dues.admin.arrears_line_undeclared"
        lines.append(
            turn.text(
                key,
                name=row.name,
                count=len(row.months),
                run=row.run,
                months=months(turn, row.months),
                amount=money(row.amount),
            )
        )
    return screen("\n".join(lines), (_to_menu(turn, branch_id),))


async def _a_export_pick(turn: Turn, args: tuple[Any, ...]) -> Reply:
    branch_id = args[0]
    opened = await dues.opened_months(turn.session, branch_id=branch_id, actor=turn.actor)
    if not opened:
        return screen(turn.text("dues.admin.no_months"), (_to_menu(turn, branch_id),))
    buttons = [Button(month(turn, m), data=A_EXPORT.data(branch_id, int(dues.month_code(m)))) for m in opened]
    return screen(turn.text("dues.admin.pick_export"), (*rows_of(buttons, 3), _to_menu(turn, branch_id)))


async def _a_export(turn: Turn, args: tuple[Any, ...]) -> Reply:
    branch_id, chosen = args[0], dues.month_of_code(args[1])
    if chosen is None:
        raise dues.DuesStale()
    name, data, ledger = await dues_ledger.ledger_file(
        turn.session, branch_id=branch_id, month=chosen, actor=turn.actor, now=turn.now
    )
    caption = turn.text(
        "dues.admin.export_caption",
        month=month(turn, chosen),
        received=money(ledger.received),
        home=money(ledger.paid_home),
        unpaid=money(ledger.unpaid),
    )
    if ledger.undeclared:
        caption += turn.text("dues.admin.export_undeclared", count=ledger.undeclared)
    return Reply(screens=(Screen(caption, document=(name, data)),), edit=False)


# --- one member: record in person, reduce or waive, category -----------------------------------------


async def _a_members(turn: Turn, args: tuple[Any, ...]) -> Reply:
    branch_id, op = args
    if op not in PICK_ACTIONS:
        raise dues.DuesStale()
    members = await dues.branch_members(turn.session, branch_id=branch_id, actor=turn.actor)
    if not members:
        return screen(turn.text("dues.admin.no_members"), (_to_menu(turn, branch_id),))
    action = ADMIN_BUTTONS.actions[op]
    buttons = [Button(name, data=action.data(member_id)) for member_id, name in members]
    return screen(
        turn.text(f"dues.admin.pick_member_{op}"), (*rows_of(buttons, 3), _to_menu(turn, branch_id))
    )


async def _officer_view(turn: Turn, member_id: int, action: str) -> dues.MemberDuesView:
    return await dues.member_for_officer(
        turn.session, member_id=member_id, actor=turn.actor, now=turn.now, action=action
    )


async def _a_record(turn: Turn, args: tuple[Any, ...]) -> Reply:
    view = await _officer_view(turn, args[0], "dues.record")
    back = (_to_menu(turn, view.branch_id),)
    if view.overview.declaration is None:
        return screen(turn.text("dues.admin.no_declaration"), back)
    if not view.overview.reportable and not view.overview.quarter:
        return screen(turn.text("dues.admin.nothing_due", name=view.name), back)
    return await FORM.start(turn, {"member": view.member_id, "months": []}, "record")


async def _a_adjust(turn: Turn, args: tuple[Any, ...]) -> Reply:
    view = await _officer_view(turn, args[0], "dues.adjust")
    back = _to_menu(turn, view.branch_id)
    if not view.adjustable:
        return screen(turn.text("dues.admin.nothing_due", name=view.name), (back,))
    buttons = [
        Button(mon(turn, m), data=A_ADJUST_MONTH.data(view.member_id, int(dues.month_code(m))))
        for m in view.adjustable
    ]
    return screen(turn.text("dues.admin.adjust_month", name=view.name), (*rows_of(buttons, 4), back))


async def _adjustable_month(turn: Turn, args: tuple[Any, ...]) -> tuple[dues.MemberDuesView, date]:
    view = await _officer_view(turn, args[0], "dues.adjust")
    chosen = dues.month_of_code(args[1])
    if chosen is None or chosen not in view.adjustable:
        raise dues.DuesStale()
    return view, chosen


async def _a_adjust_month(turn: Turn, args: tuple[Any, ...]) -> Reply:
    view, chosen = await _adjustable_month(turn, args)
    code = int(dues.month_code(chosen))
    row = (
        Button(turn.text("dues.btn.reduce"), data=A_ADJUST_KIND.data(view.member_id, code, "r")),
        Button(turn.text("dues.btn.exempt"), data=A_ADJUST_KIND.data(view.member_id, code, "e")),
    )
    back = (Button(turn.text("common.back"), data=dues.A_ADJUST.data(view.member_id)),)
    return screen(turn.text("dues.admin.adjust_kind", name=view.name, month=month(turn, chosen)), (row, back))


async def _a_adjust_kind(turn: Turn, args: tuple[Any, ...]) -> Reply:
    kind = {"r": AdjustmentKind.REDUCED, "e": AdjustmentKind.EXEMPT}.get(args[2])
    if kind is None:
        raise dues.DuesStale()
    view, chosen = await _adjustable_month(turn, args)
    step = "adj_amount" if kind is AdjustmentKind.REDUCED else "adj_reason"
    data = {"member": view.member_id, "month": dues.month_code(chosen), "kind": kind.value}
    return await FORM.start(turn, data, step)


async def _a_category(turn: Turn, args: tuple[Any, ...]) -> Reply:
    view = await _officer_view(turn, args[0], "dues.review")
    declaration = view.overview.declaration
    row = []
    if declaration is None:
        text = turn.text("dues.admin.decl_none", name=view.name)
    else:
        review = turn.text(f"dues.review_short.{declaration.review}")
        text = turn.text("dues.admin.decl", name=view.name, review=review)
        text += "\n" + explain(turn, view.overview.current)
        if declaration.review == DeclarationReview.PENDING:
            row.append(Button(turn.text("dues.btn.confirm"), data=A_REVIEW_CONFIRM.data(view.member_id)))
    row.append(Button(turn.text("dues.btn.override"), data=A_OVERRIDE.data(view.member_id)))
    return screen(text, (tuple(row), _to_menu(turn, view.branch_id)))


async def _a_review_confirm(turn: Turn, args: tuple[Any, ...]) -> Reply:
    changed, _, result = await dues.review_declaration(
        turn.session, member_id=args[0], actor=turn.actor, now=turn.now
    )
    if not changed:
        return already_done(turn.language)
    return screen(turn.text("dues.admin.decl_confirmed") + "\n" + explain(turn, result))


async def _a_override(turn: Turn, args: tuple[Any, ...]) -> Reply:
    view = await _officer_view(turn, args[0], "dues.review")
    buttons = [
        Button(turn.text(f"dues.btn.cat.{c.value}"), data=A_OVERRIDE_CATEGORY.data(view.member_id, c.value))
        for c in CATEGORIES
    ]
    back = (Button(turn.text("common.back"), data=A_CATEGORY.data(view.member_id)),)
    return screen(turn.text("dues.admin.override_ask", name=view.name), (*rows_of(buttons, 4), back))


async def _a_override_category(turn: Turn, args: tuple[Any, ...]) -> Reply:
    category = args[1]
    if category not in CATEGORY_VALUES:
        raise dues.DuesStale()
    view = await _officer_view(turn, args[0], "dues.review")
    if dues.needs_base(category):
        return await FORM.start(turn, {"member": view.member_id, "category": category}, "ovr_base")
    return await _override(turn, view.member_id, category, None)


async def _override(turn: Turn, member_id: int, category: str, base: Decimal | None) -> Reply:
    _, _, result = await dues.review_declaration(
        turn.session, member_id=member_id, actor=turn.actor, now=turn.now, category=category, base=base
    )
    return screen(turn.text("dues.admin.decl_overridden") + "\n" + explain(turn, result))


# --- settings ---------------------------------------------------------------------------------------


def _settings_screen(turn: Turn, settings: dues.BranchDuesSettings) -> Reply:
    b = settings.branch_id
    other_rounding = Rounding.FEN.value if settings.rounding == Rounding.JIAO else Rounding.JIAO.value
    text = turn.text(
        "dues.admin.settings",
        rounding=turn.text(f"dues.rounding.{settings.rounding}"),
        quarterly=turn.text("common.yes" if settings.quarterly_allowed else "common.no"),
        day=settings.reminder_day,
        farmer=money(settings.farmer_amount),
    )
    rows = (
        (
            Button(turn.text("dues.btn.rounding"), data=A_ROUNDING.data(b, other_rounding)),
            Button(
                turn.text("dues.btn.quarterly"), data=A_QUARTERLY.data(b, int(not settings.quarterly_allowed))
            ),
        ),
        (
            Button(turn.text("dues.btn.day"), data=A_DAY.data(b)),
            Button(turn.text("dues.btn.farmer"), data=A_FARMER.data(b)),
        ),
        _to_menu(turn, b),
    )
    return screen(text, rows)


async def _a_settings(turn: Turn, args: tuple[Any, ...]) -> Reply:
    settings = await dues.branch_settings(turn.session, branch_id=args[0], actor=turn.actor)
    return _settings_screen(turn, settings)


async def _a_rounding(turn: Turn, args: tuple[Any, ...]) -> Reply:
    """Set the rounding named in the button, so a repeated tap leaves it as it is."""
    if args[1] not in {r.value for r in Rounding}:
        raise dues.DuesStale()
    settings = await dues.update_settings(
        turn.session, branch_id=args[0], actor=turn.actor, now=turn.now, rounding=args[1]
    )
    return _settings_screen(turn, settings)


async def _a_quarterly(turn: Turn, args: tuple[Any, ...]) -> Reply:
    settings = await dues.update_settings(
        turn.session, branch_id=args[0], actor=turn.actor, now=turn.now, quarterly_allowed=args[1] == 1
    )
    return _settings_screen(turn, settings)


async def _setting_input(turn: Turn, branch_id: int, step: str) -> Reply:
    # Checked now, and again when the value arrives.
    await dues.branch_settings(turn.session, branch_id=branch_id, actor=turn.actor)
    return await FORM.start(turn, {"branch": branch_id}, step)


async def _a_day(turn: Turn, args: tuple[Any, ...]) -> Reply:
    return await _setting_input(turn, args[0], "set_day")


async def _a_farmer(turn: Turn, args: tuple[Any, ...]) -> Reply:
    return await _setting_input(turn, args[0], "set_farmer")


# --- the form: what the menu asks the secretary to answer ----------------------------------------------


async def _record_view(ask: Ask) -> dues.MemberDuesView:
    return await ask.once("view", lambda: _officer_view(ask.turn, ask.data["member"], "dues.record"))


async def _record_text(ask: Ask) -> str:
    view = await _record_view(ask)
    return chosen_text(ask, ask.text("dues.admin.record_ask", name=view.name), view.overview.amounts)


async def _record_rows(ask: Ask) -> Rows:
    view = await _record_view(ask)
    choices = sorted(set(view.overview.reportable) | set(view.overview.quarter))
    ticked = chosen(ask.data, view.overview.amounts)
    rows = rows_of(month_buttons(ask.turn, choices, ticked, A_RECORD_MONTH, view.member_id), 4)
    return (*rows, (Button(ask.text("dues.btn.save"), data=A_RECORD_SAVE.data(view.member_id)),))


def _same_member(ask: Ask, member_id: int) -> None:
    """A month or 保存 button of another member's record screen (an older message) is stale."""
    if member_id != ask.data["member"]:
        raise Invalid("error.stale_button")


async def _toggle_record(ask: Ask, member_id: int, code: int) -> None:
    _same_member(ask, member_id)
    toggle(ask.data, (await _record_view(ask)).overview.amounts, code)


def _save_record(ask: Ask, member_id: int) -> str:
    _same_member(ask, member_id)
    if not ask.data["months"]:
        raise Invalid("dues.pick_month")
    return SUBMIT


async def _record(ask: Ask) -> Reply:
    turn = ask.turn
    outcome = await dues.record_in_person(
        turn.session,
        member_id=ask.data["member"],
        months=from_codes(ask.data["months"]),
        actor=turn.actor,
        now=turn.now,
    )
    return screen(
        turn.text("dues.admin.recorded", months=months(turn, outcome.months), total=money(outcome.total))
    )


def _adjusted_month(ask: Ask) -> date:
    chosen_month = dues.parse_month_code(ask.data["month"])
    assert chosen_month is not None  # (written by the month button, checked then)
    return chosen_month


async def _parse_reduction(ask: Ask, text: str) -> str:
    """The reduced amount, refused at once when it is above the month's standard amount."""
    turn = ask.turn
    with refused():
        amount = dues.parse_money(text)
        await dues.check_reduction(
            turn.session,
            member_id=ask.data["member"],
            month=_adjusted_month(ask),
            amount=amount,
            actor=turn.actor,
            now=turn.now,
        )
    return str(amount)


async def _adjust(ask: Ask) -> Reply:
    turn, data = ask.turn, ask.data
    chosen_month = _adjusted_month(ask)
    result = await dues.adjust_month(
        turn.session,
        member_id=data["member"],
        month=chosen_month,
        kind=data["kind"],
        reduced_amount=Decimal(data["amount"]) if data.get("amount") else None,
        reason=data["adj_reason"],
        actor=turn.actor,
        now=turn.now,
    )
    amount = money(result.amount) if result else "—"
    return screen(
        turn.text(f"dues.admin.adjusted_{data['kind']}", month=month(turn, chosen_month), amount=amount)
    )


async def _override_base(ask: Ask) -> Reply:
    return await _override(ask.turn, ask.data["member"], ask.data["category"], base_of(ask.data))


async def _set(ask: Ask) -> Reply:
    """A typed setting: the reminder day, or what a farmer member pays a month."""
    values: dict[str, Any] = (
        {"reminder_day": int(ask.data["set_day"])}
        if ask.step == "set_day"
        else {"farmer_amount": Decimal(ask.data["set_farmer"])}
    )
    turn = ask.turn
    settings = await dues.update_settings(
        turn.session, branch_id=ask.data["branch"], actor=turn.actor, now=turn.now, **values
    )
    return _settings_screen(turn, settings)


_SUBMITS = {
    "record": _record,
    "adj_reason": _adjust,
    "ovr_base": _override_base,
    "set_day": _set,
    "set_farmer": _set,
}


async def _submit(ask: Ask) -> Reply:
    """The last answer of whichever task the menu started; a refusal asks that step again."""
    with refused():
        return await _SUBMITS[ask.step](ask)


FORM = Form(
    FLOW,
    ADMIN_BUTTONS,
    [
        Step(
            "record",
            _record_text,
            rows=_record_rows,
            locals=(
                Local(A_RECORD_MONTH.name, _toggle_record, A_RECORD_MONTH.fields),
                Local(A_RECORD_SAVE.name, _save_record, A_RECORD_SAVE.fields),
            ),
        ),
        Step(
            "adj_amount",
            "dues.admin.ask_adj_amount",
            parse=_parse_reduction,
            store=lambda ask, amount: ask.data.update(amount=amount),
            next="adj_reason",
        ),
        Step(
            "adj_reason",
            "dues.admin.ask_adj_reason",
            parse=lambda ask, text: text,  # checked by the service when it is recorded
            next=SUBMIT,
            back=lambda ask: "adj_amount" if ask.data["kind"] == AdjustmentKind.REDUCED else None,
        ),
        Step(
            "ovr_base",
            base_prompt,
            parse=parse_base,
            store=lambda ask, base: ask.data.update(base=base),
            next=SUBMIT,
        ),
        Step("set_day", "dues.admin.ask_set_day", parse=typed(dues.parse_reminder_day), next=SUBMIT),
        Step(
            "set_farmer",
            "dues.admin.ask_set_farmer",
            parse=typed(dues.parse_farmer_amount),
            next=SUBMIT,
        ),
    ],
    None,
    submit=_submit,
    again="/duesadmin",
    back_action="bk",
    cancel_action=A_CANCEL.name,
    edit_action="ed",
)


_ACTIONS = {
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
    "nag": _a_nag,
}


async def on_button(turn: Turn) -> Reply:
    """Every ``dsa:`` button of the secretary's dues menu; the service re-checks the sender's branch."""
    press = ADMIN_BUTTONS.decode(turn.inbound.data)
    if press is None:
        return stale(turn.language)
    if press.action == A_RECORD_SAVE.name and await FORM.draft(turn) is None:
        return already_done(turn.language)  # 保存 tapped twice: recorded once
    try:
        answered = await FORM.on_button(turn)
        if answered is not None:
            return answered
        return await _ACTIONS[press.action](turn, press.args)
    except dues.DuesNotAllowed:
        return denied(turn.language)
    except dues.DuesStale:
        return stale(turn.language)
    except (dues.DuesRefused, RuleInputError) as error:
        return screen(error_text(turn, error))


async def on_input(turn: Turn) -> Reply:
    """Typed answers of the secretary's form; a lost right or a member gone ends the form."""
    try:
        return await FORM.on_input(turn)
    except dues.DuesNotAllowed:
        await clear_draft(turn.session, turn.actor.person_id, FLOW)
        return denied(turn.language)
    except dues.DuesStale:
        await clear_draft(turn.session, turn.actor.person_id, FLOW)
        return stale(turn.language)
