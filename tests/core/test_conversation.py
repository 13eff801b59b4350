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
