"""Member self-service (/me, /leave, /mydata, /deleteme) and the officers' roster (/members, /export).

/mydata and /deleteme cover every feature: the composition root hands this feature the other
features' data sections, erasers and export sheets (`make_feature`).
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.conversation import Feature, Turn
from bot.dialog import Reply, stale
from bot.services import audit, export, member_card, members, roster
from bot.services.export import SheetBuilder
from bot.services.members import DataSection, Eraser


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
        _, _, rest = (turn.inbound.data or "").partition(":")
        action, _, arg = rest.partition(":")
        session, now = turn.session, turn.now
        kwargs = {"person_id": turn.actor.person_id, "language": turn.language}
        if action == "ed":
            return await members.start_edit(session, field=arg, **kwargs)
        if action in ("clr", "tr"):
            return await members.edit_button(session, action=action, arg=arg, now=now, **kwargs)
        if action == "lv":
            return await members.report_leaving(session, now=now, **kwargs)
        if action == "del":
            return await members.erase(session, now=now, erasers=erasers, sections=sections, **kwargs)
        return await members.cancel_edit(session, **kwargs)  # "x" and anything unknown: cancel

    async def on_edit_input(turn: Turn) -> Reply:
        """Typed text or a shared contact for the field the member is changing."""
        inbound = turn.inbound
        kwargs = {
            "person_id": turn.actor.person_id,
            "draft": turn.draft,
            "language": turn.language,
            "now": turn.now,
        }
        if inbound.contact_phone is not None:
            return await members.edit_contact(
                turn.session, phone=inbound.contact_phone, is_own=inbound.contact_is_own, **kwargs
            )
        if inbound.text is not None:
            return await members.edit_text(turn.session, text=inbound.text, **kwargs)
        return await members.edit_other(turn.session, draft=turn.draft, language=turn.language)

    async def list_members(turn: Turn) -> Reply:
        """The branch's roster, first page, optionally filtered (/members pending, /members silent 30)."""
        return await roster.open_roster(
            turn.session, actor=turn.actor, args=list(turn.inbound.args), language=turn.language, now=turn.now
        )

    async def on_roster_button(turn: Turn) -> Reply:
        """A roster page, filter, order or branch; a member's card and its actions; an officer confirming
        that a member left. Every id is re-checked by the service against the sender's branches."""
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
            return await member_card.ask_message(
                session, actor=actor, member_id=member_id, page=page, language=language
            )
        return await member_card.card(
            session, actor=actor, member_id=member_id, page=page, language=language, now=now
        )

    async def on_message_input(turn: Turn) -> Reply:
        """The text an officer typed on a member's card, to relay to the member."""
        assert turn.draft is not None
        return await member_card.take_message(
            turn.session,
            actor=turn.actor,
            draft=turn.draft,
            text=turn.inbound.text,
            language=turn.language,
            now=turn.now,
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
        forms={members.EDIT_FLOW: on_edit_input, member_card.MESSAGE_FLOW: on_message_input},
        export_sheets=(roster.roster_sheet,),
        personal_columns=members.PERSONAL_COLUMNS,
    )
