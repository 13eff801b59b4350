"""Random input at every step of the request form, the agent's steps and the application form: no
unhandled exception, a clear reply every time, and the database invariants hold."""

from __future__ import annotations

import itertools
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url

from bot.clock import FakeClock
from bot.services import relay
from storage.db import create_engine
from storage.models import (
    OPEN_STATES,
    Base,
    Draft,
    JoinApplication,
    RequestAttachment,
    RequestEvent,
    RequestState,
    ServiceRequest,
)
from tests import factories
from tests.conftest import on_postgres, run_blocking
from tests.factories import TgUser
from tests.harness import ADMIN_CHAT_ID, BotHarness
from tests.relay.factory import AGENT_A, MEMBER_A, make_world

_copies = itertools.count()


def _not_a_command(text: str) -> bool:
    return not text.startswith("/")


WORDS = st.sampled_from(
    [
        "",
        " ",
        "/services",
        "/requests",
        "/apply",
        "/inbox",
        "1995-06-18",
        "2010-01-01",
        "１９９０年１月２日",
        "13800138000",
        "+86 138 0013 8000",
        "12345",
        "青山镇",
        "陈七",
        "\u202eevil",
        "x" * 1500,
        "户口本\n身份证",
        "0",
        "5",
    ]
)
ACTIONS = st.one_of(
    # Random text never starts with "/": an unknown command gets no answer from the bot at all (no
    # catch-all command handler exists); the commands that matter are in WORDS.
    st.tuples(st.just("text"), st.one_of(WORDS, st.text(min_size=1, max_size=40).filter(_not_a_command))),
    st.tuples(st.just("photo"), st.sampled_from(["p1", "p2"])),
    st.tuples(st.just("document"), st.sampled_from(["d1", "d2"])),
    st.tuples(st.just("contact"), st.booleans()),
    st.tuples(st.just("press"), st.integers(min_value=0, max_value=8)),
)


def _fresh_database(template: str, folder: Path) -> str:
    if not on_postgres():
        target = folder / f"random-{next(_copies)}.sqlite3"
        shutil.copyfile(make_url(template).database, target)
        return f"sqlite+aiosqlite:///{target}"

    async def truncate() -> None:
        engine = create_engine(template)
        tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
        async with engine.begin() as connection:
            await connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        await engine.dispose()

    run_blocking(truncate())
    return template


async def _act(harness: BotHarness, user: TgUser, action: tuple[str, Any]) -> list[Any]:
    kind, value = action
    if kind == "text":
        return await harness.send(user, value) if value else await harness.send(user, " ")
    if kind == "photo":
        return await harness.feed(factories.photo_update(user, value))
    if kind == "document":
        return await harness.feed(factories.document_update(user, value))
    if kind == "contact":
        return await harness.share_contact(user, "+8613800138000", user.id if value else 1)
    sent = [c for c in harness.fake.sent(user.id) if c.button_data()]
    if not sent:
        return await harness.send(user, "/help")
    data = sent[-1].button_data()
    return await harness.press(user, data[value % len(data)])


async def _play(url: str, script: list[tuple[str, Any]], opening: list[tuple[TgUser, str]]) -> None:
    harness = BotHarness(url, FakeClock(datetime(2026, 3, 2, 1, 0, tzinfo=UTC)))
    await harness.start()
    try:
        async with harness.session() as session:
            await make_world(session, harness.clock.now())
        for user, command in opening:
            await harness.send(user, command)
            if command == "/services":
                await harness.press(user, harness.fake.last(user.id).button("户口迁移"))
        for step, action in enumerate(script):
            user = AGENT_A if step % 3 == 2 else opening[0][0]
            calls = await _act(harness, user, action)
            replies = [c for c in calls if c.method != "answerCallbackQuery"]
            assert replies, f"no reply to {action!r}"
            assert not [c for c in calls if c.chat_id == ADMIN_CHAT_ID], f"error after {action!r}"
            assert all("请稍后再试" not in c.text for c in replies), f"error after {action!r}"
            if step % 4 == 3:
                await harness.deliver()
        async with harness.session() as session:
            await _invariants(session)
    finally:
        await harness.stop()


async def _invariants(session: Any) -> None:
    for request in await session.scalars(select(ServiceRequest)):
        events = list(
            await session.scalars(
                select(RequestEvent.key)
                .where(RequestEvent.request_id == request.id)
                .order_by(RequestEvent.id)
            )
        )
        assert events[0] == "submit"
        assert (request.receipt_no is not None) == ("accept" in events)
        assert (request.closed_at is not None) == (request.state not in OPEN_STATES)
        if request.state == RequestState.REFUSED:
            assert request.reason and request.reason.strip()
        materials = await session.scalar(
            select(func.count())
            .select_from(RequestAttachment)
            .where(RequestAttachment.request_id == request.id)
        )
        assert materials >= 1
    for draft in await session.scalars(select(Draft).where(Draft.flow == relay.FLOW_REQUEST)):
        assert len(draft.data.get("parts", [])) <= relay.MAX_PARTS
    for app in await session.scalars(select(JoinApplication)):
        assert app.name and app.phone.startswith("+86") and app.talk_due_at > app.submitted_at


RANDOM = settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture], database=None
)


@RANDOM
@given(st.lists(ACTIONS, min_size=1, max_size=12))
def test_random_input_in_the_request_form(migrated_template: str, tmp_path: Path, script) -> None:
    url = _fresh_database(migrated_template, tmp_path)
    run_blocking(_play(url, script, [(MEMBER_A, "/services")]))


@RANDOM
@given(st.lists(ACTIONS, min_size=1, max_size=12))
def test_random_input_in_the_application_form(migrated_template: str, tmp_path: Path, script) -> None:
    url = _fresh_database(migrated_template, tmp_path)
    run_blocking(_play(url, script, [(TgUser(7600, "新"), "/apply")]))
