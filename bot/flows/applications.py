"""Applying to join the party on the conversation core: the applicant's form (/apply, or the invite's
"not a member" button) and the secretary's /applicants with the talk and the stages.

Button data is ``jn:<action>[:<field>...]`` (one codec, `JN`) and ``apply:start``; a forged or too-large
id decodes to nothing and is stale. Every press is re-checked by the service against the sender (the
applicant's own form, or a secretary of the application's branch).

Every question of the form has 返回 (but the first) and 取消; the birth date is picked with year, month
and day buttons or typed whole; the phone can be shared with a button; the confirmation lets the
applicant change any one answer and come back to it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from bot.callbacks import Callbacks, Int, Word
from bot.conversation import Feature, Turn
from bot.dialog import Button, Media, Reply, Screen
from bot.i18n import LANGUAGES
from bot.scheduling import kinds_relay
from bot.services import applications
from bot.services.applications import ApplicationView, ApplyError
from bot.services.registration import display_phone

# The ids of these tables are INTEGER columns (32-bit on PostgreSQL): a larger number in a press is
# stale, never a DBAPIError in the driver (the codec's Id allows 64 bits).
RowId = Int(1, 2**31 - 1)
JN = Callbacks("jn")
TOWNSHIP = JN.action("tw", RowId)
BRANCH = JN.action("br", RowId)
YEAR = JN.action("yr", Int(1900, 2100))
YEAR_PAGE = JN.action("yp", Int(0, applications.YEAR_PAGES - 1))
MONTH = JN.action("mo", Int(1, 12))
DAY = JN.action("dy", Int(1, 31))
BACK = JN.action("back", Word)  # the step the button was shown at: a back from an old screen is stale
EDIT = JN.action("ed", Word)
SUBMIT = JN.action("sub")
CANCEL = JN.action("x")
VIEW = JN.action("view", RowId)
TALK = JN.action("talk", RowId)
STAGE = JN.action("stg", RowId, Word)

APPLY = Callbacks("apply")
START = APPLY.action("start")

CHOICE_STEPS = {"tw": "township", "br": "branch", "yr": "birth", "mo": "birth_month", "dy": "birth_day"}
CLOSING = ("too_young", "not_allowed", "already_member")


def _rows(buttons: Sequence[Button], per_row: int) -> list[tuple[Button, ...]]:
    return [tuple(buttons[i : i + per_row]) for i in range(0, len(buttons), per_row)]


def _say(turn: Turn, key: str, buttons: Sequence[Sequence[Button]] = (), **params: object) -> Reply:
    rows = tuple(tuple(row) for row in buttons)
    return Reply(screens=(Screen(turn.text(key, **params), rows),), edit=False)


def _day(turn: Turn, moment: datetime) -> str:
    return moment.astimezone(turn.settings.tz).date().isoformat()


def _today(turn: Turn) -> date:
    return turn.now.astimezone(turn.settings.tz).date()


def _is_label(text: str | None, key: str, turn: Turn) -> bool:
    """Whether typed text is a keyboard button's label (返回, 取消) in either language."""
    wanted = " ".join((text or "").split())
    return bool(wanted) and any(wanted == turn.catalogue.text(language, key) for language in LANGUAGES)


def _back_cancel(turn: Turn, step: str, data: dict[str, Any]) -> tuple[Button, ...]:
    row = []
    if applications.previous_step(step, data) is not None:
        row.append(Button(turn.text("common.back"), data=BACK.data(step)))
    row.append(Button(turn.text("common.cancel"), data=CANCEL.data()))
    return tuple(row)


async def _question(turn: Turn, step: str, error: ApplyError | None = None) -> Screen:
    """The question of ``step`` (after the error that kept the form there, if any), with its buttons."""
    draft = await applications.form_step(turn.session, turn.actor)
    data: dict[str, Any] = dict(draft.data) if draft is not None else {}
    prefix = turn.text(error.key, **error.params) + "\n" if error is not None else ""
    params: dict[str, object] = {}
    rows: list[tuple[Button, ...]] = []
    if step == "birth":
        page = int(data.get("year_page") or 0)
        years = applications.birth_years(_today(turn), page)
        rows = _rows([Button(str(y), data=YEAR.data(y)) for y in years], 4)
        pager = []
        if page > 0:
            pager.append(Button(turn.text("btn.apply.later_years"), data=YEAR_PAGE.data(page - 1)))
        if page + 1 < applications.YEAR_PAGES:
            pager.append(Button(turn.text("btn.apply.earlier_years"), data=YEAR_PAGE.data(page + 1)))
        rows.append(tuple(pager))
    elif step == "birth_month":
        params = {"year": data.get("birth_year", "")}
        rows = _rows([Button(str(m), data=MONTH.data(m)) for m in range(1, 13)], 6)
    elif step == "birth_day":
        year, month = int(data.get("birth_year") or 2000), int(data.get("birth_month") or 1)
        days = [d for d in range(1, 32) if _valid(year, month, d)]
        params = {"year": year, "month": month}
        rows = _rows([Button(str(d), data=DAY.data(d)) for d in days], 7)
    elif step == "phone":
        contact = (turn.text("btn.apply.share_phone"), turn.text("common.back"), turn.text("common.cancel"))
        return Screen(prefix + turn.text("apply.ask.phone"), contact=contact)
    elif step in ("township", "branch"):
        options = await applications.choices(turn.session, step)
        action = TOWNSHIP if step == "township" else BRANCH
        rows = [(Button(name[:40], data=action.data(option_id)),) for option_id, name in options]
        if not options:
            return Screen(turn.text(f"apply.none.{step}"))
    elif step == "confirm":
        summary = await applications.summary(turn.session, turn.actor)
        if summary is None:
            return Screen(turn.text("error.stale_button"))
        params = {
            "name": summary.name,
            "phone": display_phone(summary.phone),
            "birth": summary.birth_date,
            "township": summary.township_name,
            "branch": summary.branch_name,
            "letter": turn.text(f"apply.letter_kind.{summary.letter_kind}"),
        }
        fields = [f for f in applications.EDITABLE if f != "branch" or data.get("branch_picked")]
        rows = [(Button(turn.text("btn.apply.submit"), data=SUBMIT.data()),)]
        rows += _rows([Button(turn.text(f"btn.apply.edit_{f}"), data=EDIT.data(f)) for f in fields], 3)
    rows.append(_back_cancel(turn, step, data))
    return Screen(prefix + turn.text(f"apply.ask.{step}", **params), tuple(r for r in rows if r))


def _valid(year: int, month: int, day: int) -> bool:
    try:
        date(year, month, day)
    except ValueError:
        return False
    return True


async def _show(turn: Turn, step: str, *, left: str | None = None, error: ApplyError | None = None) -> Reply:
    """Ask ``step``; leaving the phone question also takes its keyboard away."""
    screens = []
    if left == "phone" and step != "phone":
        screens.append(Screen(turn.text("apply.keyboard_closed"), remove_keyboard=True))
    screens.append(await _question(turn, step, error))
    return Reply(screens=tuple(screens), edit=False)


def _status_text(turn: Turn, view: ApplicationView) -> str:
    talk = (
        turn.text("apply.talk.done")
        if view.talk_done
        else turn.text("apply.talk.pending", due=view.talk_due_on.isoformat())
    )
    return turn.text(
        "apply.status",
        id=view.id,
        stage=turn.text(f"apply.stage.{view.stage}"),
        branch=view.branch_name,
        submitted=_day(turn, view.submitted_at),
        talk=talk,
    )


# -- the applicant -----------------------------------------------------------------------------------------


async def start_application(turn: Turn) -> Reply:
    """/apply, or "I am not a member" under an invite: start, resume or show the application."""
    try:
        step, view = await applications.begin(turn.session, turn.actor, turn.now)
    except ApplyError as error:
        return _say(turn, error.key)
    if view is not None:
        return _say(turn, "apply.exists", status=_status_text(turn, view))
    return await _show(turn, step)


async def on_input(turn: Turn) -> Reply:
    """An answer typed or sent while the application form is open."""
    inbound, draft = turn.inbound, turn.draft
    asked = draft.step  # the answer below moves the same draft row on
    if draft.step == "phone" and _is_label(inbound.text, "common.cancel", turn):
        return await cancel(turn)
    if draft.step == "phone" and _is_label(inbound.text, "common.back", turn):
        return await back(turn)
    values: dict[str, Any] = {}
    if inbound.contact_phone is not None:
        values = {"contact_phone": inbound.contact_phone, "contact_is_own": inbound.contact_is_own}
    elif inbound.media is not None and inbound.media.kind in ("photo", "document"):
        media: Media = inbound.media
        values = {
            "file_kind": media.kind,
            "file_id": media.ref,
            "filename": (media.filename or "")[:120] or None,
            "mime": (media.mime_type or "")[:100] or None,
        }
    elif inbound.text is not None:
        values = {"text": inbound.text}
    try:
        step = await applications.answer(
            turn.session, turn.actor, draft, turn.now, turn.settings.tz, **values
        )
    except ApplyError as error:
        if error.code in CLOSING:
            screen = Screen(turn.text(error.key), remove_keyboard=asked == "phone")
            return Reply(screens=(screen,), edit=False)
        return await _show(turn, asked, error=error)
    return await _show(turn, step, left=asked)


async def choose(turn: Turn) -> Reply:
    """A button of a choice step: township, branch, birth year, month or day."""
    press = JN.decode(turn.inbound.data)
    if press is None:
        return _say(turn, "error.stale_button")
    step = CHOICE_STEPS[press.action]
    try:
        next_step = await applications.answer_choice(
            turn.session, turn.actor, step, press[0], turn.now, turn.settings.tz
        )
    except ApplyError as error:
        return _say(turn, error.key)
    return await _show(turn, next_step, left=step)


async def show_year_page(turn: Turn) -> Reply:
    press = JN.decode(turn.inbound.data)
    try:
        step = await applications.year_page(turn.session, turn.actor, press[0] if press else -1)
    except ApplyError as error:
        return _say(turn, error.key)
    return Reply(screens=(await _question(turn, step),), edit=True)


async def back(turn: Turn) -> Reply:
    """返回: the previous question (from the confirmation while changing one answer)."""
    press = JN.decode(turn.inbound.data) if turn.inbound.data is not None else None
    try:
        left, step = await applications.go_back(turn.session, turn.actor, press[0] if press else None)
    except ApplyError as error:
        return _say(turn, error.key)
    return await _show(turn, step, left=left)


async def edit(turn: Turn) -> Reply:
    """Change one answer from the confirmation screen."""
    press = JN.decode(turn.inbound.data)
    try:
        step = await applications.edit(turn.session, turn.actor, press[0] if press else "")
    except ApplyError as error:
        return _say(turn, error.key)
    return await _show(turn, step)


async def submit(turn: Turn) -> Reply:
    """Submit the confirmed application: it goes to the branch and the home township."""
    try:
        view = await applications.submit(turn.session, turn.actor, turn.now)
    except ApplyError as error:
        return _say(turn, error.key)
    return _say(
        turn,
        "apply.submitted",
        id=view.id,
        branch=view.branch_name,
        due=view.talk_due_on.isoformat(),
        stage=turn.text(f"apply.stage.{view.stage}"),
    )


async def cancel(turn: Turn) -> Reply:
    """Drop the unfinished application form (and the phone keyboard, if it was showing)."""
    draft = await applications.form_step(turn.session, turn.actor)
    closed = await applications.cancel(turn.session, turn.actor)
    text = turn.text("common.cancelled" if closed else "common.already_done")
    screen = Screen(text, remove_keyboard=draft is not None and draft.step == "phone")
    return Reply(screens=(screen,), edit=False)


# -- the secretary -----------------------------------------------------------------------------------------


def _secretary_buttons(turn: Turn, view: ApplicationView) -> list[list[Button]]:
    row = []
    if not view.talk_done:
        row.append(Button(turn.text("btn.apply.talked"), data=TALK.data(view.id)))
    following = applications.next_stage(view.stage)
    if following is not None and view.talk_done:
        row.append(Button(turn.text(f"btn.apply.to_{following}"), data=STAGE.data(view.id, str(following))))
    return [row] if row else []


async def show_applicants(turn: Turn) -> Reply:
    """/applicants: the applications to the secretary's branches, the ones waiting for a talk first."""
    try:
        views = await applications.applicants(turn.session, turn.actor, turn.now)
    except ApplyError as error:
        return _say(turn, error.key)
    if not views:
        return _say(turn, "apply.list.none")
    lines = [turn.text("apply.list.title", count=len(views))]
    for view in views:
        talk = (
            turn.text("apply.talk.done")
            if view.talk_done
            else turn.text(
                "apply.talk.late" if view.talk_late else "apply.talk.pending",
                due=view.talk_due_on.isoformat(),
            )
        )
        lines.append(
            turn.text(
                "apply.list.line",
                id=view.id,
                name=view.name,
                stage=turn.text(f"apply.stage.{view.stage}"),
                talk=talk,
            )
        )
    buttons = tuple((Button(f"#{v.id} {v.name}"[:40], data=VIEW.data(v.id)),) for v in views[:10])
    return Reply.say("\n".join(lines), buttons=buttons)


async def view_applicant(turn: Turn, app_id: int) -> Reply:
    """One application: the applicant's details, stages, the letter again, and the next step."""
    try:
        view = await applications.applicant(turn.session, turn.actor, app_id, turn.now)
        history = await applications.stages(turn.session, turn.actor, app_id)
    except ApplyError as error:
        return _say(turn, error.key)
    lines = [
        turn.text(
            "apply.detail",
            id=view.id,
            name=view.name,
            phone=display_phone(view.phone),
            age=view.age,
            township=view.township_name,
            branch=view.branch_name,
        ),
        _status_text(turn, view),
    ]
    lines += [f"{_day(turn, at)} {turn.text(f'apply.stage.{stage}')}" for stage, at in history]
    buttons = tuple(tuple(row) for row in _secretary_buttons(turn, view))
    caption = turn.text("apply.letter_caption", id=view.id, name=view.name)
    if view.letter_kind in ("photo", "document") and view.letter_file_id:
        letter = Screen(caption, media=Media(view.letter_kind, view.letter_file_id, view.letter_filename))
    else:
        letter = Screen(f"{caption}\n\n{view.letter_text}")
    return Reply(screens=(Screen("\n".join(lines), buttons), letter), edit=False)


async def record_talk(turn: Turn, app_id: int) -> Reply:
    """The branch has talked with the applicant: stop the deadline chase."""
    try:
        view = await applications.record_talk(turn.session, turn.actor, app_id, turn.now)
    except ApplyError as error:
        return _say(turn, error.key)
    return _say(turn, "apply.talk.recorded", _secretary_buttons(turn, view), id=view.id, name=view.name)


async def set_stage(turn: Turn, app_id: int, stage: str) -> Reply:
    """Move an application to its next stage; the applicant is told."""
    try:
        view = await applications.advance(turn.session, turn.actor, app_id, stage, turn.now)
    except ApplyError as error:
        return _say(turn, error.key)
    return _say(
        turn,
        "apply.stage_set",
        _secretary_buttons(turn, view),
        id=view.id,
        name=view.name,
        stage=turn.text(f"apply.stage.{view.stage}"),
    )


async def on_button(turn: Turn) -> Reply:
    """Any ``jn:`` press; an old keyboard, a forged press or an id out of range is stale."""
    press = JN.decode(turn.inbound.data)
    if press is None:
        return _say(turn, "error.stale_button")
    action = press.action
    if action in CHOICE_STEPS:
        return await choose(turn)
    if action == YEAR_PAGE.name:
        return await show_year_page(turn)
    if action == BACK.name:
        return await back(turn)
    if action == EDIT.name:
        return await edit(turn)
    if action == SUBMIT.name:
        return await submit(turn)
    if action == CANCEL.name:
        return await cancel(turn)
    if action == VIEW.name:
        return await view_applicant(turn, press[0])
    if action == TALK.name:
        return await record_talk(turn, press[0])
    return await set_stage(turn, press[0], press[1])


async def on_apply_button(turn: Turn) -> Reply:
    """``apply:start``: "I am not a member" under an invite."""
    if APPLY.decode(turn.inbound.data) is None:
        return _say(turn, "error.stale_button")
    return await start_application(turn)


FEATURE = Feature(
    name="applications",
    commands={"apply": start_application, "applicants": show_applicants},
    buttons={JN.prefix: on_button, APPLY.prefix: on_apply_button},
    forms={applications.FLOW_APPLY: on_input},
    # The chases and overdue flags the reminder engine runs (bot/scheduling/kinds.py lists them all).
    reminder_kinds=tuple(k for k in kinds_relay.REMINDER_KINDS if k.name.startswith("apply.")),
    data_section=applications.data_section,
    eraser=applications.erase_person,
    personal_columns=applications.PERSONAL_COLUMNS,
)
