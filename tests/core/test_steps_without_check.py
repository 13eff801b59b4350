"""The step engine's forms without a check screen (`Confirm` without a prompt): the answer that completes
the form submits it; a refused submission asks the last question again under the reason, the draft as it
was; such a form offers no 提交 or 修改 and refuses to declare one."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from bot.callbacks import Callbacks
from bot.conversation import Conversation, Feature, Turn
from bot.dialog import Inbound, Reply
from bot.steps import Ask, Confirm, Form, Invalid, Step
from storage.models import Account, Draft
from tests.core.test_steps import Person, ToyCatalogue, _text
from tests.harness import BotHarness

NOTE = Callbacks("note")
KEPT: list[dict[str, Any]] = []


async def _keep(ask: Ask) -> Reply:
    if ask.data["words"].strip() == "no":
        raise Invalid("toy.refused")  # the service said no: the question again, nothing kept
    KEPT.append(dict(ask.data))
    return ask.turn.say("toy.kept")


NOTE_FORM = Form(
    "note",
    NOTE,
    [
        Step("topic", "toy.ask.topic", parse=lambda ask, text: text, next="words"),
        Step("words", "toy.ask.words", parse=lambda ask, text: text, back="topic"),
    ],
    Confirm(None, _keep),
    again="/note",
)


async def _open(turn: Turn) -> Reply:
    return await NOTE_FORM.start(turn, {"opened": True})


async def _press(turn: Turn) -> Reply:
    return await NOTE_FORM.on_button(turn) or Reply(toast=turn.text("error.stale_button"))


FEATURE = Feature(
    name="note", commands={"note": _open}, buttons={"note": _press}, forms={"note": NOTE_FORM.on_input}
)


async def _draft(harness: BotHarness, person: Person) -> Draft | None:
    async with harness.session() as session:
        person_id = select(Account.person_id).where(Account.external_id == person.sender.external_id)
        return await session.scalar(select(Draft).where(Draft.person_id == person_id.scalar_subquery()))


async def test_the_last_answer_submits_and_a_refusal_asks_again(harness: BotHarness) -> None:
    core = Conversation(
        [FEATURE], db=harness.db, clock=harness.clock, settings=harness.settings, texts=ToyCatalogue()
    )
    you = Person(core)
    assert "toy.ask.topic" in _text(await you.do(Inbound(command="note")))
    assert "toy.ask.words" in await you.say("weather")
    assert [b.text for s in you.last.screens for row in s.buttons for b in row] == ["返回", "取消"]
    refused = await you.say("no")
    assert "toy.refused" in refused and "toy.ask.words" in refused
    draft = await _draft(harness, you)
    assert draft is not None and draft.step == "words" and "words" not in draft.data
    assert "toy.ask.topic" in await you.press("返回")
    assert "toy.ask.words" in await you.say("rain")
    assert "toy.kept" in await you.say("it rains")
    assert KEPT[-1] == {"opened": True, "topic": "rain", "words": "it rains"}
    assert await _draft(harness, you) is None
    # No check: 提交 and 修改 are no buttons of this form, and the closed form's 返回 is stale.
    assert NOTE_FORM.submit is None and not NOTE_FORM.owns("note:sub")
    assert "这个按钮已失效" in _text(await you.do(Inbound(data="note:back:words")))


def test_a_form_without_a_check_has_no_edit_buttons() -> None:
    with pytest.raises(ValueError, match="no check"):
        Form(
            "bad",
            Callbacks("bad"),
            [Step("one", "toy.one", parse=lambda ask, text: text, field="toy.field.one")],
            Confirm(None, _keep),
            again="/bad",
        )
