"""Services: members ask the home township for help; its agents accept, handle and reply; secretaries follow.

Callback data is ``rl:<action>:<id>`` and is never trusted: every service call re-loads the request and
re-checks the sender (owner, agent of its township, secretary of its branch), denying and auditing the rest.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from telegram import Message, Update
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler

from bot.services import relay
from bot.services.outbox import Button
from bot.services.relay import EventView, ItemView, Part, RelayError, RequestView
from handlers.context import BotContext, with_session
from handlers.keyboards import inline_keyboard
from storage.models import Draft, RequestAttachment

CAPTION_MAX = 900  # Telegram captions stop at 1024 characters; leave room for the bot's own header


# -- small helpers -----------------------------------------------------------------------------------------


def _int(data: str | None, index: int = 2) -> int | None:
    parts = (data or "").split(":")
    if len(parts) <= index or not parts[index].isdecimal() or len(parts[index]) > 12:
        return None
    return int(parts[index])


async def _say(
    update: Update,
    context: BotContext,
    key: str,
    buttons: Sequence[Sequence[Button]] = (),
    **params: object,
) -> None:
    """Answer a command, a button or typed input with one catalogue text."""
    if update.callback_query is not None:
        await update.callback_query.answer()
    await update.effective_message.reply_text(
        context.text(key, **params), reply_markup=inline_keyboard(buttons)
    )


async def _refuse(update: Update, context: BotContext, error: RelayError) -> None:
    await _say(update, context, error.key, **error.params)


def _day(context: BotContext, moment: datetime | None) -> str:
    return moment.astimezone(context.deps.settings.tz).date().isoformat() if moment else "—"


def _stamp(context: BotContext, moment: datetime) -> str:
    return moment.astimezone(context.deps.settings.tz).strftime("%m-%d %H:%M")


def _state(context: BotContext, view: RequestView) -> str:
    label = context.text(f"relay.state.{view.state}")
    return label + context.text("relay.overdue_mark") if view.overdue else label


def _deadline(context: BotContext, view: RequestView) -> str:
    if view.receipt_no is None:
        return ""
    return context.text(
        "relay.receipt_line", receipt=view.receipt_no, due=view.due_on.isoformat() if view.due_on else "—"
    )


def _history(context: BotContext, events: Sequence[EventView], *, notes: bool) -> str:
    lines = []
    for event in events:
        step = event.key.split(":", 1)[0]
        line = f"{_stamp(context, event.at)} {context.text(f'relay.step.{step}')}"
        if notes and event.note and step in ("missing", "accept"):
            line += f"\n{event.note}"
        lines.append(line)
    return "\n".join(lines)


def _materials(context: BotContext, item: ItemView) -> str:
    if not item.materials:
        return context.text("relay.no_materials")
    return "\n".join(f"{n}. {m}" for n, m in enumerate(item.materials, start=1))


def _submit_buttons(context: BotContext) -> list[list[Button]]:
    return [
        [
            Button(context.text("btn.relay.submit"), data="rl:sub"),
            Button(context.text("common.cancel"), data="rl:x"),
        ]
    ]


def _cancel_button(context: BotContext) -> list[list[Button]]:
    return [[Button(context.text("common.cancel"), data="rl:x")]]


def part_of(message: Message) -> Part | None:
    """What a message carries as a material: typed text, the largest photo size, or a document."""
    caption = (message.caption or "")[:CAPTION_MAX] or None
    if message.photo:
        return Part("photo", text=caption, file_id=message.photo[-1].file_id[:255])
    if message.document is not None:
        document = message.document
        part = Part.document(document.file_id, document.file_name, document.mime_type)
        return Part(part.kind, text=caption, file_id=part.file_id, filename=part.filename, mime=part.mime)
    if message.text is not None:
        return Part.typed(message.text)
    return None


async def _send_attachment(message: Message, caption: str, attachment: RequestAttachment) -> None:
    text = f"{caption}\n{attachment.text}" if attachment.text else caption
    if attachment.kind == "photo":
        await message.reply_photo(attachment.file_id, caption=text[:1024])
    elif attachment.kind == "document":
        await message.reply_document(attachment.file_id, caption=text[:1024])
    else:
        await message.reply_text(text)


# -- the member: /services, a request form, /requests ------------------------------------------------------


@with_session
async def show_services(update: Update, context: BotContext) -> None:
    """/services: the items the member's home township can handle, as buttons."""
    try:
        township, items = await relay.member_catalogue(context.session, context.actor)
    except RelayError as error:
        await _refuse(update, context, error)
        return
    if not items:
        await _say(update, context, "relay.services.empty", township=township)
        return
    buttons = [[Button(item.name, data=f"rl:item:{item.id}")] for item in items]
    await _say(update, context, "relay.services.pick", buttons, township=township)


@with_session
async def pick_item(update: Update, context: BotContext) -> None:
    """An item was chosen: say what is needed and open the request form."""
    item_id = _int(update.callback_query.data)
    try:
        item = await relay.begin_request(context.session, context.actor, item_id or 0)
    except RelayError as error:
        await _refuse(update, context, error)
        return
    await _say(
        update,
        context,
        f"relay.item.{item.kind}",
        _submit_buttons(context),
        name=item.name,
        materials=_materials(context, item),
        days=item.promised_days,
    )


async def on_material(update: Update, context: BotContext, draft: Draft) -> None:
    """Typed text, a photo or a document sent while a request form is open: keep it as a material."""
    try:
        part = part_of(update.effective_message)
        if part is None:
            raise RelayError("send_material")
        count = await relay.add_part(context.session, context.actor, draft, part)
    except RelayError as error:
        await _say(update, context, error.key, _submit_buttons(context), **error.params)
        return
    await _say(update, context, "relay.material.received", _submit_buttons(context), count=count)


@with_session
async def submit(update: Update, context: BotContext) -> None:
    """Submit: send the open form (a new request, or materials added to one) to the township."""
    try:
        result = await relay.submit_form(context.session, context.actor, context.deps.clock.now())
    except RelayError as error:
        await _refuse(update, context, error)
        return
    view = result.view
    key = "relay.submitted" if result.new_request else "relay.added"
    await _say(update, context, key, id=view.id, item=view.item_name, count=result.added)


@with_session
async def cancel(update: Update, context: BotContext) -> None:
    """Cancel: close the open relay form, keeping nothing of it."""
    closed = await relay.cancel_forms(context.session, context.actor)
    await _say(update, context, "common.cancelled" if closed else "common.already_done")


@with_session
async def keep(update: Update, context: BotContext) -> None:
    """The member changed their mind about withdrawing."""
    await _say(update, context, "relay.withdraw.kept")


@with_session
async def show_requests(update: Update, context: BotContext) -> None:
    """/requests: the member's requests with their status."""
    views = await relay.my_requests(context.session, context.actor, context.deps.clock.now())
    if not views:
        await _say(update, context, "relay.requests.none")
        return
    lines = [context.text("relay.requests.title")]
    for view in views:
        lines.append(
            context.text("relay.requests.line", id=view.id, item=view.item_name, state=_state(context, view))
        )
    buttons = [[Button(f"#{v.id} {v.item_name}"[:40], data=f"rl:my:{v.id}")] for v in views[:10]]
    await update.effective_message.reply_text("\n".join(lines), reply_markup=inline_keyboard(buttons))


@with_session
async def show_my_request(update: Update, context: BotContext) -> None:
    """One of the member's requests: status, receipt, history, and what they can still do."""
    try:
        view, events = await relay.my_request(
            context.session, context.actor, _int(update.callback_query.data) or 0, context.deps.clock.now()
        )
    except RelayError as error:
        await _refuse(update, context, error)
        return
    lines = [context.text("relay.detail.head", id=view.id, item=view.item_name, state=_state(context, view))]
    if view.receipt_no:
        lines.append(_deadline(context, view))
    if view.state == "missing" and view.missing:
        lines.append(context.text("relay.detail.missing", items="\n".join(f"· {m}" for m in view.missing)))
    if view.result_text:
        lines.append(context.text("relay.detail.result", text=view.result_text))
    if view.reason:
        lines.append(context.text("relay.detail.reason", text=view.reason))
    lines.append(_history(context, events, notes=False))
    await update.callback_query.answer()
    await update.effective_message.reply_text(
        "\n".join(lines), reply_markup=inline_keyboard(relay.member_buttons(view, context.actor.language))
    )


@with_session
async def add_materials(update: Update, context: BotContext) -> None:
    """Add materials: open a form to add materials to one of the member's open requests."""
    try:
        view = await relay.begin_add_materials(
            context.session, context.actor, _int(update.callback_query.data) or 0, context.deps.clock.now()
        )
    except RelayError as error:
        await _refuse(update, context, error)
        return
    missing = "\n".join(f"· {m}" for m in view.missing) if view.state == "missing" else ""
    await _say(update, context, "relay.add.prompt", _submit_buttons(context), id=view.id, missing=missing)


@with_session
async def ask_withdraw(update: Update, context: BotContext) -> None:
    """Withdraw: ask once more before withdrawing."""
    request_id = _int(update.callback_query.data) or 0
    buttons = [
        [
            Button(context.text("btn.relay.withdraw"), data=f"rl:wdy:{request_id}"),
            Button(context.text("btn.relay.keep"), data="rl:keep"),
        ]
    ]
    await _say(update, context, "relay.withdraw.confirm", buttons, id=request_id)


@with_session
async def withdraw(update: Update, context: BotContext) -> None:
    """The member confirmed: withdraw the request and tell the township."""
    try:
        view = await relay.withdraw(
            context.session, context.actor, _int(update.callback_query.data) or 0, context.deps.clock.now()
        )
    except RelayError as error:
        await _refuse(update, context, error)
        return
    await _say(update, context, "relay.withdraw.done", id=view.id, item=view.item_name)


# -- the agent: /inbox, the steps, /catalogue, /servicestats -----------------------------------------------


@with_session
async def show_inbox(update: Update, context: BotContext) -> None:
    """/inbox: the open requests of the agent's townships."""
    try:
        views = await relay.inbox(context.session, context.actor, context.deps.clock.now())
    except RelayError as error:
        await _refuse(update, context, error)
        return
    if not views:
        await _say(update, context, "relay.inbox.empty")
        return
    lines = [context.text("relay.inbox.title", count=len(views))]
    for view in views:
        lines.append(
            context.text(
                "relay.inbox.line",
                id=view.id,
                item=view.item_name,
                name=view.member_name or "—",
                state=_state(context, view),
            )
        )
    buttons = [[Button(f"#{v.id} {v.item_name}"[:40], data=f"rl:view:{v.id}")] for v in views[:10]]
    await update.effective_message.reply_text("\n".join(lines), reply_markup=inline_keyboard(buttons))


@with_session
async def view_request(update: Update, context: BotContext) -> None:
    """An agent opens a request: details, history, every material again, and the next steps."""
    try:
        view, events, attachments = await relay.agent_request(
            context.session, context.actor, _int(update.callback_query.data) or 0, context.deps.clock.now()
        )
    except RelayError as error:
        await _refuse(update, context, error)
        return
    text = context.text(
        "relay.agent.detail",
        id=view.id,
        item=view.item_name,
        kind=context.text(f"relay.kind.{view.kind}"),
        name=view.member_name or "—",
        phone=view.member_phone or "—",
        branch=view.branch_name or "—",
        state=_state(context, view),
    )
    parts = [text, _deadline(context, view), _history(context, events, notes=True)]
    await update.callback_query.answer()
    message = update.effective_message
    await message.reply_text(
        "\n".join(p for p in parts if p),
        reply_markup=inline_keyboard(relay.agent_buttons(view, context.actor.language)),
    )
    for index, attachment in enumerate(attachments, start=1):
        key = "relay.result_caption" if attachment.role == "result" else "relay.material_caption"
        caption = context.text(key, id=view.id, n=index, total=len(attachments))
        await _send_attachment(message, caption, attachment)


@with_session
async def accept(update: Update, context: BotContext) -> None:
    """Accept: issue the receipt; the member gets its number and the promised deadline."""
    try:
        view = await relay.accept(
            context.session,
            context.actor,
            _int(update.callback_query.data) or 0,
            context.deps.settings.tz,
            context.deps.clock.now(),
        )
    except RelayError as error:
        await _refuse(update, context, error)
        return
    await _say(
        update,
        context,
        "relay.agent.accepted",
        relay.agent_buttons(view, context.actor.language),
        id=view.id,
        receipt=view.receipt_no,
        due=view.due_on.isoformat() if view.due_on else "—",
    )


@with_session
async def forward(update: Update, context: BotContext) -> None:
    """Forward: the request goes on to the township agency centre."""
    try:
        view = await relay.forward(
            context.session, context.actor, _int(update.callback_query.data) or 0, context.deps.clock.now()
        )
    except RelayError as error:
        await _refuse(update, context, error)
        return
    await _say(
        update,
        context,
        "relay.agent.forwarded",
        relay.agent_buttons(view, context.actor.language),
        id=view.id,
    )


_INPUT_ACTIONS = {"miss": "missing", "done": "complete", "ref": "refuse", "ans": "answer"}


@with_session
async def begin_input(update: Update, context: BotContext) -> None:
    """Missing / complete / refuse / answer: ask the agent to type (or send) what goes to the member."""
    data = update.callback_query.data or ""
    action = _INPUT_ACTIONS.get(data.split(":")[1] if data.count(":") == 2 else "", "")
    try:
        view = await relay.begin_agent_input(
            context.session, context.actor, _int(data) or 0, action, context.deps.clock.now()
        )
    except RelayError as error:
        await _refuse(update, context, error)
        return
    await _say(
        update, context, f"relay.agent.ask_{action}", _cancel_button(context), id=view.id, item=view.item_name
    )


async def on_agent_input(update: Update, context: BotContext, draft: Draft) -> None:
    """The agent's missing list, result, reason or answer: finish the step it is for."""
    message = update.effective_message
    try:
        part = part_of(message)
        text = part.text if part is not None else None
        file = replace(part, text=None) if part is not None and part.kind != "text" else None
        action, view = await relay.agent_input(
            context.session, context.actor, draft, context.deps.clock.now(), text=text, file=file
        )
    except RelayError as error:
        await _say(update, context, error.key, _cancel_button(context), **error.params)
        return
    await _say(
        update,
        context,
        f"relay.agent.done_{action}",
        relay.agent_buttons(view, context.actor.language),
        id=view.id,
    )


@with_session
async def show_catalogue(update: Update, context: BotContext) -> None:
    """/catalogue: the agent's townships' items, with buttons to add one or switch one off or on."""
    if not context.actor.agent_townships:
        await _say(update, context, "error.not_allowed")
        return
    for township_id, township, items in await relay.agent_catalogue(context.session, context.actor):
        lines = [context.text("relay.catalogue.title", township=township)]
        buttons: list[list[Button]] = []
        row: list[Button] = []
        for n, item in enumerate(items, start=1):
            lines.append(
                context.text(
                    "relay.catalogue.line",
                    n=n,
                    name=item.name,
                    kind=context.text(f"relay.kind.{item.kind}"),
                    days=item.promised_days,
                    materials=context.text("relay.list_sep").join(item.materials)
                    or context.text("relay.no_materials"),
                    state=context.text("relay.catalogue.on" if item.active else "relay.catalogue.off"),
                )
            )
            toggle = "off" if item.active else "on"
            row.append(
                Button(context.text(f"btn.relay.item_{toggle}", n=n), data=f"rl:cat:{toggle}:{item.id}")
            )
            if len(row) == 3:
                buttons.append(row)
                row = []
        if row:
            buttons.append(row)
        if not items:
            lines.append(context.text("relay.catalogue.none"))
        buttons.append([Button(context.text("btn.relay.item_new"), data=f"rl:cat:new:{township_id}")])
        await update.effective_message.reply_text("\n".join(lines), reply_markup=inline_keyboard(buttons))


@with_session
async def toggle_item(update: Update, context: BotContext) -> None:
    """Switch a catalogue item off or on."""
    data = update.callback_query.data or ""
    try:
        item = await relay.set_item_active(context.session, context.actor, _int(data, 3) or 0, ":on:" in data)
    except RelayError as error:
        await _refuse(update, context, error)
        return
    await _say(
        update,
        context,
        "relay.catalogue.switched_on" if item.active else "relay.catalogue.switched_off",
        name=item.name,
    )


@with_session
async def new_item(update: Update, context: BotContext) -> None:
    """Add: open the new catalogue item form."""
    try:
        await relay.begin_item_form(context.session, context.actor, _int(update.callback_query.data, 3) or 0)
    except RelayError as error:
        await _refuse(update, context, error)
        return
    await _say(update, context, "relay.catalogue.ask_name", _cancel_button(context))


def _item_step_buttons(context: BotContext, step: str) -> list[list[Button]]:
    if step == "kind":
        return [
            [
                Button(context.text("btn.relay.kind_full"), data="rl:cat:k:full"),
                Button(context.text("btn.relay.kind_consult"), data="rl:cat:k:consult"),
            ],
            *_cancel_button(context),
        ]
    if step == "materials":
        return [
            [Button(context.text("btn.relay.no_materials"), data="rl:cat:k:none")],
            *_cancel_button(context),
        ]
    return _cancel_button(context)


async def _item_step_reply(update: Update, context: BotContext, step: str, item: ItemView | None) -> None:
    if step == "done" and item is not None:
        await _say(update, context, "relay.catalogue.added", name=item.name, days=item.promised_days)
        return
    await _say(update, context, f"relay.catalogue.ask_{step}", _item_step_buttons(context, step))


async def on_item_input(update: Update, context: BotContext, draft: Draft) -> None:
    """Typed answers of the new catalogue item form."""
    text = update.effective_message.text
    try:
        if text is None:
            raise RelayError("type_text")
        step, item = await relay.item_form_input(context.session, context.actor, draft, text=text)
    except RelayError as error:
        await _say(update, context, error.key, _item_step_buttons(context, draft.step), **error.params)
        return
    await _item_step_reply(update, context, step, item)


@with_session
async def item_choice(update: Update, context: BotContext) -> None:
    """The kind buttons, and "none" for an item that needs no materials."""
    value = (update.callback_query.data or "").rpartition(":")[2]
    try:
        step, item = await relay.item_form_choice(context.session, context.actor, value)
    except RelayError as error:
        await _refuse(update, context, error)
        return
    await _item_step_reply(update, context, step, item)


def _month_arg(context: BotContext) -> tuple[int, int] | None:
    today = context.deps.clock.now().astimezone(context.deps.settings.tz).date()
    if not context.args:
        return today.year, today.month
    year, _, month = context.args[0].replace("/", "-").partition("-")
    if not (year.isdecimal() and month.isdecimal() and 2000 <= int(year) <= 2100 and 1 <= int(month) <= 12):
        return None
    return int(year), int(month)


def _stats_lines(
    context: BotContext, scope: str, stats: Sequence[relay.MonthStats], year: int, month: int
) -> list[str]:
    lines = [context.text(f"relay.stats.title_{scope}", month=f"{year}-{month:02d}")]
    if not stats:
        lines.append(context.text("relay.stats.none"))
    for s in stats:
        lines.append(
            context.text(
                "relay.stats.line",
                township=s.township_name,
                accepted=s.accepted,
                completed=s.completed,
                completion=_rate(context, s.completion_rate),
                on_time=s.on_time,
                on_time_rate=_rate(context, s.on_time_rate),
                answered=s.answered,
                overdue=s.overdue_open,
            )
        )
    return lines


def _rate(context: BotContext, value: Any) -> str:
    return "—" if value is None else f"{value}%"


@with_session
async def show_stats(update: Update, context: BotContext) -> None:
    """/servicestats [YYYY-MM]: completion and on-time rates for a month, of the agent's townships and of
    the secretary's members."""
    month = _month_arg(context)
    if month is None:
        await _say(update, context, "relay.stats.bad_month")
        return
    try:
        scopes = await relay.rates_for(
            context.session, context.actor, *month, context.deps.settings.tz, context.deps.clock.now()
        )
    except RelayError as error:
        await _refuse(update, context, error)
        return
    lines = [line for scope, stats in scopes for line in _stats_lines(context, scope, stats, *month)]
    await update.effective_message.reply_text("\n".join(lines))


# -- the secretary: /branchrequests ------------------------------------------------------------------------


@with_session
async def show_branch_requests(update: Update, context: BotContext) -> None:
    """/branchrequests: the branch members' requests and their steps (never their materials), and the
    month's rates."""
    now = context.deps.clock.now()
    try:
        views = await relay.branch_requests(context.session, context.actor, now)
    except RelayError as error:
        await _refuse(update, context, error)
        return
    lines = [context.text("relay.branch.title")]
    if not views:
        lines.append(context.text("relay.branch.none"))
    for view in views:
        lines.append(
            context.text(
                "relay.branch.line",
                id=view.id,
                name=view.member_name or "—",
                item=view.item_name,
                township=view.township_name,
                state=_state(context, view),
                submitted=_day(context, view.submitted_at),
            )
        )
    local = now.astimezone(context.deps.settings.tz)
    stats = await relay.month_stats(
        context.session,
        local.year,
        local.month,
        context.deps.settings.tz,
        now,
        branch_ids=context.actor.secretary_branches,
    )
    lines += ["", *_stats_lines(context, "branch", stats, local.year, local.month)]
    await update.effective_message.reply_text("\n".join(lines))


@with_session
async def stale(update: Update, context: BotContext) -> None:
    """Any other ``rl:`` data: an old keyboard or a forged press."""
    await _say(update, context, "error.stale_button")


FORM_FLOWS = {
    relay.FLOW_REQUEST: on_material,
    relay.FLOW_AGENT: on_agent_input,
    relay.FLOW_CATALOGUE: on_item_input,
}


def handlers() -> list[BaseHandler[Any, Any, Any]]:
    """This feature's commands and buttons, for `handlers.registry` (the catch-all comes last)."""
    return [
        CommandHandler("services", show_services),
        CommandHandler("requests", show_requests),
        CommandHandler("inbox", show_inbox),
        CommandHandler("catalogue", show_catalogue),
        CommandHandler("servicestats", show_stats),
        CommandHandler("branchrequests", show_branch_requests),
        CallbackQueryHandler(pick_item, pattern=r"^rl:item:\d+$"),
        CallbackQueryHandler(submit, pattern=r"^rl:sub$"),
        CallbackQueryHandler(cancel, pattern=r"^rl:x$"),
        CallbackQueryHandler(keep, pattern=r"^rl:keep$"),
        CallbackQueryHandler(show_my_request, pattern=r"^rl:my:\d+$"),
        CallbackQueryHandler(add_materials, pattern=r"^rl:add:\d+$"),
        CallbackQueryHandler(ask_withdraw, pattern=r"^rl:wd:\d+$"),
        CallbackQueryHandler(withdraw, pattern=r"^rl:wdy:\d+$"),
        CallbackQueryHandler(view_request, pattern=r"^rl:view:\d+$"),
        CallbackQueryHandler(accept, pattern=r"^rl:acc:\d+$"),
        CallbackQueryHandler(forward, pattern=r"^rl:fwd:\d+$"),
        CallbackQueryHandler(begin_input, pattern=r"^rl:(miss|done|ref|ans):\d+$"),
        CallbackQueryHandler(toggle_item, pattern=r"^rl:cat:(on|off):\d+$"),
        CallbackQueryHandler(new_item, pattern=r"^rl:cat:new:\d+$"),
        CallbackQueryHandler(item_choice, pattern=r"^rl:cat:k:(full|consult|none)$"),
        CallbackQueryHandler(stale, pattern=r"^rl:"),
    ]
