"""Reporting in (报到) on the conversation core: the report-in form an invite link opens, and the
officers' decisions on a submitted one.

The form's questions are data run by the step engine (`bot.steps`): the privacy notice, separate consent,
name, phone (typed, or one's own number shared with a button), home township and its village branch,
full or probationary member, the joining date (year, month and day buttons, or typed whole at any of
them), the activity card, the city district and the employer (each skippable), and a confirmation with
a 修改 button per answer. 返回, 取消, stale buttons and expired drafts are the engine's. The rules (what
a phone, a card number or a joining date may be; who may report in where) and submitting are
`bot.services.registration`'s.

The officers' decisions are flow actions: approve is one tap; a rejection's or a return's reason is a
one-question form of the engine without a check screen (`REASON_FORM`): the typed answer decides at
once (a confirmation screen would add a tap to every decision), re-checked against the member's
pending revision when it arrives.

Button data is ``reg:<action>[:<field>...]`` in one codec, `REG`; a forged or malformed press decodes
to nothing and is stale.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from typing import Any

from bot.callbacks import Callbacks, Int
from bot.conversation import Feature, Turn
from bot.dialog import Button, Inbound, Reply
from bot.rules.dates import PARTY_FOUNDED
from bot.rules.errors import RuleInputError
from bot.rules.validate import clean_name, clean_short_text
from bot.services import admin, registration
from bot.services.drafts import OpenDraft
from bot.services.registration import (
    DISTRICT_MAX,
    EMPLOYER_MAX,
    NOTICE_VERSION,
    TRADES,
    JoinedInputError,
    NotReady,
    Values,
)
from bot.steps import CONFIRM, EDITING, Ask, Closed, Confirm, Form, Invalid, Local, Option, Step
from storage.models import Branch, MemberState, PartyStatus

# The ids of these tables are INTEGER columns (32-bit on PostgreSQL): a larger number is stale.
RowId = Int(1, 2**31 - 1)
Revision = Int(0, 2**31 - 1)
REG = Callbacks("reg")
DECIDE = {name: REG.action(name, RowId, Revision) for name in registration.DECISIONS}  # ok, no, rt
CANCEL_REASON = REG.action("rc")
FIX = REG.action("fix")  # under "your report-in was returned": open it again
AGAIN = REG.action("again", RowId)  # after 不同意: read the branch's notice again
PLACES_PER_PAGE = 8
YEAR_PAGES = (date.max.year - PARTY_FOUNDED.year) // registration.YEARS_PER_PAGE


def _rule(function: Any, *args: Any) -> Any:
    """A service rule's refusal as the engine's: the same question again, under the reason."""
    try:
        return function(*args)
    except RuleInputError as error:
        raise Invalid(f"reg.err.{error.key}") from None


async def _branch(ask: Ask) -> Branch | None:
    branch_id = ask.data.get("branch_id")
    return await ask.once("branch", lambda: ask.turn.session.get(Branch, branch_id)) if branch_id else None


async def _today(ask: Ask) -> date:
    return registration.branch_today(await _branch(ask), ask.turn.now)


def _skip(step: str, following: str) -> tuple[Local, Any]:
    """A 跳过 button: the answer is left empty and the form goes on (to the confirmation when changing it)."""

    def run(ask: Ask) -> str:
        ask.data[step] = None
        return following

    local = Local(f"sk{step[:2]}", run)
    return local, lambda ask: [[Button(ask.text("common.skip"), data=FORM.local_data(local.action))]]


def _paged(step: str, places: Any) -> tuple[Any, Any, Local]:
    """A list of places a page at a time: its options, its pager row, and the pager's button."""

    def page_of(ask: Ask, found: list) -> tuple[list, int, int]:
        pages = max(1, -(-len(found) // PLACES_PER_PAGE))
        page = min(max(int(ask.data.get(f"{step}_page") or 0), 0), pages - 1)
        return found[page * PLACES_PER_PAGE : (page + 1) * PLACES_PER_PAGE], page, pages

    async def options(ask: Ask) -> list[Option]:
        chunk, _, _ = page_of(ask, await ask.once(step, lambda: places(ask)))
        return [Option(place_id, name) for place_id, name in chunk]

    async def pager(ask: Ask) -> list[list[Button]]:
        _, page, pages = page_of(ask, await ask.once(step, lambda: places(ask)))
        row = []
        if page > 0:
            row.append(Button(ask.text("reg.btn.prev_page"), data=FORM.local_data(local.action, page - 1)))
        if page < pages - 1:
            row.append(Button(ask.text("reg.btn.next_page"), data=FORM.local_data(local.action, page + 1)))
        return [row]

    def turn_page(ask: Ask, page: int) -> None:
        ask.data[f"{step}_page"] = page

    local = Local(f"{step[0]}p", turn_page, (Int(0, 999),))
    return options, pager, local


# -- the notice and consent ----------------------------------------------------------------------------


async def _notice_params(ask: Ask) -> dict[str, object]:
    branch = await _branch(ask)
    return {
        "branch": branch.name if branch else "",
        "city": branch.city if branch else "",
        "version": NOTICE_VERSION,
    }


def _not_a_member(ask: Ask) -> list[list[Button]]:
    # The application to join is another feature's flow; its handler answers "apply:start".
    return [[Button(ask.text("reg.btn.not_member"), data="apply:start")]]


async def _consent(ask: Ask, agreed: str) -> str:
    """同意 goes on (to the confirmation when nothing is left to fill in); 不同意 ends the report-in, with
    the way back to the notice and to applying instead."""
    turn = ask.turn
    branch = await _branch(ask)
    await registration.record_consent(
        turn.session, turn.actor.person_id, agreed == "y", branch.id if branch else None, turn.now
    )
    if agreed != "y":
        rows = [[Button(ask.text("reg.btn.read_again"), data=AGAIN.data(branch.id))]] if branch else []
        rows.append([Button(ask.text("reg.btn.not_member"), data="apply:start")])
        raise Closed("reg.refused", rows=rows)
    ask.data["consent"] = NOTICE_VERSION
    return CONFIRM if registration.complete(ask.data) else "name"


def _notice_unagreed(ask: Ask) -> bool:
    """The confirmation offers the notice again when its current version has not been agreed to."""
    return ask.data.get("consent") != NOTICE_VERSION


# -- name, phone, home -----------------------------------------------------------------------------------


def _receive_phone(ask: Ask, inbound: Inbound) -> str:
    """One's own shared number, or a typed one, as +86...; anyone else's contact is refused."""
    if inbound.contact_phone is not None:
        return _rule(registration.read_contact, inbound.contact_phone, inbound.contact_is_own)
    if inbound.text is None:
        raise Invalid("steps.send_text")
    return _rule(registration.read_phone, inbound.text)


def _phone_saved(ask: Ask) -> str:
    return ask.text("reg.phone_saved", phone=registration.display_phone(ask.data.get("phone")))


async def _all_townships(ask: Ask) -> list[tuple[int, str]]:
    return await registration.townships(ask.turn.session)


async def _township_villages(ask: Ask) -> list[tuple[int, str]]:
    return await registration.villages(ask.turn.session, ask.data.get("township_id"))


_townships, _township_pager, _TOWNSHIP_PAGE = _paged("township", _all_townships)
_villages, _village_pager, _VILLAGE_PAGE = _paged("village", _township_villages)


async def _township_prompt(ask: Ask) -> str:
    found = await ask.once("township", lambda: _all_townships(ask))
    return ask.text("reg.ask_township" if found else "reg.no_townships")


def _store_township(ask: Ask, township_id: int) -> None:
    ask.data.update(township_id=township_id, village_id=None, village_page=0)


async def _after_township(ask: Ask, township_id: int) -> str:
    return "village" if await registration.has_villages(ask.turn.session, township_id) else "status"


async def _village_params(ask: Ask) -> dict[str, object]:
    township, _ = await registration.place_names(ask.turn.session, ask.data.get("township_id"), None)
    return {"township": township}


async def _before_status(ask: Ask) -> str:
    return (
        "village"
        if await registration.has_villages(ask.turn.session, ask.data.get("township_id"))
        else "township"
    )


# -- membership and the joining date -----------------------------------------------------------------


async def _unfit(ask: Ask) -> str | None:
    """Why the stated membership and the joining date do not fit (probation lasts one to two years)."""
    try:
        joined = Values.of_draft(ask.data).joined
        registration.check_joined(ask.data.get("status"), joined, await _today(ask))
    except JoinedInputError as error:
        return f"reg.err.{error.key}"
    return None


async def _after_status(ask: Ask, status: str) -> str:
    """The date comes next; changing only the status goes back to the confirmation, unless the date
    no longer fits it: then the date is asked again (part of the same 修改)."""
    if ask.data.get(EDITING) and await _unfit(ask) is None:
        return CONFIRM
    return "year"


async def _year_prompt(ask: Ask) -> str:
    question = ask.text("reg.ask_year")
    unfit = await _unfit(ask)
    return f"{ask.text(unfit)}\n{question}" if unfit else question


async def _keep_joined(ask: Ask, joined: date) -> None:
    """A whole joining date: kept when it fits the stated membership."""
    _rule(registration.check_joined, ask.data.get("status"), joined, await _today(ask))
    ask.data.update(joined=joined.isoformat(), year=joined.year, month=joined.month)


def _read_joined(part: str) -> Any:
    async def parse(ask: Ask, text: str) -> int | date:
        year, month = ask.data.get("year"), ask.data.get("month")
        return _rule(registration.read_joined, text, part, year, month, await _today(ask))

    return parse


def _store_joined(part: str) -> Any:
    async def store(ask: Ask, value: int | date) -> None:
        if isinstance(value, date):
            await _keep_joined(ask, value)
        elif part == "day":
            await _keep_joined(ask, date(int(ask.data["year"]), int(ask.data["month"]), value))
        else:
            ask.data[part] = value

    return store


def _after_joined(following: str) -> Any:
    return lambda ask, value: "card" if isinstance(value, date) else following


async def _years(ask: Ask) -> list[Option]:
    years, _ = registration.joining_years(await _today(ask), int(ask.data.get("year_page") or 0))
    return [Option(y, str(y)) for y in years]


async def _year_pager(ask: Ask) -> list[list[Button]]:
    page = int(ask.data.get("year_page") or 0)
    _, earlier = registration.joining_years(await _today(ask), page)
    row = []
    if earlier:
        row.append(Button(ask.text("reg.btn.earlier"), data=FORM.local_data("yp", page + 1)))
    if page > 0:
        row.append(Button(ask.text("reg.btn.later"), data=FORM.local_data("yp", page - 1)))
    return [row]


def _turn_year_page(ask: Ask, page: int) -> None:
    ask.data["year_page"] = page


async def _months(ask: Ask) -> list[Option]:
    months = registration.joining_months(int(ask.data.get("year") or 0), await _today(ask))
    return [Option(m, ask.text("reg.month_label", month=m)) for m in months]


async def _days(ask: Ask) -> list[Option]:
    year, month = int(ask.data.get("year") or 0), int(ask.data.get("month") or 0)
    return [Option(d, str(d)) for d in registration.joining_days(year, month, await _today(ask))]


async def _day_unknown(ask: Ask) -> list[list[Button]]:
    # Many remember the month, not the day: the 1st is recorded, and the button says so.
    if not await _days(ask):
        return []
    return [[Button(ask.text("reg.btn.day_unknown"), data=FORM.screen_data("day", 1))]]


def _back_from_year(ask: Ask) -> str:
    # 修改 of the date starts here: 返回 goes back to the confirmation (the engine does that for a step
    # that is no part of another answer; this one is part of a status change whose date no longer fits).
    return CONFIRM if ask.data.get(EDITING) else "status"


# -- the optional answers --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Typed:
    """A typed answer where buttons offer values too (a district, a trade)."""

    text: str


async def _districts(ask: Ask) -> list[str]:
    return await ask.once(
        "districts", lambda: registration.branch_districts(ask.turn.session, ask.data.get("branch_id"))
    )


async def _district_options(ask: Ask) -> list[Option]:
    return [Option(i, name) for i, name in enumerate(await _districts(ask))]


async def _store_district(ask: Ask, value: int | Typed) -> None:
    ask.data["district"] = value.text if isinstance(value, Typed) else (await _districts(ask))[value]


async def _district_params(ask: Ask) -> dict[str, object]:
    branch = await _branch(ask)
    return {"city": branch.city if branch else ""}


def _store_employer(ask: Ask, value: str | Typed) -> None:
    ask.data["employer"] = value.text if isinstance(value, Typed) else registration.trade_name(value)


_SKIP_CARD, _skip_card = _skip("card", "district")
_SKIP_DISTRICT, _skip_district = _skip("district", "employer")
_SKIP_EMPLOYER, _skip_employer = _skip("employer", CONFIRM)


# -- the confirmation ----------------------------------------------------------------------------------


async def _summary(ask: Ask) -> dict[str, object]:
    body = await registration.summary_body(ask.turn.session, ask.turn.language, Values.of_draft(ask.data))
    return {"body": body}


async def _submit(ask: Ask) -> Reply:
    turn = ask.turn
    try:
        return await registration.submit(
            turn.session, person_id=turn.actor.person_id, data=ask.data, language=turn.language, now=turn.now
        )
    except NotReady as refused:
        params = {"field": ask.text(refused.field)} if refused.field else {}
        raise Invalid(refused.key, **params) from None


def _again(turn: Turn, data: dict[str, Any]) -> str:
    """How to report in again: /start for a returned report-in, the branch's invite link otherwise."""
    return turn.text("reg.again_fix" if data.get("member_id") else "reg.again_invite")


def _field(key: str, label: str) -> dict[str, str]:
    return {"field": f"reg.field.{key}", "edit_label": f"reg.btn.edit_{label}"}


FORM = Form(
    registration.FLOW,
    REG,
    [
        Step(
            "notice",
            "reg.notice",
            params=_notice_params,
            options=lambda ask: [Option("y", ask.text("reg.btn.continue"))],
            action="go",
            rows=_not_a_member,
            next="consent",
            field="reg.field.consent",
            edit_label="reg.btn.read_notice",
            editable=_notice_unagreed,
        ),
        Step(
            "consent",
            "reg.consent",
            options=lambda ask: [
                Option("y", ask.text("reg.btn.agree")),
                Option("n", ask.text("reg.btn.disagree")),
            ],
            action="cs",
            per_row=2,
            store=lambda ask, value: None,
            next=_consent,
            back="notice",
            part_of="notice",
        ),
        Step(
            "name",
            "reg.ask_name",
            parse=lambda ask, text: _rule(clean_name, text),
            next="phone",
            back="consent",
            **_field("name", "name"),
        ),
        Step(
            "phone",
            "reg.ask_phone",
            receive=_receive_phone,
            contact="reg.btn.share_phone",
            saved=_phone_saved,
            next="township",
            back="name",
            **_field("phone", "phone"),
        ),
        Step(
            "township",
            _township_prompt,
            options=_townships,
            action="tw",
            value=RowId,
            per_row=2,
            rows=_township_pager,
            locals=(_TOWNSHIP_PAGE,),
            store=_store_township,
            next=_after_township,
            back="phone",
            **_field("home", "home"),
        ),
        Step(
            "village",
            "reg.ask_village",
            params=_village_params,
            options=_villages,
            action="vb",
            value=RowId,
            per_row=2,
            rows=_village_pager,
            locals=(_VILLAGE_PAGE,),
            store=lambda ask, value: ask.data.update(village_id=value),
            next="status",
            back="township",
            part_of="township",
        ),
        Step(
            "status",
            "reg.ask_status",
            options=lambda ask: [Option(s.value, ask.text(f"reg.status.{s.value}")) for s in PartyStatus],
            action="ps",
            per_row=2,
            next=_after_status,
            back=_before_status,
            **_field("status", "status"),
        ),
        Step(
            "year",
            _year_prompt,
            options=_years,
            action="yr",
            value=Int(PARTY_FOUNDED.year, date.max.year),
            per_row=4,
            rows=_year_pager,
            locals=(Local("yp", _turn_year_page, (Int(0, YEAR_PAGES),)),),
            parse=_read_joined("year"),
            store=_store_joined("year"),
            next=_after_joined("month"),
            back=_back_from_year,
            part_of="status",
            **_field("joined", "joined"),
        ),
        Step(
            "month",
            "reg.ask_month",
            params=lambda ask: {"year": ask.data.get("year", "")},
            options=_months,
            action="mo",
            value=Int(1, 12),
            per_row=4,
            parse=_read_joined("month"),
            store=_store_joined("month"),
            next=_after_joined("day"),
            back="year",
            part_of="year",
        ),
        Step(
            "day",
            "reg.ask_day",
            params=lambda ask: {"year": ask.data.get("year", ""), "month": ask.data.get("month", "")},
            options=_days,
            action="dy",
            value=Int(1, 31),
            per_row=7,
            rows=_day_unknown,
            parse=_read_joined("day"),
            store=_store_joined("day"),
            next="card",
            back="month",
            part_of="year",
        ),
        Step(
            "card",
            "reg.ask_card",
            rows=_skip_card,
            locals=(_SKIP_CARD,),
            parse=lambda ask, text: _rule(registration.read_card, text),
            next="district",
            back="day",
            **_field("card", "card"),
        ),
        Step(
            "district",
            "reg.ask_district",
            params=_district_params,
            options=_district_options,
            action="ds",
            value=Int(0, registration.DISTRICT_BUTTONS - 1),
            per_row=3,
            rows=_skip_district,
            locals=(_SKIP_DISTRICT,),
            parse=lambda ask, text: Typed(_rule(clean_short_text, text, DISTRICT_MAX)),
            store=_store_district,
            next="employer",
            back="card",
            **_field("district", "district"),
        ),
        Step(
            "employer",
            "reg.ask_employer",
            options=lambda ask: [Option(key, ask.text(f"reg.trade.{key}")) for key in TRADES],
            action="tr",
            per_row=4,
            rows=_skip_employer,
            locals=(_SKIP_EMPLOYER,),
            parse=lambda ask, text: Typed(_rule(clean_short_text, text, EMPLOYER_MAX)),
            store=_store_employer,
            next=CONFIRM,
            back="district",
            **_field("employer", "employer"),
        ),
    ],
    Confirm("reg.summary", _submit, params=_summary, back="employer", edits_per_row=4),
    again=_again,
)


# -- opening the form ------------------------------------------------------------------------------------


def _headed(reply: Reply, head: str) -> Reply:
    """The reply with a line on top of its (last) question."""
    if not reply.screens:
        return reply
    *before, last = reply.screens
    return replace(reply, screens=(*before, replace(last, text=f"{head}\n{last.text}")))


async def resume(turn: Turn, draft: OpenDraft | None = None) -> Reply | None:
    """The open report-in's question again ("continue your report-in"), or None when none is open.
    The draft is read once (or handed in by a caller that read it) and given to the engine."""
    if draft is None:
        draft = await FORM.draft(turn)
    if draft is None:
        return None
    resumed = await FORM.resume(turn, draft)
    if resumed is None or not FORM.is_live(turn, draft):  # expired: the engine said so
        return resumed
    return _headed(resumed, turn.text("reg.resume"))


async def reopen_returned(turn: Turn) -> Reply:
    """The returned report-in as a draft at the confirmation, with the secretary's request on top."""
    returned = await registration.returned_answers(turn.session, turn.actor.person_id)
    if returned is None:
        return Reply(toast=turn.text("common.already_done"))
    data, reason = returned
    reply = await FORM.start(turn, data, CONFIRM, edit=False)
    return _headed(reply, turn.text("reg.fix_head", reason=reason))


async def open_invite(turn: Turn, code: str) -> Reply:
    """An invite link was followed: start (or resume) the report-in to that branch."""
    session, person_id = turn.session, turn.actor.person_id
    branch = await admin.branch_for_invite(session, code)
    if branch is None:
        return turn.say("reg.bad_invite")
    draft = await FORM.draft(turn)
    same = draft is not None and draft.data.get("branch_id") == branch.id
    member = await registration.member_of(session, person_id)
    if member is not None:
        if member.state == MemberState.APPROVED and member.branch_id == branch.id:
            return turn.say("reg.already_member_here", branch=branch.name)
        block = registration.member_block(turn.language, member, await session.get(Branch, member.branch_id))
        if block is not None:
            return block
        if member.state == MemberState.RETURNED and member.branch_id == branch.id and not same:
            return await reopen_returned(turn)
    if same and draft is not None and (FORM.expires is None or turn.now - draft.updated_at <= FORM.expires):
        resumed = await resume(turn, draft)
        if resumed is not None:
            return resumed
    registration.record_start(session, person_id, branch.id)
    return await FORM.start(turn, {"branch_id": branch.id}, edit=False)


async def start(turn: Turn) -> Reply | None:
    """A plain /start: the open report-in, a returned one to correct, the one waiting; None otherwise.
    An approved or leaving member has no report-in to resume (none can be opened while they are one), so
    their /start reads no draft."""
    # The actor carries the member's state (read with the person): only a returned or a waiting
    # report-in has more to say, so nobody else's /start selects the member row.
    state = turn.actor.member_state
    if state in (MemberState.APPROVED, MemberState.LEAVING):
        return None
    resumed = await resume(turn)
    if resumed is not None:
        return resumed
    if state == MemberState.RETURNED:
        return await reopen_returned(turn)
    if state == MemberState.PENDING:
        return await registration.pending_since(turn.session, turn.actor.person_id, turn.language, turn.now)
    return None


# -- the buttons -------------------------------------------------------------------------------------------


async def on_button(turn: Turn) -> Reply:
    """A ``reg:`` press: the form's buttons go to the step engine; an officer's approve / reject /
    return, the reason's cancel, "fix it" and "read the notice again" are this flow's."""
    answered = await FORM.on_button(turn) or await REASON_FORM.on_button(turn)
    if answered is not None:
        return answered
    actor, session = turn.actor, turn.session
    press = REG.decode(turn.inbound.data)
    if press is None:
        return await registration.record_stale(session, actor.person_id, turn.language)
    if press.action in DECIDE:
        decision = registration.DECISIONS[press.action]
        member_id, revision = press[0], press[1]
        if decision == "approve":
            return await registration.decide(
                session,
                actor=actor,
                decision=decision,
                member_id=member_id,
                revision=revision,
                language=turn.language,
                now=turn.now,
            )
        member = await registration.checked_member(
            session, actor, member_id, revision, turn.language, decision
        )
        if isinstance(member, Reply):
            return member
        opened = {"member_id": member.id, "revision": revision}
        return await REASON_FORM.start(turn, opened, step=decision, edit=False)
    if press.action == FIX.name:
        return await reopen_returned(turn)
    branch = await session.get(Branch, press[0])  # AGAIN
    if branch is None:
        return await registration.record_stale(session, actor.person_id, turn.language)
    return await open_invite(turn, branch.invite_code)


# -- the officer's reason for a rejection or a return --------------------------------------------------
# One question (the step is the decision, as in drafts kept before this form), no check screen: the typed
# reason decides at once. Its 取消 keeps the old ``reg:rc`` data, so the buttons in chats still work.


async def _reason_params(ask: Ask) -> dict[str, Any]:
    name = await registration.reason_name(ask.turn.session, ask.turn.actor, ask.data.get("member_id"))
    return {"name": name}


async def _record_decision(ask: Ask) -> Reply:
    turn = ask.turn
    return await registration.decide(
        turn.session,
        actor=turn.actor,
        decision=ask.step,
        member_id=int(ask.data.get("member_id") or 0),
        revision=int(ask.data.get("revision") or 0),
        language=turn.language,
        now=turn.now,
        reason=ask.data[ask.step],
    )


def _reason_step(decision: str) -> Step:
    return Step(
        decision,
        f"reg.ask_{decision}_reason",
        params=_reason_params,
        parse=lambda ask, text: _rule(registration.read_reason, text),
    )


REASON_FORM = Form(
    registration.REASON_FLOW,
    REG,
    [_reason_step("reject"), _reason_step("return")],
    Confirm(None, _record_decision),
    again=lambda turn, _answers: turn.text("reg.reason_again"),
    back_action="rb",
    cancel_action=CANCEL_REASON.name,
    edit_action="red",
)


FEATURE = Feature(
    name="registration",
    buttons={REG.prefix: on_button},
    forms={registration.FLOW: FORM.on_input, registration.REASON_FLOW: REASON_FORM.on_input},
)
