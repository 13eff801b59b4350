"""Applying to join the party on the conversation core: the applicant's form (/apply, or the invite's
"not a member" button) and the secretary's /applicants with the talk and the stages.

The form's steps are data run by the step engine (`bot.steps`): birth date (year, month and day buttons,
or typed whole in several forms), name, phone (typed, or shared with a button), home township, branch
(unless the invite or the only branch gives it), the letter (typed, or a photo or file), and a
confirmation with 修改 per answer. 返回, 取消, stale buttons and expired drafts are the engine's.

Button data is ``jn:<action>[:<field>...]`` (one codec, `JN`, shared by the form and the secretary's
actions) and ``apply:start``; a forged or too-large id decodes to nothing and is stale. Every secretary
press is re-checked by the service against the sender (a secretary of the application's branch).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from bot.callbacks import Callbacks, Int, Word
from bot.conversation import Feature, Turn
from bot.dialog import Button, Inbound, Media, Reply, Screen
from bot.rules.dates import PARTY_FOUNDED
from bot.scheduling import kinds_relay
from bot.services import applications
from bot.services.applications import ApplicationView, ApplyError
from bot.services.registration import display_phone
from bot.steps import CONFIRM, Ask, Closed, Confirm, Form, Invalid, Local, Option, Step

# The ids of these tables are INTEGER columns (32-bit on PostgreSQL): a larger number in a press is
# stale, never a DBAPIError in the driver (the codec's Id allows 64 bits).
RowId = Int(1, 2**31 - 1)
JN = Callbacks("jn")
VIEW = JN.action("view", RowId)
TALK = JN.action("talk", RowId)
STAGE = JN.action("stg", RowId, Word)

APPLY = Callbacks("apply")
START = APPLY.action("start")


def _say(turn: Turn, key: str, buttons: Sequence[Sequence[Button]] = (), **params: object) -> Reply:
    rows = tuple(tuple(row) for row in buttons)
    return Reply(screens=(Screen(turn.text(key, **params), rows),), edit=False)


def _day(turn: Turn, moment: datetime) -> str:
    return moment.astimezone(turn.settings.tz).date().isoformat()


def _valid(year: int, month: int, day: int) -> bool:
    try:
        date(year, month, day)
    except ValueError:
        return False
    return True


def _refused(error: ApplyError) -> Invalid | Closed:
    """A service refusal as the engine's: ``too_young`` ends the form, the rest ask again."""
    if error.code in ("too_young", "already_member"):
        return Closed(error.key, **error.params)
    return Invalid(error.key, **error.params)


def _read(function: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return function(*args, **kwargs)
    except ApplyError as error:
        raise _refused(error) from None


# -- the birth date: one answer in up to three steps (year, month, day), or typed whole at any of them ----


def _keep(ask: Ask, born: date) -> None:
    _read(applications.keep_birth, ask.turn.session, ask.turn.actor, ask.data, born, ask.today)


def _year_options(ask: Ask) -> list[Option]:
    page = int(ask.data.get("year_page") or 0)
    return [Option(y, str(y)) for y in applications.birth_years(ask.today, page)]


def _year_pager(ask: Ask) -> list[list[Button]]:
    page = int(ask.data.get("year_page") or 0)
    row = []
    if page > 0:
        row.append(Button(ask.text("btn.apply.later_years"), data=FORM.local_data("yp", page - 1)))
    if page + 1 < applications.YEAR_PAGES:
        row.append(Button(ask.text("btn.apply.earlier_years"), data=FORM.local_data("yp", page + 1)))
    return [row]


def _turn_page(ask: Ask, page: int) -> None:
    ask.data["year_page"] = page


def _store_birth(part: str) -> Any:
    """Keep a button's (or a typed bare) year, month or day, or a whole date typed at any step."""

    def store(ask: Ask, value: int | str) -> None:
        if isinstance(value, str):
            _keep(ask, date.fromisoformat(value))
        elif part == "year":
            ask.data["birth_year"] = value
        elif part == "month":
            ask.data["birth_month"] = value
        else:
            _keep(ask, _read(applications.birth_from_parts, ask.data, value))

    return store


def _parse_birth(part: str) -> Any:
    def parse(ask: Ask, text: str) -> int | str:
        value = _read(applications.read_birth, text, part, ask.today)
        return value.isoformat() if isinstance(value, date) else value

    return parse


def _after_birth(following: str) -> Any:
    return lambda ask, value: "name" if isinstance(value, str) else following


def _day_options(ask: Ask) -> list[Option]:
    year, month = int(ask.data.get("birth_year") or 2000), int(ask.data.get("birth_month") or 1)
    return [Option(d, str(d)) for d in range(1, 32) if _valid(year, month, d)]


# -- the other answers ---------------------------------------------------------------------------------------


def _receive_phone(ask: Ask, inbound: Inbound) -> str:
    return _read(
        applications.read_phone,
        ask.turn.session,
        ask.turn.actor,
        text=inbound.text,
        contact_phone=inbound.contact_phone,
        contact_is_own=inbound.contact_is_own,
    )


def _receive_letter(ask: Ask, inbound: Inbound) -> dict[str, Any]:
    media: Media | None = inbound.media
    if media is not None and media.kind in ("photo", "document"):
        return _read(
            applications.read_letter,
            text=None,
            file_kind=media.kind,
            file_id=media.ref,
            filename=(media.filename or "")[:120] or None,
            mime=(media.mime_type or "")[:100] or None,
        )
    return _read(
        applications.read_letter, text=inbound.text, file_kind=None, file_id=None, filename=None, mime=None
    )


def _places(step: str) -> Any:
    async def options(ask: Ask) -> list[Option]:
        found = await ask.once(step, lambda: applications.choices(ask.turn.session, step))
        return [Option(option_id, name) for option_id, name in found]

    async def prompt(ask: Ask) -> str:
        found = await ask.once(step, lambda: applications.choices(ask.turn.session, step))
        return ask.text(f"apply.ask.{step}" if found else f"apply.none.{step}")

    return options, prompt


_townships, _township_prompt = _places("township")
_branches, _branch_prompt = _places("branch")


async def _after_township(ask: Ask, value: int) -> str:
    return await applications.after_township(ask.turn.session, ask.data)


async def _confirm_params(ask: Ask) -> dict[str, object]:
    summary = await applications.summary(ask.turn.session, ask.data)
    return {
        "name": summary.name,
        "phone": display_phone(summary.phone),
        "birth": summary.birth_date,
        "township": summary.township_name,
        "branch": summary.branch_name,
        "letter": ask.text(f"apply.letter_kind.{summary.letter_kind}"),
    }


async def _submit(ask: Ask) -> Reply:
    """Submit the confirmed application: it goes to the branch and the home township."""
    turn = ask.turn
    try:
        view = await applications.submit(turn.session, turn.actor, ask.data, turn.now)
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


def _picked_branch(ask: Ask) -> bool:
    return bool(ask.data.get("branch_picked"))


FORM = Form(
    applications.FLOW_APPLY,
    JN,
    [
        Step(
            "birth",
            "apply.ask.birth",
            options=_year_options,
            action="yr",
            value=Int(PARTY_FOUNDED.year, 2100),
            per_row=4,
            rows=_year_pager,
            locals=(Local("yp", _turn_page, (Int(0, applications.YEAR_PAGES - 1),)),),
            parse=_parse_birth("year"),
            store=_store_birth("year"),
            next=_after_birth("birth_month"),
            field="apply.field.birth",
        ),
        Step(
            "birth_month",
            "apply.ask.birth_month",
            params=lambda ask: {"year": ask.data.get("birth_year", "")},
            options=lambda ask: [Option(m, str(m)) for m in range(1, 13)],
            action="mo",
            value=Int(1, 12),
            per_row=6,
            parse=_parse_birth("month"),
            store=_store_birth("month"),
            next=_after_birth("birth_day"),
            back="birth",
            part_of="birth",
        ),
        Step(
            "birth_day",
            "apply.ask.birth_day",
            params=lambda ask: {
                "year": ask.data.get("birth_year", ""),
                "month": ask.data.get("birth_month", ""),
            },
            options=_day_options,
            action="dy",
            value=Int(1, 31),
            per_row=7,
            parse=_parse_birth("day"),
            store=_store_birth("day"),
            next="name",
            back="birth_month",
            part_of="birth",
        ),
        Step(
            "name",
            "apply.ask.name",
            parse=lambda ask, text: _read(applications.read_name, text),
            next="phone",
            back="birth",
            field="apply.field.name",
        ),
        Step(
            "phone",
            "apply.ask.phone",
            receive=_receive_phone,
            contact="btn.apply.share_phone",
            next="township",
            back="name",
            field="apply.field.phone",
        ),
        Step(
            "township",
            _township_prompt,
            options=_townships,
            action="tw",
            value=RowId,
            store=lambda ask, value: ask.data.update(township_id=value),
            next=_after_township,
            back="phone",
            field="apply.field.township",
        ),
        Step(
            "branch",
            _branch_prompt,
            options=_branches,
            action="br",
            value=RowId,
            store=lambda ask, value: ask.data.update(branch_id=value),
            next="letter",
            back="township",
            field="apply.field.branch",
            editable=_picked_branch,
        ),
        Step(
            "letter",
            "apply.ask.letter",
            receive=_receive_letter,
            next=CONFIRM,
            back=lambda ask: "branch" if _picked_branch(ask) else "township",
            field="apply.field.letter",
        ),
    ],
    Confirm("apply.ask.confirm", _submit, params=_confirm_params, back="letter"),
    again="/apply",
)


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
        view = await applications.existing(turn.session, turn.actor, turn.now)
    except ApplyError as error:
        return _say(turn, error.key)
    if view is not None:
        return _say(turn, "apply.exists", status=_status_text(turn, view))
    resumed = await FORM.resume(turn)
    if resumed is not None:
        return resumed
    return await FORM.start(turn, await applications.first_answers(turn.session, turn.actor))


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
    """Any ``jn:`` press: the form's buttons go to the step engine; an old keyboard, a forged press or an
    id out of range is stale."""
    answered = await FORM.on_button(turn)
    if answered is not None:
        return answered
    press = JN.decode(turn.inbound.data)
    if press is None:
        return _say(turn, "error.stale_button")
    if press.action == VIEW.name:
        return await view_applicant(turn, press[0])
    if press.action == TALK.name:
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
    forms={applications.FLOW_APPLY: FORM.on_input},
    # The talk deadline's chase (app.features.reminder_kinds collects every feature's kinds).
    reminder_kinds=tuple(kinds_relay.APPLY_KINDS),
    data_section=applications.data_section,
    eraser=applications.erase_person,
    personal_columns=applications.PERSONAL_COLUMNS,
)
