"""/activity: the secretary's activity-day plan, RSVPs and attendance; members' attend, leave, sign-in;
the yearly details check (life:...). Thin callbacks over `bot.services.activity` and `lifecycle`.

Buttons are ``act:<action>:<id>[:<id>]`` and ``life:<action>:<cycle>``; every id is re-checked by the
service against the sender and the database. Typed answers go through drafts (flows below).
"""

from __future__ import annotations

from collections.abc import Sequence

from telegram import Update
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler

from bot.rules.errors import RuleInputError
from bot.scheduling.engine import QuietHours
from bot.services import activity, lifecycle
from bot.services.activity import Outcome, RsvpAnswer
from bot.services.drafts import clear_draft, save_draft
from bot.services.lifecycle import LifeOutcome
from bot.services.outbox import Button
from handlers.context import BotContext, with_session
from handlers.keyboards import inline_keyboard
from storage.models import Draft

FLOW_EDIT = "activity_edit"
FLOW_LEAVE = "activity_leave"
FLOW_MOVE = "activity_move"
FLOW_EXCUSE = "orglife_excuse"
FLOW_DETAILS = "details_change"
FLOWS = (FLOW_EDIT, FLOW_LEAVE, FLOW_MOVE, FLOW_EXCUSE, FLOW_DETAILS)

# The plan's fields, in the order of their buttons (three a row).
FIELD_BUTTONS = ("rule", "time", "place", "topic", "programme", "leads", "lost")

Rows = Sequence[Sequence[Button]]


# -- small helpers ----------------------------------------------------------------------------------


async def _say(update: Update, text: str, rows: Rows = ()) -> None:
    """Answer a button press (if any) and send ``text`` as a new message."""
    if update.callback_query is not None:
        await update.callback_query.answer()
    await update.effective_message.reply_text(text, reply_markup=inline_keyboard(rows))


async def _edit(update: Update, text: str, rows: Rows = ()) -> None:
    """Replace the pressed message (the roster after a mark)."""
    await update.callback_query.answer()
    await update.callback_query.edit_message_text(text, reply_markup=inline_keyboard(rows))


def _ids(data: str, count: int) -> list[int] | None:
    """The ``count`` integer ids after ``act:<action>:``; None when the data is malformed."""
    parts = data.split(":")[2:]
    if len(parts) != count or not all(p.isdecimal() and len(p) <= 12 for p in parts):
        return None
    return [int(p) for p in parts]


def _quiet(context: BotContext) -> QuietHours:
    return QuietHours.from_settings(context.deps.settings)


def _cancel_row(context: BotContext, flow: str) -> list[list[Button]]:
    return [[Button(context.text("common.cancel"), data=f"act:q:{flow}")]]


def _error(context: BotContext, error: RuleInputError) -> str:
    return context.text(error.key)


# -- rendering ---------------------------------------------------------------------------------------


def _plan_lines(context: BotContext, view: activity.PlanView) -> list[str]:
    lang = context.actor.language
    lines = [
        context.text("activity.plan.head", branch=view.branch_name),
        context.text(
            "activity.plan.rule",
            rule=activity.format_rule(lang, view.rule),
            time=view.start_time.strftime("%H:%M"),
        ),
    ]
    if view.place:
        lines.append(context.text("activity.line.place", place=view.place))
    if view.online_link:
        lines.append(context.text("activity.line.online", link=view.online_link))
    if view.topic:
        lines.append(context.text("activity.line.topic", topic=view.topic))
    if view.programme:
        lines.append(
            context.text("activity.line.programme", items=context.text("activity.sep").join(view.programme))
        )
    leads = context.text("activity.sep").join(
        context.text("activity.lead.same_day") if d == 0 else context.text("activity.lead.days", days=d)
        for d in view.lead_days
    )
    lines.append(
        context.text(
            "activity.plan.reminders",
            leads=leads or context.text("activity.lead.none"),
            time=view.remind_at.strftime("%H:%M"),
        )
    )
    lines.append(context.text("activity.plan.lost", days=view.lost_contact_days))
    event = view.next_event
    if event is None:
        lines.append(context.text("activity.plan.no_event"))
    else:
        when = activity.format_when(lang, event.starts_at)
        key = "activity.plan.next_cancelled" if event.status == "cancelled" else "activity.plan.next"
        lines.append(context.text(key, when=when))
    return lines


def _overview(context: BotContext, overview: lifecycle.Overview) -> tuple[str, list[list[Button]]]:
    view = overview.plan
    lines = _plan_lines(context, view)
    if overview.absent:
        names = context.text("activity.sep").join(
            context.text("activity.absent.item", name=a.name, months=a.months) for a in overview.absent
        )
        lines.append(context.text("activity.absent.list", names=names))
    if overview.silent:
        lines.append(
            context.text(
                "activity.lost.list", names=context.text("activity.sep").join(s.name for s in overview.silent)
            )
        )
    b = view.branch_id
    fields = [Button(context.text(f"btn.activity.field.{f}"), data=f"act:e:{b}:{f}") for f in FIELD_BUTTONS]
    rows = [fields[i : i + 4] for i in range(0, len(fields), 4)]
    event = view.next_event
    if event is not None and event.status != "cancelled":
        rows.append(
            [
                Button(context.text("btn.activity.roster"), data=f"act:l:{event.id}"),
                Button(context.text("btn.activity.move"), data=f"act:v:{event.id}"),
                Button(context.text("btn.activity.cancel"), data=f"act:k:{event.id}"),
            ]
        )
    rows.append([Button(context.text("btn.activity.history"), data=f"act:h:{b}")])
    if context.actor.is_member:
        rows.append([Button(context.text("btn.activity.mine"), data="act:me")])
    return "\n".join(lines), rows


def _member_screen(context: BotContext, view: activity.MemberEventView) -> tuple[str, list[list[Button]]]:
    lang = context.actor.language
    event = view.event
    if event is None:
        return context.text("activity.member.none"), []
    when = activity.format_when(lang, event.starts_at)
    if event.status == "cancelled":
        return context.text("activity.member.cancelled", when=when), []
    lines = [context.text("activity.member.head"), *activity.event_lines(lang, event.starts_at, view.plan)]
    answer = {
        RsvpAnswer.ATTEND: context.text("activity.answer.attend"),
        RsvpAnswer.LEAVE: context.text("activity.answer.leave"),
    }.get(view.answer, context.text("activity.answer.none"))  # type: ignore[arg-type]
    lines.append(context.text("activity.member.answer", answer=answer))
    if view.signed_in:
        lines.append(context.text("activity.member.signed"))
    rows: list[list[Button]] = []
    if view.signin_open and not view.signed_in:
        rows.append([Button(context.text("btn.activity.signin"), data=f"act:s:{event.id}")])
    elif not view.signin_open and not view.signed_in and view.answer is None:
        rows.append(list(activity.rsvp_buttons(lang, event.id)[0]))
    return "\n".join(lines), rows


def _roster(context: BotContext, view: activity.AttendanceView) -> tuple[str, list[list[Button]]]:
    lang = context.actor.language
    event = view.event
    lines = [
        context.text("activity.roster.head", when=activity.format_when(lang, event.starts_at)),
        context.text(
            "activity.roster.counts",
            attend=view.attending,
            leave=view.on_leave,
            none=view.unanswered,
            present=view.present,
        ),
    ]
    rows: list[list[Button]] = []
    for line in view.lines:
        if line.answer == RsvpAnswer.ATTEND:
            answer = context.text("activity.answer.attend")
        elif line.answer == RsvpAnswer.LEAVE:
            answer = context.text("activity.roster.leave", reason=line.reason or "")
        else:
            answer = context.text("activity.answer.none")
        mark = "✓" if line.present else "○"
        extra = ""
        if line.source == "secretary":
            extra = context.text("activity.roster.by_hand")
        elif line.excused:
            extra = context.text("activity.roster.excused")
        lines.append(f"{mark} {line.name} {answer}{extra}")
        row = [Button(f"{mark}{line.name}", data=f"act:m:{event.id}:{line.member_id}")]
        if not line.present and not line.excused:
            row.append(Button(context.text("btn.activity.excuse"), data=f"act:x:{event.id}:{line.member_id}"))
        rows.append(row)
    if event.status == "cancelled":
        lines.insert(1, context.text("activity.roster.cancelled"))
    return "\n".join(lines), rows


# -- /activity ---------------------------------------------------------------------------------------


@with_session
async def show_activity(update: Update, context: BotContext) -> None:
    """The secretary's plan (or a choice of branch), else the member's next activity day."""
    branches = sorted(context.actor.secretary_branches)
    if len(branches) > 1:
        rows = [[Button(f"#{b}", data=f"act:b:{b}")] for b in branches]
        await _say(update, context.text("activity.choose_branch"), rows)
        return
    if branches:
        await _send_overview(update, context, branches[0])
        return
    await _send_member_view(update, context)


async def _send_overview(update: Update, context: BotContext, branch_id: int) -> None:
    overview = await lifecycle.branch_overview(
        context.session, context.actor, branch_id, context.deps.clock.now()
    )
    await context.session.commit()
    if overview is None:
        await _say(update, context.text("error.not_allowed"))
        return
    text, rows = _overview(context, overview)
    await _say(update, text, rows)


async def _send_member_view(update: Update, context: BotContext) -> None:
    view = await activity.member_view(context.session, context.actor, context.deps.clock.now())
    if view is None:
        await _say(update, context.text("activity.not_member"))
        return
    text, rows = _member_screen(context, view)
    await _say(update, text, rows)


# -- buttons -----------------------------------------------------------------------------------------


@with_session
async def on_button(update: Update, context: BotContext) -> None:
    """Every ``act:`` button: dispatch on the action, re-check everything in the service."""
    data = update.callback_query.data or ""
    action = data.split(":")[1] if data.count(":") >= 1 else ""
    handler = _ACTIONS.get(action)
    if handler is None:
        await _say(update, context.text("error.stale_button"))
        return
    await handler(update, context, data)


async def _choose_branch(update: Update, context: BotContext, data: str) -> None:
    ids = _ids(data, 1)
    if ids is None:
        await _say(update, context.text("error.stale_button"))
        return
    await _send_overview(update, context, ids[0])


async def _mine(update: Update, context: BotContext, data: str) -> None:
    await _send_member_view(update, context)


async def _attend(update: Update, context: BotContext, data: str) -> None:
    ids = _ids(data, 1)
    if ids is None:
        await _say(update, context.text("error.stale_button"))
        return
    result = await activity.answer_rsvp(
        context.session, context.actor, ids[0], RsvpAnswer.ATTEND, context.deps.clock.now()
    )
    await context.session.commit()
    await _reply_tap(update, context, result, "attend")


async def _ask_leave(update: Update, context: BotContext, data: str) -> None:
    ids = _ids(data, 1)
    if ids is None:
        await _say(update, context.text("error.stale_button"))
        return
    result = await activity.can_ask_leave(context.session, context.actor, ids[0], context.deps.clock.now())
    if result.outcome == Outcome.OK:
        await save_draft(context.session, context.actor.person_id, FLOW_LEAVE, "reason", {"event_id": ids[0]})
        await context.session.commit()
        await _say(update, context.text("activity.leave.ask"), _cancel_row(context, FLOW_LEAVE))
        return
    await context.session.commit()
    await _reply_tap(update, context, result, "leave")


async def _reply_tap(update: Update, context: BotContext, result: activity.TapResult, kind: str) -> None:
    lang = context.actor.language
    when = activity.format_when(lang, result.when) if result.when else ""
    if result.outcome == Outcome.NOT_ALLOWED:
        text = context.text("error.not_allowed")
    elif result.outcome == Outcome.STALE:
        text = context.text("activity.stale")
    elif result.outcome == Outcome.NOT_OPEN:
        assert result.opens_at is not None
        text = context.text("activity.signin.not_open", time=activity.format_when(lang, result.opens_at))
    elif result.outcome == Outcome.CLOSED:
        text = context.text("activity.signin.closed")
    else:
        text = context.text(f"activity.{kind}.{result.outcome}", when=when)
    await _say(update, text)


async def _sign_in(update: Update, context: BotContext, data: str) -> None:
    ids = _ids(data, 1)
    if ids is None:
        await _say(update, context.text("error.stale_button"))
        return
    result = await activity.sign_in(context.session, context.actor, ids[0], context.deps.clock.now())
    await context.session.commit()
    await _reply_tap(update, context, result, "signin")


async def _edit_field(update: Update, context: BotContext, data: str) -> None:
    parts = data.split(":")
    if (
        len(parts) != 4
        or not (parts[2].isdecimal() and len(parts[2]) <= 12)
        or parts[3] not in activity.PLAN_FIELDS
    ):
        await _say(update, context.text("error.stale_button"))
        return
    branch_id, field_name = int(parts[2]), parts[3]
    if not await activity.can_edit_plan(context.session, context.actor, branch_id):
        await context.session.commit()
        await _say(update, context.text("error.not_allowed"))
        return
    await save_draft(
        context.session, context.actor.person_id, FLOW_EDIT, field_name, {"branch_id": branch_id}
    )
    await context.session.commit()
    await _say(update, context.text(f"activity.ask.{field_name}"), _cancel_row(context, FLOW_EDIT))


async def _show_roster(update: Update, context: BotContext, data: str, *, edit: bool = False) -> None:
    ids = _ids(data, 1)
    if ids is None:
        await _say(update, context.text("error.stale_button"))
        return
    view = await activity.attendance_view(context.session, context.actor, ids[0])
    await context.session.commit()
    if view is None:
        await _say(update, context.text("error.not_allowed"))
        return
    text, rows = _roster(context, view)
    await (_edit if edit else _say)(update, text, rows)


async def _mark(update: Update, context: BotContext, data: str) -> None:
    ids = _ids(data, 2)
    if ids is None:
        await _say(update, context.text("error.stale_button"))
        return
    event_id, member_id = ids
    outcome, _present = await activity.toggle_attendance(
        context.session, context.actor, event_id, member_id, context.deps.clock.now()
    )
    await context.session.commit()
    if outcome == Outcome.NOT_ALLOWED:
        await _say(update, context.text("error.not_allowed"))
    elif outcome == Outcome.NOT_OPEN:
        await _say(update, context.text("activity.mark.not_open"))
    elif outcome == Outcome.STALE:
        await _say(update, context.text("activity.stale"))
    else:
        await _show_roster(update, context, f"act:l:{event_id}", edit=True)


async def _ask_excuse(update: Update, context: BotContext, data: str) -> None:
    ids = _ids(data, 2)
    if ids is None:
        await _say(update, context.text("error.stale_button"))
        return
    outcome = await activity.excuse_check(context.session, context.actor, *ids)
    if outcome == Outcome.OK:
        await save_draft(
            context.session,
            context.actor.person_id,
            FLOW_EXCUSE,
            "reason",
            {"event_id": ids[0], "member_id": ids[1]},
        )
        await context.session.commit()
        await _say(update, context.text("activity.excuse.ask"), _cancel_row(context, FLOW_EXCUSE))
        return
    await context.session.commit()
    key = "activity.excuse.already" if outcome == Outcome.ALREADY else "error.not_allowed"
    await _say(update, context.text(key))


async def _ask_move(update: Update, context: BotContext, data: str) -> None:
    ids = _ids(data, 1)
    if ids is None:
        await _say(update, context.text("error.stale_button"))
        return
    outcome = await activity.move_check(context.session, context.actor, ids[0], context.deps.clock.now())
    if outcome == Outcome.OK:
        await save_draft(context.session, context.actor.person_id, FLOW_MOVE, "when", {"event_id": ids[0]})
        await context.session.commit()
        await _say(update, context.text("activity.ask.move"), _cancel_row(context, FLOW_MOVE))
        return
    await context.session.commit()
    await _say(
        update, context.text("error.not_allowed" if outcome == Outcome.NOT_ALLOWED else "activity.stale")
    )


async def _ask_cancel(update: Update, context: BotContext, data: str) -> None:
    ids = _ids(data, 1)
    if ids is None:
        await _say(update, context.text("error.stale_button"))
        return
    outcome = await activity.move_check(context.session, context.actor, ids[0], context.deps.clock.now())
    await context.session.commit()
    if outcome != Outcome.OK:
        key = "error.not_allowed" if outcome == Outcome.NOT_ALLOWED else "activity.stale"
        await _say(update, context.text(key))
        return
    rows = [
        [
            Button(context.text("common.confirm"), data=f"act:kk:{ids[0]}"),
            Button(context.text("common.back"), data="act:q:-"),
        ]
    ]
    await _say(update, context.text("activity.cancel.ask"), rows)


async def _cancel_event(update: Update, context: BotContext, data: str) -> None:
    ids = _ids(data, 1)
    if ids is None:
        await _say(update, context.text("error.stale_button"))
        return
    outcome = await activity.cancel_event(
        context.session, context.actor, ids[0], context.deps.clock.now(), _quiet(context)
    )
    await context.session.commit()
    key = {
        Outcome.OK: "activity.cancel.ok",
        Outcome.ALREADY: "activity.cancel.already",
        Outcome.STALE: "activity.stale",
    }.get(outcome, "error.not_allowed")
    await _say(update, context.text(key))


async def _history(update: Update, context: BotContext, data: str) -> None:
    ids = _ids(data, 1)
    if ids is None:
        await _say(update, context.text("error.stale_button"))
        return
    events = await activity.recent_events_for(context.session, context.actor, ids[0])
    await context.session.commit()
    if events is None:
        await _say(update, context.text("error.not_allowed"))
        return
    if not events:
        await _say(update, context.text("activity.history.none"))
        return
    lang = context.actor.language
    rows = [[Button(activity.format_day(lang, e.starts_at), data=f"act:l:{e.id}")] for e in events]
    await _say(update, context.text("activity.history.choose"), rows)


async def _quit_flow(update: Update, context: BotContext, data: str) -> None:
    flow = data.split(":", 2)[2] if data.count(":") == 2 else ""
    if flow in FLOWS:
        await clear_draft(context.session, context.actor.person_id, flow)
        await context.session.commit()
    await _say(update, context.text("common.cancelled"))


_ACTIONS = {
    "b": _choose_branch,
    "me": _mine,
    "y": _attend,
    "n": _ask_leave,
    "s": _sign_in,
    "e": _edit_field,
    "l": _show_roster,
    "m": _mark,
    "x": _ask_excuse,
    "v": _ask_move,
    "k": _ask_cancel,
    "kk": _cancel_event,
    "h": _history,
    "q": _quit_flow,
}


# -- the yearly details check (life:ok / life:chg) ------------------------------------------------------


@with_session
async def on_life_button(update: Update, context: BotContext) -> None:
    """ "No change" confirms the member's details for a year; "Changed" asks what changed."""
    parts = (update.callback_query.data or "").split(":")
    if len(parts) != 3 or parts[1] not in ("ok", "chg") or not parts[2].isdecimal() or len(parts[2]) > 6:
        await _say(update, context.text("error.stale_button"))
        return
    cycle = int(parts[2])
    now = context.deps.clock.now()
    if parts[1] == "ok":
        outcome = await lifecycle.confirm_details(context.session, context.actor, cycle, now)
    else:
        outcome = await lifecycle.details_change_check(context.session, context.actor, cycle)
        if outcome == LifeOutcome.OK:
            await save_draft(
                context.session, context.actor.person_id, FLOW_DETAILS, "changes", {"cycle": cycle}
            )
            await context.session.commit()
            await _say(update, context.text("life.details.ask"), _cancel_row(context, FLOW_DETAILS))
            return
    await context.session.commit()
    await _say(update, context.text(_LIFE_KEYS[outcome]))


_LIFE_KEYS = {
    LifeOutcome.OK: "life.details.thanks",
    LifeOutcome.ALREADY: "life.details.already",
    LifeOutcome.STALE: "error.stale_button",
    LifeOutcome.NOT_ALLOWED: "error.not_allowed",
}


# -- typed answers (drafts) ------------------------------------------------------------------------------


async def _typed(update: Update) -> str | None:
    message = update.effective_message
    return message.text if message is not None and message.text else None


async def take_plan_field(update: Update, context: BotContext, draft: Draft) -> None:
    """The answer for one plan field: saved, or the same question again with what was wrong."""
    step, branch_id = draft.step, int(draft.data["branch_id"])
    text = await _typed(update)
    if text is None:
        await _say(update, context.text(f"activity.ask.{step}"), _cancel_row(context, FLOW_EDIT))
        return
    try:
        outcome = await activity.update_plan(
            context.session, context.actor, branch_id, step, text, context.deps.clock.now()
        )
    except RuleInputError as error:
        await context.session.rollback()
        await _say(
            update,
            _error(context, error) + "\n" + context.text(f"activity.ask.{step}"),
            _cancel_row(context, FLOW_EDIT),
        )
        return
    await clear_draft(context.session, context.actor.person_id, FLOW_EDIT)
    await context.session.commit()
    if outcome != Outcome.OK:
        await _say(update, context.text("error.not_allowed"))
        return
    await _say(update, context.text("activity.saved"))
    await _send_overview(update, context, branch_id)


async def take_leave_reason(update: Update, context: BotContext, draft: Draft) -> None:
    """The reason for a leave request; then the leave is recorded."""
    event_id = int(draft.data["event_id"])
    text = await _typed(update)
    if text is None:
        await _say(update, context.text("activity.leave.ask"), _cancel_row(context, FLOW_LEAVE))
        return
    try:
        result = await activity.answer_rsvp(
            context.session,
            context.actor,
            event_id,
            RsvpAnswer.LEAVE,
            context.deps.clock.now(),
            reason=text,
        )
    except RuleInputError as error:
        await context.session.rollback()
        await _say(
            update,
            _error(context, error) + "\n" + context.text("activity.leave.ask"),
            _cancel_row(context, FLOW_LEAVE),
        )
        return
    await clear_draft(context.session, context.actor.person_id, FLOW_LEAVE)
    await context.session.commit()
    await _reply_tap(update, context, result, "leave")


async def take_move(update: Update, context: BotContext, draft: Draft) -> None:
    """The new date (and time) of one occurrence; members are told."""
    event_id = int(draft.data["event_id"])
    text = await _typed(update)
    if text is None:
        await _say(update, context.text("activity.ask.move"), _cancel_row(context, FLOW_MOVE))
        return
    try:
        outcome, starts = await activity.move_event(
            context.session,
            context.actor,
            event_id,
            text,
            context.deps.clock.now(),
            _quiet(context),
        )
    except RuleInputError as error:
        await context.session.rollback()
        await _say(
            update,
            _error(context, error) + "\n" + context.text("activity.ask.move"),
            _cancel_row(context, FLOW_MOVE),
        )
        return
    await clear_draft(context.session, context.actor.person_id, FLOW_MOVE)
    await context.session.commit()
    if outcome in (Outcome.OK, Outcome.ALREADY) and starts is not None:
        key = "activity.move.ok" if outcome == Outcome.OK else "activity.move.same"
        await _say(update, context.text(key, when=activity.format_when(context.actor.language, starts)))
    else:
        await _say(
            update, context.text("error.not_allowed" if outcome == Outcome.NOT_ALLOWED else "activity.stale")
        )


async def take_excuse(update: Update, context: BotContext, draft: Draft) -> None:
    """The secretary's good reason for a member's absence that month."""
    event_id, member_id = int(draft.data["event_id"]), int(draft.data["member_id"])
    text = await _typed(update)
    if text is None:
        await _say(update, context.text("activity.excuse.ask"), _cancel_row(context, FLOW_EXCUSE))
        return
    try:
        outcome = await activity.record_excuse(
            context.session,
            context.actor,
            event_id,
            member_id,
            text,
            context.deps.clock.now(),
        )
    except RuleInputError as error:
        await context.session.rollback()
        await _say(
            update,
            _error(context, error) + "\n" + context.text("activity.excuse.ask"),
            _cancel_row(context, FLOW_EXCUSE),
        )
        return
    await clear_draft(context.session, context.actor.person_id, FLOW_EXCUSE)
    await context.session.commit()
    key = {Outcome.OK: "activity.excuse.ok", Outcome.ALREADY: "activity.excuse.already"}.get(
        outcome, "error.not_allowed"
    )
    await _say(update, context.text(key))


async def take_details_change(update: Update, context: BotContext, draft: Draft) -> None:
    """What changed in the member's details; the secretary is told."""
    cycle = int(draft.data["cycle"])
    text = await _typed(update)
    if text is None:
        await _say(update, context.text("life.details.ask"), _cancel_row(context, FLOW_DETAILS))
        return
    try:
        outcome = await lifecycle.report_changes(
            context.session, context.actor, cycle, text, context.deps.clock.now()
        )
    except RuleInputError as error:
        await context.session.rollback()
        await _say(
            update,
            _error(context, error) + "\n" + context.text("life.details.ask"),
            _cancel_row(context, FLOW_DETAILS),
        )
        return
    await clear_draft(context.session, context.actor.person_id, FLOW_DETAILS)
    await context.session.commit()
    key = "life.details.sent" if outcome == LifeOutcome.OK else _LIFE_KEYS[outcome]
    await _say(update, context.text(key))


FORM_FLOWS = {
    FLOW_EDIT: take_plan_field,
    FLOW_LEAVE: take_leave_reason,
    FLOW_MOVE: take_move,
    FLOW_EXCUSE: take_excuse,
    FLOW_DETAILS: take_details_change,
}


def handlers() -> list[BaseHandler]:
    return [
        CommandHandler("activity", show_activity),
        CallbackQueryHandler(on_button, pattern=r"^act:"),
        CallbackQueryHandler(on_life_button, pattern=r"^life:"),
    ]
