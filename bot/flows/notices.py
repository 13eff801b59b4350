"""Secretary notices (/notice): compose, pick an audience, preview, send; members tap 收到; the author
follows delivery: the 收到 list with reasons, its export, one follow-up, a resend to those not reached.

Button data (``bot.services.broadcast.NTC``, every id bounded, everything re-checked by the service):
``ntc:b:<branch>``, ``ntc:a:<audience>``, ``ntc:p:<value>``, ``ntc:back``, ``ntc:ok``, ``ntc:x``,
``ntc:ack:<notice>``, ``ntc:na:<notice>``, ``ntc:fu:<notice>``, ``ntc:rs:<notice>``, ``ntc:ex:<notice>``.
"""

from __future__ import annotations

from bot.conversation import Feature, Turn
from bot.dialog import Reply, stale
from bot.services import audiences, broadcast
from bot.services.broadcast import NTC


async def start_notice(turn: Turn) -> Reply:
    """/notice: start (or resume) writing a notice to the branch."""
    return await broadcast.start_notice(turn.session, turn.actor)


async def take_content(turn: Turn) -> Reply:
    """Typed text, a photo or a document (with its caption) for the open notice."""
    media = turn.inbound.media
    if media is not None and media.kind in ("photo", "document"):
        return await broadcast.set_content(
            turn.session,
            turn.actor,
            text=media.caption,
            media_kind=media.kind,
            media_ref=media.ref,
            filename=media.filename if media.kind == "document" else None,
        )
    return await broadcast.set_content(turn.session, turn.actor, text=turn.inbound.text)


async def on_button(turn: Turn) -> Reply:
    """Every notice button: decode ``ntc:<action>[:<arg>]`` (a forged or oversized id is stale)."""
    press = NTC.decode(turn.inbound.data)
    if press is None:
        return stale(turn.language)
    session, actor, now = turn.session, turn.actor, turn.now
    match press.action:
        case "b":
            return await broadcast.choose_branch(session, actor, press[0])
        case "a":
            return await broadcast.choose_audience(session, actor, press[0])
        case "p":
            return await broadcast.choose_param(session, actor, press[0])
        case "back":
            return await broadcast.go_back(session, actor)
        case "x":
            return await broadcast.cancel_notice(session, actor)
        case "ok":
            chat = turn.sender.address
            return await broadcast.confirm_notice(
                session,
                actor,
                progress_chat_id=int(chat) if chat is not None and turn.inbound.message_id else None,
                progress_message_id=turn.inbound.message_id,
                now=now,
            )
        case "ack":
            return await broadcast.acknowledge(session, actor, press[0], now)
        case "na":
            return await broadcast.unacknowledged(session, actor, press[0])
        case "fu":
            return await broadcast.send_followup(session, actor, press[0], now)
        case "rs":
            return await broadcast.resend(session, actor, press[0], now)
        case "ex":
            return await broadcast.export_receipts(session, actor, press[0], now)
    return stale(turn.language)


FEATURE = Feature(
    name="notices",
    commands={"notice": start_notice},
    buttons={NTC.prefix: on_button},
    forms={broadcast.FLOW: take_content},
    audiences=audiences.BUILT_IN,  # other features list the audiences they register in theirs
    data_section=broadcast.data_section,
    eraser=broadcast.erase_person,
    personal_columns=broadcast.PERSONAL_COLUMNS,
)
