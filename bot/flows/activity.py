"""/activity: the secretary's activity-day plan, RSVPs and attendance; members' attend, leave, sign-in;
the yearly details check (life:...). Flows over `bot.services.activity` and `bot.services.lifecycle`.

Buttons are ``act:<action>:<id>[:<id>]`` and ``life:<action>:<cycle>``, declared in the services; every
id is re-checked by the service against the sender and the database. Typed answers (a plan field, a leave
reason, a new date, an excuse, what changed) are forms on the step engine (`bot.steps`), one question
each, submitted as soon as it is answered; 取消, stale presses and expired drafts are the engine's.
Screens a person moves between (overview, roster, history) replace the pressed message; answers to a
reminder's buttons come as a new message, so the reminder's time and place stay readable.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.conversation import Feature, Turn
from bot.dialog import Button, Reply, Screen, denied, stale
from bot.reports.sheets import attendance_sheet
from bot.rules.errors import RuleInputError
from bot.scheduling.engine import QuietHours
from bot.services import activity, audiences, lifecycle
from bot.services.activity import (
    ACT,
    ASK_CANCEL,
    ATTEND,
    BRANCH,
    CANCEL,
    EDIT,
    EXCUSE,
    HISTORY,
    LEAVE,
    MARK,
    MINE,
    MOVE,
    ROSTER,
    SIGN_IN,
    Outcome,
    RsvpAnswer,
)
from bot.services.lifecycle import LIFE, LIFE_CHANGED, LIFE_SAME, LifeOutcome
from bot.steps import Ask, Confirm, Form, Invalid, Step, question
from storage.models import Member, OutboxMessage, OutboxStatus
from storage.models.activity import (
    ActivityAttendance,
    ActivityEvent,
    ActivityRsvp,
    MemberReview,
    OrgLifeExcuse,
)

FLOW_EDIT = "activity_edit"
FLOW_LEAVE = "activity_leave"
FLOW_MOVE = "activity_move"
FLOW_EXCUSE = "orglife_excuse"
FLOW_DETAILS = "details_change"

# The plan's fields, in the order of their buttons (four a row).
FIELD_BUTTONS = ("rule", "time", "place", "topic", "programme", "leads", "lost")


Rows = Sequence[Sequence[Button]]


# -- small helpers ----------------------------------------------------------------------------------


def _screen(text: str, rows: Rows = (), *, edit: bool = True) -> Reply:
    return Reply(screens=(Screen(text, buttons=tuple(tuple(row) for row in rows if row)),), edit=edit)


def _new(text: str, rows: Rows = ()) -> Reply:
    """A new message under the pressed one (which stays as it was)."""
    return _screen(text, rows, edit=False)


def _quiet(turn: Turn) -> QuietHours:
    return QuietHours.from_settings(turn.settings)


def _when(turn: Turn, moment: datetime) -> str:
    return activity.format_when(turn.language, moment)


async def _told(turn: Turn, key: str, branch_id: int | None, **params: object) -> str:
    """ "…, all members were told", or when they will be told if the night's quiet hours hold it back."""
    release = await activity.release_time(turn.session, branch_id, turn.now, _quiet(turn))
    if release is None:
        return turn.text(key, **params)
    return turn.text(f"{key}_later", at=_when(turn, release), **params)


# -- rendering ---------------------------------------------------------------------------------------


def _plan_lines(turn: Turn, view: activity.PlanView) -> list[str]:
    sep = turn.text("activity.sep")
    lines = [
        turn.text("activity.plan.head", branch=view.branch_name),
        turn.text(
            "activity.plan.rule",
            rule=activity.format_rule(turn.language, view.rule),
            time=view.start_time.strftime("%H:%M"),
        ),
    ]
    if view.place:
        lines.append(turn.text("activity.line.place", place=view.place))
    if view.online_link:
        lines.append(turn.text("activity.line.online", link=view.online_link))
    if view.topic:
        lines.append(turn.text("activity.line.topic", topic=view.topic))
    if view.programme:
        lines.append(turn.text("activity.line.programme", items=sep.join(view.programme)))
    leads = sep.join(
        turn.text("activity.lead.same_day") if d == 0 else turn.text("activity.lead.days", days=d)
        for d in view.lead_days
    )
    lines.append(
        turn.text(
            "activity.plan.reminders",
            leads=leads or turn.text("activity.lead.none"),
            time=view.remind_at.strftime("%H:%M"),
        )
    )
    lines.append(turn.text("activity.plan.lost", days=view.lost_contact_days))
    event = view.next_event
    if event is None:
        lines.append(turn.text("activity.plan.no_event"))
    else:
        key = "activity.plan.next_cancelled" if event.status == "cancelled" else "activity.plan.next"
        lines.append(turn.text(key, when=_when(turn, event.starts_at)))
    return lines


def _overview(turn: Turn, overview: lifecycle.Overview) -> tuple[str, list[list[Button]]]:
    view = overview.plan
    sep = turn.text("activity.sep")
    lines = _plan_lines(turn, view)
    if overview.absent:
        names = sep.join(
            turn.text("activity.absent.item", name=a.name, months=a.months) for a in overview.absent
        )
        lines.append(turn.text("activity.absent.list", names=names))
    if overview.silent:
        lines.append(turn.text("activity.lost.list", names=sep.join(s.name for s in overview.silent)))
    b = view.branch_id
    fields = [Button(turn.text(f"btn.activity.field.{f}"), data=EDIT.data(b, f)) for f in FIELD_BUTTONS]
    rows = [fields[i : i + 4] for i in range(0, len(fields), 4)]
    event = view.next_event
    if event is not None and event.status != "cancelled":
        rows.append(
            [
                Button(turn.text("btn.activity.roster"), data=ROSTER.data(event.id)),
                Button(turn.text("btn.activity.move"), data=MOVE.data(event.id)),
                Button(turn.text("btn.activity.cancel"), data=ASK_CANCEL.data(event.id)),
            ]
        )
    rows.append([Button(turn.text("btn.activity.history"), data=HISTORY.data(b))])
    if turn.actor.is_member:
        rows.append([Button(turn.text("btn.activity.mine"), data=MINE.data())])
    return "\n".join(lines), rows


def _member_screen(turn: Turn, view: activity.MemberEventView) -> tuple[str, list[list[Button]]]:
    event = view.event
    if event is None:
        return turn.text("activity.member.none"), []
    when = _when(turn, event.starts_at)
    if event.status == "cancelled":
        return turn.text("activity.member.cancelled", when=when), []
    lines = [
        turn.text("activity.member.head"),
        *activity.event_lines(turn.language, event.starts_at, view.plan),
    ]
    answer = {
        RsvpAnswer.ATTEND: turn.text("activity.answer.attend"),
        RsvpAnswer.LEAVE: turn.text("activity.answer.leave"),
    }.get(view.answer, turn.text("activity.answer.none"))  # type: ignore[arg-type]
    lines.append(turn.text("activity.member.answer", answer=answer))
    if view.signed_in:
        lines.append(turn.text("activity.member.signed"))
    rows: list[list[Button]] = []
    if view.signin_open and not view.signed_in:
        rows.append([Button(turn.text("btn.activity.signin"), data=SIGN_IN.data(event.id))])
    elif not view.signin_open and not view.signed_in:
        rows.append(_rsvp_row(turn, event.id, view.answer))
    return "\n".join(lines), rows


def _rsvp_row(turn: Turn, event_id: int, answer: str | None) -> list[Button]:
    """参加 and 请假 before an answer; after one, the other answer, so a member can change their mind."""
    attend = Button(turn.text("btn.activity.attend"), data=ATTEND.data(event_id))
    leave = Button(turn.text("btn.activity.leave"), data=LEAVE.data(event_id))
    if answer == RsvpAnswer.ATTEND:
        return [Button(turn.text("btn.activity.switch_leave"), data=leave.data)]
    if answer == RsvpAnswer.LEAVE:
        return [Button(turn.text("btn.activity.switch_attend"), data=attend.data)]
    return [attend, leave]


def _roster(turn: Turn, view: activity.AttendanceView, branch_id: int) -> tuple[str, list[list[Button]]]:
    event = view.event
    lines = [
        turn.text("activity.roster.head", when=_when(turn, event.starts_at)),
        turn.text(
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
            answer = turn.text("activity.answer.attend")
        elif line.answer == RsvpAnswer.LEAVE:
            answer = turn.text("activity.roster.leave", reason=line.reason or "")
        else:
            answer = turn.text("activity.answer.none")
        mark = "✓" if line.present else "○"
        extra = ""
        if line.source == "secretary":
            extra = turn.text("activity.roster.by_hand")
        elif line.excused:
            extra = turn.text("activity.roster.excused")
        lines.append(f"{mark} {line.name} {answer}{extra}")
        row = [Button(f"{mark}{line.name}", data=MARK.data(event.id, line.member_id))]
        if not line.present and not line.excused:
            row.append(Button(turn.text("btn.activity.excuse"), data=EXCUSE.data(event.id, line.member_id)))
        rows.append(row)
    if event.status == "cancelled":
        lines.insert(1, turn.text("activity.roster.cancelled"))
    rows.append([Button(turn.text("common.back"), data=BRANCH.data(branch_id))])
    return "\n".join(lines), rows


# -- /activity ---------------------------------------------------------------------------------------


async def show_activity(turn: Turn) -> Reply:
    """The secretary's plan (or a choice of branch), else the member's next activity day."""
    branches = sorted(turn.actor.secretary_branches)
    if len(branches) > 1:
        rows = [[Button(f"#{b}", data=BRANCH.data(b))] for b in branches]
        return _screen(turn.text("activity.choose_branch"), rows)
    if branches:
        return await _overview_reply(turn, branches[0])
    return await _member_reply(turn)


async def _overview_reply(turn: Turn, branch_id: int) -> Reply:
    overview = await lifecycle.branch_overview(turn.session, turn.actor, branch_id, turn.now)
    if overview is None:
        return denied(turn.language)
    return _screen(*_overview(turn, overview))


async def _member_reply(turn: Turn) -> Reply:
    view = await activity.member_view(turn.session, turn.actor, turn.now)
    if view is None:
        return _screen(turn.text("activity.not_member"))
    return _screen(*_member_screen(turn, view))


# -- buttons -----------------------------------------------------------------------------------------


async def on_button(turn: Turn) -> Reply:
    """Every ``act:`` button: the forms' own go to the step engine; the others are decoded (a forged or
    out-of-range one is stale) and re-checked in the service."""
    for form in ACT_FORMS:
        answered = await form.on_button(turn)
        if answered is not None:
            return answered
    press = ACT.decode(turn.inbound.data)
    if press is None or press.action not in _ACTIONS:
        return stale(turn.language)
    return await _ACTIONS[press.action](turn, *press.args)


async def _choose_branch(turn: Turn, branch_id: int) -> Reply:
    return await _overview_reply(turn, branch_id)


async def _mine(turn: Turn) -> Reply:
    return await _member_reply(turn)


def _tap_reply(turn: Turn, result: activity.TapResult, kind: str) -> Reply:
    if result.outcome == Outcome.NOT_ALLOWED:
        return denied(turn.language)
    if result.outcome == Outcome.STALE:
        return _new(turn.text("activity.stale"))
    if result.outcome == Outcome.NOT_OPEN:
        assert result.opens_at is not None
        return _new(turn.text("activity.signin.not_open", time=_when(turn, result.opens_at)))
    if result.outcome == Outcome.CLOSED:
        return _new(turn.text("activity.signin.closed"))
    when = _when(turn, result.when) if result.when else ""
    text = turn.text(f"activity.{kind}.{result.outcome}", when=when)
    rows: list[list[Button]] = []
    if kind in ("attend", "leave") and result.event_id is not None:
        answer = RsvpAnswer.ATTEND if kind == "attend" else RsvpAnswer.LEAVE
        rows.append(_rsvp_row(turn, result.event_id, answer))  # changing one's mind stays one tap away
    return _new(text, rows)


async def _attend(turn: Turn, event_id: int) -> Reply:
    result = await activity.answer_rsvp(turn.session, turn.actor, event_id, RsvpAnswer.ATTEND, turn.now)
    return _tap_reply(turn, result, "attend")


async def _ask_leave(turn: Turn, event_id: int) -> Reply:
    result = await activity.can_ask_leave(turn.session, turn.actor, event_id, turn.now)
    if result.outcome != Outcome.OK:
        return _tap_reply(turn, result, "leave")
    return await LEAVE_FORM.start(turn, {"event_id": event_id}, edit=False)


async def _sign_in(turn: Turn, event_id: int) -> Reply:
    result = await activity.sign_in(turn.session, turn.actor, event_id, turn.now)
    return _tap_reply(turn, result, "signin")


async def _edit_field(turn: Turn, branch_id: int, field_name: str) -> Reply:
    if field_name not in activity.PLAN_FIELDS:
        return stale(turn.language)
    if not await activity.can_edit_plan(turn.session, turn.actor, branch_id):
        return denied(turn.language)
    return await PLAN_FORM.start(turn, {"branch_id": branch_id}, step=field_name, edit=False)


async def _roster_reply(turn: Turn, event_id: int) -> Reply:
    view = await activity.attendance_view(turn.session, turn.actor, event_id)
    if view is None:
        return denied(turn.language)
    branch_id = await turn.session.scalar(select(ActivityEvent.branch_id).where(ActivityEvent.id == event_id))
    return _screen(*_roster(turn, view, branch_id))


async def _mark(turn: Turn, event_id: int, member_id: int) -> Reply:
    outcome, _present = await activity.toggle_attendance(
        turn.session, turn.actor, event_id, member_id, turn.now
    )
    if outcome == Outcome.NOT_ALLOWED:
        return denied(turn.language)
    if outcome == Outcome.NOT_OPEN:
        return _new(turn.text("activity.mark.not_open"))
    if outcome == Outcome.STALE:
        return _new(turn.text("activity.stale"))
    return await _roster_reply(turn, event_id)


async def _ask_excuse(turn: Turn, event_id: int, member_id: int) -> Reply:
    outcome = await activity.excuse_check(turn.session, turn.actor, event_id, member_id)
    if outcome == Outcome.ALREADY:
        return _new(turn.text("activity.excuse.already"))
    if outcome != Outcome.OK:
        return denied(turn.language)
    return await EXCUSE_FORM.start(turn, {"event_id": event_id, "member_id": member_id}, edit=False)


async def _ask_move(turn: Turn, event_id: int) -> Reply:
    outcome = await activity.move_check(turn.session, turn.actor, event_id, turn.now)
    if outcome == Outcome.NOT_ALLOWED:
        return denied(turn.language)
    if outcome != Outcome.OK:
        return _new(turn.text("activity.stale"))
    return await MOVE_FORM.start(turn, {"event_id": event_id}, edit=False)


async def _ask_cancel(turn: Turn, event_id: int) -> Reply:
    outcome = await activity.move_check(turn.session, turn.actor, event_id, turn.now)
    if outcome == Outcome.NOT_ALLOWED:
        return denied(turn.language)
    if outcome != Outcome.OK:
        return _new(turn.text("activity.stale"))
    event = await turn.session.get(ActivityEvent, event_id)  # loaded by the check: no query
    row = [Button(turn.text("common.confirm"), data=CANCEL.data(event_id))]
    if event is not None:
        row.append(Button(turn.text("common.back"), data=BRANCH.data(event.branch_id)))
    return _new(turn.text("activity.cancel.ask"), [row])


async def _cancel_event(turn: Turn, event_id: int) -> Reply:
    outcome = await activity.cancel_event(turn.session, turn.actor, event_id, turn.now, _quiet(turn))
    if outcome == Outcome.OK:
        event = await turn.session.get(ActivityEvent, event_id)
        return _screen(await _told(turn, "activity.cancel.ok", event.branch_id if event else None))
    if outcome == Outcome.ALREADY:
        return _screen(turn.text("activity.cancel.already"))
    if outcome == Outcome.STALE:
        return _screen(turn.text("activity.stale"))
    return denied(turn.language)


async def _history(turn: Turn, branch_id: int) -> Reply:
    events = await activity.recent_events_for(turn.session, turn.actor, branch_id)
    back = [Button(turn.text("common.back"), data=BRANCH.data(branch_id))]
    if events is None:
        return denied(turn.language)
    if not events:
        return _screen(turn.text("activity.history.none"), [back])
    rows = [[Button(activity.format_day(turn.language, e.starts_at), data=ROSTER.data(e.id))] for e in events]
    return _screen(turn.text("activity.history.choose"), [*rows, back])


_ACTIONS = {
    BRANCH.name: _choose_branch,
    MINE.name: _mine,
    ATTEND.name: _attend,
    LEAVE.name: _ask_leave,
    SIGN_IN.name: _sign_in,
    EDIT.name: _edit_field,
    ROSTER.name: _roster_reply,
    MARK.name: _mark,
    EXCUSE.name: _ask_excuse,
    MOVE.name: _ask_move,
    ASK_CANCEL.name: _ask_cancel,
    CANCEL.name: _cancel_event,
    HISTORY.name: _history,
}


# -- the yearly details check (life:ok / life:chg) ------------------------------------------------------

_LIFE_KEYS = {
    LifeOutcome.OK: "life.details.thanks",
    LifeOutcome.ALREADY: "life.details.already",
    LifeOutcome.STALE: "error.stale_button",
}


def _life_reply(turn: Turn, outcome: LifeOutcome, ok_key: str) -> Reply:
    if outcome == LifeOutcome.NOT_ALLOWED:
        return denied(turn.language)
    return _new(turn.text(ok_key if outcome == LifeOutcome.OK else _LIFE_KEYS[outcome]))


async def on_life_button(turn: Turn) -> Reply:
    """ "No change" confirms the member's details for a year; "Changed" asks what changed."""
    answered = await DETAILS_FORM.on_button(turn)
    if answered is not None:
        return answered
    press = LIFE.decode(turn.inbound.data)
    if press is None or press.action not in (LIFE_SAME.name, LIFE_CHANGED.name):
        return stale(turn.language)
    cycle = press[0]
    if press.action == LIFE_SAME.name:
        outcome = await lifecycle.confirm_details(turn.session, turn.actor, cycle, turn.now)
        return _life_reply(turn, outcome, "life.details.thanks")
    outcome = await lifecycle.details_change_check(turn.session, turn.actor, cycle)
    if outcome != LifeOutcome.OK:
        return _life_reply(turn, outcome, "life.details.thanks")
    return await DETAILS_FORM.start(turn, {"cycle": cycle}, edit=False)


# -- typed answers: one-question forms on the step engine ---------------------------------------------
# Each answer is the whole message (a field's value, a reason, a date): it is submitted as soon as it is
# typed, without a check screen that would only repeat it; a refused one is asked again under the reason.
# The answer lives in the draft only within the event that submits it.


def _typed(ask: Ask, text: str) -> str:
    return text


def _refused(error: RuleInputError) -> Invalid:
    return Invalid(error.key)


async def _save_plan_field(ask: Ask) -> Reply:
    """The answer for one plan field: saved, with the plan shown again."""
    turn, branch_id = ask.turn, int(ask.data["branch_id"])
    try:
        outcome = await activity.update_plan(
            turn.session, turn.actor, branch_id, ask.data["field"], ask.data["value"], turn.now
        )
    except RuleInputError as error:
        raise _refused(error) from None
    if outcome != Outcome.OK:
        return denied(turn.language)
    overview = await _overview_reply(turn, branch_id)
    return Reply(screens=(Screen(turn.text("activity.saved")), *overview.screens), edit=False)


async def _record_leave(ask: Ask) -> Reply:
    """The reason for a leave request; then the leave is recorded."""
    turn = ask.turn
    try:
        result = await activity.answer_rsvp(
            turn.session,
            turn.actor,
            int(ask.data["event_id"]),
            RsvpAnswer.LEAVE,
            turn.now,
            reason=ask.data["reason"],
        )
    except RuleInputError as error:
        raise _refused(error) from None
    return _tap_reply(turn, result, "leave")


async def _move_event(ask: Ask) -> Reply:
    """The new date (and time) of one occurrence; members are told."""
    turn, event_id = ask.turn, int(ask.data["event_id"])
    try:
        outcome, starts = await activity.move_event(
            turn.session, turn.actor, event_id, ask.data["when"], turn.now, _quiet(turn)
        )
    except RuleInputError as error:
        raise _refused(error) from None
    if outcome == Outcome.OK and starts is not None:
        event = await turn.session.get(ActivityEvent, event_id)
        branch_id = event.branch_id if event else None
        return _new(await _told(turn, "activity.move.ok", branch_id, when=_when(turn, starts)))
    if outcome == Outcome.ALREADY and starts is not None:
        return _new(turn.text("activity.move.same", when=_when(turn, starts)))
    if outcome == Outcome.NOT_ALLOWED:
        return denied(turn.language)
    return _new(turn.text("activity.stale"))


async def _record_excuse(ask: Ask) -> Reply:
    """The secretary's good reason for a member's absence that month."""
    turn, event_id = ask.turn, int(ask.data["event_id"])
    try:
        outcome = await activity.record_excuse(
            turn.session, turn.actor, event_id, int(ask.data["member_id"]), ask.data["reason"], turn.now
        )
    except RuleInputError as error:
        raise _refused(error) from None
    if outcome == Outcome.OK:
        back = [[Button(turn.text("btn.activity.roster"), data=ROSTER.data(event_id))]]
        return _new(turn.text("activity.excuse.ok"), back)
    if outcome == Outcome.ALREADY:
        return _new(turn.text("activity.excuse.already"))
    return denied(turn.language)


async def _report_changes(ask: Ask) -> Reply:
    """What changed in the member's details; the secretary is told."""
    turn = ask.turn
    try:
        outcome = await lifecycle.report_changes(
            turn.session, turn.actor, int(ask.data["cycle"]), ask.data["changes"], turn.now
        )
    except RuleInputError as error:
        raise _refused(error) from None
    return _life_reply(turn, outcome, "life.details.sent")


def _store_plan_field(ask: Ask, value: str) -> None:
    ask.data.update(field=ask.step, value=value)


# Each form has its own 返回 and 取消 actions, so a press finds the form it belongs to. A one-question form
# shows no 返回 (there is nothing before its question); typed 返回 is answered by the engine.
# The plan: one question per field, the field's button opening the form at its step (the step is the
# field's name, so the submission knows which one was answered).
PLAN_FORM = Form(
    FLOW_EDIT,
    ACT,
    [
        Step(name, f"activity.ask.{name}", parse=_typed, store=_store_plan_field)
        for name in activity.PLAN_FIELDS
    ],
    Confirm(None, _save_plan_field),
    again="/activity",
    back_action="eb",
    cancel_action="eq",
)
LEAVE_FORM = question(
    FLOW_LEAVE, ACT, "reason", "activity.leave.ask", _record_leave, again="/activity", actions="n"
)
MOVE_FORM = question(FLOW_MOVE, ACT, "when", "activity.ask.move", _move_event, again="/activity", actions="v")
EXCUSE_FORM = question(
    FLOW_EXCUSE, ACT, "reason", "activity.excuse.ask", _record_excuse, again="/activity", actions="x"
)
# The yearly check has no command: it starts again from the reminder's "Changed" button.
DETAILS_FORM = question(
    FLOW_DETAILS,
    LIFE,
    "changes",
    "life.details.ask",
    _report_changes,
    again=lambda turn, _answers: turn.text("life.details.again"),
    actions="ch",
)
ACT_FORMS = (PLAN_FORM, LEAVE_FORM, MOVE_FORM, EXCUSE_FORM)


# -- /mydata and /deleteme ---------------------------------------------------------------------------


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


async def _member_ids(session: AsyncSession, person_id: int) -> list[int]:
    return list(await session.scalars(select(Member.id).where(Member.person_id == person_id)))


async def data_section(session: AsyncSession, person_id: int) -> tuple[str, object]:
    """The person's answers, leave reasons, sign-ins, the excuses recorded for them and the yearly check."""
    members = await _member_ids(session, person_id)
    rsvps = await session.execute(
        select(ActivityRsvp, ActivityEvent.starts_at)
        .join(ActivityEvent, ActivityEvent.id == ActivityRsvp.event_id)
        .where(ActivityRsvp.member_id.in_(members))
        .order_by(ActivityRsvp.id)
    )
    sign_ins = await session.execute(
        select(ActivityAttendance, ActivityEvent.starts_at)
        .join(ActivityEvent, ActivityEvent.id == ActivityAttendance.event_id)
        .where(ActivityAttendance.member_id.in_(members))
        .order_by(ActivityAttendance.id)
    )
    excuses = await session.execute(
        select(OrgLifeExcuse, ActivityEvent.starts_at)
        .join(ActivityEvent, ActivityEvent.id == OrgLifeExcuse.event_id)
        .where(OrgLifeExcuse.member_id.in_(members))
        .order_by(OrgLifeExcuse.id)
    )
    reviews = await session.scalars(select(MemberReview).where(MemberReview.member_id.in_(members)))
    return "activity_day", {
        "rsvps": [
            {
                "activity_day": _iso(day),
                "answer": r.answer,
                "leave_reason": r.reason,
                "answered_at": _iso(r.answered_at),
            }
            for r, day in rsvps
        ],
        "sign_ins": [{"activity_day": _iso(day), "how": a.source, "at": _iso(a.at)} for a, day in sign_ins],
        "excuses": [{"activity_day": _iso(day), "reason": e.reason, "at": _iso(e.at)} for e, day in excuses],
        "yearly_details_check": [
            {
                "cycle": r.cycle,
                "confirmed_at": _iso(r.confirmed_at),
                "changes": r.changes,
                "changes_at": _iso(r.changes_at),
            }
            for r in reviews
        ],
    }


async def erase_person(session: AsyncSession, person_id: int) -> None:
    """/deleteme: drop the free texts (leave reasons, excuses, reported changes) and the message that
    carried the changes to the secretary. Answers and sign-ins stay as bare facts (attend/leave, a time)
    of the anonymised member row, which names nobody once `members.erase` has run, like the row itself."""
    members = await _member_ids(session, person_id)
    if not members:
        return
    await session.execute(update(ActivityRsvp).where(ActivityRsvp.member_id.in_(members)).values(reason=None))
    await session.execute(update(OrgLifeExcuse).where(OrgLifeExcuse.member_id.in_(members)).values(reason=""))
    await session.execute(
        update(MemberReview).where(MemberReview.member_id.in_(members)).values(changes=None, changes_at=None)
    )
    for member_id in members:
        about = OutboxMessage.source.like(f"member:{member_id}:details:%")
        await session.execute(
            update(OutboxMessage)
            .where(about, OutboxMessage.status == OutboxStatus.PENDING)
            .values(status=OutboxStatus.CANCELLED)
            .execution_options(synchronize_session=False)
        )
        await session.execute(
            update(OutboxMessage)
            .where(about, OutboxMessage.status != OutboxStatus.SENDING)
            .values(payload={"text": ""})
            .execution_options(synchronize_session=False)
        )


FEATURE = Feature(
    name="activity",
    commands={"activity": show_activity},
    buttons={ACT.prefix: on_button, LIFE.prefix: on_life_button},
    forms={form.name: form.on_input for form in (*ACT_FORMS, DETAILS_FORM)},
    reminder_kinds=(*activity.REMINDER_KINDS, *lifecycle.REMINDER_KINDS),
    export_sheets=(attendance_sheet,),
    audiences=(audiences.get("not_signed_in"),),
    data_section=data_section,
    eraser=erase_person,
    # The free texts: exported by data_section, blanked by erase_person.
    personal_columns=(ActivityRsvp.reason, OrgLifeExcuse.reason, MemberReview.changes),
)
