"""Member self-service (/me, /leave, /mydata, /deleteme) and the officers' roster (/members, /export).

/mydata and /deleteme cover every feature: the composition root hands this feature the other
features' data sections, erasers and export sheets (`make_feature`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.callbacks import Callbacks, Word
from bot.conversation import Feature, Turn
from bot.dialog import Button, Inbound, Reply, stale
from bot.rules.errors import RuleInputError
from bot.services import audit, export, member_card, members, registration, roster
from bot.services.export import SheetBuilder
from bot.services.members import DataSection, Eraser
from bot.services.registration import TRADES
from bot.steps import EXIT, SUBMIT, Ask, Confirm, Form, Invalid, Local, Step

# -- a member's change of one field of their own record (/me) -----------------------------------------------
# One question per field, no check screen: the answer (typed, a shared contact, a trade, 清空) is saved at
# once and the record shown again. The step is the field; its 清空 and trade buttons keep their old data.
SELF = Callbacks("self")


def _read_phone(ask: Ask, inbound: Inbound) -> str:
    try:
        if inbound.contact_phone is not None:
            return registration.read_contact(inbound.contact_phone, inbound.contact_is_own)
        if inbound.text is not None:
            return members.read_field("phone", inbound.text)
    except RuleInputError as error:
        raise Invalid(f"reg.err.{error.key}") from None
    raise Invalid("reg.text_please")


def _read_text(ask: Ask, text: str) -> str:
    try:
        return members.read_field(ask.step, text)
    except RuleInputError as error:
        raise Invalid(f"reg.err.{error.key}") from None


def _clear(ask: Ask) -> str:
    ask.data[ask.step] = None
    return SUBMIT


def _pick_trade(ask: Ask, key: str) -> str:
    value = members.trade_value(key)
    if value is None:
        raise Invalid("error.stale_button")
    ask.data[ask.step] = value
    return SUBMIT


def _field_rows(clear: str, *, trades: bool = False) -> Any:
    def rows(ask: Ask) -> list[list[Button]]:
        out: list[list[Button]] = []
        if trades:
            picks = [Button(ask.text(f"reg.trade.{k}"), data=EDIT_FORM.local_data("tr", k)) for k in TRADES]
            out += [picks[i : i + 4] for i in range(0, len(picks), 4)]
        out.append([Button(ask.text("me.btn.clear"), data=EDIT_FORM.local_data(clear))])
        return out

    return rows


async def _save_field(ask: Ask) -> Reply:
    turn = ask.turn
    return await members.save_field(
        turn.session,
        person_id=turn.actor.person_id,
        member_id=ask.data.get("member_id"),
        field=ask.step,
        value=ask.data.get(ask.step),
        language=turn.language,
        now=turn.now,
    )


async def _back_to_profile(turn: Turn) -> Reply:
    """返回 from a change: the member's record again, nothing changed."""
    return await members.profile(turn.session, person_id=turn.actor.person_id, language=turn.language)


EDIT_FORM = Form(
    members.EDIT_FLOW,
    SELF,
    [
        Step("phone", "me.ask_phone", receive=_read_phone, contact="reg.btn.share_phone", back=EXIT),
        Step(
            "district",
            "me.ask_district",
            back=EXIT,
            parse=_read_text,
            rows=_field_rows("clr"),
            locals=(Local("clr", _clear),),
        ),
        Step(
            "employer",
            "me.ask_employer",
            back=EXIT,
            parse=_read_text,
            rows=_field_rows("clre", trades=True),
            locals=(Local("clre", _clear), Local("tr", _pick_trade, (Word,))),
        ),
    ],
    Confirm(None, _save_field),
    again="/me",
    exit=_back_to_profile,
    back_action="eb",
    cancel_action="ex",
    edit_action="ee",
)


# -- the officer's message to one member, from the member's card -------------------------------------------
def _message_params(ask: Ask) -> dict[str, Any]:
    return {"name": ask.data.get("name", ""), "max": member_card.MESSAGE_MAX}


def _message_rows(ask: Ask) -> list[list[Button]]:
    """返回详情: the card again (the card drops the message being typed)."""
    found = member_card.message_page(ask.data)
    if found is None:
        return []
    member_id, page = found
    return [[Button(ask.text("card.btn.to_card"), data=roster.R_CARD.data(member_id, *page))]]


def _read_message(ask: Ask, inbound: Inbound) -> str:
    if inbound.text is None:
        raise Invalid("card.text_please")
    try:
        return member_card.read_message(inbound.text)
    except RuleInputError as error:
        raise Invalid(f"reg.err.{error.key}") from None


async def _send_message(ask: Ask) -> Reply:
    turn = ask.turn
    return await member_card.send_message(
        turn.session,
        actor=turn.actor,
        data=ask.data,
        body=ask.data["text"],
        language=turn.language,
        now=turn.now,
    )


MESSAGE_FORM = Form(
    member_card.MESSAGE_FLOW,
    roster.ROS,
    [Step("text", "card.ask_message", params=_message_params, rows=_message_rows, receive=_read_message)],
    Confirm(None, _send_message),
    again="/members",
    back_action="mb",
    cancel_action="mx",
    edit_action="med",
)


def make_feature(
    *, sections: Sequence[DataSection], erasers: Sequence[Eraser], sheets: Sequence[SheetBuilder]
) -> Feature:
    """The self-service and roster feature, wired to what every other feature holds about a person."""
    sheets = (roster.roster_sheet, *sheets)  # the roster is the workbook's first sheet

    async def show_me(turn: Turn) -> Reply:
        """Show the member's own record with buttons to change phone, district and employer."""
        return await members.profile(turn.session, person_id=turn.actor.person_id, language=turn.language)

    async def ask_leave(turn: Turn) -> Reply:
        """Ask the member to confirm that they are leaving the city."""
        return await members.ask_leave(turn.session, person_id=turn.actor.person_id, language=turn.language)

    async def send_my_data(turn: Turn) -> Reply:
        """Send everything held about the sender."""
        return await members.my_data(
            turn.session, person_id=turn.actor.person_id, language=turn.language, sections=sections
        )

    async def ask_erase(turn: Turn) -> Reply:
        """Explain what /deleteme erases and ask for confirmation."""
        return await members.ask_erase(
            turn.session, person_id=turn.actor.person_id, language=turn.language, sections=sections
        )

    async def on_self_button(turn: Turn) -> Reply:
        """The member's own buttons: change a field, confirm leaving, confirm erasure, cancel."""
        if EDIT_FORM.owns(turn.inbound.data):
            return await EDIT_FORM.on_button(turn) or stale(turn.language)
        _, _, rest = (turn.inbound.data or "").partition(":")
        action, _, arg = rest.partition(":")
        session, now = turn.session, turn.now
        kwargs = {"person_id": turn.actor.person_id, "language": turn.language}
        if action == "ed":
            found = await members.edit_target(session, field=arg, **kwargs)
            if isinstance(found, Reply):
                return found
            return await EDIT_FORM.start(turn, {"member_id": found.id}, step=arg, edit=False)
        if action == "lv":
            return await members.report_leaving(session, now=now, **kwargs)
        if action == "del":
            return await members.erase(session, now=now, erasers=erasers, sections=sections, **kwargs)
        return await members.cancel_edit(session, **kwargs)  # "x" and anything unknown: cancel

    async def list_members(turn: Turn) -> Reply:
        """The branch's roster, first page, optionally filtered (/members pending, /members silent 30)."""
        return await roster.open_roster(
            turn.session, actor=turn.actor, args=list(turn.inbound.args), language=turn.language, now=turn.now
        )

    async def on_roster_button(turn: Turn) -> Reply:
        """A roster page, filter, order or branch; a member's card and its actions; an officer confirming
        that a member left. Every id is re-checked by the service against the sender's branches."""
        if MESSAGE_FORM.owns(turn.inbound.data):
            return await MESSAGE_FORM.on_button(turn) or stale(turn.language)
        press = roster.ROS.decode(turn.inbound.data)
        session, actor, language, now = turn.session, turn.actor, turn.language, turn.now
        if press is None:
            audit.record(session, actor_person_id=actor.person_id, action="roster.button", result="stale")
            return stale(language)
        if press.action == roster.R_BRANCH.name:
            query = roster.RosterQuery(press[0])
            return await roster.page(session, actor=actor, query=query, language=language, now=now)
        if press.action == roster.R_PAGE.name:
            found = roster.RosterQuery.of(*press.args)
            if found is None:
                return stale(language)
            return await roster.page(session, actor=actor, query=found, language=language, now=now)
        if press.action == roster.R_LEFT.name:
            return await members.confirm_left(
                session, actor=actor, member_id=press[0], revision=press[1], language=language, now=now
            )
        member_id, page = press[0], tuple(press.args[1:])
        if press.action == roster.R_REMIND.name:
            return await member_card.remind(
                session, actor=actor, member_id=member_id, page=page, language=language, now=now
            )
        if press.action == roster.R_MESSAGE.name:
            found = await member_card.message_target(
                session, actor=actor, member_id=member_id, page=page, language=language
            )
            if isinstance(found, Reply):
                return found
            opened = {"member_id": found.id, "page": list(page), "name": found.name or ""}
            return await MESSAGE_FORM.start(turn, opened, edit=False)
        return await member_card.card(
            session, actor=actor, member_id=member_id, page=page, language=language, now=now
        )

    async def send_export(turn: Turn) -> Reply:
        """Send the branch's ledger workbook (.xlsx); a button names the branch when there are several."""
        branch_id = None
        if turn.inbound.data is not None:
            _, _, arg = turn.inbound.data.partition(":")
            branch_id = int(arg) if arg.isdecimal() and len(arg) < 10 else -1
        return await export.export_branch(
            turn.session,
            actor=turn.actor,
            branch_id=branch_id,
            language=turn.language,
            now=turn.now,
            sheets=sheets,
        )

    return Feature(
        name="members",
        commands={
            "me": show_me,
            "leave": ask_leave,
            "mydata": send_my_data,
            "deleteme": ask_erase,
            "members": list_members,
            "export": send_export,
        },
        buttons={"self": on_self_button, "ros": on_roster_button, "exp": send_export},
        forms={members.EDIT_FLOW: EDIT_FORM.on_input, member_card.MESSAGE_FLOW: MESSAGE_FORM.on_input},
        export_sheets=(roster.roster_sheet,),
        personal_columns=members.PERSONAL_COLUMNS,
    )
