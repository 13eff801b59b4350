"""The step engine on its own: a small form run by the real conversation core on a real database.

Transcripts show 返回, 取消, 修改 from the confirmation, stale and expired drafts; a hypothesis test plays
random sequences of answers, presses (old ones, forged ones, buttons of another step), typed 返回 / 取消,
contacts, files, stickers and days passing, and checks after every event: no exception, an answer, and a
draft that is consistent (a known step, every answer the step needs given before it)."""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from bot.callbacks import Callbacks, Int
from bot.conversation import Conversation, Feature, Sender, Turn
from bot.dialog import Button, Inbound, Media, Reply
from bot.i18n import Catalogue, MissingMessage
from bot.steps import CONFIRM, EDITING, EXIT, SUBMIT, Ask, Closed, Confirm, Form, Invalid, Local, Option, Step
from storage.models import Account, Draft
from tests.harness import BotHarness
from tests.statements import statements_of

TOY = Callbacks("toy")
SUBMITTED: list[dict[str, Any]] = []


class ToyCatalogue(Catalogue):
    """The real catalogue, and the toy form's keys rendered as themselves (with their placeholders)."""

    def raw(self, language: str, key: str) -> str:
        try:
            return super().raw(language, key)
        except MissingMessage:
            if key.startswith("toy."):
                return key + " {extra}" if key == "toy.confirm" else key
            raise


def _colors(ask: Ask) -> list[Option]:
    page = int(ask.data.get("page") or 0)
    names = ("red", "green", "blue") if page == 0 else ("black", "white")
    return [Option(name, name) for name in names]


def _pager(ask: Ask) -> list[list[Button]]:
    other = 1 - int(ask.data.get("page") or 0)
    return [[Button(f"page {other}", data=FORM.local_data("pg", other))]]


def _turn_page(ask: Ask, page: int) -> None:
    ask.data["page"] = page


def _name(ask: Ask, text: str) -> str:
    if text.strip() == "quit":
        raise Closed("toy.closed")
    if not text.strip() or len(text) > 10:
        raise Invalid("toy.bad_name")
    return text.strip()


def _phone(ask: Ask, inbound: Inbound) -> str:
    if inbound.contact_phone is not None:
        if not inbound.contact_is_own:
            raise Invalid("toy.not_yours")
        return inbound.contact_phone
    if inbound.text is not None and inbound.text.isdigit():
        return inbound.text
    raise Invalid("toy.bad_phone")


def _store_color(ask: Ask, value: str) -> None:
    ask.data["color"] = value
    if value != "red":
        ask.data.pop("size", None)


def _complete(data: dict[str, Any]) -> bool:
    needed = {"color", "name", "phone"} | ({"size"} if data.get("color") == "red" else set())
    return needed <= set(data)


async def _submit(ask: Ask) -> Reply:
    assert _complete(ask.data), ask.data
    SUBMITTED.append(dict(ask.data))
    return ask.turn.say("toy.done")


async def _leave(turn: Turn) -> Reply:
    return turn.say("toy.left")


FORM = Form(
    "toy",
    TOY,
    [
        Step(
            "color",
            "toy.ask.color",
            options=_colors,
            per_row=3,
            rows=_pager,
            locals=(Local("pg", _turn_page, (Int(0, 1),)),),
            store=_store_color,
            next=lambda ask, value: "size" if value == "red" else "name",
            back=EXIT,
            field="toy.field.color",
        ),
        Step(
            "size",
            "toy.ask.size",
            options=lambda ask: [Option(n, str(n)) for n in (1, 2, 3)],
            value=Int(1, 3),
            parse=lambda ask, text: int(text) if text in ("1", "2", "3") else _bad("toy.bad_size"),
            next="name",
            back="color",
            part_of="color",
        ),
        Step(
            "name",
            "toy.ask.name",
            parse=_name,
            next="phone",
            back=lambda ask: "size" if ask.data.get("color") == "red" else "color",
            field="toy.field.name",
        ),
        Step(
            "phone",
            "toy.ask.phone",
            receive=_phone,
            contact="toy.share",
            back="name",
            field="toy.field.phone",
        ),
    ],
    Confirm("toy.confirm", _submit, params=lambda ask: {"extra": ask.data.get("name")}, back="phone"),
    again="/toy",
    exit=_leave,
    expires=timedelta(days=30),
)


def _bad(key: str) -> Any:
    raise Invalid(key)


# A one-screen form whose check collects what is sent (like the relay's materials).
BAG = Callbacks("bag")


def _bag_text(ask: Ask) -> str:
    return f"bag {len(ask.data['items'])}"


def _put(ask: Ask, inbound: Inbound) -> None:
    if inbound.text is None and inbound.media is None:
        raise Invalid("toy.not_a_thing")
    if len(ask.data["items"]) >= 3:
        raise Invalid("toy.bag_full")
    ask.data["items"] = [*ask.data["items"], inbound.text if inbound.text is not None else inbound.media.ref]


async def _send_bag(ask: Ask) -> Reply:
    if not ask.data["items"]:
        raise Invalid("toy.bag_empty")  # incomplete: the form stays open
    SUBMITTED.append({"bag": list(ask.data["items"])})
    return ask.turn.say("toy.sent")


BAG_FORM = Form("bag", BAG, [], Confirm(_bag_text, _send_bag, receive=_put), again="/bag", first=CONFIRM)


async def _open_bag(turn: Turn) -> Reply:
    return await BAG_FORM.resume(turn) or await BAG_FORM.start(turn, {"items": []})


async def _press_bag(turn: Turn) -> Reply:
    return await BAG_FORM.on_button(turn) or Reply(toast=turn.text("error.stale_button"))


# A form without a check screen: its one answer is submitted at once (`SUBMIT`).
QUICK = Callbacks("qk")


async def _send_word(ask: Ask) -> Reply:
    if ask.data["word"] == "late":
        raise Invalid("toy.too_late")  # refused at submission: the step is asked again
    SUBMITTED.append({"word": ask.data["word"], "step": ask.step})
    return ask.turn.say("toy.done")


QUICK_FORM = Form(
    "quick",
    QUICK,
    [Step("word", "toy.ask.word", parse=lambda ask, text: text.strip() or _bad("toy.bad_word"), next=SUBMIT)],
    None,
    submit=_send_word,
    again="/quick",
)


async def _open_quick(turn: Turn) -> Reply:
    return await QUICK_FORM.start(turn)


async def _press_quick(turn: Turn) -> Reply:
    return await QUICK_FORM.on_button(turn) or Reply(toast=turn.text("error.stale_button"))


async def _open(turn: Turn) -> Reply:
    return await FORM.resume(turn) or await FORM.start(turn, {"started": True})


async def _press(turn: Turn) -> Reply:
    return await FORM.on_button(turn) or Reply(toast=turn.text("error.stale_button"))


FEATURE = Feature(
    name="toy",
    commands={"toy": _open, "bag": _open_bag, "quick": _open_quick},
    buttons={"toy": _press, "bag": _press_bag, "qk": _press_quick},
    forms={"toy": FORM.on_input, "bag": BAG_FORM.on_input, "quick": QUICK_FORM.on_input},
)
_people = itertools.count(1)


def _core(harness: BotHarness) -> Conversation:
    return Conversation(
        [FEATURE], db=harness.db, clock=harness.clock, settings=harness.settings, texts=ToyCatalogue()
    )


class Person:
    """One person talking to the toy form; remembers every button they were shown."""

    def __init__(self, core: Conversation) -> None:
        self.core = core
        self.sender = Sender("web", f"toy-{next(_people)}", "addr")
        self.shown: list[str] = []
        self.last: Reply | None = None

    async def do(self, inbound: Inbound) -> Reply:
        reply = await self.core.handle(self.sender, inbound)
        assert reply is not None
        assert reply.toast or reply.screens, inbound
        for screen in reply.screens:
            assert screen.text.strip(), inbound
            self.shown += [b.data for row in screen.buttons for b in row if b.data]
        self.last = reply
        return reply

    async def say(self, text: str) -> str:
        return _text(await self.do(Inbound(text=text)))

    async def press(self, label: str) -> str:
        assert self.last is not None
        data = next(b.data for s in self.last.screens for row in s.buttons for b in row if label in b.text)
        return _text(await self.do(Inbound(data=data)))


def _text(reply: Reply) -> str:
    return "\n".join([s.text for s in reply.screens] + [reply.toast or ""])


async def _draft(harness: BotHarness, person: Person, flow: str = "toy") -> Draft | None:
    async with harness.session() as session:
        person_id = select(Account.person_id).where(Account.external_id == person.sender.external_id)
        return await session.scalar(
            select(Draft).where(Draft.person_id == person_id.scalar_subquery(), Draft.flow == flow)
        )


def _bag_consistent(draft: Draft | None) -> None:
    if draft is not None:
        assert draft.step == CONFIRM and len(draft.data["items"]) <= 3, draft.data


def _consistent(draft: Draft | None) -> None:
    if draft is None:
        return
    data = draft.data
    assert draft.step in {CONFIRM, *FORM.steps}, draft.step
    assert data.get("started") is True
    if draft.step == CONFIRM:
        assert _complete(data), data
        assert EDITING not in data
    if draft.step == "size":
        assert data.get("color") == "red"
    if draft.step == "name":
        assert "color" in data and (data["color"] != "red" or "size" in data)
    if draft.step == "phone":
        assert "name" in data
    if EDITING in data:
        assert data[EDITING] in FORM.steps and FORM.steps[data[EDITING]].field is not None


# -- transcripts ---------------------------------------------------------------------------------------------


async def test_back_cancel_and_edit(harness: BotHarness) -> None:
    you = Person(_core(harness))
    assert "toy.ask.color" in _text(await you.do(Inbound(command="toy")))
    assert "toy.ask.size" in await you.press("red")
    assert "toy.ask.color" in await you.press("返回")  # answers stay, the question comes again
    assert "toy.ask.size" in await you.press("red")
    assert "toy.ask.name" in await you.say("2")  # a button's value typed
    assert "toy.bad_name" in await you.say("far too long a name")
    assert "toy.ask.size" in await you.say("返回")  # the word typed works like the button
    assert "toy.ask.name" in await you.press("3")
    assert "toy.ask.phone" in await you.say("Ann")
    reply = await you.do(Inbound(contact_phone="+861", contact_is_own=False))
    assert "toy.not_yours" in _text(reply) and reply.screens[0].contact is not None
    reply = await you.do(Inbound(contact_phone="+8613800000000", contact_is_own=True))
    assert reply.screens[0].remove_keyboard and "toy.confirm Ann" in reply.screens[1].text
    labels = [b.text for row in reply.screens[1].buttons for b in row]
    assert labels == [
        "提交",
        "修改toy.field.color",
        "修改toy.field.name",
        "修改toy.field.phone",
        "返回",
        "取消",
    ]
    # 修改 the color: red asks its size again (part of the same answer), then back to the confirmation.
    assert "toy.ask.color" in await you.press("修改toy.field.color")
    assert "toy.ask.size" in await you.press("red")
    assert "toy.confirm Ann" in await you.press("1")
    # 修改 the name, then 返回: the confirmation again, the name unchanged.
    assert "toy.ask.name" in await you.press("修改toy.field.name")
    assert "toy.confirm Ann" in await you.press("返回")
    assert "toy.ask.name" in await you.press("修改toy.field.name")
    assert "toy.confirm Bob" in await you.say("Bob")
    assert "toy.done" in await you.press("提交")
    assert SUBMITTED[-1]["name"] == "Bob" and SUBMITTED[-1]["size"] == 1
    assert "已经处理过了" in _text(await you.do(Inbound(data="toy:sub")))  # a second tap changes nothing


async def test_cancel_exit_close_and_stale(harness: BotHarness) -> None:
    you = Person(_core(harness))
    await you.do(Inbound(command="toy"))
    assert "toy.left" in await you.press("返回")  # back from the first question: where the form began
    await you.do(Inbound(command="toy"))
    await you.press("green")
    old_back = you.shown[-2]  # 返回 under the name question
    assert "toy.ask.phone" in await you.say("Cy")
    stale = await you.do(Inbound(data=old_back))
    assert stale.toast == "这个按钮已失效。" and "toy.ask.phone" in stale.screens[0].text
    forged = await you.do(Inbound(data="toy:color:purple"))
    assert "这个按钮已失效" in _text(forged)
    assert "已取消" in await you.say("取消") and "/toy" in _text(you.last)
    assert (await _draft(harness, you)) is None
    assert "这个按钮已失效" in _text(await you.do(Inbound(data=old_back)))  # no form open at all
    await you.do(Inbound(command="toy"))
    await you.press("blue")
    assert "toy.closed" in await you.say("quit")
    assert (await _draft(harness, you)) is None


async def test_a_form_without_a_check_submits_its_last_answer(harness: BotHarness) -> None:
    you = Person(_core(harness))
    assert "toy.ask.word" in _text(await you.do(Inbound(command="quick")))
    cancel = you.shown[-1]
    assert "toy.bad_word" in await you.say(" ")
    # Refused when submitted: the reason above the same question, the form still open.
    assert "toy.too_late\ntoy.ask.word" in await you.say("late")
    assert (await _draft(harness, you, "quick")).step == "word"
    assert "toy.done" in await you.say("soon")
    assert SUBMITTED[-1] == {"word": "soon", "step": "word"}
    assert (await _draft(harness, you, "quick")) is None
    assert "已经处理过了" in _text(await you.do(Inbound(data=cancel)))  # its 取消, after the submission
    assert "这个按钮已失效" in _text(await you.do(Inbound(data="qk:sub")))  # no 提交 in such a form


async def test_an_expired_draft_is_dropped_with_one_message(harness: BotHarness) -> None:
    you = Person(_core(harness))
    await you.do(Inbound(command="toy"))
    await you.press("green")
    harness.clock.advance(days=31)
    reply = await you.do(Inbound(text="Dee"))
    assert "30 天" in _text(reply) and "/toy" in _text(reply)
    assert (await _draft(harness, you)) is None
    assert "toy.ask.color" in _text(await you.do(Inbound(command="toy")))


# -- random sequences ----------------------------------------------------------------------------------------

FORGED = [
    "toy:back:nowhere",
    "toy:back:confirm",
    "toy:back:name",
    "toy:ed:zzz",
    "toy:ed:size",
    "toy:ed:name",
    "toy:color:purple",
    "toy:color:red",
    "toy:size:9",
    "toy:size:2",
    "toy:pg:1",
    "toy:pg:7",
    "toy:sub",
    "toy:x",
    "toy:",
    "toy:sub:1",
    "toy:size:99999999999999999999",
    "bag:sub",
    "bag:x",
    "bag:back:confirm",
    "bag:ed:items",
]
WORDS = ["返回", "取消", "Back", "Cancel", "red", "quit", "Ann", "", " ", "2", "12345", "x" * 11, "提交"]

latest = st.tuples(st.just("latest"), st.integers(0, 20))  # a button of the screen just shown
actions = st.one_of(
    latest,
    latest,
    latest,
    st.tuples(st.just("good"), st.sampled_from(["Ann", "2", "13800138000"])),
    st.tuples(st.just("command"), st.sampled_from(["toy", "bag"])),
    st.tuples(st.just("shown"), st.integers(0, 400)),
    st.tuples(st.just("forged"), st.sampled_from(FORGED)),
    st.tuples(st.just("text"), st.sampled_from(WORDS) | st.text(max_size=12)),
    st.tuples(st.just("contact"), st.booleans()),
    st.tuples(st.just("media"), st.sampled_from(["photo", "document"])),
    st.tuples(st.just("sticker"), st.just("")),
    st.tuples(st.just("days"), st.sampled_from([0, 1, 29, 31])),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(actions, min_size=1, max_size=30))
async def test_random_sequences_never_break_the_form(
    harness: BotHarness, script: list[tuple[str, Any]]
) -> None:
    you = Person(_core(harness))
    submitted = len(SUBMITTED)
    await you.do(Inbound(command="toy"))
    for kind, value in script:
        if kind == "days":
            harness.clock.advance(days=value)
            continue
        if kind == "command":
            inbound = Inbound(command=value)
        elif kind == "latest":
            data = [b.data for sc in you.last.screens for row in sc.buttons for b in row] if you.last else []
            inbound = Inbound(data=data[value % len(data)] if data else "toy:x")
        elif kind == "good":
            inbound = Inbound(text=value)
        elif kind == "shown":
            inbound = Inbound(data=you.shown[value % len(you.shown)] if you.shown else "toy:x")
        elif kind == "forged":
            inbound = Inbound(data=value)
        elif kind == "text":
            inbound = Inbound(text=value)
        elif kind == "contact":
            inbound = Inbound(contact_phone="+8613800000000", contact_is_own=value)
        elif kind == "media":
            inbound = Inbound(media=Media(value, "ref"))
        else:
            inbound = Inbound()
        await you.do(inbound)
        _consistent(await _draft(harness, you))
        _bag_consistent(await _draft(harness, you, "bag"))
    assert all(_complete(data) if "bag" not in data else data["bag"] for data in SUBMITTED[submitted:])


async def test_a_form_that_collects_at_its_check(harness: BotHarness) -> None:
    you = Person(_core(harness))
    assert "bag 0" in _text(await you.do(Inbound(command="bag")))
    labels = [b.text for s in you.last.screens for row in s.buttons for b in row]
    assert labels == ["提交", "取消"]  # no 返回 on a form's only screen without a way back
    assert "toy.bag_empty" in await you.press("提交")  # incomplete: still open
    assert "bag 1" in await you.say("one")
    assert "toy.not_a_thing" in _text(await you.do(Inbound(contact_phone="+86", contact_is_own=True)))
    assert "bag 2" in _text(await you.do(Inbound(media=Media("photo", "p1"))))
    assert "第一步" in await you.say("返回")  # nowhere to go back to: said, the form stays open
    assert (await _draft(harness, you, "bag")) is not None
    assert "toy.sent" in await you.press("提交")
    assert SUBMITTED[-1] == {"bag": ["one", "p1"]} and (await _draft(harness, you, "bag")) is None


async def test_each_step_of_a_form_is_one_select_and_one_write(harness: BotHarness) -> None:
    """Opening, answering (a press or typed), resuming and cancelling a form: the person, the draft (one
    select, or the core's lookup of the open form) and one statement writing it (no ORM flush)."""
    you = Person(_core(harness))
    await you.do(Inbound(text="hi"))  # first contact creates the person

    def counted(step: Callable[[], Awaitable[Any]]) -> Awaitable[list[str]]:
        return statements_of(harness, step)

    opened = await counted(lambda: you.do(Inbound(command="toy")))
    pressed = await counted(lambda: you.press("red"))
    typed = await counted(lambda: you.say("2"))
    assert "toy.ask.name" in _text(you.last)
    resumed = await counted(lambda: you.do(Inbound(command="toy")))
    assert "toy.ask.name" in _text(you.last)
    cancelled = await counted(lambda: you.press("取消"))
    for statements_of_event in (opened, pressed, typed, resumed, cancelled):
        assert len(statements_of_event) <= 3, statements_of_event  # the person, the draft, its write
        assert not any(s.startswith("UPDATE draft") for s in statements_of_event), statements_of_event
    # A typed answer finds its form in the person's own select: no draft select of its own.
    assert not any(s.startswith("SELECT draft.") for s in typed), typed
    assert await _draft(harness, you) is None
