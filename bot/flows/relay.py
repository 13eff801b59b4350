"""The relay to the home township (为民服务全程代理) on the conversation core.

Members: /services, an item's request form (materials typed or sent as photos and files; a form on the
step engine, `bot.steps`, whose check collects the materials), /requests.
Agents: /inbox, accept / missing / forward / complete / refuse / answer (the four that need words or a
file are one form on the step engine, a question per step), /catalogue (a new item is a form on the step
engine, with a check and 修改 per answer), /servicestats.
Secretaries: /branchrequests and the month's rates (steps only, never what was sent or said).

Button data is ``rl:<action>[:<id>]`` (one codec, `RL`; the forms' own buttons: the request form
``back``/``x``/``ed``/``sub``, the agent's step form ``ab``/``ax``/``ae``/``as``, the item form
``cb``/``cx``/``ce``/``cs`` with ``ck:<kind>`` and ``cn:none``); a forged, malformed or too-large id decodes
to nothing and is answered as stale. Every press is re-checked by the service against the sender
(owner, agent of the request's township, secretary of its branch), which denies and audits the rest.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from bot.callbacks import Callbacks, Int, Word
from bot.conversation import Feature, Turn
from bot.dialog import Button, Inbound, Media, Reply, Screen
from bot.reports import sheets as report_sheets
from bot.scheduling import kinds_relay
from bot.services import relay
from bot.services.registration import display_phone
from bot.services.relay import EventView, ItemView, Part, RelayError, RequestView
from bot.steps import CONFIRM, Ask, Closed, Confirm, Form, Invalid, Option, Step
from storage.models import RequestAttachment

CAPTION_MAX = 900  # Telegram captions stop at 1024 characters; leave room for the bot's own header
LIST_BUTTONS = 10

# The ids of these tables are INTEGER columns (32-bit on PostgreSQL): a larger number in a press is
# stale, never a DBAPIError in the driver (the codec's Id allows 64 bits).
RowId = Int(1, 2**31 - 1)
RL = Callbacks("rl")
ITEM = RL.action("item", RowId)
SUBMIT = RL.action("sub")
CANCEL = RL.action("x")
KEEP = RL.action("keep")
MINE = RL.action("my", RowId)
ADD = RL.action("add", RowId)
ASK_WITHDRAW = RL.action("wd", RowId)
WITHDRAW = RL.action("wdy", RowId)
VIEW = RL.action("view", RowId)
ACCEPT = RL.action("acc", RowId)
FORWARD = RL.action("fwd", RowId)
MISSING = RL.action("miss", RowId)
COMPLETE = RL.action("done", RowId)
REFUSE = RL.action("ref", RowId)
ANSWER = RL.action("ans", RowId)
# The catalogue: rl:cat:on:<item>, rl:cat:off:<item>, rl:cat:new:<township>.
CATALOGUE = RL.action("cat", Word, Word)

INPUT_ACTIONS = {"miss": "missing", "done": "complete", "ref": "refuse", "ans": "answer"}
ITEM_CHOICES = ("full", "consult", "none")


# -- small helpers -----------------------------------------------------------------------------------------


def _say(turn: Turn, key: str, buttons: Sequence[Sequence[Button]] = (), **params: object) -> Reply:
    """One catalogue text as a new message (the pressed one, often a notice, stays as it was)."""
    rows = tuple(tuple(row) for row in buttons)
    return Reply(screens=(Screen(turn.text(key, **params), rows),), edit=False)


def _refuse(turn: Turn, error: RelayError, buttons: Sequence[Sequence[Button]] = ()) -> Reply:
    return _say(turn, error.key, buttons, **error.params)


def _stale(turn: Turn) -> Reply:
    return _say(turn, "error.stale_button")


def _local(turn: Turn, moment: datetime) -> datetime:
    return moment.astimezone(turn.settings.tz)


def _day(turn: Turn, moment: datetime | None) -> str:
    return _local(turn, moment).date().isoformat() if moment else "—"


def _state(turn: Turn, view: RequestView) -> str:
    label = turn.text(f"relay.state.{view.state}")
    return label + turn.text("relay.overdue_mark") if view.overdue else label


def _deadline(turn: Turn, view: RequestView) -> str:
    if view.receipt_no is None:
        return ""
    return turn.text(
        "relay.receipt_line", receipt=view.receipt_no, due=view.due_on.isoformat() if view.due_on else "—"
    )


def _history(turn: Turn, events: Sequence[EventView], *, notes: bool) -> str:
    lines = []
    for event in events:
        step = event.key.split(":", 1)[0]
        line = f"{_local(turn, event.at).strftime('%m-%d %H:%M')} {turn.text(f'relay.step.{step}')}"
        if notes and event.note and step in ("missing", "accept"):
            line += f"\n{event.note}"
        lines.append(line)
    return "\n".join(lines)


def _materials(turn: Turn, item: ItemView) -> str:
    if not item.materials:
        return turn.text("relay.no_materials")
    return "\n".join(f"{n}. {m}" for n, m in enumerate(item.materials, start=1))


def part_of(turn: Turn) -> Part | None:
    """What an input carries as a material: typed text, a photo or a document (with its caption)."""
    inbound = turn.inbound
    media = inbound.media
    if media is not None and media.kind in ("photo", "document"):
        caption = (media.caption or "")[:CAPTION_MAX] or None
        if media.kind == "photo":
            return Part("photo", text=caption, file_id=media.ref[:255])
        part = Part.document(media.ref, media.filename, media.mime_type)
        return replace(part, text=caption)
    if inbound.text is not None:
        return Part.typed(inbound.text)
    return None


def _attachment_screen(caption: str, attachment: RequestAttachment) -> Screen:
    text = f"{caption}\n{attachment.text}" if attachment.text else caption
    if attachment.kind in ("photo", "document") and attachment.file_id:
        media = Media(attachment.kind, attachment.file_id, attachment.filename, attachment.mime)
        return Screen(text[:1024], media=media)
    return Screen(text)


def _id_of(turn: Turn) -> int | None:
    """The id field of a pressed ``rl:<action>:<id>`` button; None when forged or out of range."""
    press = RL.decode(turn.inbound.data)
    return press[0] if press is not None and press.args and isinstance(press[0], int) else None


ById = Callable[[int], Awaitable[Reply]]


async def _with_id(turn: Turn, step: ById) -> Reply:
    request_id = _id_of(turn)
    if request_id is None:
        return _stale(turn)
    try:
        return await step(request_id)
    except RelayError as error:
        return _refuse(turn, error)


# -- the member: /services, a request form, /requests ------------------------------------------------------


async def show_services(turn: Turn) -> Reply:
    """/services: the items the member's home township can handle, as buttons."""
    try:
        township, items = await relay.member_catalogue(turn.session, turn.actor)
    except RelayError as error:
        return _refuse(turn, error)
    if not items:
        return _say(turn, "relay.services.empty", township=township)
    buttons = [[Button(item.name, data=ITEM.data(item.id))] for item in items]
    return _say(turn, "relay.services.pick", buttons, township=township)


async def pick_item(turn: Turn) -> Reply:
    """An item was chosen: say what is needed and open the request form."""

    async def step(item_id: int) -> Reply:
        item = await relay.begin_request(turn.session, turn.actor, item_id)
        intro = {
            "key": f"relay.item.{item.kind}",
            "params": {"name": item.name, "materials": _materials(turn, item), "days": item.promised_days},
        }
        return await REQUEST.start(turn, {"item_id": item.id, "parts": [], "intro": intro}, edit=False)

    return await _with_id(turn, step)


# The request form (a new request, or materials added to one) is one growing list of materials on the step
# engine: its check is its only screen, each material sent is kept there, and 提交 sends them all.


def _form_text(ask: Ask) -> str:
    parts = ask.data.get("parts") or []
    if parts:
        return ask.text("relay.material.received", count=len(parts))
    intro = ask.data.get("intro") or {}
    return ask.text(str(intro.get("key") or "relay.add.prompt"), **(intro.get("params") or {}))


def _receive_material(ask: Ask, inbound: Inbound) -> None:
    """Typed text, a photo or a document sent while the form is open: keep it as a material."""
    try:
        part = part_of(ask.turn)
        if part is None:
            raise RelayError("send_material")
        relay.add_part(ask.data, part)
    except RelayError as error:
        raise Invalid(error.key, **error.params) from None


async def _submit_form(ask: Ask) -> Reply:
    """Submit: send the form (a new request, or materials added to one) to the township."""
    turn = ask.turn
    try:
        result = await relay.submit_form(turn.session, turn.actor, ask.data, turn.now)
    except RelayError as error:
        if error.code in ("nothing_to_submit", "question_required"):
            raise Invalid(error.key, **error.params) from None  # the form stays open: send something
        return _refuse(turn, error)
    view = result.view
    key = "relay.submitted" if result.new_request else "relay.added"
    return _say(turn, key, id=view.id, item=view.item_name, count=result.added)


REQUEST = Form(
    relay.FLOW_REQUEST,
    RL,
    [],
    # No 返回: the form is one screen, and leaving it would lose the materials sent; 取消 says so.
    Confirm(_form_text, _submit_form, submit_action=SUBMIT.name, receive=_receive_material),
    again="/services",
    first=CONFIRM,
    cancel_action=CANCEL.name,
)


async def keep(turn: Turn) -> Reply:
    """The member changed their mind about withdrawing."""
    return _say(turn, "relay.withdraw.kept")


async def show_requests(turn: Turn) -> Reply:
    """/requests: the member's requests with their status."""
    views = await relay.my_requests(turn.session, turn.actor, turn.now)
    if not views:
        return _say(turn, "relay.requests.none")
    lines = [turn.text("relay.requests.title")]
    for view in views:
        lines.append(
            turn.text("relay.requests.line", id=view.id, item=view.item_name, state=_state(turn, view))
        )
    buttons = tuple(
        (Button(f"#{v.id} {v.item_name}"[:40], data=MINE.data(v.id)),) for v in views[:LIST_BUTTONS]
    )
    return Reply.say("\n".join(lines), buttons=buttons)


async def show_my_request(turn: Turn) -> Reply:
    """One of the member's requests: status, receipt, history, and what they can still do."""

    async def step(request_id: int) -> Reply:
        view, events = await relay.my_request(turn.session, turn.actor, request_id, turn.now)
        lines = [turn.text("relay.detail.head", id=view.id, item=view.item_name, state=_state(turn, view))]
        if view.receipt_no:
            lines.append(_deadline(turn, view))
        if view.state == "missing" and view.missing:
            lines.append(turn.text("relay.detail.missing", items="\n".join(f"· {m}" for m in view.missing)))
        if view.result_text:
            lines.append(turn.text("relay.detail.result", text=view.result_text))
        if view.reason:
            lines.append(turn.text("relay.detail.reason", text=view.reason))
        lines.append(_history(turn, events, notes=False))
        buttons = relay.member_buttons(view, turn.language)
        return Reply(screens=(Screen("\n".join(lines), buttons),), edit=False)

    return await _with_id(turn, step)


async def add_materials(turn: Turn) -> Reply:
    """Add materials: open a form to add materials to one of the member's open requests."""

    async def step(request_id: int) -> Reply:
        view = await relay.begin_add_materials(turn.session, turn.actor, request_id, turn.now)
        missing = "\n".join(f"· {m}" for m in view.missing) if view.state == "missing" else ""
        intro = {"key": "relay.add.prompt", "params": {"id": view.id, "missing": missing}}
        return await REQUEST.start(turn, {"request_id": view.id, "parts": [], "intro": intro}, edit=False)

    return await _with_id(turn, step)


async def ask_withdraw(turn: Turn) -> Reply:
    """Withdraw: ask once more before withdrawing."""

    async def step(request_id: int) -> Reply:
        buttons = [
            [
                Button(turn.text("btn.relay.withdraw"), data=WITHDRAW.data(request_id)),
                Button(turn.text("btn.relay.keep"), data=KEEP.data()),
            ]
        ]
        return _say(turn, "relay.withdraw.confirm", buttons, id=request_id)

    return await _with_id(turn, step)


async def withdraw(turn: Turn) -> Reply:
    """The member confirmed: withdraw the request and tell the township."""

    async def step(request_id: int) -> Reply:
        view = await relay.withdraw(turn.session, turn.actor, request_id, turn.now)
        return _say(turn, "relay.withdraw.done", id=view.id, item=view.item_name)

    return await _with_id(turn, step)


# -- the agent: /inbox, the steps, /catalogue, /servicestats -----------------------------------------------


async def show_inbox(turn: Turn) -> Reply:
    """/inbox: the open requests of the agent's townships."""
    try:
        views = await relay.inbox(turn.session, turn.actor, turn.now)
    except RelayError as error:
        return _refuse(turn, error)
    if not views:
        return _say(turn, "relay.inbox.empty")
    lines = [turn.text("relay.inbox.title", count=len(views))]
    for view in views:
        lines.append(
            turn.text(
                "relay.inbox.line",
                id=view.id,
                item=view.item_name,
                name=view.member_name or "—",
                state=_state(turn, view),
            )
        )
    buttons = tuple(
        (Button(f"#{v.id} {v.item_name}"[:40], data=VIEW.data(v.id)),) for v in views[:LIST_BUTTONS]
    )
    return Reply.say("\n".join(lines), buttons=buttons)


async def view_request(turn: Turn) -> Reply:
    """An agent opens a request: details, history, every material again, and the next steps."""

    async def step(request_id: int) -> Reply:
        view, events, attachments = await relay.agent_request(turn.session, turn.actor, request_id, turn.now)
        text = turn.text(
            "relay.agent.detail",
            id=view.id,
            item=view.item_name,
            kind=turn.text(f"relay.kind.{view.kind}"),
            name=view.member_name or "—",
            phone=display_phone(view.member_phone) or "—",
            branch=view.branch_name or "—",
            state=_state(turn, view),
        )
        parts = [text, _deadline(turn, view), _history(turn, events, notes=True)]
        screens = [Screen("\n".join(p for p in parts if p), relay.agent_buttons(view, turn.language))]
        for index, attachment in enumerate(attachments, start=1):
            key = "relay.result_caption" if attachment.role == "result" else "relay.material_caption"
            caption = turn.text(key, id=view.id, n=index, total=len(attachments))
            screens.append(_attachment_screen(caption, attachment))
        return Reply(screens=tuple(screens), edit=False)

    return await _with_id(turn, step)


async def accept(turn: Turn) -> Reply:
    """Accept: issue the receipt; the member gets its number and the promised deadline."""

    async def step(request_id: int) -> Reply:
        view = await relay.accept(turn.session, turn.actor, request_id, turn.settings.tz, turn.now)
        return _say(
            turn,
            "relay.agent.accepted",
            relay.agent_buttons(view, turn.language),
            id=view.id,
            receipt=view.receipt_no,
            due=view.due_on.isoformat() if view.due_on else "—",
        )

    return await _with_id(turn, step)


async def forward(turn: Turn) -> Reply:
    """Forward: the request goes on to the township agency centre."""

    async def step(request_id: int) -> Reply:
        view = await relay.forward(turn.session, turn.actor, request_id, turn.now)
        return _say(turn, "relay.agent.forwarded", relay.agent_buttons(view, turn.language), id=view.id)

    return await _with_id(turn, step)


async def begin_input(turn: Turn) -> Reply:
    """Missing / complete / refuse / answer: open the agent's form at the question of that step."""
    press = RL.decode(turn.inbound.data)
    action = INPUT_ACTIONS.get(press.action, "") if press is not None else ""

    async def step(request_id: int) -> Reply:
        view = await relay.begin_agent_input(turn.session, turn.actor, request_id, action, turn.now)
        return await AGENT.start(turn, {"request_id": view.id, "item": view.item_name}, action, edit=False)

    return await _with_id(turn, step)


# The agent's steps are one form on the step engine: a question per step (the missing list, the result,
# the reason, the answer), each answered by typing or sending a file. The answer is the step itself, done
# at once by the service and told the member; the form then ends (`Closed`) with what was done. A refusal
# the service gives for the input (an empty reason, too long a list) asks again under the reason; one
# that says the request moved on meanwhile (withdrawn, done by another agent, not the agent's township
# any more) ends the form with it.

_ENDING = ("not_allowed", "stale", "already_done")


def _agent_params(ask: Ask) -> dict[str, Any]:
    return {"id": ask.data.get("request_id"), "item": ask.data.get("item") or ""}


def _agent_reply(ask: Ask, inbound: Inbound) -> dict[str, Any]:
    """What the agent typed or sent: text, and a photo or document (its caption as the text)."""
    part = part_of(ask.turn)
    text = part.text if part is not None else None
    file = replace(part, text=None) if part is not None and part.kind != "text" else None
    return {"text": text, "file": file.to_dict() if file is not None else None}


async def _agent_done(ask: Ask, reply: dict[str, Any]) -> str:
    """Do the step with the agent's answer; the form ends saying so (or asks again, why above it)."""
    turn, action = ask.turn, ask.step
    file = Part.from_dict(reply["file"]) if reply.get("file") else None
    try:
        view = await relay.agent_input(
            turn.session,
            turn.actor,
            action,
            int(ask.data["request_id"]),
            turn.now,
            text=reply.get("text"),
            file=file,
        )
    except RelayError as error:
        if error.code in _ENDING:
            raise Closed(error.key, **error.params) from None
        raise Invalid(error.key, **error.params) from None
    raise Closed(f"relay.agent.done_{action}", id=view.id)


async def _no_check(ask: Ask) -> Reply:
    """The agent's form has no check (every answer ends it): a press of its 提交 is stale."""
    raise Closed("error.stale_button")


AGENT = Form(
    relay.FLOW_AGENT,
    RL,
    [
        Step(
            action, f"relay.agent.ask_{action}", params=_agent_params, receive=_agent_reply, next=_agent_done
        )
        for action in INPUT_ACTIONS.values()
    ],
    # Never shown: every question's answer ends the form (see above).
    Confirm("relay.agent.ask_answer", _no_check, submit_action="as"),
    again="/inbox",
    back_action="ab",
    cancel_action="ax",
    edit_action="ae",
)


async def show_catalogue(turn: Turn) -> Reply:
    """/catalogue: the agent's townships' items, with buttons to add one or switch one off or on."""
    if not turn.actor.agent_townships:
        return _say(turn, "error.not_allowed")
    screens = []
    for township_id, township, items in await relay.agent_catalogue(turn.session, turn.actor):
        lines = [turn.text("relay.catalogue.title", township=township)]
        buttons: list[tuple[Button, ...]] = []
        row: list[Button] = []
        for n, item in enumerate(items, start=1):
            lines.append(
                turn.text(
                    "relay.catalogue.line",
                    n=n,
                    name=item.name,
                    kind=turn.text(f"relay.kind.{item.kind}"),
                    days=item.promised_days,
                    materials=turn.text("relay.list_sep").join(item.materials)
                    or turn.text("relay.no_materials"),
                    state=turn.text("relay.catalogue.on" if item.active else "relay.catalogue.off"),
                )
            )
            toggle = "off" if item.active else "on"
            row.append(
                Button(turn.text(f"btn.relay.item_{toggle}", n=n), data=CATALOGUE.data(toggle, item.id))
            )
            if len(row) == 3:
                buttons.append(tuple(row))
                row = []
        if row:
            buttons.append(tuple(row))
        if not items:
            lines.append(turn.text("relay.catalogue.none"))
        buttons.append((Button(turn.text("btn.relay.item_new"), data=CATALOGUE.data("new", township_id)),))
        screens.append(Screen("\n".join(lines), tuple(buttons)))
    return Reply(screens=tuple(screens), edit=False)


async def on_catalogue_button(turn: Turn) -> Reply:
    """rl:cat:on|off:<item>, rl:cat:new:<township>."""
    press = CATALOGUE.read((turn.inbound.data or "").split(":")[2:])
    if press is None:
        return _stale(turn)
    verb, arg = press.args
    target = RowId.read(arg)
    if verb not in ("on", "off", "new") or target is None:
        return _stale(turn)
    try:
        if verb == "new":
            await relay.begin_item_form(turn.session, turn.actor, target)
            return await ITEM_FORM.start(turn, {"township_id": target}, edit=False)
        item = await relay.set_item_active(turn.session, turn.actor, target, verb == "on")
    except RelayError as error:
        return _refuse(turn, error)
    key = "relay.catalogue.switched_on" if item.active else "relay.catalogue.switched_off"
    return _say(turn, key, name=item.name)


# The new catalogue item is a form on the step engine: name, kind (buttons), materials (typed, or
# 不需要), promised days, and a check with 修改 per answer; 提交 adds it, for a township the agent
# still serves. A name taken meanwhile keeps the form at its check, to change the name.


def _refused(error: RelayError) -> Invalid:
    return Invalid(error.key, **error.params)


def _item_name(ask: Ask, text: str) -> str:
    try:
        return relay.clean_item_name(text)
    except RelayError as error:
        raise _refused(error) from None


def _item_kinds(ask: Ask) -> list[Option]:
    return [Option(kind, ask.text(f"btn.relay.kind_{kind}")) for kind in ("full", "consult")]


def _item_materials(ask: Ask, text: str) -> list[str]:
    try:
        return relay.parse_list(text)
    except RelayError as error:
        raise _refused(error) from None


def _no_materials(ask: Ask) -> list[Option]:
    return [Option("none", ask.text("btn.relay.no_materials"))]


def _keep_materials(ask: Ask, value: Any) -> None:
    ask.data["materials"] = [] if value == "none" else list(value)


def _item_days(ask: Ask, text: str) -> int:
    try:
        return relay.parse_days(text)
    except RelayError as error:
        raise _refused(error) from None


def _item_check(ask: Ask) -> dict[str, Any]:
    materials = ask.data.get("materials") or []
    return {
        "name": ask.data.get("name", ""),
        "kind": ask.text(f"relay.kind.{ask.data.get('kind', 'full')}"),
        "materials": ask.text("relay.list_sep").join(materials) or ask.text("relay.no_materials"),
        "days": ask.data.get("days", 0),
    }


async def _add_item(ask: Ask) -> Reply:
    turn, data = ask.turn, ask.data
    try:
        item = await relay.agent_add_item(
            turn.session,
            turn.actor,
            township_id=int(data["township_id"]),
            name=data["name"],
            kind=data["kind"],
            materials=data.get("materials") or [],
            promised_days=int(data["days"]),
        )
    except RelayError as error:
        if error.code == "not_allowed":
            raise Closed(error.key) from None
        raise _refused(error) from None
    return _say(turn, "relay.catalogue.added", name=item.name, days=item.promised_days)


ITEM_FORM = Form(
    relay.FLOW_CATALOGUE,
    RL,
    [
        Step("name", "relay.catalogue.ask_name", parse=_item_name, next="kind", field="relay.field.name"),
        Step(
            "kind",
            "relay.catalogue.ask_kind",
            options=_item_kinds,
            action="ck",
            per_row=2,
            next="materials",
            back="name",
            field="relay.field.kind",
        ),
        Step(
            "materials",
            "relay.catalogue.ask_materials",
            parse=_item_materials,
            options=_no_materials,
            action="cn",
            store=_keep_materials,
            next="days",
            back="kind",
            field="relay.field.materials",
        ),
        Step(
            "days", "relay.catalogue.ask_days", parse=_item_days, back="materials", field="relay.field.days"
        ),
    ],
    Confirm("relay.catalogue.check", _add_item, params=_item_check, back="days", submit_action="cs"),
    again="/catalogue",
    back_action="cb",
    cancel_action="cx",
    edit_action="ce",
)


def _month_arg(turn: Turn) -> tuple[int, int] | None:
    today = _local(turn, turn.now).date()
    if not turn.inbound.args:
        return today.year, today.month
    year, _, month = turn.inbound.args[0].replace("/", "-").partition("-")
    if not (year.isdecimal() and month.isdecimal() and 2000 <= int(year) <= 2100 and 1 <= int(month) <= 12):
        return None
    return int(year), int(month)


def _rate(value: Any) -> str:
    return "—" if value is None else f"{value}%"


def _stats_lines(
    turn: Turn, scope: str, stats: Sequence[relay.MonthStats], year: int, month: int
) -> list[str]:
    lines = [turn.text(f"relay.stats.title_{scope}", month=f"{year}-{month:02d}")]
    if not stats:
        lines.append(turn.text("relay.stats.none"))
    for s in stats:
        lines.append(
            turn.text(
                "relay.stats.line",
                township=s.township_name,
                accepted=s.accepted,
                completed=s.completed,
                completion=_rate(s.completion_rate),
                on_time=s.on_time,
                on_time_rate=_rate(s.on_time_rate),
                answered=s.answered,
                overdue=s.overdue_open,
            )
        )
    return lines


async def show_stats(turn: Turn) -> Reply:
    """/servicestats [YYYY-MM]: completion and on-time rates for a month, of the agent's townships and of
    the secretary's members."""
    month = _month_arg(turn)
    if month is None:
        return _say(turn, "relay.stats.bad_month")
    try:
        scopes = await relay.rates_for(turn.session, turn.actor, *month, turn.settings.tz, turn.now)
    except RelayError as error:
        return _refuse(turn, error)
    lines = [line for scope, stats in scopes for line in _stats_lines(turn, scope, stats, *month)]
    return Reply.say("\n".join(lines))


# -- the secretary: /branchrequests ------------------------------------------------------------------------


async def show_branch_requests(turn: Turn) -> Reply:
    """/branchrequests: the branch members' requests and their steps (never their materials), and the
    month's rates."""
    try:
        views = await relay.branch_requests(turn.session, turn.actor, turn.now)
    except RelayError as error:
        return _refuse(turn, error)
    lines = [turn.text("relay.branch.title")]
    if not views:
        lines.append(turn.text("relay.branch.none"))
    for view in views:
        lines.append(
            turn.text(
                "relay.branch.line",
                id=view.id,
                name=view.member_name or "—",
                item=view.item_name,
                township=view.township_name,
                state=_state(turn, view),
                submitted=_day(turn, view.submitted_at),
            )
        )
    local = _local(turn, turn.now)
    stats = await relay.month_stats(
        turn.session,
        local.year,
        local.month,
        turn.settings.tz,
        turn.now,
        branch_ids=turn.actor.secretary_branches,
    )
    lines += ["", *_stats_lines(turn, "branch", stats, local.year, local.month)]
    return Reply.say("\n".join(lines))


# -- one entry for every rl: button ------------------------------------------------------------------------

_PRESSES: dict[str, Callable[[Turn], Awaitable[Reply]]] = {
    ITEM.name: pick_item,
    KEEP.name: keep,
    MINE.name: show_my_request,
    ADD.name: add_materials,
    ASK_WITHDRAW.name: ask_withdraw,
    WITHDRAW.name: withdraw,
    VIEW.name: view_request,
    ACCEPT.name: accept,
    FORWARD.name: forward,
    MISSING.name: begin_input,
    COMPLETE.name: begin_input,
    REFUSE.name: begin_input,
    ANSWER.name: begin_input,
}


async def on_button(turn: Turn) -> Reply:
    """Any ``rl:`` press; an old keyboard, a forged press or an id out of range is stale."""
    data = turn.inbound.data or ""
    if data.startswith("rl:cat:"):
        return await on_catalogue_button(turn)
    press = RL.decode(data)
    if press is None:
        return _stale(turn)
    for form in (REQUEST, AGENT, ITEM_FORM):
        if press.action in (form.submit.name, form.cancel.name) and await form.draft(turn) is None:
            # 提交 or 取消 of a form already sent or closed: said in the chat, as every relay answer is.
            return _say(turn, "common.already_done")
        answered = await form.on_button(turn)
        if answered is not None:
            return answered
    if press.action not in _PRESSES:
        return _stale(turn)
    return await _PRESSES[press.action](turn)


FEATURE = Feature(
    name="relay",
    commands={
        "services": show_services,
        "requests": show_requests,
        "inbox": show_inbox,
        "catalogue": show_catalogue,
        "servicestats": show_stats,
        "branchrequests": show_branch_requests,
    },
    buttons={RL.prefix: on_button},
    forms={
        relay.FLOW_REQUEST: REQUEST.on_input,
        relay.FLOW_AGENT: AGENT.on_input,
        relay.FLOW_CATALOGUE: ITEM_FORM.on_input,
    },
    export_sheets=(report_sheets.requests_sheet,),
    reminder_kinds=tuple(kinds_relay.RELAY_KINDS),  # the deadline chases and overdue flags
    data_section=relay.data_section,
    eraser=relay.erase_person,
    personal_columns=relay.PERSONAL_COLUMNS,
)
