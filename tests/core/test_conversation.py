"""The conversation core on its own: people on any channel, routing, redelivery, one commit."""

from __future__ import annotations

from sqlalchemy import func, select

from bot.conversation import Sender
from bot.dialog import Inbound, Media
from storage.models import Account, HandledUpdate, Person
from tests.factories import TgUser
from tests.harness import BotHarness


async def test_a_web_person_gets_a_person_and_one_account(harness: BotHarness) -> None:
    core = harness.deps.conversation
    sender = Sender("web", "visitor-1", "visitor-1", "en")
    first = await core.handle(sender, Inbound(command="help"))
    again = await core.handle(sender, Inbound(command="help"))
    assert "You can use these commands" in first.screens[0].text
    assert again.screens[0].text == first.screens[0].text
    async with harness.session() as session:
        accounts = list(await session.scalars(select(Account).where(Account.channel == "web")))
        assert len(accounts) == 1 and accounts[0].preferred and accounts[0].address == "visitor-1"
        person = await session.get(Person, accounts[0].person_id)
        assert person.chat_id is None


async def test_a_telegram_person_gets_a_telegram_account(harness: BotHarness) -> None:
    await harness.send(TgUser(8301, "丙"), "/help")
    async with harness.session() as session:
        account = await session.scalar(select(Account).where(Account.external_id == "8301"))
        assert account.channel == "telegram" and account.address == "8301"


async def test_a_redelivered_event_does_nothing(harness: BotHarness) -> None:
    core = harness.deps.conversation
    sender = Sender("web", "visitor-2", "visitor-2")
    assert await core.handle(sender, Inbound(command="help"), event_id=77) is not None
    assert await core.handle(sender, Inbound(command="help"), event_id=77) is None
    async with harness.session() as session:
        assert await session.scalar(select(func.count()).select_from(HandledUpdate)) == 1


async def test_a_known_persons_event_is_handled_once_even_when_it_comes_twice_at_once(
    harness: BotHarness,
) -> None:
    # On PostgreSQL the first statement records the event: the second worker waits on its key, then
    # finds it taken; on SQLite the record written at the end decides. Either way: one answer, one record.
    import asyncio

    core = harness.deps.conversation
    sender = Sender("web", "visitor-4", "visitor-4")
    await core.handle(sender, Inbound(command="help"), event_id=80)  # known from here on
    assert await core.handle(sender, Inbound(command="help"), event_id=81) is not None
    assert await core.handle(sender, Inbound(command="help"), event_id=81) is None
    both = await asyncio.gather(
        *(core.handle(sender, Inbound(command="help"), event_id=82) for _ in range(2))
    )
    assert sum(reply is not None for reply in both) == 1
    async with harness.session() as session:
        ids = set(await session.scalars(select(HandledUpdate.update_id)))
        assert {80, 81, 82} <= ids


async def test_unknown_input_gets_a_pointer(harness: BotHarness) -> None:
    core = harness.deps.conversation
    sender = Sender("web", "visitor-3", "visitor-3")
    sticker = await core.handle(sender, Inbound())
    photo = await core.handle(sender, Inbound(media=Media("photo", "ref")))
    text = await core.handle(sender, Inbound(text="你好"))
    unknown = await core.handle(sender, Inbound(command="nosuch"))
    button = await core.handle(sender, Inbound(data="zz:1"))
    assert "/help" in sticker.screens[0].text and "/help" in photo.screens[0].text
    assert "/help" in text.screens[0].text and "/help" in unknown.screens[0].text
    assert button.toast and not button.screens


async def test_a_sticker_in_telegram_is_answered(harness: BotHarness) -> None:
    user = TgUser(8302, "丁")
    calls = await harness.feed(
        {
            "update_id": 990001,
            "message": {
                "message_id": 5,
                "date": 0,
                "chat": {"id": user.id, "type": "private"},
                "from": {"id": user.id, "is_bot": False, "first_name": user.first_name},
                "sticker": {
                    "file_id": "s",
                    "file_unique_id": "s",
                    "width": 1,
                    "height": 1,
                    "is_animated": False,
                    "is_video": False,
                    "type": "regular",
                },
            },
        }
    )
    assert [c.method for c in calls] == ["sendMessage"] and "/help" in calls[0].text
