"""Reporting in (报到): the form's buttons and typed answers, and the officers' decisions on them."""

from __future__ import annotations

from bot.conversation import Feature, Turn
from bot.dialog import Reply
from bot.services import registration

DECISIONS = ("reg:ok:", "reg:no:", "reg:rt:")


async def on_button(turn: Turn) -> Reply:
    """A button of the report-in form, or an officer's approve / reject / return."""
    data, actor = turn.inbound.data or "", turn.actor
    if data.startswith(DECISIONS):
        return await registration.decide(
            turn.session, actor=actor, data=data, language=actor.language, now=turn.now
        )
    if data == "reg:rc":
        return await registration.cancel_reason(turn.session, actor=actor, language=actor.language)
    return await registration.press(
        turn.session, person_id=actor.person_id, language=actor.language, data=data, now=turn.now
    )


async def on_form_input(turn: Turn) -> Reply:
    """Typed text, a shared contact or anything else sent while the report-in form is open."""
    inbound, actor = turn.inbound, turn.actor
    common = {"person_id": actor.person_id, "draft": turn.draft, "language": actor.language, "now": turn.now}
    if inbound.contact_phone is not None:
        return await registration.share_contact(
            turn.session, phone=inbound.contact_phone, is_own=inbound.contact_is_own, **common
        )
    if inbound.text is not None:
        return await registration.type_text(turn.session, text=inbound.text, **common)
    return await registration.other_input(
        turn.session, draft=turn.draft, language=actor.language, now=turn.now
    )


async def on_reason_input(turn: Turn) -> Reply:
    """The officer's typed reason for rejecting or returning a report-in."""
    return await registration.reason_text(
        turn.session,
        actor=turn.actor,
        draft=turn.draft,
        text=turn.inbound.text or "",
        language=turn.language,
        now=turn.now,
    )


FEATURE = Feature(
    name="registration",
    buttons={"reg": on_button},
    forms={"register": on_form_input, "reg_reason": on_reason_input},
)
