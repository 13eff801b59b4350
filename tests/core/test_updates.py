"""Updates: different people in parallel, one person in order, and a flood throttled on arrival."""

from __future__ import annotations

import asyncio

from bot.clock import FakeClock
from bot.i18n import catalogue
from handlers.updates import THROTTLE_MAX, PerChatUpdateProcessor, Throttle
from tests import factories
from tests.factories import TgUser
from tests.harness import BotHarness
from tests.statements import statements_of

A, B = TgUser(8101, "甲"), TgUser(8102, "乙")


async def test_a_flood_is_answered_once_and_dropped_others_unaffected(harness: BotHarness) -> None:
    for _ in range(30):
        await harness.send(A, "/help")
    to_a = harness.fake.texts(A.id)
    assert len(to_a) == THROTTLE_MAX + 1
    assert sum("操作太快" in text for text in to_a) == 1 and "操作太快" in to_a[-1]
    await harness.send(B, "/help")
    assert "您可以使用这些命令" in harness.fake.last(B.id).text
    # Once the window has passed, A is answered again.
    harness.clock.advance(seconds=11)
    await harness.send(A, "/help")
    assert "您可以使用这些命令" in harness.fake.last(A.id).text


async def test_help_for_a_known_person_is_cheap(harness: BotHarness) -> None:
    await harness.send(A, "/help")  # first contact creates the person
    data = await statements_of(harness, lambda: harness.send(A, "/help"))
    assert len(data) <= 2, data  # the person with their member row and roles; the redelivery record


def _update(bot, user: TgUser, text: str):
    from telegram import Update

    return Update.de_json(factories.message_update(user, text), bot)


async def test_one_chat_in_order_other_chats_in_parallel(harness: BotHarness) -> None:
    processor = PerChatUpdateProcessor(Throttle(FakeClock().now), catalogue())
    bot = harness.app.bot
    gate = asyncio.Event()
    done: list[str] = []

    async def work(name: str, wait: bool = False) -> None:
        if wait:
            await gate.wait()
        done.append(name)

    first = asyncio.create_task(processor.process_update(_update(bot, A, "1"), work("a1", wait=True)))
    second = asyncio.create_task(processor.process_update(_update(bot, A, "2"), work("a2")))
    other = asyncio.create_task(processor.process_update(_update(bot, B, "x"), work("b")))
    await asyncio.wait_for(other, 2)
    assert done == ["b"]  # B was not held up by A's slow update
    assert not second.done()  # A's second update waits for A's first
    gate.set()
    await asyncio.wait_for(asyncio.gather(first, second), 2)
    assert done == ["b", "a1", "a2"]
    assert processor._locks == {}


async def test_the_last_seen_touch_is_once_a_minute_one_statement_on_postgresql(harness: BotHarness) -> None:
    from sqlalchemy import select

    from storage.models import Account, Person

    await harness.send(A, "/help")  # first contact creates the person (seen now)
    quiet = await statements_of(harness, lambda: harness.send(A, "/help"))
    assert not [s for s in quiet if s.startswith(("UPDATE", "WITH account_written"))], quiet
    harness.clock.advance(seconds=61)
    touched = await statements_of(harness, lambda: harness.send(A, "/help"))
    writes = [s for s in touched if "UPDATE person" in s or "UPDATE account" in s]
    # PostgreSQL: the account's update rides in the person's (a data-modifying CTE); SQLite: two.
    assert len(writes) == (1 if harness.db.dialect == "postgresql" else 2), writes
    async with harness.session() as session:
        seen, inbound = (
            await session.execute(
                select(Person.last_seen_at, Account.last_inbound_at)
                .join(Account, Account.person_id == Person.id)
                .where(Account.external_id == str(A.id))
            )
        ).one()
    now = harness.clock.now()
    for value in (seen, inbound):
        assert abs((value.replace(tzinfo=now.tzinfo) - now).total_seconds()) < 1
