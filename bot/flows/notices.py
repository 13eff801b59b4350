"""Secretary notices (/notice): compose, pick an audience, preview, send; members tap 收到; the author
follows delivery: the 收到 list with reasons, its export, one follow-up, a resend to those not reached.

Composing is a form on the step engine (`bot.steps`): the content (text, or a photo or document with
its caption), the audience (buttons), its parameter when it has one (a township, say), and the preview as
the form's check, with 修改内容 and 修改对象; 提交 sends. 返回, 取消, stale buttons and expired drafts are
the engine's. A secretary who leads several branches chooses the branch before the form opens. Every
press and input is re-checked against the draft's branch (the actor must lead it now).

Button data (``bot.services.broadcast.NTC``, every id bounded, everything re-checked by the service):
``ntc:b:<branch>``, ``ntc:a:<audience>``, ``ntc:p:<value>``, ``ntc:back:<step>``, ``ntc:ed:<step>``,
``ntc:ok``, ``ntc:x``, ``ntc:ack:<notice>``, ``ntc:na:<notice>``, ``ntc:fu:<notice>``,
``ntc:rs:<notice>``, ``ntc:ex:<notice>``.
"""

from __future__ import annotations

from typing import Any

from bot.conversation import Feature, Turn
from bot.dialog import Button, Inbound, Reply, Screen, already_done, stale
from bot.services import audiences, broadcast
from bot.services.broadcast import NTC, PARAM
from bot.steps import CONFIRM, Ask, Confirm, Form, Invalid, Local, Option, Step

# -- the form ------------------------------------------------------------------------------------


def _content(ask: Ask, inbound: Inbound) -> dict[str, Any]:
    """Typed text, or a photo or document with its caption."""
    media = inbound.media
    if media is not None and media.kind in ("photo", "document"):
        content = {
            "text": (media.caption or "").strip(),
            "media_kind": media.kind,
            "media_ref": media.ref,
            "filename": media.filename if media.kind == "document" else None,
        }
    else:
        content = {
            "text": (inbound.text or "").strip(),
            "media_kind": None,
            "media_ref": None,
            "filename": None,
        }
    why = broadcast.check_content(content["text"], content["media_kind"])
    if why is not None:
        raise Invalid(why[0], **why[1])
    return content


def _keep_content(ask: Ask, content: dict[str, Any]) -> None:
    ask.data.update(content)


def _audiences(ask: Ask) -> list[Option]:
    return [Option(a.name, ask.text(a.label_key)) for a in audiences.all_audiences()]


def _keep_audience(ask: Ask, name: str) -> None:
    ask.data.update(audience=name, param=None)


def _after_audience(ask: Ask, name: str) -> str:
    audience = audiences.get(name)
    return "param" if audience is not None and audience.needs_param else CONFIRM


async def _param_prompt(ask: Ask) -> str:
    choices = await ask.once("choices", lambda: broadcast.audience_choices(ask.turn.session, ask.data))
    return ask.text("notice.ask_param" if choices else "notice.no_choices")


async def _param_rows(ask: Ask) -> list[tuple[Button, ...]]:
    choices = await ask.once("choices", lambda: broadcast.audience_choices(ask.turn.session, ask.data))
    return [(Button(c.label[:60], data=PARAM.data(c.value)),) for c in choices]


async def _narrow(ask: Ask, value: str) -> str:
    """A parameter button: one the audience offers (a forged one is refused and audited)."""
    turn = ask.turn
    if not await broadcast.may_narrow(turn.session, turn.actor, ask.data, value):
        raise Invalid("error.not_allowed")
    ask.data["param"] = value
    return CONFIRM


async def _preview(ask: Ask) -> str:
    preview = await ask.once(
        "preview", lambda: broadcast.preview(ask.turn.session, ask.data, ask.turn.language)
    )
    label = ask.text(preview.audience_key)
    if preview.param_label:
        label = f"{label} · {preview.param_label}"
    lines = [ask.text("notice.preview", audience=label, count=preview.count)]
    if preview.blocked:
        lines.append(ask.text("notice.preview_blocked", blocked=preview.blocked))
    if preview.count - preview.blocked <= 0:
        lines.append(ask.text("notice.preview_empty"))
    if preview.media_kind:
        lines.append(ask.text(f"notice.media_{preview.media_kind}"))
    return "\n".join([*lines, "", preview.text])


async def _send(ask: Ask) -> Reply:
    """提交: the notice goes out; the pressed preview becomes its progress message."""
    turn = ask.turn
    preview = await broadcast.preview(turn.session, ask.data, turn.language)
    if preview.count - preview.blocked <= 0:
        raise Invalid("notice.preview_empty")  # the form stays at its check: choose another audience
    chat = turn.sender.address
    return await broadcast.confirm_notice(
        turn.session,
        turn.actor,
        ask.data,
        progress_chat_id=int(chat) if chat is not None and turn.inbound.message_id else None,
        progress_message_id=turn.inbound.message_id,
        now=turn.now,
    )


COMPOSE = Form(
    broadcast.FLOW,
    NTC,
    [
        Step(
            "text",
            "notice.ask_text",
            receive=_content,
            store=_keep_content,
            next="audience",
            field="notice.field_text",
        ),
        Step(
            "audience",
            "notice.ask_audience",
            options=_audiences,
            action="a",
            per_row=2,
            store=_keep_audience,
            next=_after_audience,
            back="text",
            field="notice.field_audience",
        ),
        Step(
            "param",
            _param_prompt,
            rows=_param_rows,
            locals=(Local(PARAM.name, _narrow, PARAM.fields),),
            back="audience",
            part_of="audience",
        ),
    ],
    Confirm(_preview, _send, back="audience", submit_action="ok"),
    again="/notice",
    cancel_action="x",
)


# -- the flow ------------------------------------------------------------------------------------


async def _refused(turn: Turn) -> Reply | None:
    """The open draft's branch must be one the actor leads now; else the draft goes, refused."""
    draft = await COMPOSE.draft(turn)
    if draft is None:
        return None
    refused = broadcast.may_compose(turn.session, turn.actor, draft.data.get("branch_id"))
    if refused is not None:
        await broadcast.drop_draft(turn.session, turn.actor)
    return refused


async def start_notice(turn: Turn) -> Reply:
    """/notice: resume an open draft, or start one (asking for the branch if the actor leads several)."""
    draft = await COMPOSE.draft(turn)
    if draft is not None and turn.actor.leads_branch(draft.data.get("branch_id")):
        resumed = await COMPOSE.resume(turn, draft)
        if resumed is not None:
            return resumed
    branch = await broadcast.branch_to_compose(turn.session, turn.actor)
    if isinstance(branch, Reply):
        return branch
    if isinstance(branch, int):
        return await COMPOSE.start(turn, {"branch_id": branch})
    rows = tuple((Button(name, data=broadcast.BRANCH.data(branch_id)),) for branch_id, name in branch)
    rows += ((Button(turn.text("common.cancel"), data=COMPOSE.cancel.data()),),)
    return Reply(screens=(Screen(turn.text("notice.choose_branch"), rows),), edit=False)


async def choose_branch(turn: Turn, branch_id: int) -> Reply:
    refused = broadcast.may_compose(turn.session, turn.actor, branch_id)
    if refused is not None:
        return refused
    return await COMPOSE.start(turn, {"branch_id": branch_id})


async def take_content(turn: Turn) -> Reply:
    """Typed text, a photo or a document (with its caption) while the notice form is open."""
    return await _refused(turn) or await COMPOSE.on_input(turn)


async def on_button(turn: Turn) -> Reply:
    """Every notice button: decode ``ntc:<action>[:<arg>]`` (a forged or oversized id is stale)."""
    press = NTC.decode(turn.inbound.data)
    if press is None:
        return stale(turn.language)
    session, actor, now = turn.session, turn.actor, turn.now
    match press.action:
        case "b":
            return await choose_branch(turn, press[0])
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
    if COMPOSE.owns(turn.inbound.data):
        if await COMPOSE.draft(turn) is None:
            # No notice is being written: 提交 or 取消 again is done, any other of its buttons stale.
            done = press.action in (COMPOSE.submit.name, COMPOSE.cancel.name)
            return already_done(turn.language) if done else stale(turn.language)
        refused = await _refused(turn)
        if refused is not None:
            return refused
        answered = await COMPOSE.on_button(turn)
        if answered is not None:
            return answered
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
