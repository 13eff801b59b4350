"""/start, /help and /language through the real Application."""

from __future__ import annotations

from sqlalchemy import func, select

from bot.services import admin
from storage.models import HandledUpdate, Person, Role
from tests import factories
from tests.factories import TgUser, telegram_user
from tests.harness import ADMIN_CHAT_ID, BotHarness

ZH_USER = TgUser(1001, "王", "zh-hans")
EN_USER = TgUser(1002, "Wang", "en-GB")


async def test_start_in_chinese_for_an_unknown_user(harness: BotHarness) -> None:
    calls = await harness.send(ZH_USER, "/start")
    assert len(calls) == 1
    assert "流动党员之家" in calls[0].text
    assert "/help" in calls[0].text
    assert "/language" in calls[0].text


async def test_start_in_english_for_an_english_client(harness: BotHarness) -> None:
    await harness.transcript(EN_USER, [("/start", ["Mobile Branch", "/help — Help"])])


async def test_language_switch_is_remembered(harness: BotHarness) -> None:
    await harness.transcript(
        ZH_USER,
        [
            ("/language", "Choose your language"),
            (("press", "English"), "Language set to English"),
            ("/help", "You can use these commands"),
        ],
    )
    async with harness.session() as session:
        person = await session.scalar(select(Person).where(telegram_user(ZH_USER.id)))
        assert person.language == "en"


async def test_forged_language_button_changes_nothing(harness: BotHarness) -> None:
    await harness.press(ZH_USER, "lang:xx")
    await harness.send(ZH_USER, "/help")
    assert "您可以使用这些命令" in harness.fake.last(ZH_USER.id).text


async def test_help_lists_officer_commands_only_for_officers(harness: BotHarness) -> None:
    from bot.commands import COMMANDS

    officer_only = [c.name for c in COMMANDS if set(c.audiences) <= {"secretary", "agent", "admin"}]
    async with harness.session() as session:
        await admin.grant(session, user=ZH_USER.id, role=Role.ADMIN, branch=None, township=None)
        await session.commit()
    await harness.send(EN_USER, "/help")
    plain = harness.fake.last(EN_USER.id).text
    for name in officer_only:
        assert f"/{name} " not in plain


async def test_same_update_twice_is_answered_once(harness: BotHarness) -> None:
    update = factories.message_update(ZH_USER, "/start", update_id=424242)
    first = await harness.feed(update)
    second = await harness.feed(update)
    assert len(first) == 1
    assert second == []
    async with harness.session() as session:
        assert await session.scalar(select(func.count()).select_from(HandledUpdate)) == 1


async def test_a_flood_is_throttled_and_others_are_not(harness: BotHarness) -> None:
    flooder, other = TgUser(2001), TgUser(2002)
    for _ in range(30):
        await harness.send(flooder, "/help")
    texts = harness.fake.texts(flooder.id)
    assert len(texts) == 21  # 20 answers, then one "slow down", then silence
    assert "太快" in texts[-1]
    calls = await harness.send(other, "/help")
    assert len(calls) == 1 and "命令" in calls[0].text
    harness.clock.advance(seconds=11)
    calls = await harness.send(flooder, "/help")
    assert len(calls) == 1 and "命令" in calls[0].text


async def test_errors_are_reported_without_personal_data(harness: BotHarness, caplog) -> None:
    async def explode(update, context) -> None:
        raise RuntimeError("secret name 张三 13800138000")

    from telegram.ext import CommandHandler

    harness.app.add_handler(CommandHandler("boom", explode), group=-1)
    calls = await harness.send(ZH_USER, "/boom")
    texts = [c.text for c in calls]
    assert any("请稍后再试" in t for t in texts)
    admin_reports = [c for c in calls if c.chat_id == harness.settings.admin_chat_id]
    assert len(admin_reports) == 1 and "RuntimeError" in admin_reports[0].text
    assert "张三" not in admin_reports[0].text
    assert "张三" not in caplog.text and "13800138000" not in caplog.text
    assert "RuntimeError" in caplog.text


async def test_unknown_command_points_to_help(harness: BotHarness) -> None:
    calls = await harness.send(ZH_USER, "/nosuchthing")
    assert len(calls) == 1 and "/help" in calls[0].text


async def test_unknown_button_is_answered(harness: BotHarness) -> None:
    calls = await harness.press(ZH_USER, "zz:old:1")
    assert [c.method for c in calls] == ["answerCallbackQuery"]


async def test_a_button_on_a_message_that_cannot_be_edited_is_handled(harness: BotHarness) -> None:
    """Old, forged or double-tapped messages: Telegram refuses the edit; the person gets the screen anyway,
    and nobody gets an error report."""
    await harness.send(ZH_USER, "/language")
    data = harness.fake.last(ZH_USER.id).button("English")
    harness.fake.fail("bad_request:message can't be edited", method="editMessageText")
    calls = await harness.press(ZH_USER, data)
    assert [c.method for c in calls] == ["answerCallbackQuery", "sendMessage"]
    assert "Language set to English" in calls[-1].text
    harness.fake.fail("bad_request:message is not modified", method="editMessageText")
    calls = await harness.press(ZH_USER, data)
    assert [c.method for c in calls] == ["answerCallbackQuery"]
    assert not [c for c in harness.fake.calls if c.chat_id == ADMIN_CHAT_ID]
